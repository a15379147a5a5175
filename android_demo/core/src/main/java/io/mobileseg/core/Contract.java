package io.mobileseg.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * The export contract ({@code student.tflite.json}) as this app reads it, checked completely at
 * start-up so that a model the app cannot drive is a message, never a crash mid-video.
 *
 * <p>What the app reads (contract version 1, written by {@code mobileseg export}): target
 * {@code tflite}; one file holding the signatures {@code init(frame, mask)} and every step entry
 * {@code step(frame, state...)}; float32 tensors; one object; the frame {@code [1, 3, H, W]}
 * RGB in [0, 1]; {@code prob [1, 1, H, W]}. The names {@code frame}, {@code mask} and
 * {@code prob} are the protocol's; every state tensor's name and shape, and which output feeds
 * which input on the next frame, come from the contract's {@code feedback} section, never from
 * this code. That section must follow the export's naming, which this code holds it to: init
 * output S fills state input S, step output {@code new_S} refills it (an edited map that swaps
 * two states of one shape would otherwise run, with silently different results). Which step
 * entry runs each frame comes from its {@code schedule} section: {@code steps[(int) phase]},
 * {@code phase} being the state tensor it names (a student whose query encoder is split into
 * sub-networks has {@code step_0}, {@code step_1}, ...); a contract without it (written before
 * it existed) has the one entry {@code step}, run every frame. Its {@code sha256} section
 * records the digest of the model file, which {@link ModelDigest} compares with the bytes the
 * app loads. The Python exporter applies the same rules before it copies a model into the app
 * ({@code mobileseg/export/android.py}); a test runs both on the same contracts.
 */
public final class Contract {
    public static final int VERSION = 1;
    public static final String TARGET = "tflite";
    public static final String INIT = "init";
    /** The one step entry of a contract without a schedule (and of the plain student's). */
    public static final String STEP = "step";
    public static final String FRAME = "frame";
    public static final String MASK = "mask";
    public static final String PROB = "prob";
    /** The prefix of the step output that refills state input S on the next frame: {@code new_S}. */
    public static final String NEW = "new_";
    private static final Pattern HEX_DIGEST = Pattern.compile("[0-9a-fA-F]{64}");
    static final String FIX = " Export the model again with `mobileseg export --checkpoint RUN/best.pt --target tflite --android android_demo`"
            + " (this app reads contract version " + VERSION + ", target " + TARGET + ", one object).";

    private final String source;
    private final String modelFile;
    private final String sha256;
    private final int height;
    private final int width;
    private final float maskThreshold;
    private final Map<String, List<TensorSpec>> inputs = new LinkedHashMap<>();
    private final Map<String, List<TensorSpec>> outputs = new LinkedHashMap<>();
    /**
     * step input (state) name -> init output that fills it, and -> step output that refills it. The
     * export names them S and {@link #NEW} + S; {@link #checkFeed} holds the feedback map to that.
     */
    private final Map<String, String> fromInit = new LinkedHashMap<>();
    private final Map<String, String> fromStep = new LinkedHashMap<>();
    /** The step entries in phase order, and the state input whose value picks one (null: always the first). */
    private final List<String> steps = new ArrayList<>();
    private final String phase;

