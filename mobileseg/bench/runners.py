"""The two on-device runners: the exact command lines mobileseg gives them, and where their output is.

TFLite / LiteRT ``benchmark_model`` (``tflite/tools/benchmark/benchmark_tflite_model.cc``): real
inputs go in with ``--input_layer_value_files=NAME:FILE,...``, and every NAME there must also be
in ``--input_layer`` (``FindLayerInfoIndex`` aborts with "Cannot find the corresponding
input_layer name(...)" otherwise), with one ``--input_layer_shape`` per name. The tool matches
those infos to the signature's subgraph inputs **by position** (``Init``: a count mismatch
aborts, a name that differs from the tensor's only warns), so mobileseg lists them in the
subgraph's input order, read from the ``.tflite`` itself, under the tensors' own names
(``step_frame``, ``step_mem_key``, ...). A file must hold exactly the tensor's bytes.

ExecuTorch ``executor_runner`` (``examples/portable/executor_runner/executor_runner.cpp``) takes
``--inputs`` by position in the method's order and logs its timings with ``ET_LOG``. Where those
lines go depends on how it was built: the posix PAL writes them to stderr, the Android PAL
(``EXECUTORCH_PAL_DEFAULT=android``, the ``android`` CMake preset) only to logcat under the tag
``ExecuTorch``, and a Release build of the default presets compiles them out. So the run is
wrapped to print its pid, logcat is cleared before and read after (``-s ExecuTorch:I
--pid=PID``, as ExecuTorch's own ``benchmark_android.sh`` reads it), and a run that printed no
timing anywhere is explained, not misparsed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mobileseg.bench.parsers import ToolOutputError, ToolRun, parse_benchmark_model, parse_executor_runner
from mobileseg.errors import ConfigError

if TYPE_CHECKING:
    import subprocess

    from mobileseg.bench.adb import Adb

RUNNERS = {"tflite": "benchmark_model", "executorch": "executor_runner"}
DELEGATES = {"xnnpack": "--use_xnnpack=true", "gpu": "--use_gpu=true", "nnapi": "--use_nnapi=true"}
ET_TAG = "ExecuTorch"  # the Android PAL's logcat tag (runtime/platform/default/android.cpp)
PID_MARK = "mobileseg-pid:"
_PID = re.compile(rf"^{PID_MARK}(\d+)\s*$", re.M)
_ET_TIMING = re.compile(r"Iteration \d+ of \d+: |Model executed successfully \d+ time")
NO_ET_LOGS = ("{runner} {entry} ran (status {status}) but printed no timing: nothing on stdout or stderr, and nothing in "
              "logcat under the tag ExecuTorch from pid {pid}. This executor_runner was built with its logging compiled out "
              "(a Release build of ExecuTorch's default CMake presets sets EXECUTORCH_ENABLE_LOGGING=OFF). Build it with "
              "logging on: the 'android-arm64-v8a' preset (logging on, written to logcat) or -DEXECUTORCH_ENABLE_LOGGING=ON "
              "(README, 'Benchmarking on a phone').")


@dataclass(frozen=True)
class InputLayer:
    """One input of a ``.tflite`` signature, in its subgraph's order."""

    name: str  # the signature's input name (the contract's: frame, mem_key, ...)
    tensor: str  # the subgraph tensor's own name (step_frame, ...), what benchmark_model compares with
    shape: tuple[int, ...]


def tflite_signature(model: Path, signature: str) -> tuple[int, list[InputLayer]]:
    """The subgraph of ``signature`` in ``model`` and its inputs in that subgraph's input order (what
    ``benchmark_model`` matches ``--input_layer`` against), read from the flatbuffer."""
    from ai_edge_litert import schema_py_generated as schema  # optional toolchain ([tflite] extra)

    tree = schema.Model.GetRootAsModel(model.read_bytes(), 0)
    for i in range(tree.SignatureDefsLength()):
        definition = tree.SignatureDefs(i)
        if (definition.SignatureKey() or b"").decode() != signature:
            continue
        by_tensor = {definition.Inputs(j).TensorIndex(): definition.Inputs(j).Name().decode() for j in range(definition.InputsLength())}
        subgraph = tree.Subgraphs(definition.SubgraphIndex())
        layers = []
        for j in range(subgraph.InputsLength()):
            index = subgraph.Inputs(j)
            tensor = subgraph.Tensors(index)
            layers.append(InputLayer(by_tensor.get(index, ""), tensor.Name().decode(), tuple(int(d) for d in tensor.ShapeAsNumpy())))
        return int(definition.SubgraphIndex()), layers
    raise ConfigError(f"{model.name} has no signature {signature!r}; export it again with mobileseg.")


