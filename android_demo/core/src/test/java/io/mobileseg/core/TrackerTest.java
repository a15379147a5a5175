package io.mobileseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotSame;
import static org.junit.Assert.assertSame;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** The state loop over a plain-Java interpreter whose state is a frame counter and a running sum. */
public class TrackerTest {
    /**
     * init: mem_key[*] = mean(mask), mem_value[*] = 1000 * frame[0].
     * step: prob[*] = mem_key[0] + mem_value[0] + frame[0]; new_mem_key = mem_key + 1; new_mem_value = mem_value + frame[0].
     * It records which buffers it was given, to prove nothing is allocated per frame.
     */
    static final class FakeRunner implements Runner {
        final List<String> calls = new ArrayList<>();
        final List<ByteBuffer> seen = new ArrayList<>();

        @Override
        public void run(String entry, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
            calls.add(entry + " " + new java.util.TreeSet<>(inputs.keySet()) + " -> " + new java.util.TreeSet<>(outputs.keySet()));
            for (ByteBuffer b : inputs.values()) {
                assertEquals("inputs must be rewound", 0, b.position());
                seen.add(b);
            }
            seen.addAll(outputs.values());
            float frame0 = inputs.get("frame").getFloat(0);
            if (entry.equals("init")) {
                ByteBuffer mask = inputs.get("mask");
                float sum = 0;
                for (int i = 0; i < mask.capacity() / 4; i++) {
                    sum += mask.getFloat(i * 4);
                }
                fillAll(outputs.get("mem_key"), sum / (mask.capacity() / 4));
                fillAll(outputs.get("mem_value"), 1000 * frame0);
            } else {
                float key = inputs.get("mem_key").getFloat(0);
                float value = inputs.get("mem_value").getFloat(0);
                fillAll(outputs.get("prob"), key + value + frame0);
                fillAll(outputs.get("new_mem_key"), key + 1);
                fillAll(outputs.get("new_mem_value"), value + frame0);
            }
        }

        static void fillAll(ByteBuffer b, float v) {
            for (int i = 0; i < b.capacity() / 4; i++) {
                b.putFloat(i * 4, v);
            }
        }
    }

    @Test
    public void feedsTheStateBackByTheContractsNames() throws Exception {
        Contract contract = ContractTest.parse(ContractTest.contract());
        FakeRunner runner = new FakeRunner();
        Tracker tracker = new Tracker(contract, runner);
        assertEquals(ByteOrder.nativeOrder(), tracker.frame().order());
        assertEquals(3 * 32 * 48 * 4, tracker.frame().capacity());
        int set = BoxMask.fill(new float[] {0, 0, 24, 32}, 32, 48, tracker.mask()); // half the pixels
        assertEquals(32 * 24, set);
        FakeRunner.fillAll(tracker.frame(), 0.25f);
        tracker.init();
        assertEquals(0.5f, tracker.state("mem_key").getFloat(0), 0f);
        assertEquals(250f, tracker.state("mem_value").getFloat(0), 0f);
        float expectedKey = 0.5f;
        float expectedValue = 250f;
        ByteBuffer firstProb = null;
        for (int t = 1; t <= 5; t++) {
            float frame = 0.1f * t;
            FakeRunner.fillAll(tracker.frame(), frame);
            ByteBuffer prob = tracker.step();
            assertEquals("frame " + t, expectedKey + expectedValue + frame, prob.getFloat(prob.capacity() - 4), 1e-4f);
            expectedKey += 1;
            expectedValue += frame;
            assertEquals(expectedKey, tracker.state("mem_key").getFloat(0), 1e-4f);
            assertEquals(expectedValue, tracker.state("mem_value").getFloat(0), 1e-4f);
            if (firstProb == null) {
                firstProb = prob;
            }
            assertSame("the probability buffer is reused", firstProb, prob);
        }
        assertEquals(6, tracker.frames());
        assertEquals("init [frame, mask] -> [mem_key, mem_value]", runner.calls.get(0));
        assertEquals("step [frame, mem_key, mem_value] -> [new_mem_key, new_mem_value, prob]", runner.calls.get(1));
        // frame, mask, prob and two sets of two state buffers: seven buffers in all, however many frames
        assertEquals(7, new java.util.IdentityHashMap<ByteBuffer, Boolean>() {{
                for (ByteBuffer b : runner.seen) {
                    put(b, true);
                }
            }}.size());
    }

