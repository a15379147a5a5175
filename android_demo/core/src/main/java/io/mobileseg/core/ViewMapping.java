package io.mobileseg.core;

/**
 * Where the model's input lies on the screen. The preview shows the upright camera image scaled
 * to fill the view and centred (CameraX {@code PreviewView.ScaleType.FILL_CENTER}); the model
 * sees the centred crop that {@link FrameConverter} cuts. This maps a box the user drags on the
 * view to the model's pixels, and the model's pixels (the mask overlay) back onto the view.
 *
 * <p>"The upright camera image" is the analysis image's crop rectangle turned upright
 * ({@link FrameConverter#uprightWidth()} x {@link FrameConverter#uprightHeight()}). The app binds
 * preview and analysis in one {@code UseCaseGroup} with the preview's {@code ViewPort}, so that
 * rectangle is exactly what the preview shows, whatever the aspect ratios of sensor, analysis
 * image and screen; without a ViewPort the crop rectangle is the whole image, and preview and
 * analysis must then have the same aspect ratio for the mapping to hold.
 */
public final class ViewMapping {
    private final float scale;
    private final float viewWidth;
    private final float viewHeight;
    private final float uprightWidth;
    private final float uprightHeight;
    private final float cropX;
    private final float cropY;
    private final float cropWidth;
    private final float cropHeight;
    private final int modelHeight;
    private final int modelWidth;

    public ViewMapping(FrameConverter frames, int modelHeight, int modelWidth, int viewWidth, int viewHeight) {
        if (viewWidth < 1 || viewHeight < 1) {
            throw new IllegalArgumentException("the view has no size yet: " + viewWidth + "x" + viewHeight);
        }
        this.viewWidth = viewWidth;
        this.viewHeight = viewHeight;
        uprightWidth = frames.uprightWidth();
        uprightHeight = frames.uprightHeight();
        cropX = frames.cropX();
        cropY = frames.cropY();
        cropWidth = frames.cropWidth();
        cropHeight = frames.cropHeight();
        this.modelHeight = modelHeight;
        this.modelWidth = modelWidth;
        scale = Math.max(viewWidth / uprightWidth, viewHeight / uprightHeight);
    }

    private float toViewX(float u) {
        return (u - uprightWidth / 2f) * scale + viewWidth / 2f;
    }

    private float toViewY(float v) {
        return (v - uprightHeight / 2f) * scale + viewHeight / 2f;
    }

    /** {x0, y0, x1, y1} in model pixels of a box dragged between two view points, ordered and clipped to the model's input. */
    public float[] viewBoxToModel(float ax, float ay, float bx, float by) {
        float[] a = viewToModel(Math.min(ax, bx), Math.min(ay, by));
        float[] b = viewToModel(Math.max(ax, bx), Math.max(ay, by));
        return new float[] {clip(a[0], modelWidth), clip(a[1], modelHeight), clip(b[0], modelWidth), clip(b[1], modelHeight)};
    }

    /** A view point in model pixel coordinates (may lie outside the model's input). */
    public float[] viewToModel(float vx, float vy) {
        float u = (vx - viewWidth / 2f) / scale + uprightWidth / 2f;
        float v = (vy - viewHeight / 2f) / scale + uprightHeight / 2f;
        return new float[] {(u - cropX) * modelWidth / cropWidth, (v - cropY) * modelHeight / cropHeight};
    }

    /** {left, top, right, bottom} of the model's input on the view: where to draw the overlay. */
    public float[] modelRectInView() {
        return new float[] {toViewX(cropX), toViewY(cropY), toViewX(cropX + cropWidth), toViewY(cropY + cropHeight)};
    }

    private static float clip(float value, int size) {
        return Math.max(0f, Math.min(size, value));
    }
}
