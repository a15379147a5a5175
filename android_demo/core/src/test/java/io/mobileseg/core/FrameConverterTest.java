package io.mobileseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.Test;

/**
 * The fast frame path against the per-pixel one it replaced, the crop rectangle (CameraX's
 * ViewPort), and the rotation mapping: a box dragged around an object on the preview covers that
 * object in the model's input, for each of the four rotations, 180 degrees included.
 */
public class FrameConverterTest {
    private static final int[] ROTATIONS = {0, 90, 180, 270};

    static ByteBuffer randomImage(Random random, int rowStride, int height, boolean direct) {
        byte[] bytes = new byte[rowStride * height];
        random.nextBytes(bytes);
        ByteBuffer buffer = direct ? ByteBuffer.allocateDirect(bytes.length) : ByteBuffer.allocate(bytes.length);
        buffer.put(bytes).rewind();
        return buffer;
    }

    /** The crop rectangle's pixels as an image of their own (what Python's image[top:bottom, left:right] is). */
    static ByteBuffer cut(ByteBuffer image, int rowStride, int pixelStride, int left, int top, int right, int bottom) {
        int stride = (right - left) * pixelStride;
        ByteBuffer out = ByteBuffer.allocate(stride * (bottom - top));
        for (int y = top; y < bottom; y++) {
            for (int i = 0; i < stride; i++) {
                out.put((y - top) * stride + i, image.get(y * rowStride + left * pixelStride + i));
            }
        }
        return out;
    }

