// The export contract (student.tflite.json) as the browser demo reads it: a line-by-line port of the Android app's
// reader, android_demo/core/src/main/java/io/mobileseg/core/Contract.java, with the same rules and the same messages
// (values are printed as Java prints them, so a message here is the app's message word for word), so that a model the
// page cannot drive is a message, never a failure mid-video. tests/integration/test_browser_demo.py runs this reader
// and the app's on the same contracts and compares the messages.
//
// Two differences, both stated in FIX / the target rule: the advice at the end of a message names the export the page
// needs (no --android), and for the fallback to ONNX Runtime Web the reader also takes an ONNX contract (target onnx:
// init and every step entry are .onnx files of their own, each with its sha256). A TFLite contract is held to exactly
// the app's rules.

export const VERSION = 1;
export const TARGET = "tflite";
export const ONNX = "onnx";
export const INIT = "init";
export const STEP = "step";
export const FRAME = "frame";
export const MASK = "mask";
export const PROB = "prob";
export const NEW = "new_";
const HEX_DIGEST = /^[0-9a-fA-F]{64}$/;
export const FIX = " Export the model again with `mobileseg export --checkpoint RUN/best.pt --target tflite --target onnx`"
  + " (this app reads contract version " + VERSION + ", target " + TARGET + " (or " + ONNX + " for ONNX Runtime Web), one object).";

export class ContractError extends Error {
  constructor(message) {
    super(message);
    this.name = "ContractError";
  }
}

/** Java's Double.toString of a JSON number. */
function javaDouble(value) {
  if (Object.is(value, -0)) return "-0.0";
  const magnitude = Math.abs(value);
  if (magnitude === 0 || (magnitude >= 1e-3 && magnitude < 1e7)) {
    const text = String(value);
    return Number.isInteger(value) ? text + ".0" : text;
  }
  let [mantissa, exponent] = value.toExponential().split("e");
  if (!mantissa.includes(".")) mantissa += ".0";
  return mantissa + "E" + exponent.replace("+", "");
}

/** String.valueOf of a value of Json.java's tree: Double, String, Boolean, null, List (ArrayList), Map (LinkedHashMap). */
export function javaString(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") return javaDouble(value);
  if (typeof value === "string") return value;
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return "[" + value.map(javaString).join(", ") + "]";
  if (value instanceof TensorSpec) return value.toString();
  return "{" + Object.entries(value).map(([k, v]) => k + "=" + javaString(v)).join(", ") + "}";
}

/** Contract.quote: strings quoted, whole numbers without ".0". */
function quote(value) {
  if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) < 1e15) {
    return String(value);
  }
  return typeof value === "string" ? "\"" + value + "\"" : javaString(value);
}

const isMap = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const isWhole = (value) => typeof value === "number" && value >= 1 && value === Math.floor(value);

/** One named float tensor of an entry point (TensorSpec.java). */
export class TensorSpec {
  constructor(name, shape) {
    this.name = name;
    this.shape = Array.from(shape);
  }

  elements() {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  sameShape(other) {
    const shape = Array.from(other);
    return shape.length === this.shape.length && shape.every((d, i) => d === this.shape[i]);
  }

  toString() {
    return this.name + "[" + this.shape.join(", ") + "]";
  }
}

const specsString = (specs) => "[" + specs.map(String).join(", ") + "]";
const namesOf = (specs) => specs.map((spec) => spec.name);
const find = (specs, name) => specs.find((spec) => spec.name === name) || null;

export class Contract {
  /** Reads and checks contract JSON text; `source` names it in messages (a URL path). */
  static parse(json, source) {
    let root;
    try {
      root = JSON.parse(json);
    } catch (ex) {
      throw new ContractError("contract " + source + " is not valid JSON (" + ex.message + ")." + FIX);
    }
    if (!isMap(root)) {
      throw new ContractError("contract " + source + " is not a JSON object." + FIX);
    }
    return new Contract(source, root);
  }

