package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;

/**
 * Camera image -> the model's {@code frame} input, {@code [1, 3, H, W]} float32 RGB in [0, 1].
 *
 * <p>Steps, defined so that the Python side computes the same tensor
 * ({@code mobileseg.export.android.camera_frame}, which a cross-language test compares with
 * this class): (0) keep the image's crop rectangle (CameraX {@code ImageProxy.getCropRect()}: with
 * the preview's {@code ViewPort} it is the part of the sensor image the preview shows; the whole
 * image when none is given), which is {@code camera_frame(image[top:bottom, left:right], ...)} in
 * Python; (1) rotate it clockwise by the camera's rotation (0, 90, 180 or 270 degrees) so that it
 * is upright; (2) cut the centred crop with the model's aspect ratio, in whole pixels
 * ({@link #cropWidth()} = round-half-up of {@code uprightHeight * W / H} when the upright image is
 * wider than the model, else the full width; likewise for the height); (3) resize the crop to
 * {@code H x W} bilinearly exactly as PyTorch's
 * {@code interpolate(mode="bilinear", align_corners=False)} does (half-pixel centres, source
 * index clamped at 0, float32 arithmetic), which is how {@code mobileseg eval} and
 * {@code mobileseg run} resize frames.
 *
 * <p>Input: RGBA_8888 bytes (CameraX {@code OUTPUT_IMAGE_FORMAT_RGBA_8888}) with a row stride and
 * a pixel stride. The fast path, per frame: the sensor rows the resize reads are copied in bulk
 * (one {@code ByteBuffer.get(byte[])} per row) into an array kept from frame to frame; every
 * output pixel then reads its four neighbours through offset tables built once (any rotation maps
 * an output column to a fixed part of the offset and an output row to another), turns bytes into
 * [0, 1] through a 256-entry table, and the finished tensor goes into the output buffer in one
 * bulk put. No per-pixel buffer call, no allocation after the first frame.
 * {@code FrameConverterBench} measures it ({@code make bench-jvm}).
 */
public final class FrameConverter {
    /** {@code LEVELS[b] == b / 255f}, the very value the per-pixel division gives. */
    private static final float[] LEVELS = new float[256];

    static {
        for (int i = 0; i < 256; i++) {
            LEVELS[i] = i / 255f;
        }
    }

    private final int srcWidth;
    private final int srcHeight;
    private final int left;
    private final int top;
    private final int right;
    private final int bottom;
    private final int rotation;
    private final int outHeight;
    private final int outWidth;
    private final int uprightWidth;
    private final int uprightHeight;
    private final int cropX;
    private final int cropY;
    private final int cropWidth;
    private final int cropHeight;
    /** Sensor pixels (absolute) of each output column's and row's two bilinear taps. */
    private final int[] colSrc0;
    private final int[] colSrc1;
    private final int[] rowSrc0;
    private final int[] rowSrc1;
    private final float[] colW0;
    private final float[] colW1;
    private final float[] rowW0;
    private final float[] rowW1;
    /** Rotations 90 and 270 turn an output column into a sensor row (and an output row into a sensor column). */
    private final boolean turned;
    /** The sensor window the taps fall in: rows {@code [winTop, winBottom]}, columns {@code [winLeft, winRight]}. */
    private final int winLeft;
    private final int winTop;
    private final int winRows;
    private final int winCols;
    private final int[] colOff0;
    private final int[] colOff1;
    private final int[] rowOff0;
    private final int[] rowOff1;
    private final float[] tensor;
    private byte[] window = new byte[0];
    private int windowStride = -1;
    private int cachedPixelStride = -1;
    private ByteBuffer cachedOut;
    private FloatBuffer cachedOutFloats;

    /** The whole {@code srcWidth x srcHeight} image, no crop rectangle. */
    public FrameConverter(int srcWidth, int srcHeight, int rotationDegrees, int outHeight, int outWidth) {
        this(srcWidth, srcHeight, 0, 0, srcWidth, srcHeight, rotationDegrees, outHeight, outWidth);
    }

