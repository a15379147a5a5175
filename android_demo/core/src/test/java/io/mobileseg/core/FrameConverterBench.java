package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * Milliseconds per camera frame for camera image (RGBA_8888, in a direct buffer as CameraX hands
 * it over) -> the model's {@code [1, 3, 480, 864]} input: {@link FrameConverter} (bulk row copies,
 * offset tables) against {@link ReferenceFrameConverter} (the per-pixel implementation it
 * replaced), timed alternately in one JVM so that both see the same machine. {@code make bench-jvm}
 * runs it on one core ({@code taskset -c 0}, one JIT and GC thread).
 *
 * <p>Cases: the app's analysis image for a 480x864 model (1280x720) held sideways (rotation 0) and
 * upright (rotation 90), whole, and with the crop rectangle a 20:9 phone's preview ViewPort gives
 * (the reference has no crop rectangle, so those rows time the new path only). A shared host
 * makes single frames slow now and then: min and p10 show the code, the median the machine.
 *
 * <pre>
 *   java -cp CLASSES io.mobileseg.core.FrameConverterBench [WARMUP_FRAMES MEASURED_FRAMES]
 * </pre>
 */
public final class FrameConverterBench {
    private FrameConverterBench() {
    }

    interface Convert {
        void run();
    }

    public static void main(String[] args) {
        int warmup = args.length > 0 ? Integer.parseInt(args[0]) : 100;
        int frames = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        int width = 1280;
        int height = 720;
        int rowStride = width * 4;
        ByteBuffer image = ByteBuffer.allocateDirect(height * rowStride);
        byte[] noise = new byte[image.capacity()];
        new Random(7).nextBytes(noise);
        image.put(noise).rewind();
        ByteBuffer out = Tracker.allocate(3 * 480 * 864);
        System.out.println(String.format(Locale.US, "camera image %dx%d RGBA -> 1x3x480x864 float32: ms per frame over %d frames after %d warm-up"
                + " (java %s, %d processor(s) visible)", width, height, frames, warmup, System.getProperty("java.version"),
                Runtime.getRuntime().availableProcessors()));
        // {rotation, crop left, top, right, bottom}
        int[][] cases = {{0, 0, 0, 1280, 720}, {90, 0, 0, 1280, 720}, {0, 0, 72, 1280, 648}, {90, 478, 0, 802, 720}};
        for (int[] c : cases) {
            boolean whole = c[1] == 0 && c[2] == 0 && c[3] == width && c[4] == height;
            FrameConverter fast = new FrameConverter(width, height, c[1], c[2], c[3], c[4], c[0], 480, 864);
            ReferenceFrameConverter reference = whole ? new ReferenceFrameConverter(width, height, c[0], 480, 864) : null;
            Convert newPath = () -> fast.convert(image, rowStride, 4, out);
            Convert oldPath = reference == null ? null : () -> reference.convert(image, rowStride, 4, out);
            double[][] ms = time(newPath, oldPath, warmup, frames);
            String what = String.format(Locale.US, "rotation %3d, crop %4dx%-4d", c[0], c[3] - c[1], c[4] - c[2]);
            if (oldPath != null) {
                System.out.println(what + "  per-pixel (before): " + summary(ms[1]));
            }
            System.out.println(what + "  bulk rows  (after): " + summary(ms[0]));
        }
    }

    /** Both paths, frame by frame in turn: {new times, old times} in ms, sorted. */
    static double[][] time(Convert newPath, Convert oldPath, int warmup, int frames) {
        for (int i = 0; i < warmup; i++) {
            newPath.run();
            if (oldPath != null) {
                oldPath.run();
            }
        }
        double[] fresh = new double[frames];
        double[] old = new double[frames];
        for (int i = 0; i < frames; i++) {
            long start = System.nanoTime();
            newPath.run();
            fresh[i] = (System.nanoTime() - start) / 1e6;
            if (oldPath != null) {
                start = System.nanoTime();
                oldPath.run();
                old[i] = (System.nanoTime() - start) / 1e6;
            }
        }
        Arrays.sort(fresh);
        Arrays.sort(old);
        return new double[][] {fresh, old};
    }

    static String summary(double[] ms) {
        double mean = Arrays.stream(ms).average().orElse(Double.NaN);
        return String.format(Locale.US, "min %6.2f  p10 %6.2f  median %6.2f  mean %6.2f", ms[0], ms[ms.length / 10], ms[ms.length / 2], mean);
    }
}
