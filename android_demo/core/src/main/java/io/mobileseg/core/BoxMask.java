package io.mobileseg.core;

import java.nio.ByteBuffer;

/**
 * Box -> first mask for {@code init}, the rule of {@code mobileseg.data.boxes.box_to_mask}: a box
 * is {x0, y0, x1, y1} in model pixels, end exclusive, and pixel (x, y) is 1 when its centre
 * (x + 0.5, y + 0.5) lies inside, else 0. Boxes from the view are floats; no rounding happens first.
 */
public final class BoxMask {
    private BoxMask() {
    }

    /** Writes the {@code [1, 1, H, W]} float32 mask into {@code out} (absolute puts); returns the number of pixels set. */
    public static int fill(float[] box, int height, int width, ByteBuffer out) {
        if (box.length != 4) {
            throw new IllegalArgumentException("a box is {x0, y0, x1, y1}; got " + box.length + " numbers");
        }
        double x0 = box[0];
        double y0 = box[1];
        double x1 = box[2];
        double y1 = box[3];
        int set = 0;
        for (int y = 0; y < height; y++) {
            double cy = y + 0.5;
            boolean row = cy >= y0 && cy < y1;
            for (int x = 0; x < width; x++) {
                double cx = x + 0.5;
                boolean inside = row && cx >= x0 && cx < x1;
                out.putFloat((y * width + x) * 4, inside ? 1f : 0f);
                if (inside) {
                    set++;
                }
            }
        }
        return set;
    }
}
