// The runtimes the page runs the exported student in, behind one interface (the app's Runner):
//
//   const runner = await openBackend(name, contract, files, options);   // files: file name -> Uint8Array
//   runner.describe()                          -> {entry: {inputs: {name: shape}, outputs: {name: shape}}} (checkModel)
//   const out = await runner.run(entry, feeds) -> {name: handle}; feeds: {name: Float32Array | handle}
//   await runner.read(handle)                  -> Float32Array (a copy)
//   runner.release(handle); runner.close()
//
// A handle is the runtime's own tensor, so the state goes back into the next step without a copy where the runtime
// allows it. Backends: LiteRT.js (@litertjs/core) on WebAssembly with XNNPACK or on WebGPU, and ONNX Runtime Web
// (onnxruntime-web) on WebAssembly or WebGPU over the .onnx export, the fallback when LiteRT.js cannot run the file.
// The runtimes are served by `mobileseg demo` under /vendor/ (pinned npm packages, see mobileseg/demo/runtimes.py).

export const BACKENDS = {
  "litert-wasm": {runtime: "litert", accelerator: "wasm", target: "tflite", label: "LiteRT.js, WebAssembly (XNNPACK)"},
  "litert-webgpu": {runtime: "litert", accelerator: "webgpu", target: "tflite", label: "LiteRT.js, WebGPU"},
  "ort-wasm": {runtime: "ort", accelerator: "wasm", target: "onnx", label: "ONNX Runtime Web, WebAssembly"},
  "ort-webgpu": {runtime: "ort", accelerator: "webgpu", target: "onnx", label: "ONNX Runtime Web, WebGPU"},
};

const LITERT_CORE = "/vendor/litertjs-core/dist/index.js";
const LITERT_WASM = "/vendor/litertjs-core/wasm/";
const ORT_MODULE = "/vendor/onnxruntime-web/dist/ort.webgpu.min.mjs";
const ORT_WASM = "/vendor/onnxruntime-web/dist/";

export class BackendError extends Error {
  constructor(message, details) {
    super(message);
    this.name = "BackendError";
    this.details = details || [];
  }
}

/** Which of the page's needs this browser lacks, each as a sentence (empty: nothing is missing). */
export function missingFeatures(backend) {
  const missing = [];
  if (typeof WebAssembly !== "object") missing.push("WebAssembly (every backend needs it)");
  if (!window.isSecureContext || !crypto.subtle) {
    missing.push(`a secure context: browsers give the camera (and SHA-256) only to https:// pages and to http://localhost, and this page is ${location.origin}. `
      + "Open http://localhost:PORT on the machine that runs `mobileseg demo`, or start it with --cert and --key and open its https:// address");
  }
  if (backend && BACKENDS[backend] && BACKENDS[backend].accelerator === "webgpu" && !navigator.gpu) missing.push("WebGPU (navigator.gpu)");
  return missing;
}

/** Whether a WebGPU adapter is there (navigator.gpu alone does not say: headless or blocklisted GPUs have none). */
export async function webgpuAdapter() {
  if (!navigator.gpu) return null;
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info || {};
    return {vendor: info.vendor || "", architecture: info.architecture || "", description: info.description || ""};
  } catch (ex) {
    return null;
  }
}

// -- LiteRT.js -----------------------------------------------------------------------------------------------------

let litert = null; // the module
let litertLoaded = null; // the options LiteRT.js's WebAssembly was loaded with (one build per page at a time)
let litertGeneration = 0; // counts the loads: a model compiled in an earlier one is gone

async function loadLiteRtModule(wants) {
  if (litert === null) litert = await import(LITERT_CORE);
  const key = JSON.stringify(wants);
  if (litertLoaded !== key) {
    if (litertLoaded !== null) litert.unloadLiteRt();
    litertLoaded = null;
    await litert.loadLiteRt(LITERT_WASM, wants);
    litertLoaded = key;
    litertGeneration++;
  }
  return litert;
}

