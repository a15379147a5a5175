"""`mobileseg bench` on this host (every runtime and checkpoints) and over adb.

No phone is attached here. The adb flow runs end to end against STAND-INS, named as such:
``tests/standins/adb.py`` really performs ``devices``, ``push``, ``pull`` and ``shell`` on a local
folder that plays the phone's file system, and ``tests/standins/benchmark_model.py`` /
``executor_runner.py`` take the real tools' flags, run the model for real with ai-edge-litert /
executorch and print the real tools' output format. With Debian's real ``adb`` on PATH and no
phone, the no-device message is checked against it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mobileseg.cli import cli

pytestmark = pytest.mark.slow
STANDINS = Path(__file__).resolve().parents[1] / "standins"
THERMAL = """IsStatusOverride: false
Thermal Status: 1
Cached temperatures:
\tTemperature{mValue=38.0, mType=0, mName=cpu-0-0, mStatus=0}
Current temperatures from HAL:
\tTemperature{mValue=41.5, mType=0, mName=cpu-1-0, mStatus=1}
\tTemperature{mValue=39.0, mType=0, mName=cpu-0-0, mStatus=0}
\tTemperature{mValue=33.0, mType=2, mName=battery, mStatus=0}
Current cooling devices from HAL:
"""
PROPS = {"ro.product.model": "SM-S901B", "ro.product.manufacturer": "samsung", "ro.soc.manufacturer": "Qualcomm",
         "ro.soc.model": "SM8450", "ro.build.version.release": "14", "ro.build.version.sdk": "34", "ro.product.cpu.abi": "arm64-v8a",
         "dumpsys thermalservice": THERMAL}


def test_host_bench_times_every_runtime_and_a_checkpoint(exported: dict[str, object], trained: dict[str, Path], tmp_path: Path) -> None:
    out: Path = exported["out"]  # type: ignore[assignment]
    models = [out / "student.tflite", out / "student.pte", out / "student.onnx", trained["student"], trained["teacher"]]
    args = ["bench", *[a for m in models for a in ("--model", str(m))], "--frames", "12", "--warmup", "2", "--every", "4",
            "--size", "64x96", "--json", str(tmp_path / "bench.json"), "--plot", str(tmp_path / "latency.png")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["schema"] == "mobileseg.bench/1" and report["device"]["kind"] == "host" and report["settings"]["threads"] == 2
    formats = [m["format"] for m in report["models"]]
    assert formats == ["tflite", "executorch", "onnx", "pytorch", "pytorch"]
    for model in report["models"]:
        step = model["entries"]["step"]
        assert step["count"] == 12 and 0 < step["min"] <= step["p50"] <= step["p90"] <= step["p99"] <= step["max"]
        assert model["entries"]["init"]["count"] == 1 and model["peak_rss_mb"] > 50 and model["file_mb"] > 0
        assert model["size"] == [64, 96] and model["first_timed_frame"] == 3 and model["last_frame"] == 14
        assert [p["frame"] for p in model["curve"]] == [3, 7, 11]
    assert [m["role"] for m in report["models"]][-2:] == ["student", "teacher"]
    assert report["models"][0]["file_mb"] == round((out / "student.tflite").stat().st_size / 1e6, 3)
    assert (tmp_path / "latency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for fmt in ("tflite", "executorch", "onnx", "pytorch"):
        assert fmt in result.output


def test_host_bench_scores_jf_and_refuses_bad_input(exported: dict[str, object], trained: dict[str, Path], tmp_path: Path) -> None:
    from mobileseg.data.davis import open_davis2017
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.eval.sources import artifact_source

    tflite = exported["out"] / "student.tflite"  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["bench", "--model", str(tflite), "--frames", "3", "--data", str(trained["data"]),
                                      "--json", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.output
    jf = json.loads((tmp_path / "b.json").read_text())["models"][0]["jf"]
    source = artifact_source(tflite)
    expected = predict_dataset(source.make, open_davis2017(trained["data"], "val"), size=source.size).report.summary()["J&F-Mean"]  # type: ignore[union-attr]
    assert jf == pytest.approx(expected, abs=1e-9)
    (tmp_path / "notes.txt").write_text("x")
    for args, message in (
        (["--model", str(tmp_path / "missing.tflite")], "no such file"),
        (["--model", str(tmp_path / "notes.txt")], "neither a checkpoint"),
        (["--model", str(tflite), "--plot", str(tmp_path / "p.png")], "give --every N"),
        (["--model", str(tflite), "--runner", str(tmp_path / "notes.txt")], "--runner: only for --device adb"),
        (["--device", "adb", "--model", str(tflite), "--every", "5"], "--every: only for --device host"),
        (["--device", "adb", "--model", str(exported["out"] / "student.onnx"), "--runner", str(tmp_path / "notes.txt")],  # type: ignore[operator]
         "time it with --device host"),
    ):
        refused = CliRunner().invoke(cli, ["bench", *args, "--json", str(tmp_path / "x.json")])
        assert refused.exit_code != 0 and message in " ".join(refused.output.split()), (args, refused.output)


# --- adb, against the stand-ins -------------------------------------------------------------------

def _wrapper(folder: Path, name: str, script: Path) -> Path:
    """An executable named like the real tool that runs the stand-in script with this Python."""
    path = folder / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    path.chmod(0o755)
    return path


@pytest.fixture
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A stand-in adb first on PATH, one authorised stand-in device, and a folder playing its file system."""
    root, bin_dir, tools = tmp_path / "phone", tmp_path / "bin", tmp_path / "tools"
    for folder in (root / "data" / "local" / "tmp", bin_dir, tools):
        folder.mkdir(parents=True)
    for core in range(8):  # four little cores, four big ones: --big-cores must pick mask f0
        freq = root / "sys" / "devices" / "system" / "cpu" / f"cpu{core}" / "cpufreq" / "cpuinfo_max_freq"
        freq.parent.mkdir(parents=True)
        freq.write_text("1804800\n" if core < 4 else "2496000\n")
    (tmp_path / "props.json").write_text(json.dumps(PROPS))
    _wrapper(bin_dir, "adb", STANDINS / "adb.py")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("STANDIN_ADB_ROOT", str(root))
    monkeypatch.setenv("STANDIN_ADB_PROPS", str(tmp_path / "props.json"))
    monkeypatch.setenv("STANDIN_ADB_DEVICES", "R5CT1234 device")
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    return {"root": root, "tools": tools, "json": tmp_path / "phone.json"}