  constructor(source, root) {
    this.source = source;
    this.inputsOf = new Map();
    this.outputsOf = new Map();
    this.fromInit = new Map();
    this.fromStep = new Map();
    this.stepNames = [];
    const version = root.contract_version;
    if (typeof version !== "number" || Math.trunc(version) !== VERSION) {
      throw this.fail("contract_version is " + quote(version) + "; this app reads version " + VERSION + ".");
    }
    this.target = root.target;
    if (this.target !== TARGET && this.target !== ONNX) {
      throw this.fail("target is " + quote(root.target) + "; the app runs LiteRT files (" + TARGET + ")"
        + " or, in the browser, ONNX files (" + ONNX + ") with ONNX Runtime Web.");
    }
    this.phase = this.readSchedule(root.schedule);
    const files = this.map(root, "files");
    this.files = {};
    if (this.target === TARGET) {
      this.modelFile = this.string(files, INIT, "files");
      for (const step of this.stepNames) {
        if (this.modelFile !== this.string(files, step, "files") || !this.modelFile.endsWith(".tflite")) {
          throw this.fail("files names " + javaString(files) + "; the app needs init and " + this.stepNames.join(", ")
            + (this.stepNames.length === 1 ? " as two signatures" : " as signatures") + " of one .tflite file.");
        }
      }
      this.files[INIT] = this.modelFile;
      for (const step of this.stepNames) this.files[step] = this.modelFile;
      this.sha256 = {[this.modelFile]: this.readDigest(root.sha256, this.modelFile)};
    } else {
      this.modelFile = this.string(files, INIT, "files");
      const seen = new Set();
      for (const entry of [INIT, ...this.stepNames]) {
        const name = this.string(files, entry, "files");
        if (!name.endsWith(".onnx") || seen.has(name)) {
          throw this.fail("files names " + javaString(files) + "; ONNX Runtime Web needs init and " + this.stepNames.join(", ")
            + " as .onnx files of their own.");
        }
        seen.add(name);
        this.files[entry] = name;
      }
      // external weights (student.weights) and any other file the export wrote beside the graphs
      this.extraFiles = Object.entries(files).filter(([entry, name]) => !(entry in this.files) && typeof name === "string").map(([, name]) => name);
      this.sha256 = {};
      for (const name of [...new Set([...Object.values(this.files), ...this.extraFiles])]) {
        this.sha256[name] = this.readDigest(root.sha256, name);
      }
    }
    const input = this.map(root, "input");
    this.height = this.positive(input, "height");
    this.width = this.positive(input, "width");
    const objects = "objects" in input ? this.positive(input, "objects") : 1;
    if (objects !== 1) {
      throw this.fail("the model tracks " + objects + " objects at once; the app tracks the one object of the box you draw (export with --objects 1).");
    }
    const range = input.frame_range;
    if (range !== undefined && range !== null && !(Array.isArray(range) && range.length === 2 && range[0] === 0 && range[1] === 1)) {
      throw this.fail("input.frame_range is " + javaString(range) + "; the app feeds RGB scaled to [0, 1].");
    }
    const channels = input.channels;
    if (channels !== undefined && channels !== null && channels !== "RGB") {
      throw this.fail("input.channels is " + quote(channels) + "; the app feeds RGB.");
    }
    const threshold = input.mask_threshold;
    this.maskThreshold = typeof threshold === "number" ? Math.fround(threshold) : 0.5;
    if (!(this.maskThreshold > 0 && this.maskThreshold < 1)) {
      throw this.fail("input.mask_threshold is " + javaString(threshold) + "; it must lie strictly between 0 and 1.");
    }
    const entries = this.map(root, "entry_points");
    for (const entry of this.entries()) {
      const spec = this.map(entries, entry);
      this.inputsOf.set(entry, this.tensors(spec, entry, "inputs"));
      this.outputsOf.set(entry, this.tensors(spec, entry, "outputs"));
    }
    const feedback = this.map(root, "feedback");
    this.readFeedback(this.map(feedback, INIT), INIT, this.fromInit);
    this.readFeedback(this.map(feedback, STEP), STEP, this.fromStep);
    this.checkRoles();
  }

