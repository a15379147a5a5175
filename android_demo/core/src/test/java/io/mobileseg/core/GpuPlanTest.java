package io.mobileseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** What the GPU delegate can take, on small graphs worked out by hand (the reader is checked on exported files in Python). */
public class GpuPlanTest {
    /** A graph from tensor ranks and operators {inputs..., -2, outputs...}. */
    static TfliteGraph graph(int[] ranks, int[]... ops) {
        int[][] shapes = new int[ranks.length][];
        for (int t = 0; t < ranks.length; t++) {
            shapes[t] = new int[ranks[t]];
            Arrays.fill(shapes[t], 2);
        }
        int[][] ins = new int[ops.length][];
        int[][] outs = new int[ops.length][];
        for (int o = 0; o < ops.length; o++) {
            int split = 0;
            while (ops[o][split] != -2) {
                split++;
            }
            ins[o] = Arrays.copyOfRange(ops[o], 0, split);
            outs[o] = Arrays.copyOfRange(ops[o], split + 1, ops[o].length);
        }
        return new TfliteGraph(shapes, ins, outs);
    }

    @Test
    public void aGraphOf4DTensorsGoesWhole() {
        // t0 -> op0 -> t1 -> op1 -> t2 -> op2 -> t3
        TfliteGraph g = graph(new int[] {4, 4, 4, 4}, new int[] {0, -2, 1}, new int[] {1, -2, 2}, new int[] {2, -2, 3});
        GpuPlan plan = GpuPlan.of(g);
        assertEquals(3, plan.operators());
        assertEquals(0, plan.highRank());
        assertEquals(3, plan.delegatedAtMost());
        assertEquals(1, plan.candidatePartitions());
        assertEquals("GPU \u22643/3 ops", plan.label("GPU"));
    }

    @Test
    public void operatorsTouching5DTensorsSplitTheGraphAndOnlyTheLargestRunIsTaken() {
        // a chain: op0, op1 (4-D) | op2 reads a 5-D state | op3, op4, op5 (4-D) | op6 writes a 5-D state
        TfliteGraph g = graph(new int[] {4, 4, 4, 5, 4, 4, 4, 4, 5},
                new int[] {0, -2, 1}, new int[] {1, -2, 2}, new int[] {2, 3, -2, 4}, new int[] {4, -2, 5}, new int[] {5, -2, 6},
                new int[] {6, -2, 7}, new int[] {7, -2, 8});
        List<int[]> subsets = GpuPlan.partition(g, new boolean[] {true, true, false, true, true, true, false});
        assertEquals(4, subsets.size());
        assertArrayEquals(new int[] {1, 2}, subsets.get(0));
        assertArrayEquals(new int[] {0, 1}, subsets.get(1));
        assertArrayEquals(new int[] {1, 3}, subsets.get(2));
        assertArrayEquals(new int[] {0, 1}, subsets.get(3));
        GpuPlan plan = GpuPlan.of(g);
        assertEquals(7, plan.operators());
        assertEquals(2, plan.highRank());
        assertEquals("the largest run, not all five 4-D operators", 3, plan.delegatedAtMost());
        assertEquals(2, plan.candidatePartitions());
        assertEquals("GPU \u22643/7 ops, rest on CPU", plan.label("GPU"));
        assertTrue(plan.explain(), plan.explain().contains("at most 3 of the 7") && plan.explain().contains("2 read or write 5-D tensors"));
    }

    @Test
    public void independentBranchesJoinOneEpochGreedily() {
        // op0 (5-D, CPU) feeds op2; op1 and op3 (GPU) are independent of it and come first in their epoch although op2 runs between them
        TfliteGraph g = graph(new int[] {5, 5, 4, 4, 4, 4, 4},
                new int[] {0, -2, 1}, new int[] {2, -2, 3}, new int[] {1, -2, 4}, new int[] {3, -2, 5}, new int[] {4, 5, -2, 6});
        // op2 reads t1 (5-D) too, so it is CPU; op4 joins t4 (from op2) and t5 (from op3)
        List<int[]> subsets = GpuPlan.partition(g, new boolean[] {false, true, false, true, true});
        assertArrayEquals(new int[] {0, 2}, subsets.get(0)); // op0 then op2 (ready once op0 ran): one CPU epoch
        assertArrayEquals(new int[] {1, 3}, subsets.get(1)); // op1, op3 and op4
        assertEquals(2, subsets.size());
        assertEquals(3, GpuPlan.of(g).delegatedAtMost());
    }

    @Test
    public void stepEntriesAreAddedUp() {
        TfliteGraph a = graph(new int[] {4, 4}, new int[] {0, -2, 1});
        TfliteGraph b = graph(new int[] {5, 4, 4}, new int[] {0, -2, 1}, new int[] {1, -2, 2});
        Map<String, TfliteGraph> signatures = new LinkedHashMap<>();
        signatures.put("init", b);
        signatures.put("step_0", a);
        signatures.put("step_1", b);
        GpuPlan plan = GpuPlan.of(signatures, List.of("step_0", "step_1"));
        assertEquals(3, plan.operators());
        assertEquals(1, plan.highRank());
        assertEquals(2, plan.delegatedAtMost());
        try {
            GpuPlan.of(signatures, List.of("step"));
            fail("a missing signature was accepted");
        } catch (IllegalArgumentException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("no signature step"));
        }
    }

    @Test
    public void bytesThatAreNoTfliteModelAreRefused() {
        for (byte[] bytes : new byte[][] {new byte[0], "not a model at all".getBytes(java.nio.charset.StandardCharsets.US_ASCII),
            {16, 0, 0, 0, 'T', 'F', 'L', '3', 0, 0, 0, 0}}) {
            try {
                TfliteGraph.read(ByteBuffer.wrap(bytes));
                fail("accepted " + Arrays.toString(bytes));
            } catch (IllegalArgumentException ex) {
                assertTrue(ex.getMessage(), ex.getMessage().startsWith("not a TFLite model with signatures"));
            }
        }
    }
}
