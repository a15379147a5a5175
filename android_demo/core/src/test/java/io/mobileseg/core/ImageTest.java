package io.mobileseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.Test;

/** Image -> tensor, view mapping, box -> mask, overlay and the frame clock on hand-checked inputs. */
public class ImageTest {
    /** RGBA image whose pixel (x, y) has R = x, G = y, B = 7, with {@code pad} spare bytes per row. */
    static ByteBuffer gradient(int w, int h, int pad) {
        ByteBuffer b = ByteBuffer.allocate(h * (w * 4 + pad));
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int at = y * (w * 4 + pad) + x * 4;
                b.put(at, (byte) x).put(at + 1, (byte) y).put(at + 2, (byte) 7).put(at + 3, (byte) 255);
            }
        }
        return b;
    }

    static float at(ByteBuffer t, int c, int y, int x, int h, int w) {
        return t.getFloat(((c * h + y) * w + x) * 4);
    }

    @Test
    public void sameSizeIsAnExactCopyScaledToUnitRange() {
        FrameConverter conv = new FrameConverter(6, 4, 0, 4, 6);
        ByteBuffer out = Tracker.allocate(3 * 4 * 6);
        conv.convert(gradient(6, 4, 8), 6 * 4 + 8, 4, out);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 6; x++) {
                assertEquals(x / 255f, at(out, 0, y, x, 4, 6), 0f);
                assertEquals(y / 255f, at(out, 1, y, x, 4, 6), 0f);
                assertEquals(7 / 255f, at(out, 2, y, x, 4, 6), 0f);
            }
        }
    }

    @Test
    public void rotationTurnsTheImageClockwise() {
        // sensor 6 wide x 4 high, rotated 90 degrees: upright 4 wide x 6 high; upright (ux, uy) = sensor (uy, 3 - ux)
        FrameConverter conv = new FrameConverter(6, 4, 90, 6, 4);
        assertEquals(4, conv.uprightWidth());
        assertEquals(6, conv.uprightHeight());
        ByteBuffer out = Tracker.allocate(3 * 6 * 4);
        conv.convert(gradient(6, 4, 0), 24, 4, out);
        for (int uy = 0; uy < 6; uy++) {
            for (int ux = 0; ux < 4; ux++) {
                assertEquals(uy / 255f, at(out, 0, uy, ux, 6, 4), 0f);
                assertEquals((3 - ux) / 255f, at(out, 1, uy, ux, 6, 4), 0f);
            }
        }
        FrameConverter flip = new FrameConverter(6, 4, 180, 4, 6);
        flip.convert(gradient(6, 4, 0), 24, 4, out);
        assertEquals(5 / 255f, at(out, 0, 0, 0, 4, 6), 0f);
        assertEquals(3 / 255f, at(out, 1, 0, 0, 4, 6), 0f);
        FrameConverter ccw = new FrameConverter(6, 4, 270, 6, 4);
        ccw.convert(gradient(6, 4, 0), 24, 4, out);
        assertEquals(5 / 255f, at(out, 0, 0, 0, 6, 4), 0f); // upright (0, 0) = sensor (5, 0)
        assertEquals(0f, at(out, 1, 0, 0, 6, 4), 0f);
    }

    @Test
    public void cropsTheCentreWithTheModelsAspectRatio() {
        assertArrayEquals(new int[] {0, 40, 480, 560}, FrameConverter.centreCrop(480, 640, 480, 560));
        assertArrayEquals(new int[] {151, 0, 178, 320}, FrameConverter.centreCrop(480, 320, 480, 864)); // 320 * 480 / 864 = 177.8 -> 178
    }

    @Test
    public void downscalingAveragesNeighboursLikePyTorch() {
        // 4x2 -> 2x1 (same aspect, no crop): scale 2, source x = 2 * (d + 0.5) - 0.5 = 0.5 and 2.5, so each output is the mean of a pair
        FrameConverter conv = new FrameConverter(4, 2, 0, 1, 2);
        ByteBuffer out = Tracker.allocate(3 * 2);
        conv.convert(gradient(4, 2, 0), 16, 4, out);
        assertEquals((0 / 255f + 1 / 255f) / 2, at(out, 0, 0, 0, 1, 2), 1e-7f);
        assertEquals((2 / 255f + 3 / 255f) / 2, at(out, 0, 0, 1, 1, 2), 1e-7f);
        assertEquals((0 / 255f + 1 / 255f) / 2, at(out, 1, 0, 1, 1, 2), 1e-7f);
    }

    @Test
    public void badArgumentsAreNamed() {
        try {
            new FrameConverter(4, 4, 45, 4, 4);
            fail("rotation 45 accepted");
        } catch (IllegalArgumentException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("0, 90, 180 or 270") && ex.getMessage().contains("45"));
        }
        try {
            new FrameConverter(4, 4, 0, 4, 4).convert(ByteBuffer.allocate(10), 16, 4, Tracker.allocate(48));
            fail("short image buffer accepted");
        } catch (IllegalArgumentException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("holds 10 bytes"));
        }
    }

    @Test
    public void viewBoxesMapToModelPixelsAndBack() {
        // sensor 640x480 landscape, rotation 90: upright 480x640 (portrait). Model 480x864 (landscape): crop 480 x 267 at y 186.
        FrameConverter conv = new FrameConverter(640, 480, 90, 480, 864);
        assertEquals(480, conv.cropWidth());
        assertEquals(267, conv.cropHeight());
        assertEquals(186, conv.cropY());
        // a 960x1280 view shows the upright image scaled by 2 with nothing cut off
        ViewMapping map = new ViewMapping(conv, 480, 864, 960, 1280);
        float[] rect = map.modelRectInView();
        assertArrayEquals(new float[] {0f, 372f, 960f, 906f}, rect, 1e-3f);
        float[] box = map.viewBoxToModel(960f, 906f, 0f, 372f); // dragged from bottom-right to top-left: the whole input
        assertArrayEquals(new float[] {0f, 0f, 864f, 480f}, box, 1e-2f);
        float[] inner = map.viewBoxToModel(480f, 639f, 720f, 772.5f);
        assertArrayEquals(new float[] {432f, 240f, 648f, 360f}, inner, 0.1f);
        float[] outside = map.viewBoxToModel(-50f, 0f, 100f, 100f); // above the model's input: clipped to an empty strip
        assertEquals(0f, outside[1], 0f);
        assertEquals(0f, outside[3], 0f);
    }

    @Test
    public void boxMaskUsesPixelCentres() {
        ByteBuffer mask = Tracker.allocate(4 * 5);
        assertEquals(4, BoxMask.fill(new float[] {1f, 1f, 3f, 3f}, 4, 5, mask));
        assertEquals(0f, mask.getFloat((1 * 5 + 0) * 4), 0f);
        assertEquals(1f, mask.getFloat((1 * 5 + 1) * 4), 0f);
        assertEquals(1f, mask.getFloat((2 * 5 + 2) * 4), 0f);
        assertEquals(0f, mask.getFloat((2 * 5 + 3) * 4), 0f);
        // a centre on the end edge is outside; on the start edge inside
        assertEquals(2, BoxMask.fill(new float[] {0.5f, 0f, 2.5f, 1f}, 4, 5, mask));
        assertEquals(0, BoxMask.fill(new float[] {3f, 3f, 1f, 1f}, 4, 5, mask));
    }

    @Test
    public void overlayColoursPixelsAboveTheThreshold() {
        ByteBuffer prob = Tracker.allocate(4);
        prob.putFloat(0, 0.2f).putFloat(4, 0.5f).putFloat(8, 0.51f).putFloat(12, 1f);
        Overlay overlay = new Overlay(2, 2);
        int colour = 0x8033CCFF;
        assertEquals(0.5f, overlay.render(prob, 0.5f, colour), 0f);
        assertArrayEquals(new int[] {0, 0, colour, colour}, overlay.pixels());
    }

    @Test
    public void frameClockAveragesTheWindow() {
        FrameClock clock = new FrameClock(3);
        assertTrue(Double.isNaN(clock.msPerFrame()));
        clock.tick(0L, 10_000_000L);
        assertTrue(Double.isNaN(clock.fps()));
        clock.tick(50_000_000L, 20_000_000L);
        clock.tick(100_000_000L, 30_000_000L);
        assertEquals(20.0, clock.msPerFrame(), 1e-9);
        assertEquals(20.0, clock.fps(), 1e-9); // 2 intervals in 0.1 s
        clock.tick(300_000_000L, 60_000_000L); // window drops the first frame
        assertEquals(110.0 / 3, clock.msPerFrame(), 1e-9);
        assertEquals(2 / 0.25, clock.fps(), 1e-9);
        assertEquals(ByteOrder.nativeOrder(), Tracker.allocate(1).order());
    }
}
