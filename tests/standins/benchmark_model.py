"""A stand-in for TFLite's ``benchmark_model`` used by the tests: not the real tool.

It takes the real tool's flags, runs the ``.tflite`` for real on this machine with ai-edge-litert
(the input files must have exactly the byte size of each signature input), and prints its
timings in the real tool's output format (shared/TOOLS.md). With several signatures and no
``--signature_to_run_for`` it fails with the real tool's message.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def flags(args: list[str]) -> dict[str, str]:
    return dict(arg[2:].split("=", 1) for arg in args if arg.startswith("--") and "=" in arg)


def line(times_us: list[float], percentiles: bool) -> str:
    text = (f"count={len(times_us)} first={int(times_us[0])} curr={int(times_us[-1])} min={int(min(times_us))} "
            f"max={int(max(times_us))} avg={statistics.fmean(times_us):g} std={int(statistics.pstdev(times_us))}")
    if percentiles:
        ordered = sorted(times_us)
        pick = lambda q: int(ordered[min(len(ordered) - 1, int(q * len(ordered)))])  # noqa: E731
        text += f" p5={pick(0.05)} median={pick(0.5)} p95={pick(0.95)}"
    return text


def main(args: list[str]) -> int:
    options = flags(args)
    rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # noqa: E731
    start_rss = rss()
    began = time.perf_counter()
    interpreter = Interpreter(model_path=options["graph"], num_threads=int(options.get("num_threads", "1")))
    signatures = interpreter.get_signature_list()
    key = options.get("signature_to_run_for")
    if key not in signatures:
        if len(signatures) > 1 or key is not None:
            print('Signature not specified or incorrect for graph with multiple signatures. Pass one of the following to the flag "--signature_to_run_for"')
            for name in signatures:
                print(f" #> Signature key: {name}")
            return 1
        key = next(iter(signatures))
    runner = interpreter.get_signature_runner(key)
    init_us = 1e6 * (time.perf_counter() - began)
    init_rss = rss() - start_rss
    details = runner.get_input_details()
    feeds = {}
    for item in filter(None, options.get("input_layer_value_files", "").split(",")):
        name, path = item.split(":", 1)
        shape = tuple(int(d) for d in details[name]["shape"])
        data = np.fromfile(path, dtype="<f4")
        if data.size != int(np.prod(shape)):
            print(f"ERROR: {path} holds {data.size} values, input {name} needs {shape}", file=sys.stderr)
            return 1
        feeds[name] = data.reshape(shape)
    missing = sorted(set(details) - set(feeds))
    for name in missing:
        feeds[name] = np.random.rand(*details[name]["shape"]).astype(np.float32)

    def timed(count: int) -> list[float]:
        out = []
        for _ in range(count):
            t = time.perf_counter()
            runner(**feeds)
            out.append(1e6 * (time.perf_counter() - t))
        return out

    print(f"Num threads: [{options.get('num_threads', '1')}]")
    print(f"Graph: [{options['graph']}]")
    print(f"Signature to run: [{key}]")
    print("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
    warm = timed(max(1, int(options.get("warmup_runs", "1"))))
    print("Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.")
    print(line(warm, percentiles=False) + "\n")
    runs = timed(int(options.get("num_runs", "50")))
    print("Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.")
    print(line(runs, percentiles=True) + "\n")
    print(f"Inference timings in us: Init: {int(init_us)}, First inference: {int(warm[0])}, "
          f"Warmup (avg): {statistics.fmean(warm):g}, Inference (avg): {statistics.fmean(runs):g}")
    print(f"Memory footprint delta from the start of the tool (MB): init={init_rss:g} overall={rss() - start_rss:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
