package org.tensorflow.lite;
import java.nio.ByteBuffer;
import org.checkerframework.checker.nullness.qual.NonNull;
public final class Interpreter extends InterpreterImpl implements InterpreterApi {
    public static class Options extends InterpreterImpl.Options {
        public Options() { throw new RuntimeException("stub"); }
        @Override public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("stub"); }
        @Override public Options setNumThreads(int numThreads) { throw new RuntimeException("stub"); }
        @Override public Options addDelegate(Delegate delegate) { throw new RuntimeException("stub"); }
    }
    public Interpreter(@NonNull ByteBuffer byteBuffer) { throw new RuntimeException("stub"); }
    public Interpreter(@NonNull ByteBuffer byteBuffer, Options options) { throw new RuntimeException("stub"); }
}