    /**
     * The crop rectangle {@code [left, right) x [top, bottom)} of a {@code srcWidth x srcHeight}
     * sensor image, in sensor (buffer) pixels as CameraX's {@code ImageProxy.getCropRect()} gives it.
     */
    public FrameConverter(int srcWidth, int srcHeight, int left, int top, int right, int bottom, int rotationDegrees,
            int outHeight, int outWidth) {
        if (srcWidth < 1 || srcHeight < 1 || outHeight < 1 || outWidth < 1) {
            throw new IllegalArgumentException("sizes must be positive: source " + srcWidth + "x" + srcHeight + ", model " + outHeight + "x" + outWidth);
        }
        if (rotationDegrees != 0 && rotationDegrees != 90 && rotationDegrees != 180 && rotationDegrees != 270) {
            throw new IllegalArgumentException("rotation must be 0, 90, 180 or 270 degrees, got " + rotationDegrees);
        }
        if (left < 0 || top < 0 || right > srcWidth || bottom > srcHeight || left >= right || top >= bottom) {
            throw new IllegalArgumentException("crop rectangle [" + left + ", " + top + ", " + right + ", " + bottom + "] (left, top, right, bottom)"
                    + " is empty or lies outside the " + srcWidth + "x" + srcHeight + " image");
        }
        this.srcWidth = srcWidth;
        this.srcHeight = srcHeight;
        this.left = left;
        this.top = top;
        this.right = right;
        this.bottom = bottom;
        this.rotation = rotationDegrees;
        this.outHeight = outHeight;
        this.outWidth = outWidth;
        int viewWidth = right - left;
        int viewHeight = bottom - top;
        turned = rotationDegrees == 90 || rotationDegrees == 270;
        uprightWidth = turned ? viewHeight : viewWidth;
        uprightHeight = turned ? viewWidth : viewHeight;
        int[] crop = centreCrop(uprightHeight, uprightWidth, outHeight, outWidth);
        cropY = crop[0];
        cropX = crop[1];
        cropHeight = crop[2];
        cropWidth = crop[3];
        colSrc0 = new int[outWidth];
        colSrc1 = new int[outWidth];
        colW0 = new float[outWidth];
        colW1 = new float[outWidth];
        rowSrc0 = new int[outHeight];
        rowSrc1 = new int[outHeight];
        rowW0 = new float[outHeight];
        rowW1 = new float[outHeight];
        linear(cropWidth, outWidth, cropX, colSrc0, colSrc1, colW0, colW1);
        linear(cropHeight, outHeight, cropY, rowSrc0, rowSrc1, rowW0, rowW1);
        // Upright coordinates -> sensor coordinates: an upright column ux is a sensor column (0, 180) or row (90, 270).
        for (int x = 0; x < outWidth; x++) {
            colSrc0[x] = columnToSensor(colSrc0[x]);
            colSrc1[x] = columnToSensor(colSrc1[x]);
        }
        for (int y = 0; y < outHeight; y++) {
            rowSrc0[y] = rowToSensor(rowSrc0[y]);
            rowSrc1[y] = rowToSensor(rowSrc1[y]);
        }
        int[] cols = turned ? span(rowSrc0, rowSrc1) : span(colSrc0, colSrc1);
        int[] rows = turned ? span(colSrc0, colSrc1) : span(rowSrc0, rowSrc1);
        winLeft = cols[0];
        winCols = cols[1] - cols[0] + 1;
        winTop = rows[0];
        winRows = rows[1] - rows[0] + 1;
        colOff0 = new int[outWidth];
        colOff1 = new int[outWidth];
        rowOff0 = new int[outHeight];
        rowOff1 = new int[outHeight];
        tensor = new float[3 * outHeight * outWidth];
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

    /** The sensor column (rotation 0, 180) or row (90, 270) of upright column ux. */
    private int columnToSensor(int ux) {
        switch (rotation) {
            case 90:
                return bottom - 1 - ux;
            case 180:
                return right - 1 - ux;
            case 270:
                return top + ux;
            default:
                return left + ux;
        }
    }

    /** The sensor row (rotation 0, 180) or column (90, 270) of upright row uy. */
    private int rowToSensor(int uy) {
        switch (rotation) {
            case 90:
                return left + uy;
            case 180:
                return bottom - 1 - uy;
            case 270:
                return right - 1 - uy;
            default:
                return top + uy;
        }
    }

    private static int[] span(int[] a, int[] b) {
        int lo = Integer.MAX_VALUE;
        int hi = Integer.MIN_VALUE;
        for (int i = 0; i < a.length; i++) {
            lo = Math.min(lo, Math.min(a[i], b[i]));
            hi = Math.max(hi, Math.max(a[i], b[i]));
        }
        return new int[] {lo, hi};
    }

    /** Offsets of the taps inside the copied window; they depend on the pixel stride only. */
    private void offsets(int pixelStride) {
        if (pixelStride == cachedPixelStride) {
            return;
        }
        windowStride = (winCols - 1) * pixelStride + 4;
        for (int x = 0; x < outWidth; x++) {
            colOff0[x] = turned ? (colSrc0[x] - winTop) * windowStride : (colSrc0[x] - winLeft) * pixelStride;
            colOff1[x] = turned ? (colSrc1[x] - winTop) * windowStride : (colSrc1[x] - winLeft) * pixelStride;
        }
        for (int y = 0; y < outHeight; y++) {
            rowOff0[y] = turned ? (rowSrc0[y] - winLeft) * pixelStride : (rowSrc0[y] - winTop) * windowStride;
            rowOff1[y] = turned ? (rowSrc1[y] - winLeft) * pixelStride : (rowSrc1[y] - winTop) * windowStride;
        }
        if (window.length < winRows * windowStride) {
            window = new byte[winRows * windowStride];
        }
        cachedPixelStride = pixelStride;
    }

    /**
     * Writes the frame tensor into {@code out} ({@code 3 * H * W} floats in {@code out}'s byte
     * order, from index 0; its position and limit are left alone). {@code rgba} is read from the
     * given offsets, whatever its position; its position and limit are as they were afterwards.
     */
    public void convert(ByteBuffer rgba, int rowStride, int pixelStride, ByteBuffer out) {
        if (pixelStride < 3 || rowStride < (srcWidth - 1) * pixelStride + 3) {
            throw new IllegalArgumentException("pixel stride " + pixelStride + " and row stride " + rowStride + " cannot hold " + srcWidth
                    + " RGBA pixels a row");
        }
        int needed = (srcHeight - 1) * rowStride + (srcWidth - 1) * pixelStride + 3;
        if (rgba.limit() < needed) {
            throw new IllegalArgumentException("image buffer holds " + rgba.limit() + " bytes; a " + srcWidth + "x" + srcHeight
                    + " image with row stride " + rowStride + " needs " + needed);
        }
        if (out.capacity() < tensor.length * 4) {
            throw new IllegalArgumentException("output buffer holds " + out.capacity() + " bytes; a 1x3x" + outHeight + "x" + outWidth
                    + " float32 tensor needs " + tensor.length * 4);
        }
        offsets(pixelStride);
        copyWindow(rgba, rowStride, pixelStride);
        resize();
        FloatBuffer floats = cachedOut == out ? cachedOutFloats : null;
        if (floats == null) {
            ByteBuffer view = out.duplicate().order(out.order());
            view.clear();
            floats = view.asFloatBuffer();
            cachedOut = out;
            cachedOutFloats = floats;
        }
        floats.clear();
        floats.put(tensor);
    }

    /** The window's rows, each with one bulk get (relative: the position is moved and put back). */
    private void copyWindow(ByteBuffer rgba, int rowStride, int pixelStride) {
        int saved = rgba.position();
        int length = (winCols - 1) * pixelStride + 3; // up to the last pixel's blue byte: never past the buffer
        try {
            for (int r = 0; r < winRows; r++) {
                rgba.position((winTop + r) * rowStride + winLeft * pixelStride);
                rgba.get(window, r * windowStride, length);
            }
        } finally {
            rgba.position(saved);
        }
    }

    /** Bilinear resize of the window into {@link #tensor}: the same float32 expression, term for term, as PyTorch's. */
    private void resize() {
        final byte[] px = window;
        final float[] levels = LEVELS;
        final float[] dst = tensor;
        final int plane = outHeight * outWidth;
        final int width = outWidth;
        final int[] c0 = colOff0;
        final int[] c1 = colOff1;
        final float[] cw0 = colW0;
        final float[] cw1 = colW1;
        for (int y = 0; y < outHeight; y++) {
            final float h0 = rowW0[y];
            final float h1 = rowW1[y];
            final int r0 = rowOff0[y];
            final int r1 = rowOff1[y];
            final int base = y * width;
            for (int x = 0; x < width; x++) {
                final float w0 = cw0[x];
                final float w1 = cw1[x];
                final int p00 = r0 + c0[x];
                final int p01 = r0 + c1[x];
                final int p10 = r1 + c0[x];
                final int p11 = r1 + c1[x];
                final int at = base + x;
                dst[at] = h0 * (w0 * levels[px[p00] & 0xff] + w1 * levels[px[p01] & 0xff])
                        + h1 * (w0 * levels[px[p10] & 0xff] + w1 * levels[px[p11] & 0xff]);
                dst[plane + at] = h0 * (w0 * levels[px[p00 + 1] & 0xff] + w1 * levels[px[p01 + 1] & 0xff])
                        + h1 * (w0 * levels[px[p10 + 1] & 0xff] + w1 * levels[px[p11 + 1] & 0xff]);
                dst[2 * plane + at] = h0 * (w0 * levels[px[p00 + 2] & 0xff] + w1 * levels[px[p01 + 2] & 0xff])
                        + h1 * (w0 * levels[px[p10 + 2] & 0xff] + w1 * levels[px[p11 + 2] & 0xff]);
            }
        }
    }

    /** Width of the upright crop rectangle: the image the preview shows, turned upright. */
    public int uprightWidth() {
        return uprightWidth;
    }

    /** Height of the upright crop rectangle. */
    public int uprightHeight() {
        return uprightHeight;
    }

    /** Left edge of the model's centred crop in the upright crop rectangle. */
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

    public int rotation() {
        return rotation;
    }

    /** Whether frames of this size, crop rectangle and rotation can reuse this converter (no allocation). */
    public boolean matches(int width, int height, int cropLeft, int cropTop, int cropRight, int cropBottom, int rotationDegrees) {
        return width == srcWidth && height == srcHeight && cropLeft == left && cropTop == top && cropRight == right && cropBottom == bottom
                && rotationDegrees == rotation;
    }

    /** {@link #matches(int, int, int, int, int, int, int)} for the whole image as the crop rectangle. */
    public boolean matches(int width, int height, int rotationDegrees) {
        return matches(width, height, 0, 0, width, height, rotationDegrees);
    }
}
