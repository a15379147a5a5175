package io.mobileseg.core;

/**
 * Hands the overlay (ARGB pixels at the model's size) from the analysis thread to the UI thread,
 * and makes Reset final: a frame that was being segmented when the user pressed Reset can no
 * longer put its mask back on the screen.
 *
 * <p>Every reset starts a new epoch ({@link #reset}, UI thread). The analysis thread reads the
 * epoch when it starts a frame ({@link #epoch}) and hands it back with the overlay
 * ({@link #publish}); an overlay of an older epoch is dropped, under the same lock that a reset
 * takes, so there is no moment in which a stale mask can slip in. The analysis thread also learns
 * from a changed epoch that it must forget the object before its next frame
 * ({@link #resetSince}).
 *
 * <p>The analysis thread copies each overlay in under a short lock (an array copy); the UI thread
 * reads the newest one just before drawing ({@link #drawInto}). Nothing is allocated per frame.
 */
public final class OverlayFrames {
    /** Receives the overlay's pixels ({@code width * height}, row-major ARGB) while the lock is held: copy, do not keep. */
    public interface Sink {
        void accept(int[] argb);
    }

    private final Object lock = new Object();
    private final int width;
    private final int height;
    private final int[] pixels;
    private long version;
    private long epoch;
    private boolean shown;

    public OverlayFrames(int width, int height) {
        this.width = width;
        this.height = height;
        pixels = new int[width * height];
    }

    public int width() {
        return width;
    }

    public int height() {
        return height;
    }

    /** Any thread: forget the overlay and start a new epoch; overlays of earlier epochs are refused from now on. */
    public void reset() {
        synchronized (lock) {
            epoch++;
            shown = false;
            version++;
        }
    }

    /** Analysis thread, when a frame starts: the epoch its overlay will belong to. */
    public long epoch() {
        synchronized (lock) {
            return epoch;
        }
    }

    /** Analysis thread: whether a reset came after epoch {@code seen} (so the tracker must forget its object). */
    public boolean resetSince(long seen) {
        return epoch() != seen;
    }

    /**
     * Analysis thread: {@code argb} ({@code width * height} pixels) is the overlay of a frame
     * started in epoch {@code frameEpoch}. Returns false, and shows nothing, when a reset came
     * since: that frame's object was forgotten while it was being segmented.
     */
    public boolean publish(int[] argb, long frameEpoch) {
        if (argb.length != pixels.length) {
            throw new IllegalArgumentException("overlay has " + argb.length + " pixels, expected " + width + "x" + height);
        }
        synchronized (lock) {
            if (frameEpoch != epoch) {
                return false;
            }
            System.arraycopy(argb, 0, pixels, 0, pixels.length);
            shown = true;
            version++;
            return true;
        }
    }

    /** Whether there is an overlay to draw (an object is tracked). */
    public boolean visible() {
        synchronized (lock) {
            return shown;
        }
    }

    /**
     * UI thread: hands the newest overlay to {@code sink} when one arrived since version
     * {@code seen} (nothing when none is shown); returns the version now current.
     */
    public long drawInto(Sink sink, long seen) {
        synchronized (lock) {
            if (shown && version != seen) {
                sink.accept(pixels);
            }
            return version;
        }
    }
}
