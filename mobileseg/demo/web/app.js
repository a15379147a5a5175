// The page: camera -> frame tensor -> init / step with the state fed back by the contract's names -> mask over the video.
//
//   1. demo.json (written by `mobileseg demo`) names the model's contract, the ONNX fallback's contract beside it (if
//      exported) and which runtimes the server has.
//   2. The contract is read with the Android app's rules (contract.js); every file it names is fetched and its SHA-256
//      compared with the one recorded at export. A contract the page cannot drive is the app's message, and nothing runs.
//   3. The backend: LiteRT.js on the .tflite (WebAssembly with XNNPACK unless another is chosen); if LiteRT.js cannot
//      run the file (it fails to load, compile, or run one init and one step) the page says exactly why and runs the
//      .onnx export with ONNX Runtime Web instead.
//   4. The camera (getUserMedia); a denied camera or a browser without what the page needs is a message.
//   5. Press on the video: it holds the frame you see; drag a box around the object and let go: init(frame, box mask).
//      Every later camera frame: step(frame, state); the mask is drawn over the video with ms/frame and FPS. Reset
//      forgets the object.
//
// For tests and benchmarks, window.mobilesegDemo exposes the page's state (see the end of this file); ?record=N keeps
// the pixels, input tensors and probabilities of the box's frame and the next N frames.

import {Contract, ContractError, FIX, sha256Hex} from "./contract.js";
import {BACKENDS, BackendError, missingFeatures, openBackend, webgpuAdapter} from "./backends.js";
import {FrameClock, FrameConverter, Overlay, ViewMapping, boxMask} from "./frames.js";
import {Tracker} from "./tracker.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const RECORD = Math.max(0, parseInt(params.get("record") || "0", 10) || 0);
const MASK_COLOUR = [0, 229, 255, 120]; // cyan, its edge opaque
const MIN_BOX = 2; // model pixels: a smaller drag is a click, not a box

class CameraError extends Error {}

const app = {
  phase: "loading", // loading | ready | tracking | error
  message: "",
  notice: "",
  config: null,
  models: {}, // target -> {contract, files, url}
  runner: null,
  tracker: null,
  backend: null,
  attempts: [],
  converter: null,
  mapping: null,
  overlay: null,
  clock: new FrameClock(30),
  last: null, // the latest camera frame: {rgba, width, height}
  benchmarking: false,
  held: null, // the frame held while a box is dragged
  after: null, // the frame init ran on, until a newer one arrives
  drag: null, // {ax, ay, bx, by} in view pixels
  box: null, // the box init ran with, in model pixels
  prob: null,
  msInit: null,
  frames: 0,
  records: [],
  thumb: null,
  threads: 1,
};

// -- messages ------------------------------------------------------------------------------------------------------

function say(text, isError = false) {
  app.message = text;
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("error", isError);
}

function fail(text) {
  app.phase = "error";
  say(text, true);
  $("reset").disabled = true;
}

function notice(text) {
  app.notice = app.notice ? app.notice + "\n" + text : text;
  const box = $("notice");
  box.textContent = app.notice;
  box.hidden = !app.notice;
}

