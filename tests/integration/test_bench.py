"""`mobileseg bench` on this host (every runtime and checkpoints) and over adb.

No phone is attached here. The adb flow runs end to end against STAND-INS, named as such:
``tests/standins/adb.py`` really performs ``devices``, ``push``, ``pull``, ``shell`` and ``logcat``
on a local folder that plays the phone's file system, and ``tests/standins/benchmark_model.py`` /
``executor_runner.py`` copy the real tools' validation, input matching, output format, exit
status and (ExecuTorch) logging to logcat from their sources, and run the model for real with
ai-edge-litert / executorch; each stand-in's docstring names the files and functions it follows.
The stand-ins save the outputs of their last run, so a test checks that each pushed file fed the
input it was meant for. With Debian's real ``adb`` on PATH and no phone, the no-device message
is checked against it.
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
    from mobileseg.sources import artifact_source

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


def _expected_step(model: Path, tmp_path: Path) -> dict[str, object]:
    """What the file's own Python runtime returns for the step inputs the flow computes (the same real state)."""
    import numpy as np

    from mobileseg.bench.device import real_inputs
    from mobileseg.runtime import open_runtime

    tmp_path.mkdir()
    files = real_inputs(model, tmp_path, state_frames=5)["step"]
    runtime = open_runtime(model)
    feeds = {name: np.fromfile(path, dtype="<f4").reshape(spec["shape"])
             for spec in runtime.contract.inputs("step") for name, path in files.items() if name == spec["name"]}
    return runtime.run("step", feeds)  # type: ignore[no-any-return]


@pytest.mark.parametrize("suffix, runner", [(".tflite", "benchmark_model"), (".pte", "executor_runner")])
def test_adb_flow_end_to_end_against_the_standins(exported: dict[str, object], phone: dict[str, Path], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, suffix: str, runner: str) -> None:
    import numpy as np

    tool = _wrapper(phone["tools"], runner, STANDINS / f"{runner}.py")
    model = exported["out"] / f"student{suffix}"  # type: ignore[operator]
    (tmp_path / "outputs").mkdir()
    monkeypatch.setenv("STANDIN_RUNNER_OUTPUTS", str(tmp_path / "outputs"))
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
        assert "taskset f0 /data/local/tmp/mobileseg-bench-" in command
        assert (f"--signature_to_run_for={name}" if suffix == ".tflite" else f"--method_name={name}") in command
    if suffix == ".tflite":  # every value file's name is in --input_layer, in the subgraph's input order; the memory lines parsed
        assert "--input_layer=step_frame,step_mem_key,step_mem_value " in entry["commands"]["step"]
        assert "--input_layer_value_files=step_frame:/data/local/tmp/" in entry["commands"]["step"]
        assert entry["memory_mb"]["overall"] >= 0 and entry["memory_mb"]["peak"] > 0
        ran = {name: np.load(tmp_path / "outputs" / f"step.{name}.npy") for name in ("prob", "new_mem_key", "new_mem_value")}
    else:  # the Android PAL's log lines were read from logcat
        assert "--print_output=none" in entry["commands"]["step"] and "echo mobileseg-pid:$$; exec taskset f0" in entry["commands"]["step"]
        assert any(e.get("args", [None] * 3)[2:4] == ["logcat", "-d"] for e in _log(phone["root"]))  # type: ignore[index]
        ran = {name: np.load(tmp_path / "outputs" / f"step.{i}.npy") for i, name in enumerate(("prob", "new_mem_key", "new_mem_value"))}
    # the pushed files fed the inputs they were meant for: the phone's step equals the Python runtime's on the same state
    expected = _expected_step(model, tmp_path / "expected")
    for name, value in expected.items():
        np.testing.assert_allclose(ran[name], value, atol=1e-5, err_msg=name)
    log = _log(phone["root"])
    pushed = [e["args"][4] for e in log if "args" in e and e["args"][2:3] == ["push"]]  # type: ignore[index]
    assert {Path(p).name for p in pushed} >= {model.name, runner, "step.frame.raw", "step.mem_key.raw", "step.mem_value.raw",
                                               "init.frame.raw", "init.mask.raw"}
    assert [e["taskset"] for e in log if "taskset" in e] == ["f0", "f0"]
    assert not list((phone["root"] / "data" / "local" / "tmp").iterdir()), "the working folder was left on the phone"


