"""``mobileseg bench --device adb``: time ``init`` and ``step`` of an exported file on an Android phone
(``step_0``, ``step_1``, ... each on its own for a student with several step graphs; its ``step``
entry in the report is then the mean over one cycle of them).

The user supplies the on-device runner (TFLite's ``benchmark_model`` for ``.tflite``,
ExecuTorch's ``executor_runner`` for ``.pte``; README says where to get them). The flow:

1. compute **real state inputs** on the host with the file's own runtime: the state after
   ``state_frames`` frames of a generated video (random memory would make the attention
   readout unrealistically flat), saved as raw float32 files, one per input;
2. choose the one usable device, record its identity and thermal status;
3. push the model, the runner and the inputs into a fresh folder under ``/data/local/tmp/``;
4. run ``init`` and every step entry separately (``--signature_to_run_for`` / ``--method_name``), pinned to
   the big cores with ``taskset`` when asked, with a cooldown between runs; the command lines and
   where each runner's output is read are :mod:`mobileseg.bench.runners`';
5. parse the tools' output into the host bench's JSON and table;
6. remove the folder, also after an error, and record the thermal status again.

``--dry-run`` prints the adb command lines of steps 3, 4 and 6 without running anything.
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobileseg.artifact.contract import load_contract
from mobileseg.bench.adb import Adb, AdbError
from mobileseg.bench.report import make_report
from mobileseg.bench.runners import RUNNERS, on_device, read_output, runner_command, tflite_signature
from mobileseg.bench.stats import LatencyStats
from mobileseg.errors import ConfigError
from mobileseg.export.parity import parity_video
from mobileseg.runtime import open_runtime

REMOTE_ROOT = "/data/local/tmp"


@dataclass(frozen=True)
class DeviceRequest:
    model: Path
    runner: Path
    serial: str | None = None
    threads: int = 4
    delegate: str = "xnnpack"
    big_cores: bool = False
    runs: int = 50
    warmup: int = 5
    cooldown: float = 5.0
    state_frames: int = 5


def input_file(folder: Path, entry: str, name: str) -> Path:
    """Where the raw float32 value of input ``name`` of ``entry`` is written (and, by its name, pushed)."""
    return folder / f"{entry}.{name}.raw"


def real_inputs(model: Path, folder: Path, state_frames: int) -> dict[str, dict[str, Path]]:
    """Raw float32 input files per entry point: ``init`` on frame 0; each step entry on a frame after
    at least ``state_frames`` steps, with the state those steps produced (the file's own runtime).
    A student with several step entries is stepped on until each has been picked by the schedule."""


    runtime = open_runtime(model)
    contract = runtime.contract
    steps = contract.steps
    video, first = parity_video(*contract.size, objects=contract.objects, frames=state_frames + len(steps) + 1)
    tracker = runtime.tracker()
    phase = contract.state.index(contract.phase) if contract.phase is not None else None
    values: dict[str, dict[str, Any]] = {"init": {"frame": video[0], "mask": first}}
    with torch.inference_mode():
        state = tracker.init(video[0], first)
        for t, frame in enumerate(video[1:], start=1):
            if t > state_frames:
                entry = contract.step_for(None if phase is None else float(state[phase].reshape(-1)[0]))
                values.setdefault(entry, {"frame": frame, **dict(zip(contract.state, state))})
                if len(values) == len(contract.entries):
                    break
            _, state = tracker.step(frame, state)
    files: dict[str, dict[str, Path]] = {}
    for entry in contract.entries:
        tensors = values[entry]
        files[entry] = {}
        for spec in contract.inputs(entry):  # contract order: executor_runner takes inputs by position
            path = input_file(folder, entry, spec["name"])
            np.ascontiguousarray(tensors[spec["name"]].numpy(), dtype="<f4").tofile(path)
            files[entry][spec["name"]] = path
    return files


def pooled_steps(entries: dict[str, Any], steps: tuple[str, ...]) -> dict[str, Any]:
    """One ``step`` figure for a student whose frames cycle through ``steps``: ms per frame averaged
    over a cycle (mean of the entries' means), min and max over them; percentiles are per entry only."""

    stats = [entries[name] for name in steps]
    mins, maxes = [s["min"] for s in stats], [s["max"] for s in stats]
    return LatencyStats(count=sum(int(s["count"]) for s in stats), mean=sum(float(s["mean"]) for s in stats) / len(stats),
                        min=min(mins) if None not in mins else None, max=max(maxes) if None not in maxes else None).to_dict()


def big_core_mask(adb: Adb) -> str:
    """``taskset`` mask of every core faster than the slowest cluster (all cores when they are alike)."""
    listing = adb.shell(["sh", "-c", "for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq; do echo $f $(cat $f); done"],
                        check=False).stdout
    freqs = {int(core): int(freq) for core, freq in re.findall(r"/cpu(\d+)/cpufreq/cpuinfo_max_freq (\d+)", listing)}
    if not freqs:
        raise AdbError("--big-cores: the phone does not list /sys/devices/system/cpu/cpu*/cpufreq/cpuinfo_max_freq; run without --big-cores.")
    slowest = min(freqs.values())
    big = [core for core, freq in freqs.items() if freq > slowest] or list(freqs)
    return format(sum(1 << core for core in big), "x")


@dataclass(frozen=True)
class Plan:
    """What a phone run does, as command lines: the files to push and each entry point's command."""

    work: str  # the fresh folder on the phone
    runner: str  # the runner's path there
    pushes: list[tuple[Path, str]]  # (local file, remote path)
    commands: dict[str, list[str]]  # entry point -> what `adb shell` runs
    subgraphs: dict[str, int]  # .tflite: entry point -> its subgraph (to pick the delegate line)

    @property
    def setup(self) -> tuple[list[str], list[str]]:
        """`adb shell` commands before the pushes and after them: make the folder, make the runner executable."""
        return ["mkdir", "-p", self.work], ["chmod", "755", self.runner]

    @property
    def cleanup(self) -> list[str]:
        return ["rm", "-rf", self.work]


def make_plan(request: DeviceRequest, target: str, contract: Any, inputs: dict[str, dict[str, Path]], mask: str | None) -> Plan:
    """The command lines of a phone run; ``inputs``: entry -> input name -> local raw file."""
    work = f"{REMOTE_ROOT}/mobileseg-bench-{uuid.uuid4().hex[:8]}"
    pushes = [(local, f"{work}/{local.name}") for local in [request.model, request.runner, *[p for files in inputs.values() for p in files.values()]]]
    commands, subgraphs = {}, {}
    for entry in contract.entries:
        layers = None
        if target == "tflite":
            subgraphs[entry], layers = tflite_signature(request.model, entry)
        command = runner_command(target, entry, work, request.model.name, request.runner.name, inputs[entry], layers,
                                 request.threads, request.runs, request.warmup, request.delegate)
        commands[entry] = on_device(target, command, mask)
    return Plan(work, f"{work}/{request.runner.name}", pushes, commands, subgraphs)


def dry_run(request: DeviceRequest) -> list[str]:
    """The adb command lines a run would execute, in order (nothing runs; no phone or adb needed)."""

    target = check_request(request)
    contract = load_contract(request.model)
    host = Path("$TMP")
    inputs = {entry: {spec["name"]: input_file(host, entry, spec["name"]) for spec in contract.inputs(entry)} for entry in contract.entries}
    plan = make_plan(request, target, contract, inputs, "MASK" if request.big_cores else None)
    serial = request.serial or os.environ.get("ANDROID_SERIAL") or "SERIAL"
    adb = f"adb -s {shlex.quote(serial)}"
    lines = ["# $TMP: a temporary folder on this machine where the real state inputs are computed first"]
    if request.big_cores:
        lines.append("# MASK: the taskset mask of the cores faster than the slowest cluster, read from the phone's cpufreq")
    mkdir, chmod = plan.setup
    lines.append(f"{adb} shell {shlex.quote(shlex.join(mkdir))}")
    lines += [f"{adb} push {shlex.quote(str(local))} {remote}" for local, remote in plan.pushes]
    lines.append(f"{adb} shell {shlex.quote(shlex.join(chmod))}")
    for command in plan.commands.values():
        if target == "executorch":
            lines.append(f"{adb} logcat -c")
        lines.append(f"{adb} shell {shlex.quote(shlex.join(command))}")
        if target == "executorch":
            lines.append(f"{adb} logcat -d --pid=PID -s ExecuTorch:I   # PID: printed by the command above; read when its timings are not on stdout/stderr")
    lines.append(f"{adb} shell {shlex.quote(shlex.join(plan.cleanup))}")
    return lines


def check_request(request: DeviceRequest) -> str:
    """The model's target (``tflite`` or ``executorch``); ConfigError for what a phone run cannot take."""

    target = load_contract(request.model).target
    if target not in RUNNERS:
        raise ConfigError(f"--device adb times .tflite files (with benchmark_model) and .pte files (with executor_runner); "
                          f"{request.model.name} is a {target} export: time it with --device host.")
    if not request.runner.is_file():
        raise ConfigError(f"--runner {request.runner}: no such file. Give the Android arm64 {RUNNERS[target]} binary (README, "
                          "'Benchmarking on a phone', says where to get it).")
    if target == "executorch" and request.delegate != "xnnpack":
        raise ConfigError(f"--delegate {request.delegate}: a .pte carries its backend (XNNPACK) from the export; --delegate applies to .tflite files.")
    return target


def bench_adb(request: DeviceRequest) -> dict[str, Any]:
    """Run the flow of the module docstring; returns the report (same schema as the host bench)."""

    target = check_request(request)
    contract = load_contract(request.model)
    adb = Adb(request.serial)
    device = adb.info()
    device["thermal_before"] = adb.thermal()
    entries: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mobileseg-adb-") as tmp:
        inputs = real_inputs(request.model, Path(tmp), request.state_frames)
        mask = big_core_mask(adb) if request.big_cores else None
        plan = make_plan(request, target, contract, inputs, mask)
        mkdir, chmod = plan.setup
        adb.shell(mkdir)
        try:
            for local, remote in plan.pushes:
                adb.push(local, remote)
            adb.shell(chmod)
            for number, (entry, command) in enumerate(plan.commands.items()):
                if number and request.cooldown > 0:
                    time.sleep(request.cooldown)
                if target == "executorch":
                    adb.logcat_clear()
                done = adb.shell(command, check=False)
                run = read_output(target, adb, done, request.runner.name, entry, request.warmup, plan.subgraphs.get(entry))
                entries[entry] = run.stats.to_dict()
                extra[entry] = {**run.to_dict(), "command": shlex.join(command)}
        finally:
            adb.shell(plan.cleanup, check=False)
    device["thermal_after"] = adb.thermal()
    step = extra[contract.steps[0]]
    if contract.steps != ("step",):  # the report's "step" is ms per frame, whichever entry runs it
        entries["step"] = pooled_steps(entries, contract.steps)
    model = {"model": str(request.model), "name": contract.data.get("model", {}).get("name", "student"), "format": target,
             "role": "student", "size": list(contract.size), "file_mb": round(request.model.stat().st_size / 1e6, 3),
             "params": contract.data.get("model", {}).get("params"), "threads": request.threads, "entries": entries,
             "runner": request.runner.name, "delegate": step["delegate"] or ({"name": request.delegate} if target == "tflite" else {"name": "xnnpack (from the export)"}),
             "memory_mb": step["memory_mb"], "load_ms": step["init_ms"], "commands": {e: extra[e]["command"] for e in extra},
             "curve": None, "peak_rss_mb": None, "jf": None}
    settings = {"runs": request.runs, "warmup": request.warmup, "threads": request.threads, "delegate": request.delegate,
                "big_cores": request.big_cores, "cooldown_s": request.cooldown, "state_after_frames": request.state_frames}
    return make_report(device, settings, [model])