// LiteRT's WebAssembly prints its delegate's decisions through console.error/warn/log, bound when the module loads; the
// page wraps those functions before any runtime is loaded and keeps the lines that say what runs where and why.
const DELEGATE_LINE = /operations will run on the|not supported|Tensor dimensions must be|unsupported|is invalid|Partially delegating|fall back/i;
const delegateLines = [];
for (const name of ["error", "warn", "log", "info"]) {
  const original = console[name];
  console[name] = function (...args) {
    const text = args.map(String).join(" ");
    if (DELEGATE_LINE.test(text)) {
      delegateLines.push(text.replace(/%c/g, "").replace(/\s*(background|color|font-weight|padding|border-radius):[^;]*;/g, "").trim());
    }
    return original.apply(console, args);
  };
}

/** Runs `compile`; returns its result and the delegate's log lines printed meanwhile. */
async function withDelegateLog(compile) {
  const start = delegateLines.length;
  const result = await compile();
  return {result, lines: delegateLines.slice(start)};
}

/** The delegate log in one sentence: how many operations ran where, and which ones the GPU delegate refused and why. */
export function summariseDelegation(lines) {
  const counts = lines.map((line) => line.match(/(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU/))
    .filter(Boolean).map((m) => `${m[1]} on the GPU, ${m[2]} on the CPU`);
  const refused = new Map();
  for (const line of lines) {
    const m = line.match(/^(?:error:\s*)?([A-Z_0-9]+): (.*?)(?:\s+mobileseg\.|$)/);
    if (m && !["ERROR", "WARNING", "INFO"].includes(m[1])) {
      const reason = m[2].replace(/\.$/, "");
      if (!refused.has(m[1])) refused.set(m[1], new Set());
      refused.get(m[1]).add(reason);
    }
  }
  const ops = [...refused.entries()].sort().map(([op, reasons]) => `${op} (${[...reasons].join("; ")})`);
  if (!counts.length && !ops.length) return "";
  return (counts.length ? `per graph: ${counts.join("; ")}` : "") + (ops.length ? `; not taken by the GPU delegate: ${ops.join(", ")}` : "");
}

class LiteRtRunner {
  static async open(contract, files, options) {
    const accelerator = options.accelerator;
    const threaded = accelerator === "wasm" && options.threads > 1 && window.crossOriginIsolated;
    const wants = accelerator === "webgpu" ? {jspi: true} : (threaded ? {threads: true} : {});
    let module;
    try {
      module = await loadLiteRtModule(wants);
    } catch (ex) {
      throw new BackendError(`LiteRT.js could not be loaded (${ex && ex.message || ex})`);
    }
    const compileOptions = {accelerator};
    if (accelerator === "wasm") compileOptions.cpuOptions = {numThreads: threaded ? options.threads : 1};
    let compiled;
    try {
      compiled = await withDelegateLog(() => module.loadAndCompile(files.get(contract.modelFile), compileOptions));
    } catch (ex) {
      throw new BackendError(`LiteRT.js could not compile ${contract.modelFile} for ${accelerator}: ${ex && ex.message || ex}`);
    }
    return new LiteRtRunner(module, compiled.result, accelerator, threaded ? options.threads : 1, compiled.lines);
  }

  constructor(module, model, accelerator, threads, delegateLog) {
    this.module = module;
    this.model = model;
    this.accelerator = accelerator;
    this.threads = threads;
    this.delegateLog = delegateLog;
    this.delegation = summariseDelegation(delegateLog);
    this.fullyAccelerated = accelerator === "wasm" ? true : model.isFullyAccelerated;
    this.generation = litertGeneration;
  }

  /** Whether LiteRT.js was loaded again since (another backend needed another build): this model is gone then. */
  get stale() {
    return this.generation !== litertGeneration;
  }

  describe() {
    const view = {};
    for (const [name, signature] of Object.entries(this.model.signatures)) {
      const side = (details) => Object.fromEntries(details.map((d) => [d.name, Array.from(d.shape)]));
      view[name] = {inputs: side(signature.getInputDetails()), outputs: side(signature.getOutputDetails())};
    }
    return view;
  }

  async run(entry, feeds) {
    const signature = this.model.signatures[entry];
    const made = [];
    const inputs = {};
    for (const detail of signature.getInputDetails()) {
      const value = feeds[detail.name];
      if (value instanceof Float32Array) {
        const tensor = new this.module.Tensor(value, Array.from(detail.shape));
        made.push(tensor);
        inputs[detail.name] = tensor;
      } else {
        inputs[detail.name] = value;
      }
    }
    try {
      return await signature.run(inputs);
    } finally {
      for (const tensor of made) tensor.delete();
    }
  }

  async read(handle) {
    if (handle.accelerator === "wasm") return handle.toTypedArray().slice();
    const copy = await handle.copyTo("wasm");
    try {
      return copy.toTypedArray().slice();
    } finally {
      copy.delete();
    }
  }

  release(handle) {
    if (handle && typeof handle.delete === "function" && !handle.deleted) handle.delete();
  }

  close() {
    if (!this.stale && !this.model.deleted) this.model.delete();
  }
}

// -- ONNX Runtime Web ----------------------------------------------------------------------------------------------

let ort = null;

class OrtRunner {
  static async open(contract, files, options) {
    try {
      if (ort === null) {
        ort = await import(ORT_MODULE);
        ort.env.wasm.wasmPaths = ORT_WASM;
        ort.env.wasm.numThreads = window.crossOriginIsolated ? Math.max(1, options.threads) : 1;
      }
    } catch (ex) {
      throw new BackendError(`ONNX Runtime Web could not be loaded (${ex && ex.message || ex})`);
    }
    const external = (contract.extraFiles || []).map((name) => ({path: name, data: files.get(name)}));
    const sessions = {};
    try {
      for (const entry of contract.entries()) {
        sessions[entry] = await ort.InferenceSession.create(files.get(contract.files[entry]), {
          executionProviders: [options.accelerator], externalData: external, graphOptimizationLevel: "all",
        });
      }
    } catch (ex) {
      for (const session of Object.values(sessions)) session.release();
      throw new BackendError(`ONNX Runtime Web could not load the ONNX graphs for ${options.accelerator}: ${ex && ex.message || ex}`);
    }
    return new OrtRunner(sessions, options.accelerator, ort.env.wasm.numThreads);
  }

  constructor(sessions, accelerator, threads) {
    this.sessions = sessions;
    this.accelerator = accelerator;
    this.threads = threads;
    this.delegation = "";
    this.fullyAccelerated = true;
    this.stale = false;
  }

  describe() {
    const view = {};
    for (const [entry, session] of Object.entries(this.sessions)) {
      const side = (names, metadata) => Object.fromEntries(names.map((name, i) => {
        const shape = metadata && metadata[i] && metadata[i].shape;
        return [name, shape && shape.every((d) => typeof d === "number") ? Array.from(shape) : null];
      }));
      view[entry] = {inputs: side(session.inputNames, session.inputMetadata), outputs: side(session.outputNames, session.outputMetadata)};
    }
    return view;
  }

  async run(entry, feeds) {
    const session = this.sessions[entry];
    const inputs = {};
    const made = [];
    for (const [i, name] of session.inputNames.entries()) {
      const value = feeds[name];
      if (value instanceof Float32Array) {
        const shape = session.inputMetadata[i].shape;
        const tensor = new ort.Tensor("float32", value, Array.from(shape));
        made.push(tensor);
        inputs[name] = tensor;
      } else {
        inputs[name] = value;
      }
    }
    return await session.run(inputs);
  }

  async read(handle) {
    const data = handle.location === "cpu" ? handle.data : await handle.getData();
    return Float32Array.from(data);
  }

  release(handle) {
    if (handle && handle.location !== "cpu" && typeof handle.dispose === "function") handle.dispose();
  }

  close() {
    for (const session of Object.values(this.sessions)) session.release();
  }
}

/** Opens `backend` (a key of BACKENDS) on `contract`'s files (name -> bytes, already checked against their sha256). */
export async function openBackend(backend, contract, files, options) {
  const spec = BACKENDS[backend];
  if (!spec) throw new BackendError(`unknown backend ${backend}; choose one of ${Object.keys(BACKENDS).join(", ")}`);
  const missing = missingFeatures(backend);
  if (missing.length) throw new BackendError(`this browser lacks ${missing.join(" and ")}`);
  if (spec.accelerator === "webgpu" && !(await webgpuAdapter())) {
    throw new BackendError("WebGPU has no adapter in this browser (no GPU it may use, or WebGPU is disabled)");
  }
  const open = spec.runtime === "litert" ? LiteRtRunner.open : OrtRunner.open;
  const runner = await open(contract, files, {accelerator: spec.accelerator, threads: options.threads || 1});
  runner.backend = backend;
  runner.label = spec.label;
  return runner;
}