  readSchedule(section) {
    if (section === undefined || section === null) {
      this.stepNames.push(STEP);
      return null;
    }
    if (!isMap(section)) {
      throw this.fail("has a malformed \"schedule\" section.");
    }
    const list = section.steps;
    if (!Array.isArray(list) || list.length === 0) {
      throw this.fail("schedule.steps is " + javaString(list) + "; expected the list of step entry names.");
    }
    for (const name of list) {
      if (typeof name !== "string" || name === "" || this.stepNames.includes(name) || name === INIT) {
        throw this.fail("schedule.steps is " + javaString(list) + "; expected distinct step entry names.");
      }
      this.stepNames.push(name);
    }
    const name = section.phase === undefined ? null : section.phase;
    if (name === null && this.stepNames.length > 1) {
      throw this.fail("schedule lists " + this.stepNames.length + " step entries " + javaString(this.stepNames)
        + " but no phase input to choose between them.");
    }
    if (name !== null && (typeof name !== "string" || name === "")) {
      throw this.fail("schedule.phase is " + quote(name) + "; expected the name of a state input, or null.");
    }
    return name;
  }

  readDigest(section, file) {
    const digest = isMap(section) ? section[file] : undefined;
    if (digest === undefined || digest === null) {
      throw this.fail("has no sha256 digest of " + file + " (its sha256 section is " + javaString(section) + "), so the app cannot tell"
        + " whether the model file is the one exported with it: the contract was written before digests were recorded,"
        + " or edited; export again.");
    }
    if (typeof digest !== "string" || !HEX_DIGEST.test(digest)) {
      throw this.fail("sha256." + file + " is " + quote(digest) + "; expected the file's SHA-256 as 64 hex digits."
        + " The contract was edited; export again.");
    }
    return digest.toLowerCase();
  }

  fail(problem) {
    return new ContractError("contract " + this.source + ": " + problem + FIX);
  }

  map(parent, key) {
    const value = parent[key];
    if (!isMap(value)) {
      throw this.fail((value === undefined || value === null ? "has no " : "has a malformed ") + "\"" + key + "\" section.");
    }
    return value;
  }

  string(parent, key, where) {
    const value = parent[key];
    if (typeof value !== "string" || value === "") {
      throw this.fail(where + "." + key + " is " + quote(value) + "; expected a file or tensor name.");
    }
    return value;
  }

  positive(parent, key) {
    const value = parent[key];
    if (!isWhole(value)) {
      throw this.fail("input." + key + " is " + javaString(value) + "; expected a positive whole number.");
    }
    return value;
  }

  tensors(entry, entryName, kind) {
    const list = entry[kind];
    if (!Array.isArray(list) || list.length === 0) {
      throw this.fail("entry point " + entryName + " lists no " + kind + ".");
    }
    const specs = [];
    for (const item of list) {
      if (!isMap(item)) {
        throw this.fail(entryName + " " + kind + " holds " + javaString(item) + "; expected {name, shape, dtype}.");
      }
      const name = this.string(item, "name", entryName + "." + kind);
      if (item.dtype !== "float32") {
        throw this.fail(entryName + " " + kind + " " + name + " has dtype " + quote(item.dtype) + "; the app feeds and reads float32.");
      }
      const shape = item.shape;
      if (!Array.isArray(shape) || shape.length === 0 || !shape.every(isWhole)) {
        throw this.fail(entryName + " " + kind + " " + name + " has shape " + javaString(shape) + "; expected a list of positive sizes.");
      }
      if (find(specs, name) !== null) {
        throw this.fail(entryName + " lists " + kind + " " + name + " twice.");
      }
      specs.push(new TensorSpec(name, shape));
    }
    return specs;
  }

