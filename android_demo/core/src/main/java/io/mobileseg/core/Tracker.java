package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The state loop of the exported student, over any {@link Runner}:
 *
 * <pre>
 *   state = init(frame, mask)              // the frame the user drew a box on, and the box mask
 *   prob, state = step(frame, state)       // every later frame; state fed back by the contract's names
 * </pre>
 *
 * The step entry of each frame is the contract schedule's {@code steps[(int) phase]}, the phase
 * read from the state buffer the schedule names (a contract without one: always {@code step}).
 * Every step entry takes the same inputs and writes the same outputs, so they share the buffers.
 *
 * Every buffer is allocated once here (direct, native order, float32): the frame and mask the
 * caller fills, the probability map, and two sets of state buffers that swap roles each frame
 * (step reads one set and writes the other), so the hot path allocates nothing and never copies
 * the memory. Not thread-safe: one thread (the app's analysis thread) drives it.
 */
public final class Tracker {
    private final Contract contract;
    private final Runner runner;
    private final List<String> steps;
    private final String phase;
    private final ByteBuffer frame;
    private final ByteBuffer mask;
    private final ByteBuffer prob;
    private final Map<String, ByteBuffer>[] state;
    private final Map<String, ByteBuffer> initInputs = new HashMap<>();
    private final Map<String, ByteBuffer> initOutputs = new HashMap<>();
    private final Map<String, ByteBuffer>[] stepInputs;
    private final Map<String, ByteBuffer>[] stepOutputs;
    private int current = -1; // which state set holds the memory; -1 before init
    private long frames;

    @SuppressWarnings({"unchecked", "rawtypes"})
    public Tracker(Contract contract, Runner runner) {
        this.contract = contract;
        this.runner = runner;
        steps = contract.steps();
        phase = contract.phaseName();
        frame = allocate(contract.height() * contract.width() * 3);
        mask = allocate(contract.height() * contract.width());
        prob = allocate(contract.height() * contract.width());
        state = new Map[] {new HashMap<>(), new HashMap<>()};
        for (String name : contract.stateNames()) {
            int elements = contract.stateSpec(name).elements();
            state[0].put(name, allocate(elements));
            state[1].put(name, allocate(elements));
        }
        initInputs.put(Contract.FRAME, frame);
        initInputs.put(Contract.MASK, mask);
        for (String name : contract.stateNames()) {
            initOutputs.put(contract.initOutputFor(name), state[0].get(name));
        }
        stepInputs = new Map[2];
        stepOutputs = new Map[2];
        for (int from = 0; from < 2; from++) {
            int to = 1 - from;
            stepInputs[from] = new HashMap<>(state[from]);
            stepInputs[from].put(Contract.FRAME, frame);
            stepOutputs[from] = new HashMap<>();
            stepOutputs[from].put(Contract.PROB, prob);
            for (String name : contract.stateNames()) {
                stepOutputs[from].put(contract.stepOutputFor(name), state[to].get(name));
            }
        }
    }

    static ByteBuffer allocate(int floats) {
        return ByteBuffer.allocateDirect(floats * 4).order(ByteOrder.nativeOrder());
    }

    public Contract contract() {
        return contract;
    }

    /** {@code [1, 3, H, W]} float32 RGB in [0, 1], filled by the caller before {@link #init} and {@link #step}. */
    public ByteBuffer frame() {
        return frame;
    }

    /** {@code [1, 1, H, W]} float32 first mask, filled by the caller before {@link #init}. */
    public ByteBuffer mask() {
        return mask;
    }

    /** Starts a video: the memory is built from {@link #frame()} and {@link #mask()}. */
    public void init() throws Exception {
        rewind(initInputs);
        rewind(initOutputs);
        runner.run(Contract.INIT, initInputs, initOutputs);
        current = 0;
        frames = 1;
    }

    /**
     * Segments {@link #frame()} with the memory; returns the {@code [1, 1, H, W]} probability
     * buffer (valid until the next call). The memory moves to the other state set.
     */
    public ByteBuffer step() throws Exception {
        if (current < 0) {
            throw new IllegalStateException("step() before init(): draw a box first (init starts every video).");
        }
        String entry = nextStep();
        rewind(stepInputs[current]);
        rewind(stepOutputs[current]);
        runner.run(entry, stepInputs[current], stepOutputs[current]);
        current = 1 - current;
        frames++;
        prob.rewind();
        return prob;
    }

    /** The step entry the schedule picks for the next frame from the phase in the current state. */
    public String nextStep() {
        if (phase == null) {
            return steps.get(0);
        }
        if (current < 0) {
            throw new IllegalStateException("no state before init()");
        }
        float value = state[current].get(phase).getFloat(0);
        int index = (int) value;
        if (index != value || index < 0 || index >= steps.size()) {
            throw new IllegalStateException("the state's " + phase + " is " + value + ", but " + contract.source() + " schedules "
                    + steps.size() + " step entries " + steps + ", so it must be a whole number from 0 to " + (steps.size() - 1)
                    + ". The model file and its contract come from different exports: export again, then start the video with init.");
        }
        return steps.get(index);
    }

    /** Forgets the object; the next video starts with {@link #init}. */
    public void reset() {
        current = -1;
        frames = 0;
    }

    public boolean started() {
        return current >= 0;
    }

    /** Frames seen since init (init's frame included). */
    public long frames() {
        return frames;
    }

    /** The memory as it will be fed to the next step (read-only views; for tests and debugging). */
    public ByteBuffer state(String name) {
        if (current < 0) {
            throw new IllegalStateException("no state before init()");
        }
        return state[current].get(name).asReadOnlyBuffer().order(ByteOrder.nativeOrder());
    }

    private static void rewind(Map<String, ByteBuffer> buffers) {
        for (ByteBuffer buffer : buffers.values()) {
            buffer.rewind();
        }
    }
}
