package io.mobileseg.core;

/**
 * On-screen speed: ms per frame (the model's init/step time, averaged over the last frames) and
 * frames per second (how many results reached the screen per second of wall time, which also
 * counts the camera and conversion). A ring of the last {@code window} frames; no allocation per frame.
 */
public final class FrameClock {
    private final long[] stamps;
    private final double[] millis;
    private int count;
    private int next;

    public FrameClock(int window) {
        if (window < 2) {
            throw new IllegalArgumentException("window must hold at least 2 frames, got " + window);
        }
        stamps = new long[window];
        millis = new double[window];
    }

    /** One frame finished at {@code nowNanos}, its model call having taken {@code modelNanos}. */
    public void tick(long nowNanos, long modelNanos) {
        stamps[next] = nowNanos;
        millis[next] = modelNanos / 1e6;
        next = (next + 1) % stamps.length;
        count = Math.min(count + 1, stamps.length);
    }

    /** Mean model time of the frames in the window, in ms; NaN before the first frame. */
    public double msPerFrame() {
        if (count == 0) {
            return Double.NaN;
        }
        double sum = 0;
        for (int i = 0; i < count; i++) {
            sum += millis[i];
        }
        return sum / count;
    }

    /** Frames per second over the window; NaN before two frames. */
    public double fps() {
        if (count < 2) {
            return Double.NaN;
        }
        int newest = (next - 1 + stamps.length) % stamps.length;
        int oldest = count < stamps.length ? 0 : next;
        long span = stamps[newest] - stamps[oldest];
        return span <= 0 ? Double.NaN : (count - 1) * 1e9 / span;
    }

    public void reset() {
        count = 0;
        next = 0;
    }
}
