package io.mobileseg.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The operator graph of one signature of a {@code .tflite} file, read straight from its
 * FlatBuffer (the TFLite schema's {@code Model}, {@code SubGraph}, {@code Tensor},
 * {@code Operator} and {@code SignatureDef} tables): each tensor's shape and each operator's input
 * and output tensors, in execution order. Weights are never touched, so reading a memory-mapped
 * model costs next to nothing. {@link GpuPlan} works out from it what LiteRT's GPU delegate can
 * take.
 */
public final class TfliteGraph {
    private final int[][] shapes;
    private final int[][] inputs;
    private final int[][] outputs;

    TfliteGraph(int[][] shapes, int[][] inputs, int[][] outputs) {
        this.shapes = shapes;
        this.inputs = inputs;
        this.outputs = outputs;
    }

    public int tensors() {
        return shapes.length;
    }

    public int operators() {
        return inputs.length;
    }

    /** The tensor's shape (its rank is the length). */
    public int[] shape(int tensor) {
        return shapes[tensor].clone();
    }

    public int rank(int tensor) {
        return shapes[tensor].length;
    }

    /** Input tensor indices of operator {@code op}; -1 marks an omitted optional input. */
    public int[] inputs(int op) {
        return inputs[op].clone();
    }

    public int[] outputs(int op) {
        return outputs[op].clone();
    }

    /**
     * Signature key -> the graph it runs, for every signature in {@code model} (its bytes from
     * position to limit; the buffer itself is not moved). Throws IllegalArgumentException when
     * the bytes are not a TFLite FlatBuffer with signatures.
     */
    public static Map<String, TfliteGraph> read(ByteBuffer model) {
        try {
            return new Reader(model).signatures();
        } catch (IndexOutOfBoundsException | IllegalArgumentException ex) {
            throw new IllegalArgumentException("not a TFLite model with signatures (" + ex.getMessage() + ")", ex);
        }
    }

    /** A minimal FlatBuffer reader: tables through their vtables, vectors, strings; little-endian, absolute reads only. */
    private static final class Reader {
        private final ByteBuffer bytes;

        Reader(ByteBuffer model) {
            bytes = model.slice().order(ByteOrder.LITTLE_ENDIAN);
            if (bytes.limit() < 8 || bytes.get(4) != 'T' || bytes.get(5) != 'F' || bytes.get(6) != 'L' || bytes.get(7) != '3') {
                throw new IllegalArgumentException("no TFL3 file identifier");
            }
        }

        /** Position of field {@code id} of the table at {@code table}, or 0 when absent. */
        private int field(int table, int id) {
            int vtable = table - bytes.getInt(table);
            int size = bytes.getShort(vtable) & 0xffff;
            int at = 4 + 2 * id;
            if (at >= size) {
                return 0;
            }
            int offset = bytes.getShort(vtable + at) & 0xffff;
            return offset == 0 ? 0 : table + offset;
        }

        private int deref(int at) {
            return at + bytes.getInt(at);
        }

        /** {position of element 0, length} of the vector in field {@code id}; {0, 0} when absent. */
        private int[] vector(int table, int id) {
            int at = field(table, id);
            if (at == 0) {
                return new int[] {0, 0};
            }
            int vector = deref(at);
            int length = bytes.getInt(vector);
            if (length < 0 || vector + 4 + (long) length * 4 > bytes.limit()) {
                throw new IllegalArgumentException("vector of " + length + " elements runs past the end");
            }
            return new int[] {vector + 4, length};
        }

        private int table(int[] vector, int index) {
            int element = vector[0] + 4 * index;
            return deref(element);
        }

        private int[] ints(int table, int id) {
            int[] v = vector(table, id);
            int[] out = new int[v[1]];
            for (int i = 0; i < out.length; i++) {
                out[i] = bytes.getInt(v[0] + 4 * i);
            }
            return out;
        }

        private String string(int table, int id) {
            int at = field(table, id);
            if (at == 0) {
                return "";
            }
            int start = deref(at);
            int length = bytes.getInt(start);
            byte[] chars = new byte[length];
            for (int i = 0; i < length; i++) {
                chars[i] = bytes.get(start + 4 + i);
            }
            return new String(chars, StandardCharsets.UTF_8);
        }

        private long uint(int table, int id) {
            int at = field(table, id);
            return at == 0 ? 0 : bytes.getInt(at) & 0xffffffffL;
        }

        Map<String, TfliteGraph> signatures() {
            int model = deref(0);
            int[] subgraphs = vector(model, 2); // Model.subgraphs
            int[] signatureDefs = vector(model, 7); // Model.signature_defs
            if (signatureDefs[1] == 0) {
                throw new IllegalArgumentException("the model has no signatures");
            }
            Map<String, TfliteGraph> out = new LinkedHashMap<>();
            for (int s = 0; s < signatureDefs[1]; s++) {
                int signature = table(signatureDefs, s);
                String key = string(signature, 2); // SignatureDef.signature_key
                long index = uint(signature, 4); // SignatureDef.subgraph_index
                if (index >= subgraphs[1]) {
                    throw new IllegalArgumentException("signature " + key + " names subgraph " + index + " of " + subgraphs[1]);
                }
                out.put(key, graph(table(subgraphs, (int) index)));
            }
            return Collections.unmodifiableMap(out);
        }

        private TfliteGraph graph(int subgraph) {
            int[] tensors = vector(subgraph, 0); // SubGraph.tensors
            int[][] shapes = new int[tensors[1]][];
            for (int t = 0; t < shapes.length; t++) {
                shapes[t] = ints(table(tensors, t), 0); // Tensor.shape
            }
            int[] operators = vector(subgraph, 3); // SubGraph.operators
            List<int[]> ins = new ArrayList<>();
            List<int[]> outs = new ArrayList<>();
            for (int o = 0; o < operators[1]; o++) {
                int op = table(operators, o);
                ins.add(checked(ints(op, 1), shapes.length)); // Operator.inputs
                outs.add(checked(ints(op, 2), shapes.length)); // Operator.outputs
            }
            return new TfliteGraph(shapes, ins.toArray(new int[0][]), outs.toArray(new int[0][]));
        }

        private static int[] checked(int[] indices, int tensors) {
            for (int index : indices) {
                if (index < -1 || index >= tensors) {
                    throw new IllegalArgumentException("operator names tensor " + index + " of " + tensors);
                }
            }
            return indices;
        }
    }
}
