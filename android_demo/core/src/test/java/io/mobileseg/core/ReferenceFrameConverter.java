package io.mobileseg.core;

import java.nio.ByteBuffer;

/**
 * The per-pixel implementation that {@link FrameConverter} replaced (one {@code ByteBuffer.get} per
 * tap and channel, one {@code putFloat} per value; no crop rectangle), kept unchanged as the
 * reference: {@code FrameConverterTest} checks that the fast path gives the very same floats, and
 * {@code FrameConverterBench} times both.
 */
final class ReferenceFrameConverter {
    private final int srcWidth;
    private final int srcHeight;
    private final int rotation;
    private final int outHeight;
    private final int outWidth;
    private final int uprightWidth;
    private final int uprightHeight;
    private final int cropX;
    private final int cropY;
    private final int cropWidth;
    private final int cropHeight;
    private final int[] col0;
    private final int[] col1;
    private final float[] colW0;
    private final float[] colW1;
    private final int[] row0;
    private final int[] row1;
    private final float[] rowW0;
    private final float[] rowW1;
    private final int[] colOff0;
    private final int[] colOff1;
    private final int[] rowOff0;
    private final int[] rowOff1;
    private int cachedRowStride = -1;
    private int cachedPixelStride = -1;

    ReferenceFrameConverter(int srcWidth, int srcHeight, int rotationDegrees, int outHeight, int outWidth) {
        if (srcWidth < 1 || srcHeight < 1 || outHeight < 1 || outWidth < 1) {
            throw new IllegalArgumentException("sizes must be positive: source " + srcWidth + "x" + srcHeight + ", model " + outHeight + "x" + outWidth);
        }
        if (rotationDegrees != 0 && rotationDegrees != 90 && rotationDegrees != 180 && rotationDegrees != 270) {
            throw new IllegalArgumentException("rotation must be 0, 90, 180 or 270 degrees, got " + rotationDegrees);
        }
        this.srcWidth = srcWidth;
        this.srcHeight = srcHeight;
        this.rotation = rotationDegrees;
        this.outHeight = outHeight;
        this.outWidth = outWidth;
        boolean turned = rotationDegrees == 90 || rotationDegrees == 270;
        uprightWidth = turned ? srcHeight : srcWidth;
        uprightHeight = turned ? srcWidth : srcHeight;
        int[] crop = centreCrop(uprightHeight, uprightWidth, outHeight, outWidth);
        cropY = crop[0];
        cropX = crop[1];
        cropHeight = crop[2];
        cropWidth = crop[3];
        col0 = new int[outWidth];
        col1 = new int[outWidth];
        colW0 = new float[outWidth];
        colW1 = new float[outWidth];
        row0 = new int[outHeight];
        row1 = new int[outHeight];
        rowW0 = new float[outHeight];
        rowW1 = new float[outHeight];
        colOff0 = new int[outWidth];
        colOff1 = new int[outWidth];
        rowOff0 = new int[outHeight];
        rowOff1 = new int[outHeight];
        linear(cropWidth, outWidth, cropX, col0, col1, colW0, colW1);
        linear(cropHeight, outHeight, cropY, row0, row1, rowW0, rowW1);
    }

    /** {y0, x0, height, width} of the centred crop of an {@code height x width} image with the aspect ratio {@code outH : outW}. */
    public static int[] centreCrop(int height, int width, int outH, int outW) {
        long h = height;
        long w = width;
        int cropH = height;
        int cropW = width;
        if (w * outH > h * outW) {
            cropW = (int) ((2 * h * outW + outH) / (2L * outH)); // round half up, in integers
        } else if (w * outH < h * outW) {
            cropH = (int) ((2 * w * outH + outW) / (2L * outW));
        }
        return new int[] {(height - cropH) / 2, (width - cropW) / 2, cropH, cropW};
    }

    /** PyTorch's bilinear source indices and weights (align_corners=False), offset into the crop. */
    private static void linear(int in, int out, int offset, int[] i0, int[] i1, float[] w0, float[] w1) {
        float scale = (float) in / out;
        for (int d = 0; d < out; d++) {
            float src = scale * (d + 0.5f) - 0.5f;
            if (src < 0f) {
                src = 0f;
            }
            int index = Math.min((int) Math.floor(src), in - 1);
            float lambda = Math.min(Math.max(src - index, 0f), 1f);
            i0[d] = offset + index;
            i1[d] = offset + (index < in - 1 ? index + 1 : index);
            w0[d] = 1f - lambda;
            w1[d] = lambda;
        }
    }

