"""A stand-in for TFLite / LiteRT's ``benchmark_model`` used by the tests: not the real tool.

It runs the ``.tflite`` for real on this machine with ai-edge-litert, and copies the real tool's
validation, matching of inputs, output format and exit status from its source (LiteRT
``tflite/tools/benchmark/``; the TensorFlow-era file at ``tensorflow/lite/tools/benchmark/``):

- ``benchmark_tflite_model.cc`` ``PopulateInputLayerInfo``: ``--input_layer`` split on ``,``,
  ``--input_layer_shape`` on ``:`` (a count mismatch is an ERROR and exit 1, an unparsable shape
  FATAL); ``--input_layer_value_files`` items ``NAME:FILE`` split by
  ``SplitInputLayerNameAndValueFile`` (``::`` escapes a colon; TF era: exactly one ``:``), and
  ``FindLayerInfoIndex`` aborts when NAME is not in ``--input_layer``: "FATAL: Cannot find the
  corresponding input_layer name(NAME) in --input_layer as NAMES", then ``std::abort()``.
- ``BenchmarkInterpreterRunner::Create``: LiteRT >= 2.1.5 refuses a missing or unknown
  ``--signature_to_run_for`` on a graph of several signatures ("Signature not specified or
  incorrect. Pass one of ..." + `` #> Signature key:`` lines); the TF-era code
  (``STANDIN_BENCHMARK_MODEL=tf``) runs the primary subgraph when the flag is empty and has the
  longer message for a wrong key. Both end "ERROR: Benchmarking failed." and exit 1 (``benchmark_main.cc``).
- ``BenchmarkTfLiteModel::Init``: the infos are matched to the signature subgraph's inputs **by
  position**: a count mismatch is FATAL ("Inputs mismatch: Model inputs #:N expected: M"), a name
  that differs from the tensor's only warns, a rank mismatch is an error. ``LoadInputTensorData``:
  an unreadable file or one whose byte size is not the tensor's is FATAL. Inputs without a file
  get random values.
- ``benchmark_model.cc`` ``Run`` and ``tsl::Stat::OutputToStream``: the statistics line of the
  warm-up and of the timed runs, integers except ``avg`` (C++ stream default: 6 significant
  digits, so ``2.95034e+06``), the short forms ``count=1 curr=C`` and ``curr=C(all same)``,
  LiteRT's `` p5= median= p95=``; then "Inference timings in us: ..." and the memory lines. LiteRT
  prefixes its lines ``INFO: `` / ``WARN: `` (stdout) and ``ERROR: `` / ``FATAL: `` (stderr); the
  TF-era tool printed them bare and "Peak memory footprint (MB)".

Not emulated: resizing an input to another shape (refused with a stand-in message), delegates
(the runtime's "Replacing N out of M node(s)" lines; the parser is tested on them), and timings
(this machine's). ``STANDIN_RUNNER_OUTPUTS=DIR`` saves the last run's outputs as
``DIR/<signature>.<output>.npy``, so a test can check which file fed which input.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

LITERT = os.environ.get("STANDIN_BENCHMARK_MODEL", "litert") != "tf"


def log(level: str, message: str) -> None:
    """``tflite::logging::LoggingWrapper``: INFO/WARN to stdout, ERROR/FATAL to stderr; LiteRT prefixes the level."""
    stream = sys.stdout if level in ("INFO", "WARN") else sys.stderr
    print(f"{level}: {message}" if LITERT else message, file=stream, flush=True)


def fatal(message: str) -> None:
    """``TFLITE_LOG(FATAL)``: the message, then ``std::abort()`` (SIGABRT, status 134 in a shell)."""
    log("FATAL", message)
    sys.stdout.flush()
    os.abort()


def failed(message: str | None) -> int:
    """An error returned up to ``benchmark_main.cc``: the message (if any), "Benchmarking failed." and EXIT_FAILURE."""
    if message is not None:
        log("ERROR", message)
    log("ERROR", "Benchmarking failed.")
    return 1


def double(value: float) -> str:
    """A double on a C++ ostream with default flags: 6 significant digits, ``%g``-like."""
    return f"{value:g}"


def stat_line(times_us: list[int], percentiles: bool) -> str:
    """``Stat<int64_t>::OutputToStream`` (+ ``StatWithPercentiles``): the exact text for these run times."""
    if not times_us:
        text = "count=0"
    elif len(set(times_us)) == 1:
        text = f"count={len(times_us)} curr={times_us[-1]}" + ("(all same)" if len(times_us) > 1 else "")
    else:
        count = len(times_us)
        avg = sum(times_us) / count
        variance = int(sum(t * t for t in times_us) / count - avg * avg)  # truncated to int64, as in the source
        text = (f"count={count} first={times_us[0]} curr={times_us[-1]} min={min(times_us)} max={max(times_us)} "
                f"avg={double(avg)} std={int(math.sqrt(max(variance, 0)))}")
    if percentiles:
        ordered = sorted(times_us)
        pick = lambda p: ordered[len(ordered) * p // 100] if ordered else 0  # noqa: E731  (nth_element at size*p/100)
        text += f" p5={pick(5)} median={pick(50)} p95={pick(95)}"
    return text


def split_value_file(item: str) -> tuple[str, str] | None:
    """``SplitInputLayerNameAndValueFile`` (LiteRT: one ``:`` that is not part of ``::``); TF era: exactly one ``:``."""
    if not LITERT:
        parts = item.split(":")
        return (parts[0], parts[1]) if len(parts) == 2 else None
    delimiters = [i for i in range(len(item)) if item[i] == ":" and item[i - 1 : i] != ":" and item[i + 1 : i + 2] != ":"]
    if len(delimiters) != 1:
        return None
    i = delimiters[0]
    return item[:i].replace("::", ":"), item[i + 1 :].replace("::", ":")


def primary_signature(model: bytes) -> str | None:
    """The signature whose subgraph is subgraph 0 (what the tool runs without a signature key)."""
    tree = schema.Model.GetRootAsModel(model, 0)
    keys = [tree.SignatureDefs(i) for i in range(tree.SignatureDefsLength())]
    return next((d.SignatureKey().decode() for d in keys if d.SubgraphIndex() == 0), None)


def subgraph_inputs(model: bytes, key: str) -> list[tuple[str, int, str, tuple[int, ...]]]:
    """(signature name, tensor index, tensor name, shape) of the signature's subgraph inputs, in the
    subgraph's order (``BenchmarkInterpreterRunner::inputs``: ``subgraph_->inputs()``)."""
    tree = schema.Model.GetRootAsModel(model, 0)
    index, names = 0, {}
    for i in range(tree.SignatureDefsLength()):
        definition = tree.SignatureDefs(i)
        if definition.SignatureKey().decode() == key:
            index = definition.SubgraphIndex()
            names = {definition.Inputs(j).TensorIndex(): definition.Inputs(j).Name().decode() for j in range(definition.InputsLength())}
    subgraph = tree.Subgraphs(index)
    out = []
    for j in range(subgraph.InputsLength()):
        tensor = subgraph.Tensors(subgraph.Inputs(j))
        out.append((names.get(subgraph.Inputs(j), ""), subgraph.Inputs(j), tensor.Name().decode(), tuple(int(d) for d in tensor.ShapeAsNumpy())))
    return out


