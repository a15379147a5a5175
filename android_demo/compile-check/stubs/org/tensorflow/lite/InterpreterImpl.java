package org.tensorflow.lite;
import java.util.Map;
import org.checkerframework.checker.nullness.qual.NonNull;
class InterpreterImpl implements InterpreterApi {
    static class Options extends InterpreterApi.Options {
        public Options() { throw new RuntimeException("stub"); }
    }
    InterpreterImpl() { throw new RuntimeException("stub"); }
    @Override public void runSignature(@NonNull Map<String, Object> inputs, @NonNull Map<String, Object> outputs, String signatureKey) { throw new RuntimeException("stub"); }
    @Override public Tensor getInputTensorFromSignature(String inputName, String signatureKey) { throw new RuntimeException("stub"); }
    @Override public String[] getSignatureKeys() { throw new RuntimeException("stub"); }
    @Override public String[] getSignatureInputs(String signatureKey) { throw new RuntimeException("stub"); }
    @Override public String[] getSignatureOutputs(String signatureKey) { throw new RuntimeException("stub"); }
    @Override public Tensor getOutputTensorFromSignature(String outputName, String signatureKey) { throw new RuntimeException("stub"); }
    @Override public void close() { throw new RuntimeException("stub"); }
}
