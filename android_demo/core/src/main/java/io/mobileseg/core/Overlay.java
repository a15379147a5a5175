package io.mobileseg.core;

import java.nio.ByteBuffer;

/**
 * Probability map -> ARGB pixels of a translucent mask at the model's size: a pixel whose object
 * probability exceeds the contract's threshold (0.5, the rule of every mask in mobileseg) gets
 * the colour, the others are transparent. The pixel array is allocated once; the app copies it
 * into a reused Bitmap and draws that scaled onto {@link ViewMapping#modelRectInView()}.
 */
public final class Overlay {
    private final int height;
    private final int width;
    private final int[] pixels;

    public Overlay(int height, int width) {
        this.height = height;
        this.width = width;
        pixels = new int[height * width];
    }

    /** Renders {@code prob} ({@code [1, 1, H, W]} float32, absolute gets); returns the share of pixels on the object. */
    public float render(ByteBuffer prob, float threshold, int argb) {
        int on = 0;
        for (int i = 0; i < pixels.length; i++) {
            boolean object = prob.getFloat(i * 4) > threshold;
            pixels[i] = object ? argb : 0;
            if (object) {
                on++;
            }
        }
        return on / (float) pixels.length;
    }

    public int[] pixels() {
        return pixels;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }
}