def _log(root: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (root / "adb.log").read_text().splitlines()]


@pytest.mark.parametrize("suffix, runner", [(".tflite", "benchmark_model"), (".pte", "executor_runner")])
def test_adb_flow_end_to_end_against_the_standins(exported: dict[str, object], phone: dict[str, Path], suffix: str, runner: str) -> None:
    tool = _wrapper(phone["tools"], runner, STANDINS / f"{runner}.py")
    model = exported["out"] / f"student{suffix}"  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(model), "--runner", str(tool), "--big-cores",
                                      "--runs", "4", "--warmup", "1", "--cooldown", "0", "--threads", "2", "--json", str(phone["json"])])
    assert result.exit_code == 0, result.output
    report = json.loads(phone["json"].read_text())
    device = report["device"]
    assert device["kind"] == "adb" and device["serial"] == "R5CT1234" and device["model"] == "SM-S901B" and device["soc"] == "SM8450"
    assert device["android"] == "14" and device["sdk"] == "34" and device["abi"] == "arm64-v8a"
    assert device["thermal_before"] == {"status": "light", "cpu_max_c": 41.5} == device["thermal_after"]
    entry = report["models"][0]
    assert entry["format"] == ("tflite" if suffix == ".tflite" else "executorch") and entry["runner"] == runner
    for name in ("init", "step"):
        assert entry["entries"][name]["count"] == 4 and entry["entries"][name]["mean"] > 0
        command = entry["commands"][name]
        assert command.startswith("taskset f0 /data/local/tmp/mobileseg-bench-")
        assert (f"--signature_to_run_for={name}" if suffix == ".tflite" else f"--method_name={name}") in command
    if suffix == ".tflite":  # the real state went in by name; the tool's memory line was parsed
        assert "mem_key:/data/local/tmp/" in entry["commands"]["step"] and entry["memory_mb"]["overall"] >= 0
    log = _log(phone["root"])
    pushed = [e["args"][4] for e in log if "args" in e and e["args"][2:3] == ["push"]]  # type: ignore[index]
    assert {Path(p).name for p in pushed} >= {model.name, runner, "step.frame.raw", "step.mem_key.raw", "step.mem_value.raw",
                                               "init.frame.raw", "init.mask.raw"}
    assert [e["taskset"] for e in log if "taskset" in e] == ["f0", "f0"]
    assert not list((phone["root"] / "data" / "local" / "tmp").iterdir()), "the working folder was left on the phone"