  readFeedback(section, entry, into) {
    for (const [key, value] of Object.entries(section)) {
      if (typeof value !== "string") {
        throw this.fail("feedback." + entry + "." + key + " is " + javaString(value) + "; expected the name of a step input.");
      }
      if (into.has(value)) {
        throw this.fail("feedback." + entry + " feeds step input " + value + " from both " + into.get(value) + " and " + key + ".");
      }
      into.set(value, key);
    }
  }

  checkRoles() {
    const frame = [1, 3, this.height, this.width];
    const single = [1, 1, this.height, this.width];
    this.expect(INIT, this.inputsOf, FRAME, frame);
    this.expect(INIT, this.inputsOf, MASK, single);
    for (const step of this.stepNames) {
      this.expect(step, this.inputsOf, FRAME, frame);
      this.expect(step, this.outputsOf, PROB, single);
    }
    if (this.inputsOf.get(INIT).length !== 2) {
      throw this.fail("init takes " + javaString(namesOf(this.inputsOf.get(INIT))) + "; the app gives it exactly frame and mask.");
    }
    const state = this.stateNames();
    if (state.length === 0) {
      throw this.fail(this.stepNames[0] + " takes no state inputs besides frame; the app needs the memory as explicit state.");
    }
    const first = this.inputsOf.get(this.stepNames[0]);
    for (const step of this.stepNames) {
      if (specsString(this.inputsOf.get(step)) !== specsString(first)) {
        throw this.fail(step + " takes " + specsString(this.inputsOf.get(step)) + " but " + this.stepNames[0] + " takes " + specsString(first)
          + "; every step entry takes the frame and the same state.");
      }
    }
    if (this.phase !== null) {
      const spec = this.stateSpec(this.phase);
      if (spec === null || spec.elements() !== 1) {
        throw this.fail("schedule.phase names " + (spec === null ? this.phase + ", which is not a state input (state: " + javaString(state) + ")"
          : spec + ", which is not a single number") + ".");
      }
    }
    for (const name of state) {
      const input = find(first, name);
      this.checkFeed(INIT, INIT, this.fromInit.get(name), input);
      for (const step of this.stepNames) {
        this.checkFeed(STEP, step, this.fromStep.get(name), input);
      }
    }
    this.checkAllUsed(INIT, INIT, this.fromInit, []);
    for (const step of this.stepNames) {
      this.checkAllUsed(STEP, step, this.fromStep, [PROB]);
    }
  }

  checkFeed(section, entry, output, input) {
    const feeds = section === INIT ? this.fromInit : this.fromStep;
    if (output === undefined || output === null) {
      throw this.fail("no " + entry + " output feeds step input " + input.name + " (feedback." + section + " is "
        + javaString([...feeds.keys()]) + " -> " + javaString([...feeds.values()]) + ").");
    }
    const expected = section === INIT ? input.name : NEW + input.name;
    if (output !== expected) {
      throw this.fail("feedback." + section + " fills state input " + input.name + " from " + output + "; the export fills it from "
        + section + " output " + expected + " (init output S fills state input S, step output " + NEW + "S refills it)."
        + " The feedback map was edited, and following it would feed the wrong tensor back; export again.");
    }
    const out = find(this.outputsOf.get(entry), output);
    if (out === null) {
      throw this.fail("feedback." + section + " names output " + output + ", which " + entry + " does not have (its outputs: "
        + javaString(namesOf(this.outputsOf.get(entry))) + ").");
    }
    if (!out.sameShape(input.shape)) {
      throw this.fail(entry + " output " + out + " feeds step input " + input + ": the shapes differ.");
    }
  }