def test_the_old_flags_abort_the_real_tool(exported: dict[str, object], tmp_path: Path) -> None:
    """What mobileseg passed before: value files without --input_layer. benchmark_model's FindLayerInfoIndex aborts on it."""
    model = exported["out"] / "student.tflite"  # type: ignore[operator]
    from mobileseg.bench.device import real_inputs

    files = real_inputs(model, tmp_path, state_frames=2)["step"]
    values = ",".join(f"{name}:{path}" for name, path in files.items())
    done = subprocess.run([sys.executable, str(STANDINS / "benchmark_model.py"), f"--graph={model}", "--signature_to_run_for=step",
                           "--num_runs=1", f"--input_layer_value_files={values}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == -6  # SIGABRT; a shell reports 134
    assert "FATAL: Cannot find the corresponding input_layer name(frame) in --input_layer as " in done.stderr


@pytest.mark.parametrize("pal, logging, message", [
    ("posix", "on", None),  # a posix-PAL build: its lines on stderr, no logcat needed
    ("android", "off", "printed no timing: nothing on stdout or stderr, and nothing in logcat under the tag ExecuTorch"),
])
def test_adb_executor_runner_builds(exported: dict[str, object], phone: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                    pal: str, logging: str, message: str | None) -> None:
    monkeypatch.setenv("STANDIN_ET_PAL", pal)
    monkeypatch.setenv("STANDIN_ET_LOGGING", logging)
    tool = _wrapper(phone["tools"], "executor_runner", STANDINS / "executor_runner.py")
    result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.pte"), "--runner", str(tool),  # type: ignore[operator]
                                      "--runs", "2", "--warmup", "1", "--cooldown", "0", "--json", str(phone["json"])])
    if message is None:
        assert result.exit_code == 0, result.output
        assert json.loads(phone["json"].read_text())["models"][0]["entries"]["step"]["count"] == 2
        assert not any(e.get("args", [None] * 3)[2:4] == ["logcat", "-d"] for e in _log(phone["root"]))  # type: ignore[index]
    else:
        assert result.exit_code == 1 and message in " ".join(result.output.split()), result.output
        assert "EXECUTORCH_ENABLE_LOGGING=ON" in result.output and "Traceback" not in result.output


def test_adb_dry_run_prints_the_exact_commands(exported: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb: a dry run needs none
    (tmp_path / "benchmark_model").write_text("")
    (tmp_path / "executor_runner").write_text("")
    tflite = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"),  # type: ignore[operator]
                                      "--runner", str(tmp_path / "benchmark_model"), "--serial", "R5CT1234", "--dry-run"])
    assert tflite.exit_code == 0, tflite.output
    lines = tflite.output.splitlines()
    step = next(line for line in lines if "--signature_to_run_for=step" in line)
    assert step.startswith("adb -s R5CT1234 shell '/data/local/tmp/mobileseg-bench-")
    assert "--input_layer=step_frame,step_mem_key,step_mem_value --input_layer_shape=1,3,64,96:" in step
    assert sum(line.startswith("adb -s R5CT1234 push ") for line in lines) == 2 + 5 and lines[-1].startswith("adb -s R5CT1234 shell 'rm -rf ")
    pte = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.pte"),  # type: ignore[operator]
                                   "--runner", str(tmp_path / "executor_runner"), "--big-cores", "--dry-run"])
    assert pte.exit_code == 0 and "adb -s SERIAL logcat -c" in pte.output and "logcat -d --pid=PID -s ExecuTorch:I" in pte.output
    assert "exec taskset MASK /data/local/tmp/mobileseg-bench-" in pte.output and not (tmp_path / "bench.json").exists()


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


def test_adb_serial_from_the_environment_is_named_as_such(exported: dict[str, object], phone: dict[str, Path],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANDROID_SERIAL", "bogus")
    tool = _wrapper(phone["tools"], "benchmark_model", STANDINS / "benchmark_model.py")
    result = CliRunner().invoke(cli, ["bench", "--device", "adb", "--model", str(exported["out"] / "student.tflite"),  # type: ignore[operator]
                                      "--runner", str(tool), "--json", str(phone["json"])])
    assert result.exit_code == 1 and "ANDROID_SERIAL=bogus (from the environment) is not connected" in " ".join(result.output.split())


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
