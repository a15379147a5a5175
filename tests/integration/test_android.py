"""The Android demo app's JVM module (android_demo/core), compiled and tested with the JDK, and
checked against the Python side on the same inputs: the contract reader (every contract the export
writes; broken ones), the model file's digest, camera image -> frame tensor, and box -> first mask.
Also ``mobileseg export --android``.

The APK itself cannot be built here (no Android SDK or Gradle plugin); everything it does
without Android lives in android_demo/core and runs below. Without a JDK (javac) or Debian's
junit4 these tests are skipped, each saying why (``make test`` prints the reasons: ``-ra``).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from mobileseg.artifact.contract import ContractError, sha256
from mobileseg.cli import cli
from mobileseg.data.boxes import box_to_mask
from mobileseg.export.android import ASSETS, MANIFEST, camera_frame, check_for_app, check_model_file, install_into_app
from tests.android_jvm import compile_core, java

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "android_demo"
CORE = APP / "core" / "src"


@pytest.fixture(scope="module")
def jvm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The core module and its tests (Probe, the benchmark) compiled into one class folder."""
    return compile_core(tmp_path_factory.mktemp("jvm"))


def test_core_has_no_android_imports() -> None:
    for source in CORE.rglob("*.java"):
        text = source.read_text()
        assert "import android" not in text and "import androidx" not in text, f"{source} imports Android: the core must stay a plain JVM module"


def test_junit_suite_passes(jvm: Path) -> None:
    tests = sorted(p.stem for p in (CORE / "test").rglob("*Test.java"))
    assert len(tests) >= 3
    done = java(jvm, "org.junit.runner.JUnitCore", *[f"io.mobileseg.core.{name}" for name in tests])
    assert done.returncode == 0 and "OK (" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("width,height,pad,rotation,out", [
    (64, 48, 0, 0, (48, 64)),     # same size: a copy
    (97, 61, 12, 90, (32, 48)),   # padded rows, portrait after rotation, crop and downscale
    (50, 80, 4, 180, (48, 80)),   # upscale
    (120, 40, 0, 270, (16, 32)),
    (33, 33, 8, 0, (32, 64)),     # crop of a square to 2:1
])
def test_frame_tensor_matches_python(jvm: Path, tmp_path: Path, width: int, height: int, pad: int, rotation: int, out: tuple[int, int]) -> None:
    rng = np.random.default_rng(width * height + rotation)
    image = rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)
    rows = np.zeros((height, width * 4 + pad), dtype=np.uint8)
    rows[:, :width * 4] = image.reshape(height, width * 4)
    (tmp_path / "image.rgba").write_bytes(rows.tobytes())
    done = java(jvm, "io.mobileseg.core.Probe", "frame", str(tmp_path / "image.rgba"), str(width), str(height), str(width * 4 + pad), "4",
                str(rotation), str(out[0]), str(out[1]), str(tmp_path / "frame.f32"))
    assert done.returncode == 0, done.stderr
    from_java = np.fromfile(tmp_path / "frame.f32", dtype="<f4").reshape(1, 3, *out)
    from_python = camera_frame(image, rotation, out).numpy()
    np.testing.assert_allclose(from_java, from_python, rtol=0, atol=2e-6)
    assert from_java.std() > 0.1  # a real image went through, not zeros


@pytest.mark.parametrize("box", [(3.0, 2.0, 17.0, 11.0), (0.4, 0.5, 9.5, 30.2), (-5.0, 7.25, 100.0, 7.75), (12.0, 3.0, 4.0, 9.0), (0.0, 0.0, 40.0, 24.0)])
def test_box_mask_matches_python(jvm: Path, tmp_path: Path, box: tuple[float, float, float, float]) -> None:
    done = java(jvm, "io.mobileseg.core.Probe", "box", *map(str, box), "24", "40", str(tmp_path / "mask.f32"))
    assert done.returncode == 0, done.stderr
    from_java = np.fromfile(tmp_path / "mask.f32", dtype="<f4").reshape(24, 40)
    np.testing.assert_array_equal(from_java, box_to_mask(box, 24, 40))
    assert done.stdout.strip() == f"set {int(box_to_mask(box, 24, 40).sum())}"


def _verdicts(jvm: Path, path: Path) -> tuple[bool, str, bool, str]:
    done = java(jvm, "io.mobileseg.core.Probe", "contract", str(path))
    assert done.returncode in (0, 3), done.stderr
    try:
        check_for_app(json.loads(path.read_text()), str(path))
        python_ok, python_says = True, ""
    except ContractError as exc:
        python_ok, python_says = False, str(exc)
    return done.returncode == 0, done.stdout.strip(), python_ok, python_says


