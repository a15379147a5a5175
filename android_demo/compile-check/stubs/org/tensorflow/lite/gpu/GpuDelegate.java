package org.tensorflow.lite.gpu;
import org.tensorflow.lite.Delegate;
public class GpuDelegate implements Delegate {
    public GpuDelegate(GpuDelegateFactory.Options options) { throw new RuntimeException("stub"); }
    public GpuDelegate() { throw new RuntimeException("stub"); }
    /** @deprecated Use {@link GpuDelegateFactory.Options} instead. */
    @Deprecated
    public static class Options extends GpuDelegateFactory.Options {
        public Options() { throw new RuntimeException("stub"); }
    }
    @Override public long getNativeHandle() { throw new RuntimeException("stub"); }
    @Override public void close() { throw new RuntimeException("stub"); }
}