def runner_command(target: str, entry: str, work: str, model: str, runner: str, inputs: dict[str, Path],
                   layers: list[InputLayer] | None, threads: int, runs: int, warmup: int, delegate: str) -> list[str]:
    """The runner's command line on the phone for ``entry``; ``inputs``: input name -> local file (pushed into ``work``)."""
    if target == "tflite":
        assert layers is not None
        unknown = [layer.name for layer in layers if layer.name not in inputs]
        if unknown or ":" in "".join(layer.tensor for layer in layers):
            raise ConfigError(f"{model}: signature {entry} has inputs {[layer.tensor for layer in layers]}, which mobileseg cannot "
                              f"feed by name (no file for {unknown}, or a ':' in a name); export it again with mobileseg.")
        return [f"{work}/{runner}", f"--graph={work}/{model}", f"--signature_to_run_for={entry}", f"--num_threads={threads}",
                f"--num_runs={runs}", f"--warmup_runs={warmup}", "--report_peak_memory_footprint=true",
                f"--input_layer={','.join(layer.tensor for layer in layers)}",
                f"--input_layer_shape={':'.join(','.join(map(str, layer.shape)) for layer in layers)}",
                f"--input_layer_value_files={','.join(f'{layer.tensor}:{work}/{inputs[layer.name].name}' for layer in layers)}",
                DELEGATES[delegate]]
    # executor_runner has no warm-up flag: its first runs are the warm-up (dropped when parsing)
    command = [f"{work}/{runner}", f"--model_path={work}/{model}", f"--method_name={entry}", f"--num_executions={warmup + runs}",
               f"--inputs={','.join(f'{work}/{path.name}' for path in inputs.values())}", f"--cpu_threads={threads}", "--print_output=none"]
    return command


def on_device(target: str, command: list[str], mask: str | None) -> list[str]:
    """What ``adb shell`` runs: the command, pinned with ``taskset`` under ``--big-cores``; an
    ExecuTorch run first prints its pid (``exec`` keeps it), to read its logcat lines."""
    if mask is not None:
        command = ["taskset", mask, *command]
    if target == "executorch":
        return ["sh", "-c", f"echo {PID_MARK}$$; exec {shlex.join(command)}"]
    return command


def read_output(target: str, adb: Adb, done: subprocess.CompletedProcess[str], runner: str, entry: str, warmup: int,
                subgraph: int | None = None) -> ToolRun:
    """The runner's figures from its output: stdout and stderr, and for ExecuTorch its logcat lines."""
    text = done.stdout + done.stderr
    try:
        if target == "tflite":
            return parse_benchmark_model(text, subgraph)
        pid = _PID.search(done.stdout)
        if not _ET_TIMING.search(text) and pid is not None:  # an Android-PAL build: its log is in logcat only
            text = adb.logcat(ET_TAG, int(pid.group(1))) + text
        if not _ET_TIMING.search(text):
            if done.returncode == 0:
                raise ToolOutputError(NO_ET_LOGS.format(runner=runner, entry=entry, status=done.returncode,
                                                        pid=pid.group(1) if pid else "?"))
            raise ToolOutputError(f"it failed and printed (with its logcat lines):\n{_PID.sub('', text).strip()[-2000:] or '(nothing)'}")
        return parse_executor_runner(text, skip=warmup)
    except ToolOutputError as exc:
        raise ToolOutputError(f"{runner} {entry} (status {done.returncode}): {exc}") from None
