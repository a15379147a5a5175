package io.mobileseg.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * What LiteRT's GPU delegate can take of the step graph, worked out from the model file alone, so
 * that the app can say on screen how much of "GPU" really runs on the GPU.
 *
 * <p>Two rules of the delegate (LiteRT 1.x, {@code tflite/delegates/gpu}) decide most of it:
 * <ol>
 *   <li>it handles tensors of at most 4 dimensions, so every operator with an input or output of
 *       rank 5 or more stays on the CPU. The students' memory {@code mem_key}/{@code mem_value} is
 *       5-D, and so is everything that reads or writes it;</li>
 *   <li>it replaces one partition by default ({@code max_delegated_partitions = 1}, which its Java
 *       API does not expose): of the runs of operators it could take, only the largest is
 *       delegated, and everything else runs on the CPU, with copies between the two.</li>
 * </ol>
 * The partitions are found as TFLite's own {@code PartitionGraphIntoIndependentNodeSubsets} does
 * (greedy, in epochs of one kind of node). The delegate may still refuse an operator for its type
 * or its parameters, which a file alone cannot tell: {@link #delegatedAtMost()} is an upper bound,
 * and the app shows it as one ("at most").
 */
public final class GpuPlan {
    private final int operators;
    private final int highRank;
    private final int delegatedAtMost;
    private final int candidatePartitions;

    GpuPlan(int operators, int highRank, int delegatedAtMost, int candidatePartitions) {
        this.operators = operators;
        this.highRank = highRank;
        this.delegatedAtMost = delegatedAtMost;
        this.candidatePartitions = candidatePartitions;
    }

    /** The plan of one graph. */
    public static GpuPlan of(TfliteGraph graph) {
        int n = graph.operators();
        boolean[] gpu = new boolean[n];
        int highRank = 0;
        for (int op = 0; op < n; op++) {
            gpu[op] = !touchesRankAbove4(graph, op);
            if (!gpu[op]) {
                highRank++;
            }
        }
        int largest = 0;
        int candidates = 0;
        for (int[] subset : partition(graph, gpu)) {
            if (subset[0] == 1) {
                candidates++;
                largest = Math.max(largest, subset[1]);
            }
        }
        return new GpuPlan(n, highRank, largest, candidates);
    }

    /** The plans of the signatures {@code entries} (a contract's step entries), added up. */
    public static GpuPlan of(java.util.Map<String, TfliteGraph> signatures, List<String> entries) {
        int operators = 0;
        int highRank = 0;
        int delegated = 0;
        int candidates = 0;
        for (String entry : entries) {
            TfliteGraph graph = signatures.get(entry);
            if (graph == null) {
                throw new IllegalArgumentException("the model has no signature " + entry + " (it has " + signatures.keySet() + ")");
            }
            GpuPlan plan = of(graph);
            operators += plan.operators;
            highRank += plan.highRank;
            delegated += plan.delegatedAtMost;
            candidates += plan.candidatePartitions;
        }
        return new GpuPlan(operators, highRank, delegated, candidates);
    }

    private static boolean touchesRankAbove4(TfliteGraph graph, int op) {
        for (int[] tensors : new int[][] {graph.inputs(op), graph.outputs(op)}) {
            for (int t : tensors) {
                if (t >= 0 && graph.rank(t) > 4) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * TFLite's greedy partitioning: {kind, size} of each node subset in order, kind 1 for nodes
     * the delegate may take and 0 for the others. Each epoch takes, in execution order and
     * repeatedly, every node whose inputs are ready and whose kind is the epoch's (the first
     * ready node sets it).
     */
    static List<int[]> partition(TfliteGraph graph, boolean[] delegable) {
        final int notReady = -1;
        final int alwaysReady = -2;
        int n = graph.operators();
        int[] tensorEpoch = new int[graph.tensors()];
        Arrays.fill(tensorEpoch, alwaysReady);
        for (int op = 0; op < n; op++) {
            for (int t : graph.outputs(op)) {
                if (t >= 0) {
                    tensorEpoch[t] = notReady;
                }
            }
        }
        int[] nodeEpoch = new int[n];
        Arrays.fill(nodeEpoch, notReady);
        int[][] ins = new int[n][];
        int[][] outs = new int[n][];
        for (int op = 0; op < n; op++) {
            ins[op] = graph.inputs(op);
            outs[op] = graph.outputs(op);
        }
        List<int[]> subsets = new ArrayList<>();
        while (true) {
            int epoch = subsets.size();
            int kind = -1;
            int size = 0;
            boolean progress = true;
            while (progress) {
                progress = false;
                for (int op = 0; op < n; op++) {
                    if (nodeEpoch[op] != notReady || !ready(ins[op], tensorEpoch)) {
                        continue;
                    }
                    int opKind = delegable[op] ? 1 : 0;
                    if (kind == -1) {
                        kind = opKind;
                    }
                    if (opKind != kind) {
                        continue;
                    }
                    nodeEpoch[op] = epoch;
                    size++;
                    for (int t : outs[op]) {
                        if (t >= 0) {
                            tensorEpoch[t] = epoch;
                        }
                    }
                    progress = true;
                }
            }
            if (size == 0) {
                return subsets;
            }
            subsets.add(new int[] {kind, size});
        }
    }

    private static boolean ready(int[] inputs, int[] tensorEpoch) {
        for (int t : inputs) {
            if (t >= 0 && tensorEpoch[t] == -1) {
                return false;
            }
        }
        return true;
    }

    /** Operators in the graph(s). */
    public int operators() {
        return operators;
    }

    /** Operators with a tensor of rank 5 or more: never on the GPU. */
    public int highRank() {
        return highRank;
    }

    /** The most operators the delegate can take: the largest partition of the others. */
    public int delegatedAtMost() {
        return delegatedAtMost;
    }

    /** Partitions the delegate could take if it took more than one. */
    public int candidatePartitions() {
        return candidatePartitions;
    }

    /** The status line's words for the GPU backend: its name, then "at most 41 of 180 ops" as "\u226441/180 ops", and where the rest runs. */
    public String label(String backend) {
        if (highRank == 0 && delegatedAtMost == operators) {
            return String.format(Locale.US, "%s \u2264%d/%d ops", backend, delegatedAtMost, operators);
        }
        return String.format(Locale.US, "%s \u2264%d/%d ops, rest on CPU", backend, delegatedAtMost, operators);
    }

    /** One sentence for the user. */
    public String explain() {
        return String.format(Locale.US, "The GPU delegate takes at most %d of the %d step operators: %d read or write 5-D tensors"
                + " (the memory), which it leaves on the CPU, and of the %d runs of operators it could take it takes the largest."
                + " The rest runs on the CPU, with copies between the two.", delegatedAtMost, operators, highRank, candidatePartitions);
    }

    @Override
    public String toString() {
        return "ops " + operators + " rank>4 " + highRank + " gpu<= " + delegatedAtMost + " partitions " + candidatePartitions;
    }
}