def test_adb_working_folder_is_removed_after_a_failing_runner(exported: dict[str, object], phone: dict[str, Path]) -> None:
    broken = phone["tools"] / "benchmark_model"
    broken.write_text("#!/bin/sh\necho 'ERROR: this runner was built for another ABI' >&2\nexit 3\n")
    broken.chmod(0o755)
    result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"),  # type: ignore[operator]
                                      "--runner", str(broken), "--cooldown", "0", "--json", str(phone["json"])])
    assert result.exit_code == 1 and "benchmark_model init (status 3)" in result.output and "another ABI" in result.output
    assert not list((phone["root"] / "data" / "local" / "tmp").iterdir())
    assert not phone["json"].exists()


@pytest.mark.parametrize("devices, serial, message", [
    ("", None, "no Android device is connected"),
    ("R5CT1234 unauthorized", None, "accept the 'Allow USB debugging?' prompt"),
    ("R5CT1234 offline", None, "is offline: replug the cable"),
    ("R5CT1234 device;emulator-5554 device", None, "several devices are connected (R5CT1234 (device), emulator-5554 (device)); choose one with --serial"),
    ("R5CT1234 device", "ZZZ999", "--serial ZZZ999 is not connected; adb lists R5CT1234 (device)"),
])
def test_adb_device_states_have_clear_errors(exported: dict[str, object], phone: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                             devices: str, serial: str | None, message: str) -> None:
    monkeypatch.setenv("STANDIN_ADB_DEVICES", devices)
    tool = _wrapper(phone["tools"], "benchmark_model", STANDINS / "benchmark_model.py")
    args = ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"), "--runner", str(tool), "--json", str(phone["json"])]  # type: ignore[operator]
    result = CliRunner().invoke(cli, args + (["--serial", serial] if serial else []))
    assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output


def test_adb_missing_names_how_to_install_it(exported: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb anywhere
    (tmp_path / "runner").write_text("")
    result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"),  # type: ignore[operator]
                                      "--runner", str(tmp_path / "runner"), "--json", str(tmp_path / "x.json")])
    assert result.exit_code == 1 and "adb is not on PATH" in result.output and "apt install adb" in result.output


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb is not installed here (.ci/run installs it when it can)")
def test_real_adb_without_a_phone_says_no_device(exported: dict[str, object], tmp_path: Path) -> None:
    real = shutil.which("adb")
    assert real is not None and "standin" not in Path(real).read_bytes()[:200].decode(errors="replace")
    listed = subprocess.run([real, "devices"], capture_output=True, text=True, timeout=60)
    started_server = "starting now" in listed.stdout + listed.stderr
    try:
        if any(line.strip() and not line.startswith(("List", "*")) for line in listed.stdout.splitlines()):
            pytest.skip("a device is connected to this machine: the no-device message cannot be checked")
        (tmp_path / "runner").write_text("")
        result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"),  # type: ignore[operator]
                                          "--runner", str(tmp_path / "runner"), "--json", str(tmp_path / "x.json")])
        assert result.exit_code == 1 and "no Android device is connected" in result.output
    finally:
        if started_server:  # leave no adb daemon behind that this test started
            subprocess.run([real, "kill-server"], capture_output=True, timeout=60)
