package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.util.Map;

/**
 * The {@link Runner} the tracker calls: whichever backend is current (XNNPACK on the CPU, or the
 * GPU delegate), with a fallback for a GPU that fails while running.
 *
 * <p>A GPU delegate can accept a model and still fail on a later call (a driver error, lost
 * context, out of memory). Then this runner opens the CPU backend, closes the failed one, and
 * runs the same call again on the CPU, so the frame is not lost and the tracker keeps its memory
 * (the tracker only moves to the new state after a call succeeds). {@link #takeFallback} tells
 * the caller once, so that the screen stops saying GPU. A failure on the CPU backend, or while
 * opening it, is thrown as before.
 *
 * <p>Not thread-safe: the analysis thread creates, runs, switches and closes it.
 */
public final class BackendRunner implements Runner, AutoCloseable {
    /** A backend: a runner with a name for the screen, which owns native resources. */
    public interface Backend extends Runner, AutoCloseable {
        /** What the status line calls it. */
        String name();

        /** True for the GPU delegate: a failure falls back to the CPU. */
        boolean accelerated();

        @Override
        void close();
    }

    /** Opens the CPU backend. */
    public interface CpuOpener {
        Backend open() throws Exception;
    }

    private final CpuOpener cpu;
    private Backend current;
    private String fallback;

    public BackendRunner(Backend first, CpuOpener cpu) {
        this.current = first;
        this.cpu = cpu;
    }

    public Backend current() {
        return current;
    }

    /** Runs the next calls on {@code next}; the old backend is closed. */
    public void switchTo(Backend next) {
        Backend old = current;
        current = next;
        if (old != next) {
            old.close();
        }
    }

    /** Why the runner fell back to the CPU since the last call, or null; cleared by the call. */
    public String takeFallback() {
        String reason = fallback;
        fallback = null;
        return reason;
    }

    @Override
    public void run(String entry, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) throws Exception {
        Backend backend = current;
        try {
            backend.run(entry, inputs, outputs);
            return;
        } catch (Exception failure) {
            if (!backend.accelerated()) {
                throw failure;
            }
            Backend next;
            try {
                next = cpu.open();
            } catch (Exception openFailure) {
                failure.addSuppressed(openFailure);
                throw failure;
            }
            current = next;
            try {
                backend.close();
            } catch (RuntimeException closeFailure) {
                failure.addSuppressed(closeFailure);
            }
            String message = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
            fallback = backend.name() + " failed while running " + entry + " (" + message + "); running on " + next.name() + " from now on";
        }
        for (ByteBuffer buffer : inputs.values()) {
            buffer.rewind();
        }
        for (ByteBuffer buffer : outputs.values()) {
            buffer.rewind();
        }
        current.run(entry, inputs, outputs);
    }

    @Override
    public void close() {
        current.close();
    }
}
