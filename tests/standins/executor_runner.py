"""A stand-in for ExecuTorch's ``executor_runner`` used by the tests: not the real tool.

It runs the method of the ``.pte`` for real on this machine with the executorch runtime, and
copies the real tool's flags, checks, log lines and where they go from its source (ExecuTorch
v1.3+, ``examples/portable/executor_runner/executor_runner.cpp`` ``main``; the PALs in
``runtime/platform/default/``):

- flags (gflags ``DEFINE_*``): ``--model_path``, ``--inputs`` (comma-separated files, by position),
  ``--method_name`` (empty: the first method), ``--num_executions``, ``--cpu_threads``,
  ``--print_output`` (none | summary | all), ...; an unknown flag: "ERROR: unknown command line
  flag 'X'" and exit 1 (gflags);
- log lines, written with ``ET_LOG``: "Model file %s is loaded.", "Using method %s", "Model loaded
  in %f ms.", "Iteration %u of %u: %f ms" per run, "Model executed successfully %u time(s) in %f ms.";
- an unknown method: "No method named 'X' in program" (``program.cpp``), then the runner's
  ``ET_CHECK_MSG`` "In function main(), assert failed (method_meta.ok()): Failed to get method_meta
  for X: 0x12" and ``abort()``; a file of the wrong byte size: "input size (N) and tensor size (M)
  mismatch!" (``extension/runner_util/inputs.cpp``), then "... Could not prepare inputs: 0x12" and
  ``abort()``; the wrong number of files: "Wrong number of inputs allocated compared to method  N ? M";
- where the log goes (``STANDIN_ET_PAL``): ``android`` (default; ``android.cpp``:
  ``__android_log_print`` with the tag ``ExecuTorch``, nothing on stdout or stderr) appends to the
  stand-in adb's logcat buffer ``$STANDIN_ADB_ROOT/logcat.jsonl``; ``posix`` (``posix.cpp``) writes
  ``"%c %02u:%02u:%02u.%06lu executorch:%s:%zu] %s"`` lines to stderr. ``STANDIN_ET_LOGGING=off``
  is a build with ``EXECUTORCH_ENABLE_LOGGING=OFF`` (the default of a Release build): ``ET_LOG``
  prints nothing anywhere.

Not emulated: timings (this machine's) and the ``--print_output=summary`` tensor text (a short
line per output). ``STANDIN_RUNNER_OUTPUTS=DIR`` saves the last run's outputs as ``DIR/<method>.<i>.npy``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from executorch.runtime import Runtime

FLAGS = {"model_path": "model.pte", "data_path": "", "inputs": "", "output_file": "", "server_mode": "false", "print_output": "summary",
         "num_executions": "1", "method_name": "", "etdump_path": "model.etdump", "cpu_threads": "-1"}
PAL = os.environ.get("STANDIN_ET_PAL", "android")
LOGGING = os.environ.get("STANDIN_ET_LOGGING", "on") != "off"
STARTED = time.monotonic()
PRIORITY = {"D": 3, "I": 4, "E": 6, "F": 7}  # android_LogPriority of the PAL's levels


def et_log(level: str, line: int, message: str) -> None:
    """``ET_LOG`` through the PAL this stand-in plays."""
    if not LOGGING:
        return
    if PAL == "posix":
        elapsed = time.monotonic() - STARTED
        hours, rest = divmod(int(elapsed), 3600)
        print(f"{level} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{int((elapsed % 1) * 1e6):06d} executorch:executor_runner.cpp:{line}] "
              f"{message}", file=sys.stderr, flush=True)
        return
    entry = {"time": time.time(), "pid": os.getpid(), "tid": os.getpid(), "priority": PRIORITY[level], "tag": "ExecuTorch", "message": message}
    with open(Path(os.environ["STANDIN_ADB_ROOT"]) / "logcat.jsonl", "a") as fh:
        fh.write(json.dumps(entry) + "\n")


def check(ok: bool, condition: str, message: str) -> None:
    """``ET_CHECK_MSG``: a Fatal log line, then ``runtime_abort()`` -> ``std::abort()``."""
    if not ok:
        et_log("F", 0, f"In function main(), assert failed ({condition}): {message}")
        sys.stdout.flush()
        os.abort()


def main(args: list[str]) -> int:
    options = dict(FLAGS)
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        if name not in FLAGS:
            print(f"ERROR: unknown command line flag '{name}'", file=sys.stderr)
            return 1
        options[name] = value
    began = time.perf_counter()
    program = Runtime.get().load_program(options["model_path"])
    et_log("I", 94, f"Model file {options['model_path']} is loaded.")
    name = options["method_name"] or sorted(program.method_names)[0]
    et_log("I", 103, f"Using method {name}")
    if name not in program.method_names:
        et_log("E", 67, f"No method named '{name}' in program")
    check(name in program.method_names, "method_meta.ok()", f"Failed to get method_meta for {name}: 0x12")
    meta = program.metadata(name)
    method = program.load_method(name)
    et_log("I", 150, f"Model loaded in {1000 * (time.perf_counter() - began):f} ms.")
    files = [f for f in options["inputs"].split(",") if f]
    if len(files) != meta.num_inputs():
        et_log("E", 175, f"Wrong number of inputs allocated compared to method  {len(files)} ? {meta.num_inputs()}")
    check(len(files) == meta.num_inputs(), "res.ok()", "Could not prepare inputs: 0x12")
    inputs = []
    for i, path in enumerate(files):
        shape = tuple(meta.input_tensor_meta(i).sizes())
        try:
            raw = Path(path).read_bytes()
        except OSError:
            et_log("E", 160, f"Failed to open input file: {path}")
            check(False, "load_status == Error::Ok", "Could not load inputs: 0x22")
        if len(raw) != 4 * int(np.prod(shape)):
            et_log("E", 180, f"input size ({len(raw)}) and tensor size ({4 * int(np.prod(shape))}) mismatch!")
        check(len(raw) == 4 * int(np.prod(shape)), "res.ok()", "Could not prepare inputs: 0x12")
        inputs.append(torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(shape).copy()))
    count = int(options["num_executions"])
    total, outputs = 0.0, []
    for i in range(count):
        started = time.perf_counter()
        outputs = method.execute(inputs)
        elapsed = 1000 * (time.perf_counter() - started)
        total += elapsed
        et_log("I", 705, f"Iteration {i + 1} of {count}: {elapsed:f} ms")
    et_log("I", 712, f"Model executed successfully {count} time(s) in {total:f} ms.")
    et_log("I", 716, f"{len(outputs)} outputs: ")
    if options["print_output"] != "none":
        for i, output in enumerate(outputs):
            print(f"OutputX {i}: tensor(sizes={list(output.shape)}, ...)")
    saved = os.environ.get("STANDIN_RUNNER_OUTPUTS")
    if saved:
        for i, output in enumerate(outputs):
            np.save(Path(saved) / f"{name}.{i}.npy", output.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
