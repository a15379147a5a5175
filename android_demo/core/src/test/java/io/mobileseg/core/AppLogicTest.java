package io.mobileseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import io.mobileseg.core.CameraAccess.Action;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.Test;

/** The app's decisions that live in the core: Reset against a frame in flight, the camera permission, the GPU fallback. */
public class AppLogicTest {
    // ---- Reset while a step runs ------------------------------------------------------------

    @Test
    public void aFrameSegmentedAcrossAResetDoesNotPublishItsMask() {
        OverlayFrames frames = new OverlayFrames(2, 2);
        int[] mask = {1, 2, 3, 4};
        long epoch = frames.epoch(); // the analysis thread starts a frame and runs step()
        frames.reset(); // the user presses Reset meanwhile (UI thread)
        assertFalse("the stale mask is refused", frames.publish(mask, epoch));
        assertFalse(frames.visible());
        List<int[]> drawn = new ArrayList<>();
        frames.drawInto(p -> drawn.add(p.clone()), -1);
        assertTrue("nothing is drawn", drawn.isEmpty());
        assertTrue("the next frame learns that it must forget the object", frames.resetSince(epoch));
        long next = frames.epoch();
        assertFalse(frames.resetSince(next));
        assertTrue(frames.publish(mask, next)); // a box drawn after the reset starts a new object: shown
        assertTrue(frames.visible());
        long version = frames.drawInto(p -> drawn.add(p.clone()), -1);
        assertArrayEquals(mask, drawn.get(0));
        assertEquals("an unchanged overlay is not copied again", version, frames.drawInto(p -> drawn.add(p), version));
        assertEquals(1, drawn.size());
    }

