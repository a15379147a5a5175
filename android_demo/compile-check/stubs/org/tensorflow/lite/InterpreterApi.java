package org.tensorflow.lite;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.NonNull;
public interface InterpreterApi extends AutoCloseable {
    class Options {
        public Options() { throw new RuntimeException("stub"); }
        public Options setNumThreads(int numThreads) { throw new RuntimeException("stub"); }
        public Options addDelegate(Delegate delegate) { throw new RuntimeException("stub"); }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("stub"); }
    }
    void runSignature(@NonNull Map<String, Object> inputs, @NonNull Map<String, Object> outputs, String signatureKey);
    Tensor getInputTensorFromSignature(String inputName, String signatureKey);
    String[] getSignatureKeys();
    String[] getSignatureInputs(String signatureKey);
    String[] getSignatureOutputs(String signatureKey);
    Tensor getOutputTensorFromSignature(String outputName, String signatureKey);
    @Override void close();
}
