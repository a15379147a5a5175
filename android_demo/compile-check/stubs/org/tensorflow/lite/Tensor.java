package org.tensorflow.lite;
public interface Tensor {
    int numDimensions();
    int[] shape();
    String name();
}