    /** An analysis thread publishing as fast as it can while the UI thread resets: after a reset returns, no mask of an older epoch is ever drawn. */
    @Test
    public void noStaleMaskIsDrawnAfterAResetUnderContention() throws Exception {
        OverlayFrames frames = new OverlayFrames(4, 4);
        AtomicBoolean stop = new AtomicBoolean(false);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread analysis = new Thread(() -> {
            int[] pixels = new int[16];
            try {
                while (!stop.get()) {
                    long epoch = frames.epoch();
                    Arrays.fill(pixels, (int) epoch); // "segmenting": the mask belongs to this epoch
                    Thread.yield();
                    frames.publish(pixels, epoch);
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        analysis.start();
        try {
            long seen = -1;
            for (int reset = 0; reset < 2000; reset++) {
                frames.reset();
                long after = frames.epoch();
                for (int look = 0; look < 3; look++) {
                    int[] drawn = {-1};
                    seen = frames.drawInto(p -> drawn[0] = p[0], seen);
                    if (drawn[0] != -1 && drawn[0] < after) {
                        fail("a mask of epoch " + drawn[0] + " was drawn after the reset to epoch " + after);
                    }
                }
            }
        } finally {
            stop.set(true);
            analysis.join(5000);
        }
        assertNull(failure.get());
    }

    @Test
    public void anOverlayOfTheWrongSizeIsAnError() {
        try {
            new OverlayFrames(3, 2).publish(new int[5], 0);
            fail("accepted");
        } catch (IllegalArgumentException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("3x2"));
        }
    }

    // ---- camera permission -------------------------------------------------------------------

    @Test
    public void grantedAtStartStartsTheCamera() {
        CameraAccess access = new CameraAccess();
        assertEquals(Action.START, access.onStart(true));
        assertEquals(Action.START, access.onStart(true)); // every start: the activity starts the camera unless it runs
        assertFalse(access.denied());
    }

    @Test
    public void allowedInSettingsAfterADenialStartsTheCameraWhenTheAppComesBack() {
        CameraAccess access = new CameraAccess();
        assertEquals(Action.ASK, access.onStart(false));
        assertEquals(Action.DENIED, access.answered(false));
        assertTrue(access.denied());
        assertEquals("back without allowing it: no second dialog, the message again", Action.DENIED, access.onStart(false));
        assertEquals("allowed in Settings, then back to the same activity", Action.START, access.onStart(true));
        assertFalse("the denial is forgotten", access.denied());
    }

    @Test
    public void aRotationWhileTheDialogIsOpenWaitsForItsAnswer() {
        CameraAccess first = new CameraAccess();
        assertEquals(Action.ASK, first.onStart(false));
        int saved = first.saved(); // the phone turns: the activity is recreated with the dialog still open
        CameraAccess second = CameraAccess.restore(saved);
        assertEquals("no second request, whose cancellation would read as a denial", Action.NONE, second.onStart(false));
        assertFalse(second.denied());
        assertEquals(Action.START, second.answered(true));
        assertEquals(Action.START, second.onStart(true));
        assertEquals(0, CameraAccess.restore(0).saved());
    }

    @Test
    public void aDenialSurvivesRecreationAndIsClearedByAGrant() {
        CameraAccess access = new CameraAccess();
        access.onStart(false);
        access.answered(false);
        CameraAccess again = CameraAccess.restore(access.saved());
        assertTrue(again.denied());
        assertEquals(Action.DENIED, again.onStart(false));
        assertEquals(Action.START, again.onStart(true));
        assertFalse(again.denied());
    }

    // ---- GPU failure while running -----------------------------------------------------------

    /** A backend over the tracker test's plain-Java model that can be told to fail, after scribbling on its outputs. */
    static final class FakeBackend implements BackendRunner.Backend {
        final TrackerTest.FakeRunner model = new TrackerTest.FakeRunner();
        final String name;
        final boolean gpu;
        int failOnCall = -1;
        int calls;
        boolean closed;

        FakeBackend(String name, boolean gpu) {
            this.name = name;
            this.gpu = gpu;
        }

        @Override
        public void run(String entry, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
            if (closed) {
                throw new IllegalStateException(name + " used after close");
            }
            if (++calls == failOnCall) {
                for (ByteBuffer out : outputs.values()) {
                    out.putFloat(0, -999f).position(4);
                }
                for (ByteBuffer in : inputs.values()) {
                    in.position(in.limit());
                }
                throw new IllegalArgumentException("Internal error: Failed to run on the given Interpreter: GpuDelegate Invoke failed");
            }
            model.run(entry, inputs, outputs);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public boolean accelerated() {
            return gpu;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    static Tracker started(Runner runner) throws Exception {
        Tracker tracker = new Tracker(ContractTest.parse(ContractTest.contract()), runner);
        BoxMask.fill(new float[] {0, 0, 24, 32}, 32, 48, tracker.mask());
        TrackerTest.FakeRunner.fillAll(tracker.frame(), 0.25f);
        tracker.init();
        return tracker;
    }

    @Test
    public void aGpuFailureWhileRunningFallsBackToTheCpuAndKeepsTracking() throws Exception {
        FakeBackend gpu = new FakeBackend("GPU", true);
        List<FakeBackend> opened = new ArrayList<>();
        BackendRunner runner = new BackendRunner(gpu, () -> {
            FakeBackend cpu = new FakeBackend("XNNPACK", false);
            opened.add(cpu);
            return cpu;
        });
        Tracker tracker = started(runner);
        Tracker reference = started(new TrackerTest.FakeRunner());
        gpu.failOnCall = 3; // init, one step, then the GPU fails on the second step
        for (int t = 1; t <= 4; t++) {
            TrackerTest.FakeRunner.fillAll(tracker.frame(), 0.1f * t);
            TrackerTest.FakeRunner.fillAll(reference.frame(), 0.1f * t);
            float got = tracker.step().getFloat(0);
            float want = reference.step().getFloat(0);
            assertEquals("frame " + t + ": the same masks as a run on the CPU throughout", want, got, 0f);
            assertEquals(reference.state("mem_value").getFloat(0), tracker.state("mem_value").getFloat(0), 0f);
            String reason = runner.takeFallback();
            if (t == 2) {
                assertTrue(reason, reason != null && reason.startsWith("GPU failed while running step") && reason.contains("GpuDelegate Invoke failed")
                        && reason.endsWith("running on XNNPACK from now on"));
            } else {
                assertNull(reason);
            }
        }
        assertEquals(1, opened.size());
        assertSame(opened.get(0), runner.current());
        assertTrue("the failed delegate is closed", gpu.closed);
        runner.close();
        assertTrue(opened.get(0).closed);
    }

    @Test
    public void aCpuFailureIsThrownAsBefore() throws Exception {
        FakeBackend cpu = new FakeBackend("XNNPACK", false);
        BackendRunner runner = new BackendRunner(cpu, () -> {
            throw new AssertionError("no fallback from the CPU");
        });
        Tracker tracker = started(runner);
        cpu.failOnCall = 2;
        try {
            tracker.step();
            fail("no error");
        } catch (IllegalArgumentException expected) {
            assertTrue(tracker.started());
        }
        assertNull(runner.takeFallback());
    }

    @Test
    public void whenTheCpuCannotOpenEitherTheGpuErrorIsThrown() throws Exception {
        FakeBackend gpu = new FakeBackend("GPU", true);
        BackendRunner runner = new BackendRunner(gpu, () -> {
            throw new IllegalStateException("no memory for XNNPACK");
        });
        Tracker tracker = started(runner);
        gpu.failOnCall = 2;
        try {
            tracker.step();
            fail("no error");
        } catch (IllegalArgumentException ex) {
            assertTrue(ex.getMessage().contains("GpuDelegate"));
            assertEquals("no memory for XNNPACK", ex.getSuppressed()[0].getMessage());
        }
        assertSame(gpu, runner.current());
    }

    @Test
    public void aSwitchClosesTheOldBackend() {
        FakeBackend a = new FakeBackend("XNNPACK", false);
        FakeBackend b = new FakeBackend("GPU", true);
        BackendRunner runner = new BackendRunner(a, () -> a);
        runner.switchTo(b);
        assertTrue(a.closed);
        assertFalse(b.closed);
        assertSame(b, runner.current());
    }
}
