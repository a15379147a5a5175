"""A student with six state tensors and two step graphs (TDNet, 2 sub-networks run in turn), exported to
every target and driven in the real runtimes: the contract names init, step_0, step_1 and the schedule,
the runtime tracker runs step_0, step_1, step_0, ... by the phase in the state and matches PyTorch over
whole videos, eval/verify/bench take the files, and a phase outside the schedule is a clear error.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mobileseg.artifact.contract import (
    Contract,
    ContractError,
    LoadedContract,
    contract_path,
    load_contract,
)
from mobileseg.artifact.signature import signature_of
from mobileseg.checkpoint import model_from_checkpoint
from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.export.parity import Tolerance, mask_agreement, parity_video
from mobileseg.export.pipeline import ExportRequest, export_checkpoint
from mobileseg.models import NetworkTracker, build_model
from mobileseg.runtime import open_runtime
from mobileseg.runtime.base import RuntimeModel
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow
SIZE = (64, 96)
MODEL = "tdnet_r18_mv2_tiny"
STATE = ["mem_key", "mem_value", "apm_query", "apm_key", "apm_value", "phase"]
STEPS = ["step_0", "step_1"]
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "executorch": ".pte", "coreml": ".mlpackage"}
RUNNABLE = ("onnx", "tflite", "executorch")


@pytest.fixture(scope="module")
def tdnet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A TDNet student trained for a few steps on tiny generated videos."""
    root = tmp_path_factory.mktemp("tdnet-export")
    data = generate_synthvos(root / "synth", SynthConfig(videos=4, frames=8, height=SIZE[0], width=SIZE[1], objects=(1, 2), seed=6))
    config = TrainConfig(model=MODEL, out=str(root / "run"), data=str(data), steps=6, batch_size=2, crop=(48, 64), val_every=0,
                         bn_batches=2, lr=1e-3)
    return {"root": root, "data": data, "checkpoint": train(config).best}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def exported(tdnet: dict[str, Path]) -> dict[str, object]:
    out = tdnet["root"] / "out"
    results = export_checkpoint(ExportRequest(checkpoint=tdnet["checkpoint"], targets=list(SUFFIX), out=out, size=SIZE))
    return {"out": out, "results": {r.target: r for r in results}}


def test_plain_student_contract_keeps_its_names_and_usage() -> None:
    """The one-phase student: init/step, two state tensors, the usage text of before, a trivial schedule;
    a contract without a schedule (older exports) reads the same way."""
    torch.manual_seed(0)
    signature = signature_of(build_model("mobilevos_r18_mv2_tiny"), *SIZE)
    data = Contract("onnx", {}, signature, {}, {}).to_dict()
    assert list(data["entry_points"]) == ["init", "step"] and signature.state == ("mem_key", "mem_value")
    assert data["usage"] == ("state = init(frame, mask) -> {mem_key, mem_value}; then for every later frame: "
                             "step(frame, mem_key, mem_value) -> {prob, new_mem_key, new_mem_value}, and feed new_mem_key/new_mem_value "
                             "back as mem_key/mem_value on the next frame. A new video starts with init again.")
    assert data["feedback"] == {"init": {"mem_key": "mem_key", "mem_value": "mem_value"},
                                "step": {"new_mem_key": "mem_key", "new_mem_value": "mem_value"}}
    assert data["schedule"]["steps"] == ["step"] and data["schedule"]["phase"] is None
    for section in (data, {k: v for k, v in data.items() if k != "schedule"}):
        loaded = LoadedContract(Path("student.onnx.json"), section)
        assert loaded.steps == ("step",) and loaded.phase is None and loaded.entries == ("init", "step")
        assert loaded.state == ("mem_key", "mem_value") and loaded.step_for(None) == "step"