    private Contract(String source, Map<String, Object> root) throws ContractException {
        this.source = source;
        Object version = root.get("contract_version");
        if (!(version instanceof Double) || ((Double) version).intValue() != VERSION) {
            throw fail("contract_version is " + quote(version) + "; this app reads version " + VERSION + ".");
        }
        if (!TARGET.equals(root.get("target"))) {
            throw fail("target is " + quote(root.get("target")) + "; the app runs LiteRT files (" + TARGET + ").");
        }
        phase = readSchedule(root.get("schedule"));
        Map<String, Object> files = map(root, "files");
        modelFile = string(files, INIT, "files");
        for (String step : steps) {
            if (!modelFile.equals(string(files, step, "files")) || !modelFile.endsWith(".tflite")) {
                throw fail("files names " + files + "; the app needs init and " + String.join(", ", steps)
                        + (steps.size() == 1 ? " as two signatures" : " as signatures") + " of one .tflite file.");
            }
        }
        sha256 = readDigest(root.get("sha256"));
        Map<String, Object> input = map(root, "input");
        height = positive(input, "height");
        width = positive(input, "width");
        int objects = input.containsKey("objects") ? positive(input, "objects") : 1;
        if (objects != 1) {
            throw fail("the model tracks " + objects + " objects at once; the app tracks the one object of the box you draw (export with --objects 1).");
        }
        Object range = input.get("frame_range");
        if (range != null && !Arrays.asList(0.0, 1.0).equals(range)) {
            throw fail("input.frame_range is " + range + "; the app feeds RGB scaled to [0, 1].");
        }
        Object channels = input.get("channels");
        if (channels != null && !"RGB".equals(channels)) {
            throw fail("input.channels is " + quote(channels) + "; the app feeds RGB.");
        }
        Object threshold = input.get("mask_threshold");
        maskThreshold = threshold instanceof Double ? ((Double) threshold).floatValue() : 0.5f;
        if (!(maskThreshold > 0f && maskThreshold < 1f)) {
            throw fail("input.mask_threshold is " + threshold + "; it must lie strictly between 0 and 1.");
        }
        Map<String, Object> entries = map(root, "entry_points");
        for (String entry : entries()) {
            Map<String, Object> spec = map(entries, entry);
            inputs.put(entry, tensors(spec, entry, "inputs"));
            outputs.put(entry, tensors(spec, entry, "outputs"));
        }
        Map<String, Object> feedback = map(root, "feedback");
        readFeedback(map(feedback, INIT), INIT, fromInit);
        readFeedback(map(feedback, STEP), STEP, fromStep);
        checkRoles();
    }

