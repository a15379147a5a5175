package org.tensorflow.lite.gpu;
import java.io.Closeable;
public class CompatibilityList implements Closeable {
    public CompatibilityList() { throw new RuntimeException("stub"); }
    public boolean isDelegateSupportedOnThisDevice() { throw new RuntimeException("stub"); }
    public GpuDelegate.Options getBestOptionsForThisDevice() { throw new RuntimeException("stub"); }
    @Override public void close() { throw new RuntimeException("stub"); }
}