// -- the model -----------------------------------------------------------------------------------------------------

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (ex) {
    throw new Error(`could not fetch ${what} (${url}): ${ex.message}. Is \`mobileseg demo\` still running?`);
  }
  if (!response.ok) {
    throw new Error(`could not fetch ${what} (${url}): HTTP ${response.status} ${response.statusText}.`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** The contract at `url` read with the app's rules, and every file it names, each checked against its sha256. */
async function loadModel(url) {
  const text = new TextDecoder().decode(await fetchBytes(url, "the contract"));
  const source = url.split("/").pop();
  const contract = Contract.parse(text, source);
  const base = url.slice(0, url.lastIndexOf("/") + 1);
  const files = new Map();
  for (const name of contract.allFiles()) {
    const bytes = await fetchBytes(base + encodeURIComponent(name), `${name}, named by ${source}`);
    contract.checkDigest(name, await sha256Hex(bytes));
    files.set(name, bytes);
  }
  return {contract, files, url};
}

async function modelFor(target) {
  if (!(target in app.models)) {
    const entry = app.config.models.find((m) => m.target === target);
    app.models[target] = entry ? await loadModel(entry.contract) : null;
  }
  return app.models[target];
}

function runtimeOf(backend) {
  return app.config.runtimes[BACKENDS[backend].runtime] || {installed: false};
}

/** One init and one step on a blank frame with a box in the middle: what LiteRT.js refuses at run time shows here. */
async function smokeTest(runner, contract) {
  const {height, width} = contract;
  const tracker = new Tracker(contract, runner);
  const frame = new Float32Array(3 * height * width).fill(0.5);
  const {mask} = boxMask([width / 4, height / 4, (3 * width) / 4, (3 * height) / 4], height, width);
  await tracker.init(frame, mask);
  const {prob} = await tracker.step(frame);
  tracker.reset();
  if (prob.length !== height * width || !prob.every(Number.isFinite)) {
    throw new BackendError(`${runner.label} returned a probability map with ${prob.length} values, some not finite`);
  }
}

/** The backends to try, in order: the one asked for, then ONNX Runtime Web when it was LiteRT.js. */
function plan(requested, primaryTarget) {
  const first = requested === "auto" ? (primaryTarget === "onnx" ? "ort-wasm" : "litert-wasm") : requested;
  const order = [first];
  if (BACKENDS[first].runtime === "litert") order.push(BACKENDS[first].accelerator === "webgpu" ? "ort-webgpu" : "ort-wasm");
  if (order[order.length - 1] === "ort-webgpu") order.push("ort-wasm");
  return order;
}

/** Opens the first backend of the plan that loads the model and runs it; a contract the file contradicts is an error. */
async function chooseBackend(requested) {
  const primary = app.config.models[0].target;
  for (const backend of plan(requested, primary)) {
    const spec = BACKENDS[backend];
    const runtime = runtimeOf(backend);
    if (!runtime.installed) {
      app.attempts.push({backend, reason: `${runtime.name || spec.runtime} is not installed beside the server (${runtime.problem || "run mobileseg demo --install-runtimes"})`});
      continue;
    }
    const model = await modelFor(spec.target);
    if (model === null) {
      app.attempts.push({backend, reason: `there is no ${spec.target} export beside the model (export it with --target ${spec.target})`});
      continue;
    }
    say(`Loading ${model.contract.allFiles().join(", ")} into ${spec.label}…`);
    let runner = null;
    try {
      runner = await openBackend(backend, model.contract, model.files, {threads: app.threads});
      model.contract.checkModel(runner.describe());
      await smokeTest(runner, model.contract);
      return {runner, model};
    } catch (ex) {
      if (runner) runner.close();
      if (ex instanceof ContractError) throw ex;
      const why = ex instanceof BackendError ? ex.message : `${spec.label} could not run ${model.contract.allFiles().join(", ")}: ${ex && ex.message || ex}`;
      app.attempts.push({backend, reason: why});
    }
  }
  throw new BackendError("No backend could run the model: " + app.attempts.map((a) => `${a.backend}: ${a.reason}`).join("; "));
}

// -- the camera ----------------------------------------------------------------------------------------------------

async function openCamera(video) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new CameraError(window.isSecureContext
      ? "This browser offers no camera to web pages (navigator.mediaDevices.getUserMedia is missing). Open the page in a current Chrome, Edge, Firefox or Safari."
      : `This page is not a secure context (${location.origin}): browsers give the camera only to https:// pages and to http://localhost. `
        + "Open it as http://localhost:PORT on the machine that runs `mobileseg demo`, or start the server with --cert and --key and open its https:// address.");
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: false, video: {facingMode: "environment", width: {ideal: 1280}, height: {ideal: 720}}});
  } catch (ex) {
    const name = ex && ex.name;
    const detail = `${name}: ${ex && ex.message}`;
    if (name === "NotAllowedError" || name === "SecurityError") {
      throw new CameraError(`The camera was denied (${detail}). Allow the camera for this page (the camera icon in the address bar, or the site's settings), then reload.`);
    }
    if (name === "NotFoundError" || name === "OverconstrainedError") {
      throw new CameraError(`No camera was found (${detail}). Connect a camera, or open this page on a phone.`);
    }
    if (name === "NotReadableError" || name === "AbortError") {
      throw new CameraError(`The camera could not be started (${detail}): another program may be using it. Close it, then reload.`);
    }
    throw new CameraError(`The camera could not be opened (${detail}).`);
  }
  video.srcObject = stream;
  await video.play();
  if (!video.videoWidth) {
    await new Promise((resolve) => video.addEventListener("loadedmetadata", resolve, {once: true}));
  }
}

const canvas = document.createElement("canvas");
const canvasContext = canvas.getContext("2d", {willReadFrequently: true});