    /** Reads {@code schedule} into {@link #steps}; returns its phase input (null when absent or null). */
    private String readSchedule(Object section) throws ContractException {
        if (section == null) {
            steps.add(STEP);
            return null;
        }
        if (!(section instanceof Map)) {
            throw fail("has a malformed \"schedule\" section.");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> schedule = (Map<String, Object>) section;
        Object list = schedule.get("steps");
        if (!(list instanceof List) || ((List<?>) list).isEmpty()) {
            throw fail("schedule.steps is " + list + "; expected the list of step entry names.");
        }
        for (Object name : (List<?>) list) {
            if (!(name instanceof String) || ((String) name).isEmpty() || steps.contains(name) || INIT.equals(name)) {
                throw fail("schedule.steps is " + list + "; expected distinct step entry names.");
            }
            steps.add((String) name);
        }
        Object name = schedule.get("phase");
        if (name == null && steps.size() > 1) {
            throw fail("schedule lists " + steps.size() + " step entries " + steps + " but no phase input to choose between them.");
        }
        if (name != null && (!(name instanceof String) || ((String) name).isEmpty())) {
            throw fail("schedule.phase is " + quote(name) + "; expected the name of a state input, or null.");
        }
        return (String) name;
    }

    /**
     * The digest the export recorded for the model file (lower case). Without one the app could not
     * tell the file this contract describes from another put beside it with the same tensor names
     * and shapes (another export, other weights), which {@link #checkModel} accepts and which
     * would silently compute different masks; so a contract without it is refused, not trusted.
     */
    private String readDigest(Object section) throws ContractException {
        Object digest = section instanceof Map ? ((Map<?, ?>) section).get(modelFile) : null;
        if (digest == null) {
            throw fail("has no sha256 digest of " + modelFile + " (its sha256 section is " + section + "), so the app cannot tell"
                    + " whether the model file is the one exported with it: the contract was written before digests were recorded,"
                    + " or edited; export again.");
        }
        if (!(digest instanceof String) || !HEX_DIGEST.matcher((String) digest).matches()) {
            throw fail("sha256." + modelFile + " is " + quote(digest) + "; expected the file's SHA-256 as 64 hex digits."
                    + " The contract was edited; export again.");
        }
        return ((String) digest).toLowerCase(Locale.ROOT);
    }

    /** Reads and checks contract JSON text; {@code source} names it in messages (an asset path). */
    public static Contract parse(String json, String source) throws ContractException {
        Object root;
        try {
            root = Json.parse(json);
        } catch (IllegalArgumentException ex) {
            throw new ContractException("contract " + source + " is not valid JSON (" + ex.getMessage() + ")." + FIX);
        }
        if (!(root instanceof Map)) {
            throw new ContractException("contract " + source + " is not a JSON object." + FIX);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) root;
        return new Contract(source, map);
    }

    private ContractException fail(String problem) {
        return new ContractException("contract " + source + ": " + problem + FIX);
    }

    /** A JSON value as it was written: strings quoted, whole numbers without ".0". */
    private static String quote(Object value) {
        if (value instanceof Double && (Double) value == Math.rint((Double) value) && Math.abs((Double) value) < 1e15) {
            return String.valueOf(((Double) value).longValue());
        }
        return value instanceof String ? "\"" + value + "\"" : String.valueOf(value);
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> map(Map<String, Object> parent, String key) throws ContractException {
        Object value = parent.get(key);
        if (!(value instanceof Map)) {
            throw fail((value == null ? "has no " : "has a malformed ") + "\"" + key + "\" section.");
        }
        return (Map<String, Object>) value;
    }

    private String string(Map<String, Object> parent, String key, String where) throws ContractException {
        Object value = parent.get(key);
        if (!(value instanceof String) || ((String) value).isEmpty()) {
            throw fail(where + "." + key + " is " + quote(value) + "; expected a file or tensor name.");
        }
        return (String) value;
    }

    private int positive(Map<String, Object> parent, String key) throws ContractException {
        Object value = parent.get(key);
        if (!(value instanceof Double) || (Double) value < 1 || (Double) value != Math.floor((Double) value)) {
            throw fail("input." + key + " is " + value + "; expected a positive whole number.");
        }
        return ((Double) value).intValue();
    }

    private List<TensorSpec> tensors(Map<String, Object> entry, String entryName, String kind) throws ContractException {
        Object list = entry.get(kind);
        if (!(list instanceof List) || ((List<?>) list).isEmpty()) {
            throw fail("entry point " + entryName + " lists no " + kind + ".");
        }
        List<TensorSpec> specs = new ArrayList<>();
        for (Object item : (List<?>) list) {
            if (!(item instanceof Map)) {
                throw fail(entryName + " " + kind + " holds " + item + "; expected {name, shape, dtype}.");
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> spec = (Map<String, Object>) item;
            String name = string(spec, "name", entryName + "." + kind);
            if (!"float32".equals(spec.get("dtype"))) {
                throw fail(entryName + " " + kind + " " + name + " has dtype " + quote(spec.get("dtype")) + "; the app feeds and reads float32.");
            }
            Object shape = spec.get("shape");
            if (!(shape instanceof List) || ((List<?>) shape).isEmpty()) {
                throw fail(entryName + " " + kind + " " + name + " has shape " + shape + "; expected a list of positive sizes.");
            }
            List<?> dims = (List<?>) shape;
            int[] sizes = new int[dims.size()];
            for (int i = 0; i < sizes.length; i++) {
                Object d = dims.get(i);
                if (!(d instanceof Double) || (Double) d < 1 || (Double) d != Math.floor((Double) d)) {
                    throw fail(entryName + " " + kind + " " + name + " has shape " + shape + "; expected a list of positive sizes.");
                }
                sizes[i] = ((Double) d).intValue();
            }
            for (TensorSpec seen : specs) {
                if (seen.name.equals(name)) {
                    throw fail(entryName + " lists " + kind + " " + name + " twice.");
                }
            }
            specs.add(new TensorSpec(name, sizes));
        }
        return specs;
    }

    private void readFeedback(Map<String, Object> section, String entry, Map<String, String> into) throws ContractException {
        for (Map.Entry<String, Object> pair : section.entrySet()) {
            if (!(pair.getValue() instanceof String)) {
                throw fail("feedback." + entry + "." + pair.getKey() + " is " + pair.getValue() + "; expected the name of a step input.");
            }
            String target = (String) pair.getValue();
            if (into.containsKey(target)) {
                throw fail("feedback." + entry + " feeds step input " + target + " from both " + into.get(target) + " and " + pair.getKey() + ".");
            }
            into.put(target, pair.getKey());
        }
    }

    /** The roles the app relies on, and a closed feedback loop: every state input is filled by init and refilled by step. */
    private void checkRoles() throws ContractException {
        int[] frame = {1, 3, height, width};
        int[] single = {1, 1, height, width};
        expect(INIT, inputs, FRAME, frame);
        expect(INIT, inputs, MASK, single);
        for (String step : steps) {
            expect(step, inputs, FRAME, frame);
            expect(step, outputs, PROB, single);
        }
        if (inputs.get(INIT).size() != 2) {
            throw fail("init takes " + names(inputs.get(INIT)) + "; the app gives it exactly frame and mask.");
        }
        List<String> state = stateNames();
        if (state.isEmpty()) {
            throw fail(steps.get(0) + " takes no state inputs besides frame; the app needs the memory as explicit state.");
        }
        List<TensorSpec> first = inputs.get(steps.get(0));
        for (String step : steps) {
            if (!inputs.get(step).toString().equals(first.toString())) { // names and shapes, in order
                throw fail(step + " takes " + inputs.get(step) + " but " + steps.get(0) + " takes " + first
                        + "; every step entry takes the frame and the same state.");
            }
        }
        if (phase != null) {
            TensorSpec spec = stateSpec(phase);
            if (spec == null || spec.elements() != 1) {
                throw fail("schedule.phase names " + (spec == null ? phase + ", which is not a state input (state: " + state + ")"
                        : spec + ", which is not a single number") + ".");
            }
        }
        for (String name : state) {
            TensorSpec in = find(first, name);
            checkFeed(INIT, INIT, fromInit.get(name), in);
            for (String step : steps) {
                checkFeed(STEP, step, fromStep.get(name), in);
            }
        }
        checkAllUsed(INIT, INIT, fromInit, Collections.<String>emptyList());
        for (String step : steps) {
            checkAllUsed(STEP, step, fromStep, Collections.singletonList(PROB));
        }
    }

    /**
     * {@code section} is the feedback section ("init", or "step" which serves every step entry), {@code entry} the entry point.
     * The export fills state input S from the init output S and refills it from the step output {@code new_S}. The names are
     * checked, not only the shapes: states of equal shape swapped by an edit would pass the shape check and feed the wrong
     * tensor back every frame, a silently different result rather than an error.
     */
    private void checkFeed(String section, String entry, String output, TensorSpec input) throws ContractException {
        Map<String, String> feeds = section.equals(INIT) ? fromInit : fromStep;
        if (output == null) {
            throw fail("no " + entry + " output feeds step input " + input.name + " (feedback." + section + " is " + feeds.keySet()
                    + " -> " + feeds.values() + ").");
        }
        String expected = section.equals(INIT) ? input.name : NEW + input.name;
        if (!output.equals(expected)) {
            throw fail("feedback." + section + " fills state input " + input.name + " from " + output + "; the export fills it from "
                    + section + " output " + expected + " (init output S fills state input S, step output " + NEW + "S refills it)."
                    + " The feedback map was edited, and following it would feed the wrong tensor back; export again.");
        }
        TensorSpec out = find(outputs.get(entry), output);
        if (out == null) {
            throw fail("feedback." + section + " names output " + output + ", which " + entry + " does not have (its outputs: "
                    + names(outputs.get(entry)) + ").");
        }
        if (!out.sameShape(input.shape())) {
            throw fail(entry + " output " + out + " feeds step input " + input + ": the shapes differ.");
        }
    }

    private void checkAllUsed(String section, String entry, Map<String, String> feeds, List<String> others) throws ContractException {
        List<String> inputNames = names(inputs.get(steps.get(0)));
        for (String target : feeds.keySet()) {
            if (!inputNames.contains(target) || FRAME.equals(target)) {
                throw fail("feedback." + section + " feeds " + target + ", which is not a state input of " + steps.get(0)
                        + " (its inputs: " + inputNames + ").");
            }
        }
        for (TensorSpec out : outputs.get(entry)) {
            if (!feeds.containsValue(out.name) && !others.contains(out.name)) {
                throw fail(entry + " output " + out.name + " feeds nothing: the feedback section does not say where it goes.");
            }
        }
    }

    private void expect(String entry, Map<String, List<TensorSpec>> side, String name, int[] shape) throws ContractException {
        TensorSpec spec = find(side.get(entry), name);
        String kind = side == inputs ? "input" : "output";
        if (spec == null) {
            throw fail(entry + " has no " + kind + " " + name + " (it has " + names(side.get(entry)) + ").");
        }
        if (!spec.sameShape(shape)) {
            throw fail(entry + " " + kind + " " + spec + " should be " + Arrays.toString(shape) + " for input " + height + "x" + width + ".");
        }
    }

    private static TensorSpec find(List<TensorSpec> specs, String name) {
        for (TensorSpec spec : specs) {
            if (spec.name.equals(name)) {
                return spec;
            }
        }
        return null;
    }

    private static List<String> names(List<TensorSpec> specs) {
        List<String> names = new ArrayList<>();
        for (TensorSpec spec : specs) {
            names.add(spec.name);
        }
        return names;
    }

    /**
     * Compares the interpreter's view of the model file with this contract; a mismatch names each
     * differing tensor (a contract from another export beside this file, or an edited one).
     */
    public void checkModel(ModelSignatures model) throws ContractException {
        for (String entry : entries()) {
            if (!model.signatures().contains(entry)) {
                throw fail(modelFile + " has the signatures " + new TreeSet<>(model.signatures()) + "; the contract needs " + entry
                        + ". The model file and its contract come from different exports.");
            }
            compare(entry, "input", inputs.get(entry), model.inputs(entry));
            compare(entry, "output", outputs.get(entry), model.outputs(entry));
        }
    }

    private void compare(String entry, String kind, List<TensorSpec> listed, Map<String, int[]> found) throws ContractException {
        List<String> problems = new ArrayList<>();
        TreeSet<String> all = new TreeSet<>(found.keySet());
        all.addAll(names(listed));
        for (String name : all) {
            TensorSpec spec = find(listed, name);
            int[] shape = found.get(name);
            if (spec == null || shape == null || !spec.sameShape(shape)) {
                problems.add(kind + " " + name + ": the contract says " + (spec == null ? "nothing" : Arrays.toString(spec.shape()))
                        + ", the file has " + (shape == null ? "nothing" : Arrays.toString(shape)));
            }
        }
        if (!problems.isEmpty()) {
            throw fail(modelFile + " does not match its contract in " + entry + ": " + String.join("; ", problems)
                    + ". The model file and its contract come from different exports.");
        }
    }

    /**
     * Called by {@link ModelDigest} with the SHA-256 of the model bytes the app loads: a ContractException unless it is
     * the digest recorded at export.
     */
    void checkDigest(String found) throws ContractException {
        if (!sha256.equals(found)) {
            throw fail(modelFile + " has sha256 " + found + ", but the contract records " + sha256 + " for it: the model file"
                    + " was replaced or the contract edited after the export, and another model would silently compute different"
                    + " masks; export again.");
        }
    }

    public String source() {
        return source;
    }

    /** The .tflite file, relative to the contract. */
    public String modelFile() {
        return modelFile;
    }

    /** The SHA-256 of {@link #modelFile()} recorded at export: 64 lower-case hex digits. */
    public String sha256() {
        return sha256;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public float maskThreshold() {
        return maskThreshold;
    }

    public List<TensorSpec> inputs(String entry) {
        return Collections.unmodifiableList(inputs.get(entry));
    }

    public List<TensorSpec> outputs(String entry) {
        return Collections.unmodifiableList(outputs.get(entry));
    }

    /** Every entry point: init, then the step entries in phase order. */
    public List<String> entries() {
        List<String> entries = new ArrayList<>();
        entries.add(INIT);
        entries.addAll(steps);
        return entries;
    }

    /** The step entries in phase order ({@code [step]} for a contract without a schedule). */
    public List<String> steps() {
        return Collections.unmodifiableList(steps);
    }

    /** The state input whose value picks the step entry of the next frame ({@code steps[(int) phase]}), or null: always the first. */
    public String phaseName() {
        return phase;
    }

    /** Step inputs other than the frame, in the contract's order: the state the app feeds back. */
    public List<String> stateNames() {
        List<String> state = new ArrayList<>();
        for (TensorSpec spec : inputs.get(steps.get(0))) {
            if (!spec.name.equals(FRAME)) {
                state.add(spec.name);
            }
        }
        return state;
    }

    public TensorSpec stateSpec(String name) {
        return find(inputs.get(steps.get(0)), name);
    }

    /** The init output that fills state input {@code name}. */
    public String initOutputFor(String name) {
        return fromInit.get(name);
    }

    /** The step output (of every step entry) that refills state input {@code name} for the next frame. */
    public String stepOutputFor(String name) {
        return fromStep.get(name);
    }
}
