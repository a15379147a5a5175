package io.mobileseg.core;

import java.util.Arrays;

/** One named float tensor of an entry point, as the contract lists it. */
public final class TensorSpec {
    public final String name;
    private final int[] shape;

    public TensorSpec(String name, int[] shape) {
        this.name = name;
        this.shape = shape.clone();
    }

    public int[] shape() {
        return shape.clone();
    }

    /** Number of float elements (product of the shape). */
    public int elements() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public int bytes() {
        return elements() * 4;
    }

    public boolean sameShape(int[] other) {
        return Arrays.equals(shape, other);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}