    @Test
    public void stepReadsOneStateSetAndWritesTheOther() throws Exception {
        Contract contract = ContractTest.parse(ContractTest.contract());
        final ByteBuffer[] last = new ByteBuffer[2];
        Runner runner = (entry, inputs, outputs) -> {
            if (entry.equals("step")) {
                assertNotSame(inputs.get("mem_key"), outputs.get("new_mem_key"));
                last[0] = inputs.get("mem_key");
                last[1] = outputs.get("new_mem_key");
            }
        };
        Tracker tracker = new Tracker(contract, runner);
        tracker.init();
        tracker.step();
        ByteBuffer read = last[0];
        ByteBuffer written = last[1];
        tracker.step();
        assertSame("what step wrote is what the next step reads", written, last[0]);
        assertSame(read, last[1]);
    }

    /**
     * A two-phase interpreter (the state is mem_key and phase): init sets mem_key = 1 and phase = 0;
     * step_i checks that the phase it was given is i, then prob = 10 * i + mem_key,
     * new_mem_key = mem_key + 1 and new_phase = (i + 1) mod 2, or {@code badPhase} when set.
     */
    static final class TwoPhaseRunner implements Runner {
        final List<String> calls = new ArrayList<>();
        float badPhase = -1;

        @Override
        public void run(String entry, Map<String, ByteBuffer> inputs, Map<String, ByteBuffer> outputs) {
            calls.add(entry);
            if (entry.equals("init")) {
                FakeRunner.fillAll(outputs.get("mem_key"), 1);
                FakeRunner.fillAll(outputs.get("phase"), 0);
                return;
            }
            int index = Integer.parseInt(entry.substring("step_".length()));
            assertEquals("step_" + index + " got the phase of another entry", index, inputs.get("phase").getFloat(0), 0f);
            float key = inputs.get("mem_key").getFloat(0);
            FakeRunner.fillAll(outputs.get("prob"), 10 * index + key);
            FakeRunner.fillAll(outputs.get("new_mem_key"), key + 1);
            FakeRunner.fillAll(outputs.get("new_phase"), badPhase >= 0 ? badPhase : (index + 1) % 2);
        }
    }

    @Test
    public void runsTheStepEntryTheScheduleNamesEachFrame() throws Exception {
        TwoPhaseRunner runner = new TwoPhaseRunner();
        Tracker tracker = new Tracker(ContractTest.parse(ContractTest.twoPhase()), runner);
        tracker.init();
        assertEquals("step_0", tracker.nextStep());
        for (int t = 1; t <= 5; t++) {
            ByteBuffer prob = tracker.step();
            assertEquals("frame " + t, 10 * ((t - 1) % 2) + t, prob.getFloat(0), 0f);
            assertEquals(t % 2, tracker.state("phase").getFloat(0), 0f);
        }
        assertEquals(java.util.Arrays.asList("init", "step_0", "step_1", "step_0", "step_1", "step_0"), runner.calls);
        tracker.init(); // a new video starts at phase 0 again
        tracker.step();
        assertEquals("step_0", runner.calls.get(runner.calls.size() - 1));
    }

    @Test
    public void aPhaseOutsideTheScheduleIsAClearError() throws Exception {
        TwoPhaseRunner runner = new TwoPhaseRunner();
        Tracker tracker = new Tracker(ContractTest.parse(ContractTest.twoPhase()), runner);
        tracker.init();
        runner.badPhase = 2;
        tracker.step();
        try {
            tracker.step();
            fail("ran a step with phase 2 of a two-entry schedule");
        } catch (IllegalStateException ex) {
            for (String word : new String[] {"phase is 2.0", "[step_0, step_1]", "from 0 to 1", "export again"}) {
                assertTrue(ex.getMessage(), ex.getMessage().contains(word));
            }
        }
        assertEquals(2, runner.calls.size());
    }

    @Test
    public void stepBeforeInitAndResetAreClear() throws Exception {
        Tracker tracker = new Tracker(ContractTest.parse(ContractTest.contract()), new FakeRunner());
        assertFalse(tracker.started());
        try {
            tracker.step();
            fail("step before init");
        } catch (IllegalStateException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("draw a box first"));
        }
        tracker.init();
        assertTrue(tracker.started());
        tracker.reset();
        assertFalse(tracker.started());
        assertEquals(0, tracker.frames());
    }
}