def test_contract_reader_agrees_with_the_exporter(jvm: Path, exported: dict[str, object]) -> None:
    out: Path = exported["out"]  # type: ignore[assignment]
    contracts = sorted(out.glob("student*.json"))
    assert {p.name for p in contracts} >= {"student.tflite.json", "student.onnx.json", "student.pte.json"}
    for path in contracts:
        java_ok, java_says, python_ok, python_says = _verdicts(jvm, path)
        app_can_run = path.name.endswith(".tflite.json")
        assert java_ok == python_ok == app_can_run, (path.name, java_says, python_says)
        if app_can_run:
            assert java_says == "ok 64x96 student.tflite state=mem_key,mem_value"
        else:
            assert "target is" in java_says and "target is" in python_says


def _one_state_shape(data: dict[str, Any]) -> None:
    """Gives mem_value (and new_mem_value) mem_key's shape everywhere, so that only the names tell the two states apart."""
    specs = [spec for entry in data["entry_points"].values() for kind in ("inputs", "outputs") for spec in entry[kind]]
    key = next(spec["shape"] for spec in specs if spec["name"] == "mem_key")
    for spec in specs:
        if spec["name"] in ("mem_value", "new_mem_value"):
            spec["shape"] = list(key)


def _swapped(section: str) -> Callable[[dict[str, Any]], None]:
    """A feedback section whose two states trade places, with states of one shape: the shape check alone passes it."""
    swap = {"init": {"mem_key": "mem_value", "mem_value": "mem_key"}, "step": {"new_mem_key": "mem_value", "new_mem_value": "mem_key"}}[section]

    def edit(data: dict[str, Any]) -> None:
        _one_state_shape(data)
        data["feedback"][section] = swap

    return edit