/** The frame the video shows now, as RGBA bytes at the camera's own size. */
function capture(video) {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  canvasContext.drawImage(video, 0, 0, width, height);
  return {rgba: canvasContext.getImageData(0, 0, width, height).data, width, height};
}

/** 12 x 8 mean grey levels of a frame: enough for a test to tell which frame of its video the page saw. */
function thumbnail(frame) {
  const cols = 12;
  const rows = 8;
  const out = new Array(cols * rows).fill(0);
  const counts = new Array(cols * rows).fill(0);
  const step = Math.max(1, Math.floor(Math.min(frame.width, frame.height) / 64));
  for (let y = 0; y < frame.height; y += step) {
    const r = Math.min(rows - 1, Math.floor((y * rows) / frame.height));
    for (let x = 0; x < frame.width; x += step) {
      const c = Math.min(cols - 1, Math.floor((x * cols) / frame.width));
      const i = 4 * (y * frame.width + x);
      out[r * cols + c] += (frame.rgba[i] + frame.rgba[i + 1] + frame.rgba[i + 2]) / 3;
      counts[r * cols + c]++;
    }
  }
  return out.map((v, i) => v / Math.max(1, counts[i]));
}

// -- drawing -------------------------------------------------------------------------------------------------------

const maskCanvas = document.createElement("canvas");

function geometry(frame) {
  const {height, width} = app.tracker.contract;
  if (!app.converter || !app.converter.matches(frame.width, frame.height)) {
    app.converter = new FrameConverter(frame.width, frame.height, height, width);
    app.overlay = new Overlay(height, width);
    maskCanvas.width = width;
    maskCanvas.height = height;
    $("stage").style.aspectRatio = `${frame.width} / ${frame.height}`;
  }
  const stage = $("stage");
  const room = window.innerHeight - stage.getBoundingClientRect().top - 56; // the whole video and the speed line in the window
  const parent = getComputedStyle(stage.parentElement);
  const across = stage.parentElement.clientWidth - parseFloat(parent.paddingLeft) - parseFloat(parent.paddingRight);
  const fit = Math.max(240, Math.min(across, room * frame.width / frame.height));
  if (Math.abs(stage.getBoundingClientRect().width - fit) > 1) stage.style.width = `${fit}px`;
  const view = $("view");
  const rect = view.getBoundingClientRect();
  if (!app.mapping || app.mapping.viewWidth !== rect.width || app.mapping.viewHeight !== rect.height) {
    view.width = Math.round(rect.width * devicePixelRatio);
    view.height = Math.round(rect.height * devicePixelRatio);
    app.mapping = new ViewMapping(app.converter, rect.width, rect.height);
  }
}

function draw() {
  const view = $("view");
  const g = view.getContext("2d");
  if (!app.mapping) return;
  g.setTransform(devicePixelRatio, 0, 0, devicePixelRatio, 0, 0);
  g.clearRect(0, 0, app.mapping.viewWidth, app.mapping.viewHeight);
  const [left, top, right, bottom] = app.mapping.modelRectInView();
  g.fillStyle = "rgba(0, 0, 0, 0.45)"; // what the model does not see
  g.fillRect(0, 0, app.mapping.viewWidth, top);
  g.fillRect(0, bottom, app.mapping.viewWidth, app.mapping.viewHeight - bottom);
  g.fillRect(0, top, left, bottom - top);
  g.fillRect(right, top, app.mapping.viewWidth - right, bottom - top);
  if (app.prob && app.tracker.started()) {
    app.overlay.render(app.prob, app.tracker.contract.maskThreshold, MASK_COLOUR);
    maskCanvas.getContext("2d").putImageData(app.overlay.image, 0, 0);
    g.imageSmoothingEnabled = true;
    g.drawImage(maskCanvas, left, top, right - left, bottom - top);
  }
  if (app.drag) {
    g.strokeStyle = "#ffeb3b";
    g.lineWidth = 2;
    g.setLineDash([6, 4]);
    const {ax, ay, bx, by} = app.drag;
    g.strokeRect(Math.min(ax, bx), Math.min(ay, by), Math.abs(bx - ax), Math.abs(by - ay));
    g.setLineDash([]);
  }
}