def test_contract_lists_every_entry_point_the_schedule_and_the_state(exported: dict[str, object]) -> None:
    results = exported["results"]
    out: Path = exported["out"]  # type: ignore[assignment]
    assert sorted(results) == sorted(SUFFIX)  # type: ignore[arg-type]
    for target, result in results.items():  # type: ignore[union-attr]
        contract = load_contract(result.artifact)
        data = contract.data
        assert list(data["entry_points"]) == ["init", *STEPS], target
        assert [t["name"] for t in data["entry_points"]["init"]["outputs"]] == STATE
        for step in STEPS:
            assert [t["name"] for t in data["entry_points"][step]["inputs"]] == ["frame", *STATE]
            assert [t["name"] for t in data["entry_points"][step]["outputs"]] == ["prob", *(f"new_{s}" for s in STATE)]
        assert contract.shape("step_1", "phase") == (1,) and contract.shape("init", "apm_value")[:2] == (1, 1)
        assert data["feedback"] == {"init": {s: s for s in STATE}, "step": {f"new_{s}": s for s in STATE}}
        assert data["schedule"]["steps"] == STEPS and data["schedule"]["phase"] == "phase" and "steps[int(phase)]" in data["schedule"]["rule"]
        assert contract.state == tuple(STATE) and contract.steps == tuple(STEPS) and contract.phase == "phase"
        assert contract.entries == ("init", *STEPS) and "step_<i>" in data["usage"]
        assert set(data["files"]) >= {"init", *STEPS} and data["parity"]["passed"] is True
        if target == "coreml":
            assert data["parity"]["kind"] == "spec" and set(data["parity"]["functions"]) == {"init", *STEPS}
        else:
            assert data["parity"]["kind"] == "video" and data["parity"]["frames"] >= 30 and data["parity"]["max_abs_prob"] <= 1e-3
    files = load_contract(out / "student.onnx").data["files"]
    assert files == {"init": "student.init.onnx", "step_0": "student.step_0.onnx", "step_1": "student.step_1.onnx", "weights": "student.weights"}
    assert contract_path(out / "student.step_1.onnx") == out / "student.onnx.json"
    assert load_contract(out / "student.tflite").data["export"]["signatures"] == ["init", *STEPS]
    assert set(load_contract(out / "student.pte").data["export"]["outside_delegate"]) == {"init", *STEPS}


