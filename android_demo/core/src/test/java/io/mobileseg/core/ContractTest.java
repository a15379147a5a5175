package io.mobileseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.junit.Test;

public class ContractTest {
    /**
     * The model bytes of the contracts below, and their SHA-256 as the export records it: FIPS 180-2's test vector "abc",
     * so the digest is checked against a published value, not only against this code's own.
     */
    static final byte[] MODEL = "abc".getBytes(StandardCharsets.US_ASCII);
    static final String MODEL_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    /** A contract as `mobileseg export --target tflite` writes it, small sizes; {@code edits} replace substrings. */
    static String contract(String... edits) {
        String text = "{\"contract_version\": 1, \"target\": \"tflite\","
                + " \"files\": {\"init\": \"student.tflite\", \"step\": \"student.tflite\"},"
                + " \"entry_points\": {"
                + "  \"init\": {\"inputs\": [{\"name\": \"frame\", \"shape\": [1, 3, 32, 48], \"dtype\": \"float32\"},"
                + "                        {\"name\": \"mask\", \"shape\": [1, 1, 32, 48], \"dtype\": \"float32\"}],"
                + "             \"outputs\": [{\"name\": \"mem_key\", \"shape\": [1, 2, 4, 2, 3], \"dtype\": \"float32\"},"
                + "                         {\"name\": \"mem_value\", \"shape\": [1, 2, 5, 2, 3], \"dtype\": \"float32\"}]},"
                + "  \"step\": {\"inputs\": [{\"name\": \"frame\", \"shape\": [1, 3, 32, 48], \"dtype\": \"float32\"},"
                + "                        {\"name\": \"mem_key\", \"shape\": [1, 2, 4, 2, 3], \"dtype\": \"float32\"},"
                + "                        {\"name\": \"mem_value\", \"shape\": [1, 2, 5, 2, 3], \"dtype\": \"float32\"}],"
                + "             \"outputs\": [{\"name\": \"prob\", \"shape\": [1, 1, 32, 48], \"dtype\": \"float32\"},"
                + "                         {\"name\": \"new_mem_key\", \"shape\": [1, 2, 4, 2, 3], \"dtype\": \"float32\"},"
                + "                         {\"name\": \"new_mem_value\", \"shape\": [1, 2, 5, 2, 3], \"dtype\": \"float32\"}]}},"
                + " \"feedback\": {\"init\": {\"mem_key\": \"mem_key\", \"mem_value\": \"mem_value\"},"
                + "              \"step\": {\"new_mem_key\": \"mem_key\", \"new_mem_value\": \"mem_value\"}},"
                + " \"sha256\": {\"student.tflite\": \"" + MODEL_SHA256 + "\"},"
                + " \"input\": {\"height\": 32, \"width\": 48, \"objects\": 1, \"frame_range\": [0.0, 1.0], \"channels\": \"RGB\","
                + "           \"mask_threshold\": 0.5}}";
        for (int i = 0; i < edits.length; i += 2) {
            if (!text.contains(edits[i])) {
                throw new IllegalArgumentException("test bug: " + edits[i] + " not in the contract");
            }
            text = text.replace(edits[i], edits[i + 1]);
        }
        return text;
    }