  checkAllUsed(section, entry, feeds, others) {
    const inputNames = namesOf(this.inputsOf.get(this.stepNames[0]));
    for (const target of feeds.keys()) {
      if (!inputNames.includes(target) || target === FRAME) {
        throw this.fail("feedback." + section + " feeds " + target + ", which is not a state input of " + this.stepNames[0]
          + " (its inputs: " + javaString(inputNames) + ").");
      }
    }
    const fed = new Set(feeds.values());
    for (const out of this.outputsOf.get(entry)) {
      if (!fed.has(out.name) && !others.includes(out.name)) {
        throw this.fail(entry + " output " + out.name + " feeds nothing: the feedback section does not say where it goes.");
      }
    }
  }

  expect(entry, side, name, shape) {
    const spec = find(side.get(entry), name);
    const kind = side === this.inputsOf ? "input" : "output";
    if (spec === null) {
      throw this.fail(entry + " has no " + kind + " " + name + " (it has " + javaString(namesOf(side.get(entry))) + ").");
    }
    if (!spec.sameShape(shape)) {
      throw this.fail(entry + " " + kind + " " + spec + " should be [" + shape.join(", ") + "] for input " + this.height + "x" + this.width + ".");
    }
  }

  /**
   * Compares the runtime's view of the model (per entry: {inputs: {name: shape | null}, outputs: ...}; a shape is null
   * where the runtime does not report one) with this contract; a mismatch names each differing tensor.
   */
  checkModel(model) {
    for (const entry of this.entries()) {
      if (!(entry in model)) {
        throw this.fail(this.files[entry] + " has the signatures " + javaString(Object.keys(model).sort()) + "; the contract needs " + entry
          + ". The model file and its contract come from different exports.");
      }
      this.compare(entry, "input", this.inputsOf.get(entry), model[entry].inputs);
      this.compare(entry, "output", this.outputsOf.get(entry), model[entry].outputs);
    }
  }

  compare(entry, kind, listed, found) {
    const problems = [];
    const all = [...new Set([...Object.keys(found), ...namesOf(listed)])].sort();
    for (const name of all) {
      const spec = find(listed, name);
      const shape = name in found ? found[name] : undefined;
      if (spec === null || shape === undefined || (shape !== null && !spec.sameShape(shape))) {
        problems.push(kind + " " + name + ": the contract says " + (spec === null ? "nothing" : "[" + spec.shape.join(", ") + "]")
          + ", the file has " + (shape === undefined ? "nothing" : shape === null ? "no shape" : "[" + Array.from(shape).join(", ") + "]"));
      }
    }
    if (problems.length) {
      throw this.fail(this.files[entry] + " does not match its contract in " + entry + ": " + problems.join("; ")
        + ". The model file and its contract come from different exports.");
    }
  }

  /** ModelDigest.check: the SHA-256 (64 lower-case hex digits) of the bytes loaded for `file` is the recorded one. */
  checkDigest(file, found) {
    const recorded = this.sha256[file];
    if (recorded !== found) {
      throw this.fail(file + " has sha256 " + found + ", but the contract records " + recorded + " for it: the model file"
        + " was replaced or the contract edited after the export, and another model would silently compute different"
        + " masks; export again.");
    }
  }

  inputs(entry) {
    return this.inputsOf.get(entry);
  }

  outputs(entry) {
    return this.outputsOf.get(entry);
  }

  entries() {
    return [INIT, ...this.stepNames];
  }

  steps() {
    return [...this.stepNames];
  }

  phaseName() {
    return this.phase;
  }

  stateNames() {
    return this.inputsOf.get(this.stepNames[0]).filter((spec) => spec.name !== FRAME).map((spec) => spec.name);
  }

  stateSpec(name) {
    return find(this.inputsOf.get(this.stepNames[0]), name);
  }

  initOutputFor(name) {
    return this.fromInit.get(name);
  }

  stepOutputFor(name) {
    return this.fromStep.get(name);
  }

  /** Every file the page fetches for this contract, each once (the model file; ONNX: the graphs and their weights). */
  allFiles() {
    return [...new Set([...Object.values(this.files), ...(this.extraFiles || [])])];
  }
}

/** The SHA-256 of `bytes` (an ArrayBuffer or view) as 64 lower-case hex digits (ModelDigest.of). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