def test_runtimes_run_the_phases_in_turn_and_match_pytorch(exported: dict[str, object], tdnet: dict[str, Path],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    model, _ = model_from_checkpoint(tdnet["checkpoint"])
    frames, first = parity_video(*SIZE, frames=9, seed=9)  # 2m+5 frames, another video than the export's
    tolerance = Tolerance()  # what the export's parity check holds the files to
    calls: list[str] = []
    for target in RUNNABLE:
        runtime = open_runtime(exported["out"] / f"student{SUFFIX[target]}")  # type: ignore[operator]
        run = type(runtime).run

        def spy(self: RuntimeModel, entry: str, feeds: dict[str, np.ndarray], run=run) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
            calls.append(entry)
            return run(self, entry, feeds)  # type: ignore[no-any-return]

        monkeypatch.setattr(type(runtime), "run", spy)
        calls.clear()
        reference, candidate = NetworkTracker(model), runtime.tracker()
        with torch.no_grad():
            ref_state, state = reference.init(frames[0], first), candidate.init(frames[0], first)
            assert len(state) == len(STATE) and float(state[-1]) == 0.0
            for t, frame in enumerate(frames[1:], start=1):
                ref_prob, ref_state = reference.step(frame, ref_state)
                prob, state = candidate.step(frame, state)
                assert [tuple(s.shape) for s in state] == [tuple(s.shape) for s in ref_state]
                assert float(state[-1]) == float(ref_state[-1]) == t % 2, (target, t)
                worst = float((prob - ref_prob).abs().max())
                iou = mask_agreement(ref_prob, prob, tolerance.band).iou
                assert worst <= tolerance.max_abs_prob and iou >= tolerance.min_iou, (target, t, worst, iou)
        assert calls == ["init"] + [STEPS[(t - 1) % 2] for t in range(1, len(frames))], target
        monkeypatch.setattr(type(runtime), "run", run)


def test_a_phase_outside_the_schedule_is_a_clear_error(exported: dict[str, object], tmp_path: Path) -> None:
    out: Path = exported["out"]  # type: ignore[assignment]
    runtime = open_runtime(out / "student.onnx")
    frames, first = parity_video(*SIZE, frames=4)
    state = runtime.tracker().init(frames[0], first)
    bad = (*state[:-1], torch.full((1,), 2.0))
    with pytest.raises(ContractError, match=r"the state's 'phase' is 2.0, but the schedule has 2 step entries \(step_0, step_1\), "
                                             r"so it must be a whole number from 0 to 1\. Feed back the state"):
        runtime.tracker().step(frames[1], bad)
    with pytest.raises(ContractError, match=r"'phase' is 0.5"):
        runtime.tracker().step(frames[1], (*state[:-1], torch.full((1,), 0.5)))
    # an edited contract that schedules step_0 alone: the phase step_0 hands on (1) is outside it
    data = json.loads((out / "student.onnx.json").read_text())
    data["schedule"]["steps"] = ["step_0"]
    folder = tmp_path / "edited"
    folder.mkdir()
    for name in set(data["files"].values()):
        (folder / name).symlink_to(out / name)
    (folder / "student.onnx.json").write_text(json.dumps(data))
    tracker = open_runtime(folder / "student.onnx").tracker()
    _, state = tracker.step(frames[1], tracker.init(frames[0], first))
    with pytest.raises(ContractError, match=r"'phase' is 1.0, but the schedule has 1 step entries \(step_0\), so it must be a whole "
                                             r"number from 0 to 0.*export again"):
        tracker.step(frames[2], state)
    data["schedule"] = {"steps": STEPS, "phase": "phaze"}
    (folder / "student.onnx.json").write_text(json.dumps(data))
    with pytest.raises(ContractError, match=r"schedule.phase 'phaze' is not a state input"):
        open_runtime(folder / "student.onnx")
    data["schedule"] = {"steps": ["step_0", "step_2"], "phase": "phase"}
    (folder / "student.onnx.json").write_text(json.dumps(data))
    with pytest.raises(ContractError, match=r"schedule.steps \['step_0', 'step_2'\] and init must all be entry points"):
        open_runtime(folder / "student.onnx")


def test_eval_verify_and_host_bench_take_the_tdnet_files(exported: dict[str, object], tdnet: dict[str, Path], tmp_path: Path) -> None:
    out: Path = exported["out"]  # type: ignore[assignment]
    runner = CliRunner()
    scored = runner.invoke(cli, ["eval", "--data", str(tdnet["data"]), "--model", str(out / "student.step_0.onnx")])
    assert scored.exit_code == 0 and "J&F-Mean" in scored.output, scored.output
    for name in ("student.pte", "student.tflite"):
        verified = runner.invoke(cli, ["verify", str(out / name), "--frames", "7"])
        assert verified.exit_code == 0 and "parity passed over 7 frames" in verified.output, verified.output
    spec = runner.invoke(cli, ["verify", str(out / "student.mlpackage")])
    assert spec.exit_code == 0 and "macOS" in spec.output, spec.output
    timed = runner.invoke(cli, ["bench", "--model", str(out / "student.tflite"), "--frames", "4", "--warmup", "1", "--size", "64x96",
                                "--json", str(tmp_path / "bench.json")])
    assert timed.exit_code == 0, timed.output
    assert json.loads((tmp_path / "bench.json").read_text())["models"][0]["entries"]["step"]["count"] == 4


def test_device_bench_inputs_and_runs_cover_every_step_entry(exported: dict[str, object], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The adb flow's real inputs (the state each step entry really receives) and its per-entry runs,
    with the adb session and the runner replaced by recorders (test_bench.py runs the stand-ins)."""
    from mobileseg.bench import device
    from mobileseg.bench.parsers import ToolRun
    from mobileseg.bench.stats import LatencyStats

    model = exported["out"] / "student.tflite"  # type: ignore[operator]
    files = device.real_inputs(model, tmp_path, state_frames=3)
    assert list(files) == ["init", *STEPS] and list(files["step_1"]) == ["frame", *STATE]
    for phase, step in enumerate(STEPS):
        assert np.fromfile(files[step]["phase"], dtype="<f4").tolist() == [float(phase)]
    commands: list[list[str]] = []

    class FakeAdb:
        def __init__(self, serial: str | None) -> None:
            self.serial = serial

        def info(self) -> dict[str, str]:
            return {"kind": "adb"}

        def thermal(self) -> dict[str, object]:
            return {}

        def push(self, local: Path, remote: str) -> None:
            assert local.is_file()

        def shell(self, command: list[str], check: bool = True) -> object:
            commands.append(command)
            return type("Done", (), {"stdout": "", "stderr": "", "returncode": 0})()

    ms = {"init": 9.0, "step_0": 4.0, "step_1": 2.0}
    monkeypatch.setattr(device, "Adb", FakeAdb)

    def read_output(target: str, adb: object, done: object, runner: str, entry: str, warmup: int,
                    subgraph: int | None = None) -> ToolRun:
        named = next(a.split("=")[1] for a in commands[-1] if a.startswith("--signature_to_run_for="))
        assert named == entry and subgraph is not None
        return ToolRun(LatencyStats.of([ms[entry]] * 3))

    monkeypatch.setattr(device, "read_output", read_output)
    runner = tmp_path / "benchmark_model"
    runner.write_text("#!/bin/sh\n")
    report = device.bench_adb(device.DeviceRequest(model=model, runner=runner, runs=3, warmup=0, cooldown=0))
    entries = report["models"][0]["entries"]
    assert set(entries) == {"init", "step", *STEPS} and entries["step_0"]["mean"] == 4.0 and entries["step_1"]["mean"] == 2.0
    assert entries["step"]["mean"] == pytest.approx(3.0) and entries["step"]["count"] == 6  # ms per frame over one cycle
    runs = [c for c in commands if any(a.startswith("--signature_to_run_for=") for a in c)]
    assert [next(a for a in c if a.startswith("--sig")) for c in runs] == [f"--signature_to_run_for={e}" for e in ("init", *STEPS)]
    assert "phase:" in " ".join(runs[2])


def test_the_android_reader_accepts_the_tdnet_tflite_contract(exported: dict[str, object], tmp_path: Path) -> None:
    """android_demo/core's Contract (which the app's Tracker drives by the schedule; its JUnit tests
    cover the two-phase loop) reads the exported contract with all six state tensors; so does the
    Python mirror that `export --android` runs."""
    from mobileseg.export.android import check_for_app

    data = json.loads((exported["out"] / "student.tflite.json").read_text())  # type: ignore[operator]
    check_for_app(data)
    broken = {**data, "schedule": {**data["schedule"], "steps": ["step_0", "step_9"]}}  # no such entry point
    with pytest.raises(ContractError):
        check_for_app(broken)
    junit = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
    if shutil.which("javac") is None or not all(jar.is_file() for jar in junit):
        pytest.skip("no JDK (javac) or junit4: the Android core was not compiled (test_android.py says how to install them)")
    sources = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "android_demo" / "core" / "src").rglob("*.java"))
    classpath = ":".join(map(str, junit))
    subprocess.run(["javac", "--release", "11", "-cp", classpath, "-d", str(tmp_path), *sources], check=True, capture_output=True)
    done = subprocess.run(["java", "-cp", f"{tmp_path}:{classpath}", "io.mobileseg.core.Probe", "contract",
                           str(exported["out"] / "student.tflite.json")], capture_output=True, text=True, timeout=120, check=False)  # type: ignore[operator]
    assert done.stdout.strip() == f"ok {SIZE[0]}x{SIZE[1]} student.tflite state={','.join(STATE)}", done.stdout + done.stderr


def test_int8_onnx_calibrates_each_step_entry_on_its_own_phase(tdnet: dict[str, Path], tmp_path: Path) -> None:
    request = ExportRequest(checkpoint=tdnet["checkpoint"], targets=["onnx"], out=tmp_path, size=SIZE, parity_frames=7,
                            precision="int8", calibration_frames=8, measure_jf=False, allow_accuracy_drop=True)
    result = export_checkpoint(request)[0]
    contract = load_contract(result.artifact).data
    assert contract["export"]["calibration"]["samples_per_step_entry"] == {"step_0": 4, "step_1": 4}
    assert contract["parity"]["kind"] == "agreement" and contract["parity"]["frames"] == 7
    # the bound test_quantize.py holds the plain student's int8 files to (a model trained for seconds has
    # probabilities near 0.5, so its mask IoU says little)
    assert contract["parity"]["max_abs_prob"] <= 0.6, contract["parity"]["summary"]