function showSpeed() {
  const ms = app.clock.msPerFrame();
  const fps = app.clock.fps();
  const runner = app.runner;
  const where = `${runner.label}${runner.accelerator === "wasm" ? `, ${runner.threads} thread${runner.threads === 1 ? "" : "s"}` : ""}`;
  $("speed").textContent = app.tracker.started()
    ? `${Number.isNaN(ms) ? "–" : ms.toFixed(1)} ms/frame · ${Number.isNaN(fps) ? "–" : fps.toFixed(1)} FPS · init ${app.msInit.toFixed(1)} ms · ${where}`
    : where;
}

// -- the frame loop ------------------------------------------------------------------------------------------------

function toBase64(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function record(kind, frame, tensor, prob, ms, entry) {
  if (app.records.length > RECORD) return;
  app.records.push({kind, entry, width: frame.width, height: frame.height, rgba: toBase64(frame.rgba), tensor: toBase64(tensor),
    prob: toBase64(prob), ms, box: app.box});
}

let pending = false;
let busy = false;

function sameFrame(a, b) {
  if (a.width !== b.width || a.height !== b.height) return false;
  const x = new Uint32Array(a.rgba.buffer, a.rgba.byteOffset, a.rgba.byteLength / 4);
  const y = new Uint32Array(b.rgba.buffer, b.rgba.byteOffset, b.rgba.byteLength / 4);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

async function processFrames() {
  if (busy) return;
  busy = true;
  try {
    while (pending && !app.held && !app.benchmarking && app.phase !== "error") {
      pending = false;
      const frame = capture($("video"));
      if (app.after && sameFrame(frame, app.after)) continue; // the held frame again, shown once more as the video resumes
      app.after = null;
      app.last = frame;
      if (RECORD) app.thumb = thumbnail(frame);
      geometry(frame);
      if (app.tracker.started()) {
        const tensor = app.converter.convert(frame.rgba);
        const t0 = performance.now();
        const {prob, entry} = await app.tracker.step(tensor);
        const ms = performance.now() - t0;
        if (!app.tracker.started()) continue; // Reset while the step ran: its mask is not shown
        app.prob = prob;
        app.frames++;
        app.clock.tick(performance.now(), ms);
        if (RECORD) record("step", frame, tensor, prob, ms, entry);
      }
      draw();
      showSpeed();
    }
  } catch (ex) {
    fail(`Tracking stopped: ${ex && ex.message || ex}`);
  } finally {
    busy = false;
  }
}

function watchFrames(video) {
  if (typeof video.requestVideoFrameCallback === "function") {
    const tick = () => {
      pending = true;
      processFrames();
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  } else {
    let lastTime = -1;
    const poll = () => {
      if (video.currentTime !== lastTime) {
        lastTime = video.currentTime;
        pending = true;
        processFrames();
      }
      requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
  }
}

// -- the box -------------------------------------------------------------------------------------------------------

function viewPoint(event) {
  const rect = $("view").getBoundingClientRect();
  return [event.clientX - rect.left, event.clientY - rect.top];
}

function onPress(event) {
  if (app.phase !== "ready" && app.phase !== "tracking") return;
  if (!app.mapping) return;
  event.preventDefault();
  $("view").setPointerCapture(event.pointerId);
  const video = $("video");
  video.pause(); // the frame you see is the frame the box is drawn on
  app.held = capture(video);
  const [x, y] = viewPoint(event);
  app.drag = {ax: x, ay: y, bx: x, by: y};
  draw();
}

function onMove(event) {
  if (!app.drag) return;
  const [x, y] = viewPoint(event);
  app.drag.bx = x;
  app.drag.by = y;
  draw();
}

async function onRelease(event) {
  if (!app.drag) return;
  const [x, y] = viewPoint(event);
  app.drag.bx = x;
  app.drag.by = y;
  const {ax, ay, bx, by} = app.drag;
  const held = app.held;
  app.drag = null;
  const video = $("video");
  const box = app.mapping.viewBoxToModel(ax, ay, bx, by);
  try {
    if (box[2] - box[0] < MIN_BOX || box[3] - box[1] < MIN_BOX) {
      say(app.tracker.started() ? app.message : "Drag a box around the object (press, drag, let go) to start tracking.");
      draw();
      return;
    }
    const {height, width} = app.tracker.contract;
    const tensor = app.converter.convert(held.rgba);
    const {mask} = boxMask(box, height, width);
    app.clock.reset();
    const t0 = performance.now();
    await app.tracker.init(tensor, mask);
    app.msInit = performance.now() - t0;
    app.box = box;
    app.after = held; // init ran on it: the next step needs a newer frame
    app.prob = mask; // the box is the first overlay
    app.frames = 1;
    app.phase = "tracking";
    app.records = [];
    if (RECORD) record("init", held, tensor, mask, app.msInit, "init");
    say("Tracking. Drag a new box to follow another object; Reset forgets it.");
    $("reset").disabled = false;
    draw();
    showSpeed();
  } catch (ex) {
    fail(`init failed: ${ex && ex.message || ex}`);
  } finally {
    app.held = null;
    video.play().catch(() => {});
  }
}

function onReset() {
  app.tracker.reset();
  app.prob = null;
  app.box = null;
  app.clock.reset();
  app.phase = "ready";
  $("reset").disabled = true;
  say("Drag a box around the object (press, drag, let go) to start tracking.");
  draw();
  showSpeed();
}

// -- start ---------------------------------------------------------------------------------------------------------

async function start() {
  const select = $("backend");
  const requested = params.get("backend") || "auto";
  select.value = requested in BACKENDS ? requested : "auto";
  select.addEventListener("change", () => {
    params.set("backend", select.value);
    location.search = params.toString();
  });
  $("reset").addEventListener("click", onReset);
  const missing = missingFeatures(requested);
  if (missing.length) {
    fail(`This browser lacks what the page needs: ${missing.join("; ")}.`);
    return;
  }
  try {
    app.config = await (await fetch("demo.json", {cache: "no-store"})).json();
  } catch (ex) {
    fail(`Could not read demo.json from the server (${ex.message}); is \`mobileseg demo\` running?`);
    return;
  }
  app.threads = Math.max(1, parseInt(params.get("threads") || app.config.threads || "1", 10) || 1);
  if (requested !== "auto" && !(requested in BACKENDS)) {
    fail(`Unknown backend ${requested}; choose one of auto, ${Object.keys(BACKENDS).join(", ")}.`);
    return;
  }
  try {
    await modelFor(app.config.models[0].target); // the model's own contract first: its message, if it has one
    const {runner, model} = await chooseBackend(requested);
    app.runner = runner;
    app.backend = runner.backend;
    app.tracker = new Tracker(model.contract, runner);
    const first = app.attempts[0];
    if (first) {
      notice(`${BACKENDS[first.backend].label} could not run the model: ${first.reason}. `
        + `Running ${model.contract.allFiles().join(", ")} with ${runner.label} instead.`
        + (app.attempts.length > 1 ? " Also tried: " + app.attempts.slice(1).map((a) => `${a.backend}: ${a.reason}`).join("; ") : ""));
    }
    if (runner.delegation) {
      notice(`${runner.label} does not run the whole graph on the GPU: ${runner.delegation}. The rest runs on the CPU (WebAssembly).`);
    }
    const c = model.contract;
    $("model").textContent = `${c.allFiles().join(", ")} · ${c.height}×${c.width} · state ${c.stateNames().join(", ")} fed back by the contract `
      + `(${c.source}) · sha256 checked · ${runner.label}`;
  } catch (ex) {
    fail(ex instanceof ContractError || ex instanceof BackendError ? ex.message : `The model could not be loaded: ${ex && ex.message || ex}`);
    return;
  }
  const video = $("video");
  try {
    await openCamera(video);
  } catch (ex) {
    fail(ex instanceof CameraError ? ex.message : `The camera could not be opened: ${ex && ex.message || ex}`);
    return;
  }
  $("stage").hidden = false;
  const view = $("view");
  view.addEventListener("pointerdown", onPress);
  view.addEventListener("pointermove", onMove);
  view.addEventListener("pointerup", onRelease);
  view.addEventListener("pointercancel", onRelease);
  app.phase = "ready";
  say("Drag a box around the object (press, drag, let go) to start tracking.");
  showSpeed();
  watchFrames(video);
}

// -- for tests and benchmarks --------------------------------------------------------------------------------------

/** Frame i of an endless forwards-backwards replay of a clip of `length` frames (mobileseg.bench.host.frame_index). */
function frameIndex(i, length) {
  if (length < 2) return 0;
  const period = 2 * (length - 1);
  const k = i % period;
  return k < length ? k : period - k;
}

/**
 * Times `backend` like `mobileseg bench`: load, init on the box's frame (the first call), then `warmup` untimed and
 * `frames` timed steps over the recorded frames played forwards and backwards, the state fed back. Returns the times
 * and the probabilities of the first pass over the recording (for agreement with Python).
 */
async function bench(options) {
  app.benchmarking = true; // the live loop holds still meanwhile
  while (busy) await new Promise((resolve) => setTimeout(resolve, 10));
  try {
    return await timeBackend(options);
  } finally {
    if (app.runner && app.runner.stale) { // LiteRT.js was loaded again for another backend: reopen the live one
      app.tracker.reset();
      app.runner = await openBackend(app.backend, app.tracker.contract, app.models[BACKENDS[app.backend].target].files, {threads: app.threads});
      app.tracker = new Tracker(app.tracker.contract, app.runner);
      app.prob = null;
      app.box = null;
      if (app.phase === "tracking") {
        app.phase = "ready";
        $("reset").disabled = true;
        say("The benchmark reloaded LiteRT.js: drag a box again to start tracking.");
      }
    }
    app.benchmarking = false;
  }
}

async function timeBackend({backend, warmup = 3, frames = 30, threads = app.threads}) {
  const spec = BACKENDS[backend];
  if (!spec) throw new Error(`unknown backend ${backend}`);
  const model = await modelFor(spec.target);
  if (model === null) throw new Error(`no ${spec.target} export beside the model`);
  const {contract} = model;
  let inputs = app.records.map((r) => new Float32Array(Uint8Array.from(atob(r.tensor), (ch) => ch.charCodeAt(0)).buffer));
  let box = app.records.length ? app.records[0].box : null;
  if (inputs.length < 2) { // no recording: generated frames (the cost of these networks does not depend on the content)
    inputs = Array.from({length: 8}, (_, k) => Float32Array.from({length: 3 * contract.height * contract.width}, (_, i) => ((i * 7919 + k * 104729) % 1000) / 1000));
    box = [contract.width / 4, contract.height / 4, (3 * contract.width) / 4, (3 * contract.height) / 4];
  }
  const t0 = performance.now();
  const runner = await openBackend(backend, contract, model.files, {threads});
  const loadMs = performance.now() - t0;
  try {
    contract.checkModel(runner.describe());
    const tracker = new Tracker(contract, runner);
    const {mask} = boxMask(box, contract.height, contract.width);
    let t = performance.now();
    await tracker.init(inputs[0], mask);
    const initMs = performance.now() - t;
    const steps = [];
    const probs = [];
    for (let i = 1; i <= warmup + frames; i++) {
      const frame = inputs[frameIndex(i, inputs.length)];
      t = performance.now();
      const {prob} = await tracker.step(frame);
      const ms = performance.now() - t;
      if (i < inputs.length) probs.push(toBase64(prob));
      if (i > warmup) steps.push(ms);
    }
    tracker.reset();
    return {backend, label: runner.label, accelerator: runner.accelerator, threads: runner.threads, loadMs, initMs, stepMs: steps,
      probs, delegation: runner.delegation, delegateLog: runner.delegateLog || [], fullyAccelerated: runner.fullyAccelerated,
      files: contract.allFiles(), size: [contract.height, contract.width]};
  } finally {
    runner.close();
  }
}

/** The app's Probe output for contract text: "ok HxW MODEL state=a,b" or "rejected: MESSAGE". */
function probeContract(text, source) {
  try {
    const c = Contract.parse(text, source);
    return `ok ${c.height}x${c.width} ${c.modelFile} state=${c.stateNames().join(",")}`;
  } catch (ex) {
    if (ex instanceof ContractError) return `rejected: ${ex.message}`;
    throw ex;
  }
}

window.mobilesegDemo = {
  status: () => ({
    phase: app.phase, message: app.message, notice: app.notice, backend: app.backend, label: app.runner && app.runner.label,
    threads: app.runner && app.runner.threads, attempts: app.attempts, frames: app.frames, box: app.box, thumb: app.thumb,
    held: app.held !== null, msPerFrame: app.clock.msPerFrame(), fps: app.clock.fps(), speed: $("speed").textContent,
    video: app.last && [app.last.width, app.last.height], records: app.records.length,
  }),
  records: () => app.records,
  /** Client (viewport) coordinates of model pixel (x, y): where a test presses to draw a box. */
  modelToClient: (x, y) => {
    const rect = $("view").getBoundingClientRect();
    const [vx, vy] = app.mapping.modelToView(x, y);
    return [rect.left + vx, rect.top + vy];
  },
  bench,
  probeContract,
  fix: FIX,
  webgpuAdapter,
};

start();