MUTATIONS = {  # what a hand edit or another exporter could produce -> a word both messages must hold
    "version": (lambda d: d.update(contract_version=2), "contract_version"),
    "objects": (lambda d: d["input"].update(objects=3), "3 objects"),
    "dtype": (lambda d: d["entry_points"]["step"]["outputs"][0].update(dtype="int8"), "int8"),
    "frame shape": (lambda d: d["entry_points"]["step"]["inputs"][0].update(shape=[1, 3, 32, 96]), "frame"),
    "state shape": (lambda d: d["entry_points"]["step"]["outputs"][1]["shape"].__setitem__(2, 99), "new_mem_key"),
    "no feedback": (lambda d: d.pop("feedback"), "feedback"),
    "feedback to nowhere": (lambda d: d["feedback"]["step"].update(new_mem_value="mem_valu"), "mem_valu"),
    "two files": (lambda d: d["files"].update(init="other.tflite"), "one .tflite file"),
    "no prob": (lambda d: d["entry_points"]["step"]["outputs"][0].update(name="probability"), "prob"),
    "swapped step feedback": (_swapped("step"), "feedback.step fills state input mem_key from new_mem_value; the export fills it from step output new_mem_key"),
    "swapped init feedback": (_swapped("init"), "feedback.init fills state input mem_key from mem_value; the export fills it from init output mem_key"),
    "no sha256": (lambda d: d.pop("sha256"), "no sha256 digest of student.tflite"),
    "sha256 of another file": (lambda d: d.update(sha256={"other.tflite": d["sha256"]["student.tflite"]}), "no sha256 digest of student.tflite"),
    "malformed sha256": (lambda d: d["sha256"].update({"student.tflite": "0" * 63}), "64 hex digits"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_broken_contracts_are_rejected_by_both_with_a_clear_message(jvm: Path, exported: dict[str, object], tmp_path: Path, mutation: str) -> None:
    data = json.loads((exported["out"] / "student.tflite.json").read_text())  # type: ignore[operator]
    edit, word = MUTATIONS[mutation]
    broken = copy.deepcopy(data)
    edit(broken)
    path = tmp_path / "student.tflite.json"
    path.write_text(json.dumps(broken))
    java_ok, java_says, python_ok, python_says = _verdicts(jvm, path)
    assert not java_ok and not python_ok, (java_says, python_says)
    for message in (java_says, python_says):
        assert word in message and "mobileseg export" in message, message


def test_states_of_one_shape_in_the_exported_order_are_accepted_by_both(jvm: Path, exported: dict[str, object], tmp_path: Path) -> None:
    """The swapped-feedback mutations above are refused for the swap, not for the equalised shapes they also make."""
    data = json.loads((exported["out"] / "student.tflite.json").read_text())  # type: ignore[operator]
    _one_state_shape(data)
    path = tmp_path / "student.tflite.json"
    path.write_text(json.dumps(data))
    java_ok, java_says, python_ok, python_says = _verdicts(jvm, path)
    assert java_ok and python_ok, (java_says, python_says)


def test_model_digest_is_checked_by_both(jvm: Path, exported: dict[str, object], tmp_path: Path) -> None:
    """The exported model passes the digest check of the app (ModelDigest) and of export --android; a replaced one
    (one byte changed: same tensors, other weights) fails both, each naming the file and both digests."""
    out: Path = exported["out"]  # type: ignore[assignment]
    contract = out / "student.tflite.json"
    data = json.loads(contract.read_text())
    done = java(jvm, "io.mobileseg.core.Probe", "model", str(contract), str(out / "student.tflite"))
    assert done.returncode == 0 and done.stdout.strip() == f"ok sha256 {data['sha256']['student.tflite']}", done.stdout + done.stderr
    check_model_file(data, out / "student.tflite", str(contract))
    replaced = bytearray((out / "student.tflite").read_bytes())
    replaced[len(replaced) // 2] ^= 0xFF
    (tmp_path / "student.tflite").write_bytes(bytes(replaced))
    done = java(jvm, "io.mobileseg.core.Probe", "model", str(contract), str(tmp_path / "student.tflite"))
    with pytest.raises(ContractError) as python_says:
        check_model_file(data, tmp_path / "student.tflite", str(contract))
    assert done.returncode == 3, done.stdout + done.stderr
    found = sha256(tmp_path / "student.tflite")
    for message in (done.stdout, str(python_says.value)):
        assert f"student.tflite has sha256 {found}, but the contract records {data['sha256']['student.tflite']}" in message, message
        assert "the model file was replaced or the contract edited" in message and "export again" in message, message


def _app_copy(tmp_path: Path) -> Path:
    app = tmp_path / "app_project"
    (app / MANIFEST).parent.mkdir(parents=True)
    shutil.copy(APP / MANIFEST, app / MANIFEST)
    (app / ASSETS).mkdir(parents=True)
    (app / ASSETS / "old.tflite").write_bytes(b"stale")
    (app / ASSETS / "notes.txt").write_text("kept")
    return app


def test_export_android_copies_a_checked_model_into_the_assets(jvm: Path, trained: dict[str, Path], tmp_path: Path) -> None:
    app = _app_copy(tmp_path)
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(trained["student"]), "--target", "tflite", "--size", "64x96",
                                      "--parity-frames", "4", "--out", str(tmp_path / "out"), "--android", str(app),
                                      "--quantize", "fp32"])  # the default for the app, int8, is tested in test_quantize.py
    assert result.exit_code == 0, result.output
    assets = app / ASSETS
    assert sorted(p.name for p in assets.iterdir()) == ["notes.txt", "student.tflite", "student.tflite.json"]
    assert (assets / "student.tflite").read_bytes() == (tmp_path / "out" / "student.tflite").read_bytes()
    assert "copied student.tflite, student.tflite.json" in result.output
    done = java(jvm, "io.mobileseg.core.Probe", "contract", str(assets / "student.tflite.json"))
    assert done.stdout.startswith("ok 64x96 student.tflite"), done.stdout


def test_export_android_refuses_a_replaced_model_file(exported: dict[str, object], tmp_path: Path) -> None:
    """A model file that is not the one its contract was exported with is not copied, and the app's assets stay as they were."""
    app = _app_copy(tmp_path)
    export = tmp_path / "export"
    export.mkdir()
    for name in ("student.tflite", "student.tflite.json"):
        shutil.copy(exported["out"] / name, export / name)  # type: ignore[operator]
    replaced = bytearray((export / "student.tflite").read_bytes())
    replaced[-1] ^= 0xFF
    (export / "student.tflite").write_bytes(bytes(replaced))
    # refused where the contract is loaded (mobileseg.artifact.contract), before the app's own copy-time check
    with pytest.raises(ContractError, match="student.tflite is not the file student.tflite.json was exported with.*the model file was replaced"):
        install_into_app(export / "student.tflite.json", app)
    assert sorted(p.name for p in (app / ASSETS).iterdir()) == ["notes.txt", "old.tflite"]
    swapped = json.loads((exported["out"] / "student.tflite.json").read_text())  # type: ignore[operator]
    swapped["feedback"]["step"] = {"new_mem_key": "mem_value", "new_mem_value": "mem_key"}
    (export / "student.tflite").write_bytes((exported["out"] / "student.tflite").read_bytes())  # type: ignore[operator]
    (export / "student.tflite.json").write_text(json.dumps(swapped))
    with pytest.raises(ContractError, match=r"feedback.step is \{'new_mem_key': 'mem_value', 'new_mem_value': 'mem_key'\}"):
        install_into_app(export / "student.tflite.json", app)
    assert sorted(p.name for p in (app / ASSETS).iterdir()) == ["notes.txt", "old.tflite"]


@pytest.mark.parametrize("args,message", [
    (["--target", "onnx"], "add --target tflite"),
    (["--target", "tflite", "--objects", "2"], "--objects 2 is not allowed"),
])
def test_export_android_refuses_before_exporting(trained: dict[str, Path], tmp_path: Path, args: list[str], message: str) -> None:
    app = _app_copy(tmp_path)
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(trained["student"]), "--out", str(tmp_path / "out"), "--android", str(app), *args])
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(trained["student"]), "--android", str(tmp_path), "--target", "tflite"])
    assert result.exit_code == 1 and "AndroidManifest.xml" in result.output, result.output