    /**
     * A contract of a student with two step graphs run in turn (TDNet's sub-networks): state
     * {@code mem_key} and {@code phase}, entries init, step_0, step_1, and its schedule.
     */
    static String twoPhase(String... edits) {
        String state = "{\"name\": \"mem_key\", \"shape\": [1, 2, 4, 2, 3], \"dtype\": \"float32\"},"
                + " {\"name\": \"phase\", \"shape\": [1], \"dtype\": \"float32\"}";
        String newState = "{\"name\": \"new_mem_key\", \"shape\": [1, 2, 4, 2, 3], \"dtype\": \"float32\"},"
                + " {\"name\": \"new_phase\", \"shape\": [1], \"dtype\": \"float32\"}";
        String frame = "{\"name\": \"frame\", \"shape\": [1, 3, 32, 48], \"dtype\": \"float32\"}";
        String prob = "{\"name\": \"prob\", \"shape\": [1, 1, 32, 48], \"dtype\": \"float32\"}";
        String step = "{\"inputs\": [" + frame + ", " + state + "], \"outputs\": [" + prob + ", " + newState + "]}";
        String text = "{\"contract_version\": 1, \"target\": \"tflite\","
                + " \"files\": {\"init\": \"student.tflite\", \"step_0\": \"student.tflite\", \"step_1\": \"student.tflite\"},"
                + " \"entry_points\": {"
                + "  \"init\": {\"inputs\": [" + frame + ", {\"name\": \"mask\", \"shape\": [1, 1, 32, 48], \"dtype\": \"float32\"}],"
                + "             \"outputs\": [" + state + "]},"
                + "  \"step_0\": " + step + ", \"step_1\": " + step + "},"
                + " \"feedback\": {\"init\": {\"mem_key\": \"mem_key\", \"phase\": \"phase\"},"
                + "              \"step\": {\"new_mem_key\": \"mem_key\", \"new_phase\": \"phase\"}},"
                + " \"schedule\": {\"steps\": [\"step_0\", \"step_1\"], \"phase\": \"phase\", \"rule\": \"run steps[int(phase)]\"},"
                + " \"sha256\": {\"student.tflite\": \"" + MODEL_SHA256 + "\"},"
                + " \"input\": {\"height\": 32, \"width\": 48, \"objects\": 1, \"frame_range\": [0.0, 1.0], \"channels\": \"RGB\","
                + "           \"mask_threshold\": 0.5}}";
        for (int i = 0; i < edits.length; i += 2) {
            if (!text.contains(edits[i])) {
                throw new IllegalArgumentException("test bug: " + edits[i] + " not in the contract");
            }
            text = text.replace(edits[i], edits[i + 1]);
        }
        return text;
    }

    static Contract parse(String text) throws ContractException {
        return Contract.parse(text, "test.json");
    }

    private static void rejected(String text, String... words) {
        try {
            parse(text);
            fail("accepted a broken contract: " + text);
        } catch (ContractException ex) {
            for (String word : words) {
                assertTrue("message lacks '" + word + "': " + ex.getMessage(), ex.getMessage().contains(word));
            }
            assertTrue(ex.getMessage(), ex.getMessage().contains("mobileseg export"));
        }
    }

    @Test
    public void readsTheExportedContract() throws ContractException {
        Contract c = parse(contract());
        assertEquals(32, c.height());
        assertEquals(48, c.width());
        assertEquals("student.tflite", c.modelFile());
        assertEquals(Arrays.asList("mem_key", "mem_value"), c.stateNames());
        assertEquals("mem_key", c.initOutputFor("mem_key"));
        assertEquals("new_mem_value", c.stepOutputFor("mem_value"));
        assertArrayEquals(new int[] {1, 2, 5, 2, 3}, c.stateSpec("mem_value").shape());
        assertEquals(0.5f, c.maskThreshold(), 0f);
    }

    @Test
    public void aContractWithoutScheduleHasTheOneStepEntry() throws ContractException {
        Contract c = parse(contract());
        assertEquals(Arrays.asList("step"), c.steps());
        assertEquals(Arrays.asList("init", "step"), c.entries());
        assertNull(c.phaseName());
        Contract scheduled = parse(contract("\"input\":", "\"schedule\": {\"steps\": [\"step\"], \"phase\": null}, \"input\":"));
        assertEquals(Arrays.asList("step"), scheduled.steps());
        assertNull(scheduled.phaseName());
    }

    @Test
    public void readsATwoPhaseContract() throws ContractException {
        Contract c = parse(twoPhase());
        assertEquals("student.tflite", c.modelFile());
        assertEquals(Arrays.asList("step_0", "step_1"), c.steps());
        assertEquals(Arrays.asList("init", "step_0", "step_1"), c.entries());
        assertEquals("phase", c.phaseName());
        assertEquals(Arrays.asList("mem_key", "phase"), c.stateNames());
        assertEquals("new_phase", c.stepOutputFor("phase"));
        assertEquals(1, c.stateSpec("phase").elements());
        c.checkModel(new Signatures(c));
    }