def main(args: list[str]) -> int:  # noqa: C901  (one straight pass through the real tool's phases)
    log("INFO", "STARTING!")
    options = {}
    for arg in args:
        name, _, value = arg[2:].partition("=")
        options[name] = value
    names = [n for n in options.get("input_layer", "").split(",") if n] if options.get("input_layer") else []
    shapes = options.get("input_layer_shape", "").split(":") if options.get("input_layer_shape") else []
    if len(names) != len(shapes):
        return failed(f"The number of items in --input_layer_shape ({options.get('input_layer_shape', '')}, with {len(shapes)} items) "
                      f"must match the number of items in --input_layer ({options.get('input_layer', '')}, with {len(names)} items). "
                      "For example --input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20")
    dims = []
    for shape in shapes:
        try:
            dims.append(tuple(int(d) for d in shape.split(",")))
        except ValueError:
            fatal(f"Incorrect size string specified: {shape}")
    files: dict[str, str] = {}
    for item in filter(None, options.get("input_layer_value_files", "").split(",")):
        pair = split_value_file(item)
        if pair is None:
            return failed(f"Wrong input value file item specified: {item}")
        if pair[0] not in names:
            fatal(f"Cannot find the corresponding input_layer name({pair[0]}) in --input_layer as {options.get('input_layer', '')}")
        files[pair[0]] = pair[1]
    graph = options.get("graph", "")
    log("INFO", "Log parameter values verbosely: [0]")
    for flag, title in (("num_threads", "Num threads"), ("graph", "Graph"), ("signature_to_run_for", "Signature to run"),
                        ("num_runs", "Min num runs"), ("warmup_runs", "Min warmup runs")):
        if flag in options:
            log("INFO", f"{title}: [{options[flag]}]")
    if not graph:
        return failed("Please specify the name of your TF Lite input file with --graph")
    try:
        model = Path(graph).read_bytes()
        interpreter = Interpreter(model_content=model, num_threads=int(options.get("num_threads", "-1")))
    except (OSError, ValueError):
        return failed(f"Failed to load model {graph}")
    log("INFO", f"Loaded model {graph}")
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    start_rss, began = rss(), time.perf_counter()
    keys = list(interpreter.get_signature_list())
    key = options.get("signature_to_run_for") or None
    if key is not None and not keys:
        return failed("Signature key is specified, but the model does not have any signatures.")
    if (key is not None and key not in keys and (LITERT or len(keys) > 1)) or (key is None and len(keys) > 1 and LITERT):
        log("ERROR", "Signature not specified or incorrect. Pass one of the following to the flag \"--signature_to_run_for\"" if LITERT else
                     "Signature not specified or incorrect for graph with multiple signatures. Pass one of the following to the flag "
                     "\"--signature_to_run_for\"")
        for k in keys:
            log("ERROR", f" #> Signature key: {k}")
        return failed(None)
    if key is not None and key not in keys:  # TF era, one signature, a wrong key: an error without a message
        return failed(None)
    if key is None:  # the primary subgraph (subgraph 0), whose signature this stand-in runs
        key = primary_signature(model) or keys[0]
    else:
        log("INFO", f"Using signature: {key}")
    runner = interpreter.get_signature_runner(key)
    inputs = subgraph_inputs(model, key)
    if names and len(names) != len(inputs):
        fatal(f"Inputs mismatch: Model inputs #:{len(names)} expected: {len(inputs)}")
    for position, (flag_name, shape) in enumerate(zip(names, dims)):
        _, index, tensor, model_shape = inputs[position]
        if flag_name != tensor:
            log("WARN", f"Tensor # {index} is named {tensor} but flags call it {flag_name}")
        if len(shape) != len(model_shape):
            return failed(f"Input tensor #{index} should have {len(model_shape)} dimensions!")
        if shape != model_shape:
            print(f"stand-in benchmark_model: resizing input {tensor} from {model_shape} to {shape} is not emulated", file=sys.stderr)
            return 1
    init_us = int(1e6 * (time.perf_counter() - began))
    init_rss = rss() - start_rss
    log("INFO", f"The input model file size (MB): {double(len(model) / 1e6)}")
    log("INFO", f"Initialized session in {double(init_us / 1e3)}ms.")
    feeds = {}
    for position, (signature_name, _, _, shape) in enumerate(inputs):
        path = files.get(names[position]) if position < len(names) else None
        if path is None:
            feeds[signature_name] = np.random.rand(*shape).astype(np.float32)
            continue
        try:
            raw = Path(path).read_bytes()
        except OSError:
            fatal(f"Failed to read the input_layer_value_file:{path}")
        expected = 4 * int(np.prod(shape))
        if len(raw) != expected:
            fatal(f"The size of {path} is {len(raw)} bytes. It should be {expected} bytes.")
        feeds[signature_name] = np.frombuffer(raw, dtype="<f4").reshape(shape)

    outputs: dict[str, np.ndarray] = {}

    def timed(count: int) -> list[int]:
        nonlocal outputs
        out = []
        for _ in range(count):
            t = time.perf_counter()
            outputs = runner(**feeds)
            out.append(int(1e6 * (time.perf_counter() - t)))
        return out

    warm_runs, runs = max(1, int(options.get("warmup_runs", "1"))), max(1, int(options.get("num_runs", "50")))
    log("INFO", f"Running benchmark for at least {warm_runs} iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.")
    warm = timed(warm_runs)
    log("INFO", stat_line(warm, LITERT) + "\n")
    log("INFO", f"Running benchmark for at least {runs} iterations and at least 1 seconds but terminate if exceeding 150 seconds.")
    timings = timed(runs)
    log("INFO", stat_line(timings, LITERT) + "\n")
    log("INFO", f"Inference timings in us: Init: {init_us}, First inference: {warm[0]}, Warmup (avg): {double(sum(warm) / len(warm))}, "
                f"Inference (avg): {double(sum(timings) / len(timings))}")
    log("INFO", "Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual "
                "memory footprint of the model at runtime. Take the information at your discretion.")
    memory = "Memory footprint delta from the start of the tool (MB)" if LITERT else "Peak memory footprint (MB)"
    log("INFO", f"{memory}: init={double(init_rss)} overall={double(rss() - start_rss)}")
    if options.get("report_peak_memory_footprint") == "true" and LITERT:
        log("INFO", f"Overall peak memory footprint (MB) via periodic monitoring: {double(rss())}")
    saved = os.environ.get("STANDIN_RUNNER_OUTPUTS")
    if saved:
        for name, value in outputs.items():
            np.save(Path(saved) / f"{key}.{name}.npy", value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