    /**
     * Byte offsets of the source pixels, split into a part that depends on the upright column and
     * one that depends on the upright row (every rotation maps a column to a fixed sensor row or
     * column, so offset(ux, uy) = columnPart(ux) + rowPart(uy)); rebuilt only when the strides change.
     */
    private void offsets(int rowStride, int pixelStride) {
        if (rowStride == cachedRowStride && pixelStride == cachedPixelStride) {
            return;
        }
        for (int x = 0; x < outWidth; x++) {
            colOff0[x] = columnPart(col0[x], rowStride, pixelStride);
            colOff1[x] = columnPart(col1[x], rowStride, pixelStride);
        }
        for (int y = 0; y < outHeight; y++) {
            rowOff0[y] = rowPart(row0[y], rowStride, pixelStride);
            rowOff1[y] = rowPart(row1[y], rowStride, pixelStride);
        }
        cachedRowStride = rowStride;
        cachedPixelStride = pixelStride;
    }

    /** The part of the byte offset set by upright column ux. */
    private int columnPart(int ux, int rowStride, int pixelStride) {
        switch (rotation) {
            case 90:
                return (srcHeight - 1 - ux) * rowStride; // sensor row
            case 180:
                return (srcWidth - 1 - ux) * pixelStride;
            case 270:
                return ux * rowStride;
            default:
                return ux * pixelStride;
        }
    }

    /** The part of the byte offset set by upright row uy. */
    private int rowPart(int uy, int rowStride, int pixelStride) {
        switch (rotation) {
            case 90:
                return uy * pixelStride; // sensor column
            case 180:
                return (srcHeight - 1 - uy) * rowStride;
            case 270:
                return (srcWidth - 1 - uy) * pixelStride;
            default:
                return uy * rowStride;
        }
    }

    /**
     * Writes the frame tensor into {@code out} (native-order float32, {@code 3 * H * W} values,
     * absolute puts: positions are left alone). {@code rgba} is read with absolute gets.
     */
    public void convert(ByteBuffer rgba, int rowStride, int pixelStride, ByteBuffer out) {
        if (rgba.capacity() < (srcHeight - 1) * rowStride + srcWidth * pixelStride) {
            throw new IllegalArgumentException("image buffer holds " + rgba.capacity() + " bytes; a " + srcWidth + "x" + srcHeight
                    + " image with row stride " + rowStride + " needs more");
        }
        offsets(rowStride, pixelStride);
        int plane = outHeight * outWidth;
        for (int y = 0; y < outHeight; y++) {
            float h0 = rowW0[y];
            float h1 = rowW1[y];
            for (int x = 0; x < outWidth; x++) {
                float w0 = colW0[x];
                float w1 = colW1[x];
                int p00 = rowOff0[y] + colOff0[x];
                int p01 = rowOff0[y] + colOff1[x];
                int p10 = rowOff1[y] + colOff0[x];
                int p11 = rowOff1[y] + colOff1[x];
                int at = (y * outWidth + x) * 4;
                for (int c = 0; c < 3; c++) {
                    float v00 = (rgba.get(p00 + c) & 0xff) / 255f;
                    float v01 = (rgba.get(p01 + c) & 0xff) / 255f;
                    float v10 = (rgba.get(p10 + c) & 0xff) / 255f;
                    float v11 = (rgba.get(p11 + c) & 0xff) / 255f;
                    float value = h0 * (w0 * v00 + w1 * v01) + h1 * (w0 * v10 + w1 * v11);
                    out.putFloat(c * plane * 4 + at, value);
                }
            }
        }
    }

    public int uprightWidth() {
        return uprightWidth;
    }

    public int uprightHeight() {
        return uprightHeight;
    }

    public int cropX() {
        return cropX;
    }

    public int cropY() {
        return cropY;
    }

    public int cropWidth() {
        return cropWidth;
    }

    public int cropHeight() {
        return cropHeight;
    }

    public boolean matches(int width, int height, int rotationDegrees) {
        return width == srcWidth && height == srcHeight && rotationDegrees == rotation;
    }
}