    @Test
    public void rejectsABrokenSchedule() {
        rejected(twoPhase("\"steps\": [\"step_0\", \"step_1\"]", "\"steps\": [\"step_0\", \"step_2\"]"), "step_2");
        rejected(twoPhase("\"phase\": \"phase\", \"rule\"", "\"phase\": \"phaze\", \"rule\""), "phaze", "not a state input");
        rejected(twoPhase("\"phase\": \"phase\", \"rule\"", "\"phase\": null, \"rule\""), "no phase input", "[step_0, step_1]");
        rejected(twoPhase("\"phase\": \"phase\", \"rule\"", "\"phase\": \"mem_key\", \"rule\""), "mem_key[1, 2, 4, 2, 3]", "not a single number");
        rejected(twoPhase("\"steps\": [\"step_0\", \"step_1\"]", "\"steps\": []"), "schedule.steps");
        rejected(twoPhase("\"step_1\": \"student.tflite\"", "\"step_1\": \"other.tflite\""), "init and step_0, step_1", "one .tflite file");
        rejected(twoPhase("\"step_1\": {\"inputs\": [", "\"step_1\": {\"inputs\": [{\"name\": \"extra\", \"shape\": [1], \"dtype\": \"float32\"}, "),
                "step_1 takes [extra[1], frame[1, 3, 32, 48]", "same state");
        rejected(twoPhase("\"step_1\": {\"inputs\": [{\"name\": \"frame\", \"shape\": [1, 3, 32, 48], \"dtype\": \"float32\"},"
                + " {\"name\": \"mem_key\", \"shape\": [1, 2, 4, 2, 3]", "\"step_1\": {\"inputs\": [{\"name\": \"frame\", \"shape\": [1, 3, 32, 48],"
                + " \"dtype\": \"float32\"}, {\"name\": \"mem_key\", \"shape\": [1, 2, 4, 2, 9]"), "mem_key[1, 2, 4, 2, 9]", "same state");
    }

