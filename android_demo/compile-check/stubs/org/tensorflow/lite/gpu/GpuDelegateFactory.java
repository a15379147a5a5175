package org.tensorflow.lite.gpu;
public class GpuDelegateFactory {
    public GpuDelegateFactory() { throw new RuntimeException("stub"); }
    public static class Options {
        public Options() { throw new RuntimeException("stub"); }
        public Options setPrecisionLossAllowed(boolean precisionLossAllowed) { throw new RuntimeException("stub"); }
        public Options setQuantizedModelsAllowed(boolean quantizedModelsAllowed) { throw new RuntimeException("stub"); }
        public Options setInferencePreference(int preference) { throw new RuntimeException("stub"); }
        public boolean isPrecisionLossAllowed() { throw new RuntimeException("stub"); }
    }
}