    static float[] floats(ByteBuffer tensor, int count) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = tensor.getFloat(i * 4);
        }
        return values;
    }

    @Test
    public void givesTheSameFloatsAsThePerPixelPath() {
        Random random = new Random(11);
        int[][] sizes = {{64, 48, 0, 4, 24, 40}, {97, 61, 12, 4, 32, 48}, {50, 80, 4, 4, 48, 80}, {120, 40, 0, 4, 16, 32}, {33, 33, 8, 4, 32, 64},
            {40, 30, 3, 5, 30, 40}};
        for (int[] s : sizes) {
            int w = s[0];
            int h = s[1];
            int pixelStride = s[3];
            int rowStride = w * pixelStride + s[2];
            for (int rotation : ROTATIONS) {
                for (boolean direct : new boolean[] {false, true}) {
                    ByteBuffer image = randomImage(random, rowStride, h, direct);
                    image.position(5); // the converter reads from the offsets, whatever the position, and leaves it
                    ByteBuffer fast = Tracker.allocate(3 * s[4] * s[5]);
                    ByteBuffer slow = Tracker.allocate(3 * s[4] * s[5]);
                    new FrameConverter(w, h, rotation, s[4], s[5]).convert(image, rowStride, pixelStride, fast);
                    assertEquals(5, image.position());
                    new ReferenceFrameConverter(w, h, rotation, s[4], s[5]).convert(image, rowStride, pixelStride, slow);
                    String what = w + "x" + h + " rotation " + rotation + " pixel stride " + pixelStride;
                    assertArrayEquals(what, floats(slow, 3 * s[4] * s[5]), floats(fast, 3 * s[4] * s[5]), 0f);
                }
            }
        }
    }

    @Test
    public void reusesItsBuffersFrameAfterFrame() {
        Random random = new Random(3);
        FrameConverter converter = new FrameConverter(80, 60, 90, 30, 40);
        ByteBuffer out = Tracker.allocate(3 * 30 * 40);
        ByteBuffer little = ByteBuffer.allocate(3 * 30 * 40 * 4).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer big = ByteBuffer.allocate(3 * 30 * 40 * 4).order(ByteOrder.BIG_ENDIAN);
        for (int frame = 0; frame < 3; frame++) {
            ByteBuffer image = randomImage(random, 80 * 4, 60, true);
            ByteBuffer expected = Tracker.allocate(3 * 30 * 40);
            new ReferenceFrameConverter(80, 60, 90, 30, 40).convert(image, 320, 4, expected);
            out.position(7);
            converter.convert(image, 320, 4, out);
            assertEquals("the output's position is left alone", 7, out.position());
            converter.convert(image, 320, 4, little);
            converter.convert(image, 320, 4, big);
            float[] want = floats(expected, 3 * 30 * 40);
            assertArrayEquals(want, floats(out, 3 * 30 * 40), 0f);
            assertArrayEquals("written in the output's own byte order", want, floats(little, 3 * 30 * 40), 0f);
            assertArrayEquals(want, floats(big, 3 * 30 * 40), 0f);
        }
    }

    @Test
    public void theCropRectangleIsTheImageThePreviewShows() {
        Random random = new Random(5);
        int w = 90;
        int h = 60;
        int rowStride = w * 4 + 8;
        int[][] rects = {{0, 0, 90, 60}, {10, 5, 80, 55}, {0, 12, 90, 48}, {30, 0, 60, 60}, {89, 59, 90, 60}};
        for (int[] r : rects) {
            for (int rotation : ROTATIONS) {
                ByteBuffer image = randomImage(random, rowStride, h, true);
                FrameConverter converter = new FrameConverter(w, h, r[0], r[1], r[2], r[3], rotation, 24, 32);
                ByteBuffer fast = Tracker.allocate(3 * 24 * 32);
                converter.convert(image, rowStride, 4, fast);
                ByteBuffer part = cut(image, rowStride, 4, r[0], r[1], r[2], r[3]);
                ReferenceFrameConverter reference = new ReferenceFrameConverter(r[2] - r[0], r[3] - r[1], rotation, 24, 32);
                ByteBuffer slow = Tracker.allocate(3 * 24 * 32);
                reference.convert(part, (r[2] - r[0]) * 4, 4, slow);
                String what = "crop " + java.util.Arrays.toString(r) + " rotation " + rotation;
                assertArrayEquals(what, floats(slow, 3 * 24 * 32), floats(fast, 3 * 24 * 32), 0f);
                assertEquals(what, reference.uprightWidth(), converter.uprightWidth());
                assertEquals(what, reference.uprightHeight(), converter.uprightHeight());
                assertEquals(what, reference.cropX(), converter.cropX());
                assertEquals(what, reference.cropY(), converter.cropY());
                assertTrue(converter.matches(w, h, r[0], r[1], r[2], r[3], rotation));
                assertFalse("a new crop rectangle needs a new converter", converter.matches(w, h, r[0], r[1], r[2], r[3] - 1, rotation));
            }
        }
    }

    @Test
    public void aCropRectangleOutsideTheImageIsRefused() {
        int[][] bad = {{-1, 0, 10, 10}, {0, 0, 11, 10}, {0, 0, 10, 11}, {5, 0, 5, 10}, {0, 6, 10, 4}};
        for (int[] r : bad) {
            try {
                new FrameConverter(10, 10, r[0], r[1], r[2], r[3], 0, 4, 4);
                fail("crop " + java.util.Arrays.toString(r) + " accepted");
            } catch (IllegalArgumentException ex) {
                assertTrue(ex.getMessage(), ex.getMessage().contains("crop rectangle") && ex.getMessage().contains("10x10"));
            }
        }
    }

    /** A dark sensor image with one bright rectangle [x0, x1) x [y0, y1) (sensor pixels). */
    static ByteBuffer blob(int w, int h, int x0, int y0, int x1, int y1) {
        ByteBuffer image = ByteBuffer.allocateDirect(w * h * 4);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                byte v = (byte) (x >= x0 && x < x1 && y >= y0 && y < y1 ? 250 : 10);
                image.put((y * w + x) * 4, v).put((y * w + x) * 4 + 1, v).put((y * w + x) * 4 + 2, v).put((y * w + x) * 4 + 3, (byte) 255);
            }
        }
        return image;
    }

    /** Where sensor rectangle [x0, x1) x [y0, y1) of a crop rectangle of size cw x ch appears once turned clockwise by rotation. */
    static int[] upright(int rotation, int cw, int ch, int x0, int y0, int x1, int y1) {
        switch (rotation) {
            case 90:
                return new int[] {ch - y1, x0, ch - y0, x1};
            case 180:
                return new int[] {cw - x1, ch - y1, cw - x0, ch - y0};
            case 270:
                return new int[] {y0, cw - x1, y1, cw - x0};
            default:
                return new int[] {x0, y0, x1, y1};
        }
    }

    /** Mean red of the frame tensor over the pixels the box mask covers, and over the rest. */
    static float[] meanInsideOutside(ByteBuffer frame, ByteBuffer mask, int h, int w) {
        double in = 0;
        double out = 0;
        int nIn = 0;
        int nOut = 0;
        for (int i = 0; i < h * w; i++) {
            float v = frame.getFloat(i * 4);
            if (mask.getFloat(i * 4) > 0) {
                in += v;
                nIn++;
            } else {
                out += v;
                nOut++;
            }
        }
        return new float[] {(float) (in / Math.max(nIn, 1)), (float) (out / Math.max(nOut, 1)), nIn};
    }

    /**
     * The preview shows the crop rectangle turned upright and scaled by 2 (the view is twice its
     * size); a box dragged around the bright object there must select the object in the model's
     * input, whatever the rotation. The same box under the opposite rotation selects dark
     * pixels: what a stale target rotation after a 180-degree turn of the phone did.
     */
    @Test
    public void aBoxAroundTheObjectOnThePreviewSelectsItForEveryRotation() {
        int w = 64;
        int h = 48;
        int[][] crops = {{0, 0, 64, 48}, {8, 4, 60, 44}};
        for (int[] crop : crops) {
            int cw = crop[2] - crop[0];
            int ch = crop[3] - crop[1];
            // the object: sensor [x0, x1) x [y0, y1), inside the crop rectangle and near one corner
            int x0 = crop[0] + 6;
            int y0 = crop[1] + 5;
            int x1 = x0 + 14;
            int y1 = y0 + 12;
            ByteBuffer image = blob(w, h, x0, y0, x1, y1);
            for (int rotation : ROTATIONS) {
                FrameConverter converter = new FrameConverter(w, h, crop[0], crop[1], crop[2], crop[3], rotation, 40, 40);
                int[] at = upright(rotation, cw, ch, x0 - crop[0], y0 - crop[1], x1 - crop[0], y1 - crop[1]);
                ViewMapping view = new ViewMapping(converter, 40, 40, 2 * converter.uprightWidth(), 2 * converter.uprightHeight());
                float[] box = view.viewBoxToModel(2 * at[0] + 2, 2 * at[1] + 2, 2 * at[2] - 2, 2 * at[3] - 2); // a little inside the object
                ByteBuffer mask = Tracker.allocate(40 * 40);
                assertTrue(BoxMask.fill(box, 40, 40, mask) > 20);
                ByteBuffer frame = Tracker.allocate(3 * 40 * 40);
                converter.convert(image, w * 4, 4, frame);
                float[] means = meanInsideOutside(frame, mask, 40, 40);
                String what = "crop " + java.util.Arrays.toString(crop) + " rotation " + rotation + ": box " + java.util.Arrays.toString(box);
                assertTrue(what + " covers " + means[0], means[0] > 0.9f);
                assertTrue(what + " leaves " + means[1], means[1] < 0.3f);
                int opposite = (rotation + 180) % 360;
                FrameConverter stale = new FrameConverter(w, h, crop[0], crop[1], crop[2], crop[3], opposite, 40, 40);
                assertFalse(converter.matches(w, h, crop[0], crop[1], crop[2], crop[3], opposite));
                stale.convert(image, w * 4, 4, frame);
                assertTrue(what + " under the stale rotation " + opposite, meanInsideOutside(frame, mask, 40, 40)[0] < 0.3f);
            }
        }
    }

    @Test
    public void aRotationOf180FlipsTheImageBothWays() {
        ByteBuffer image = ImageTest.gradient(6, 4, 0);
        ByteBuffer upright = Tracker.allocate(3 * 4 * 6);
        ByteBuffer flipped = Tracker.allocate(3 * 4 * 6);
        new FrameConverter(6, 4, 0, 4, 6).convert(image, 24, 4, upright);
        new FrameConverter(6, 4, 180, 4, 6).convert(image, 24, 4, flipped);
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 6; x++) {
                for (int c = 0; c < 3; c++) {
                    assertEquals(ImageTest.at(upright, c, 3 - y, 5 - x, 4, 6), ImageTest.at(flipped, c, y, x, 4, 6), 0f);
                }
            }
        }
    }
}