    @Test
    public void checksEveryStepEntryOfTheModelFile() throws ContractException {
        Contract c = parse(twoPhase());
        Signatures model = new Signatures(c);
        model.in.remove("step_1");
        try {
            c.checkModel(model);
            fail("a model without step_1 was accepted");
        } catch (ContractException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("has the signatures [init, step_0]; the contract needs step_1"));
        }
    }

    @Test
    public void stateNamesComeFromTheContract() throws ContractException {
        Contract c = parse(contract("\"mem_key\"", "\"keys\"", "\"new_mem_key\"", "\"new_keys\"", "\"mem_value\"", "\"values\"",
                "\"new_mem_value\"", "\"new_values\""));
        assertEquals(Arrays.asList("keys", "values"), c.stateNames());
        assertEquals("keys", c.initOutputFor("keys"));
        assertEquals("new_keys", c.stepOutputFor("keys"));
    }

    /** The two states have the same shape here, so only the names can tell a swapped feedback map from the exported one. */
    static String sameShapes(String... edits) {
        String[] all = new String[edits.length + 2];
        all[0] = "[1, 2, 5, 2, 3]";
        all[1] = "[1, 2, 4, 2, 3]";
        System.arraycopy(edits, 0, all, 2, edits.length);
        return contract(all);
    }

    @Test
    public void acceptsTheExportedFeedbackWhenTheStatesHaveOneShape() throws ContractException {
        Contract c = parse(sameShapes());
        assertEquals("mem_value", c.initOutputFor("mem_value"));
        assertEquals("new_mem_value", c.stepOutputFor("mem_value"));
        assertEquals("new_mem_key", c.stepOutputFor("mem_key"));
    }

    @Test
    public void rejectsASwappedStepFeedback() {
        rejected(sameShapes("\"new_mem_key\": \"mem_key\", \"new_mem_value\": \"mem_value\"",
                "\"new_mem_key\": \"mem_value\", \"new_mem_value\": \"mem_key\""),
                "feedback.step fills state input mem_key from new_mem_value", "step output new_mem_key", "export again");
    }

    @Test
    public void rejectsASwappedInitFeedback() {
        rejected(sameShapes("{\"mem_key\": \"mem_key\", \"mem_value\": \"mem_value\"}", "{\"mem_key\": \"mem_value\", \"mem_value\": \"mem_key\"}"),
                "feedback.init fills state input mem_key from mem_value", "init output mem_key", "export again");
        // Every step entry of a scheduled contract follows the one step section: a swap there is refused as well.
        rejected(twoPhase("\"new_mem_key\": \"mem_key\", \"new_phase\": \"phase\"", "\"new_mem_key\": \"phase\", \"new_phase\": \"mem_key\""),
                "feedback.step fills state input mem_key from new_phase", "step output new_mem_key");
    }

    @Test
    public void acceptsTheModelBytesItWasExportedWith() throws ContractException, IOException {
        Contract c = parse(contract());
        assertEquals(MODEL_SHA256, c.sha256());
        assertEquals(MODEL_SHA256, ModelDigest.of(new ByteArrayInputStream(MODEL)));
        ModelDigest.check(c, new ByteArrayInputStream(MODEL));
        ByteBuffer mapped = ByteBuffer.allocateDirect(MODEL.length);
        mapped.put(MODEL).flip();
        ModelDigest.check(c, mapped);
        assertEquals("the buffer the interpreter gets is not moved", 0, mapped.position());
        assertEquals(MODEL.length, mapped.remaining());
        // A digest written in upper case is the same digest.
        ModelDigest.check(parse(contract(MODEL_SHA256, MODEL_SHA256.toUpperCase(Locale.ROOT))), new ByteArrayInputStream(MODEL));
        // Longer than one read block: the whole stream is digested.
        byte[] big = new byte[200_000];
        big[199_999] = 1;
        InputStream in = new ByteArrayInputStream(big);
        String digest = ModelDigest.of(in);
        assertEquals(-1, in.read());
        ModelDigest.check(parse(contract(MODEL_SHA256, digest)), ByteBuffer.wrap(big));
    }

    @Test
    public void rejectsModelBytesOtherThanTheExportedOnes() throws ContractException, IOException {
        Contract c = parse(contract());
        byte[] replaced = "abd".getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < 2; i++) {
            try {
                if (i == 0) {
                    ModelDigest.check(c, new ByteArrayInputStream(replaced));
                } else {
                    ModelDigest.check(c, ByteBuffer.wrap(replaced));
                }
                fail("model bytes with another digest were accepted");
            } catch (ContractException ex) {
                String message = ex.getMessage();
                assertTrue(message, message.contains("contract test.json: student.tflite has sha256 " + ModelDigest.of(ByteBuffer.wrap(replaced))
                        + ", but the contract records " + MODEL_SHA256));
                assertTrue(message, message.contains("the model file was replaced or the contract edited"));
                assertTrue(message, message.contains("export again") && message.contains("mobileseg export"));
            }
        }
    }

    @Test
    public void rejectsAContractWithoutTheModelDigest() {
        rejected(contract(" \"sha256\": {\"student.tflite\": \"" + MODEL_SHA256 + "\"},", ""),
                "no sha256 digest of student.tflite", "written before digests were recorded, or edited", "export again");
        rejected(contract("\"sha256\": {\"student.tflite\"", "\"sha256\": {\"other.tflite\""),
                "no sha256 digest of student.tflite", "other.tflite");
        rejected(contract(MODEL_SHA256, MODEL_SHA256.substring(1)), "sha256.student.tflite is \"" + MODEL_SHA256.substring(1) + "\"", "64 hex digits");
        rejected(contract("\"" + MODEL_SHA256 + "\"", "null"), "no sha256 digest of student.tflite");
    }

    @Test
    public void rejectsWhatTheAppCannotRun() {
        rejected(contract("\"contract_version\": 1", "\"contract_version\": 2"), "contract_version is 2;", "reads version 1");
        rejected(contract("\"target\": \"tflite\"", "\"target\": \"onnx\""), "\"onnx\"", "LiteRT");
        rejected(contract("\"objects\": 1", "\"objects\": 2"), "2 objects");
        rejected(contract("\"step\": \"student.tflite\"", "\"step\": \"other.tflite\""), "one .tflite file");
        rejected(contract("\"name\": \"prob\", \"shape\": [1, 1, 32, 48], \"dtype\": \"float32\"",
                "\"name\": \"prob\", \"shape\": [1, 1, 32, 48], \"dtype\": \"int8\""), "prob", "int8", "float32");
        rejected(contract("\"prob\"", "\"probability\""), "step has no output prob");
        rejected(contract("{\"name\": \"frame\", \"shape\": [1, 3, 32, 48]", "{\"name\": \"frame\", \"shape\": [1, 3, 64, 48]"),
                "init input frame[1, 3, 64, 48]", "[1, 3, 32, 48]");
        rejected(contract("\"new_mem_value\": \"mem_value\"", "\"new_mem_value\": \"mem_key\""), "mem_key", "both");
        rejected(contract("\"mem_value\": \"mem_value\"}", "\"mem_value\": \"mem_valu\"}"), "mem_valu");
        rejected(contract("\"feedback\"", "\"feedbag\""), "no \"feedback\" section");
        rejected(contract("\"height\": 32", "\"height\": 32.5"), "height", "whole number");
        rejected(contract("\"mask_threshold\": 0.5", "\"mask_threshold\": 1.5"), "mask_threshold");
        rejected("{\"contract_version\": 1,", "not valid JSON");
        rejected("[1, 2]", "not a JSON object");
    }

    @Test
    public void rejectsAStateWithAShapeChange() {
        rejected(contract("{\"name\": \"new_mem_key\", \"shape\": [1, 2, 4, 2, 3]", "{\"name\": \"new_mem_key\", \"shape\": [1, 3, 4, 2, 3]"),
                "new_mem_key[1, 3, 4, 2, 3]", "feeds step input mem_key", "shapes differ");
    }

    static final class Signatures implements ModelSignatures {
        final Map<String, Map<String, int[]>> in = new HashMap<>();
        final Map<String, Map<String, int[]>> out = new HashMap<>();

        Signatures(Contract c) {
            for (String entry : c.entries()) {
                in.put(entry, new HashMap<>());
                out.put(entry, new HashMap<>());
                for (TensorSpec s : c.inputs(entry)) {
                    in.get(entry).put(s.name, s.shape());
                }
                for (TensorSpec s : c.outputs(entry)) {
                    out.get(entry).put(s.name, s.shape());
                }
            }
        }

        @Override
        public Set<String> signatures() {
            return new HashSet<>(in.keySet());
        }

        @Override
        public Map<String, int[]> inputs(String signature) {
            return in.get(signature);
        }

        @Override
        public Map<String, int[]> outputs(String signature) {
            return out.get(signature);
        }
    }

    @Test
    public void checksTheModelFileAgainstTheContract() throws ContractException {
        Contract c = parse(contract());
        Signatures model = new Signatures(c);
        c.checkModel(model);
        model.out.get("step").put("new_mem_key", new int[] {1, 2, 8, 2, 3});
        try {
            c.checkModel(model);
            fail("a model whose state differs from its contract was accepted");
        } catch (ContractException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("output new_mem_key: the contract says [1, 2, 4, 2, 3], the file has [1, 2, 8, 2, 3]"));
            assertTrue(ex.getMessage(), ex.getMessage().contains("different exports"));
        }
        model.in.remove("init");
        try {
            c.checkModel(model);
            fail("a model without init was accepted");
        } catch (ContractException ex) {
            assertTrue(ex.getMessage(), ex.getMessage().contains("has the signatures [step]"));
        }
    }

    @Test
    public void jsonReaderIsStrict() {
        assertEquals(Arrays.asList(1.0, "a\"b\u00e9", null, true), Json.parse("[1, \"a\\\"b\\u00e9\", null, true]"));
        for (String bad : new String[] {"{\"a\": }", "[1,]", "{\"a\" 1}", "\"open", "01x", "[1] 2", "{'a': 1}"}) {
            try {
                Json.parse(bad);
                fail("parsed " + bad);
            } catch (IllegalArgumentException ex) {
                assertTrue(ex.getMessage(), ex.getMessage().startsWith("invalid JSON at character"));
            }
        }
    }
}
