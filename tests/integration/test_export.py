"""Export a small trained student to every target and check it in the real runtimes.

ONNX, TFLite and ExecuTorch files run in onnxruntime, ai-edge-litert and executorch over whole
videos; the Core ML package cannot run on Linux, so its saved spec is checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mobileseg.artifact.contract import ContractError, load_contract
from mobileseg.checkpoint import CheckpointError
from mobileseg.cli import cli
from mobileseg.data.davis import open_davis2017
from mobileseg.errors import ConfigError
from mobileseg.eval.predict import predict_dataset
from mobileseg.export.pipeline import ExportRequest, ExportResult, export_checkpoint
from mobileseg.runtime import open_runtime
from mobileseg.runtime.base import RuntimeInputError, ToolchainError
from mobileseg.sources import artifact_source

pytestmark = pytest.mark.slow
SIZE = (64, 96)
ROOT = Path(__file__).resolve().parents[2]


def test_every_target_is_written_with_a_passing_contract(exported: dict[str, object]) -> None:
    results = exported["results"]
    assert sorted(results) == ["coreml", "executorch", "onnx", "tflite"]  # type: ignore[arg-type]
    for target, result in results.items():  # type: ignore[union-attr]
        contract = load_contract(result.artifact)
        data = contract.data
        assert data["target"] == target and data["input"]["height"] == SIZE[0] and data["input"]["width"] == SIZE[1]
        assert [t["name"] for t in data["entry_points"]["step"]["inputs"]] == ["frame", "mem_key", "mem_value"]
        assert [t["name"] for t in data["entry_points"]["step"]["outputs"]] == ["prob", "new_mem_key", "new_mem_value"]
        assert data["feedback"]["step"] == {"new_mem_key": "mem_key", "new_mem_value": "mem_value"}
        assert data["model"]["checkpoint_sha256"] and data["toolchain"]["torch"]
        parity = data["parity"]
        assert parity["passed"] is True
        if target == "coreml":
            assert parity["kind"] == "spec" and set(parity["functions"]) == {"init", "step"}
        else:
            assert parity["kind"] == "video" and parity["frames"] >= 30
            assert parity["max_abs_prob"] <= 1e-3 and parity["iou_min"] >= 0.999
            assert len(parity["per_frame"]) == parity["frames"] - 1
    onnx = load_contract(results["onnx"].artifact).data  # type: ignore[index]
    assert onnx["export"]["opset"] == 18 and set(onnx["files"].values()) == {"student.init.onnx", "student.step.onnx", "student.weights"}
    assert "step" in load_contract(results["executorch"].artifact).data["export"]["outside_delegate"]  # type: ignore[index]


def test_runtimes_match_pytorch_over_a_video_with_their_own_state(exported: dict[str, object], trained: dict[str, Path]) -> None:
    from mobileseg.checkpoint import model_from_checkpoint
    from mobileseg.export.parity import compare_trackers, parity_video
    from mobileseg.models import NetworkTracker

    model, _ = model_from_checkpoint(trained["student"])
    frames, first = parity_video(*SIZE, frames=32, seed=9)  # another video than the export used
    for target in ("onnx", "tflite", "executorch"):
        runtime = open_runtime(exported["out"] / f"student{ {'onnx': '.onnx', 'tflite': '.tflite', 'executorch': '.pte'}[target] }")  # type: ignore[operator]
        report = compare_trackers(NetworkTracker(model), runtime.tracker(), frames, first)
        assert report.passed, f"{target}: {report.describe()}"


def test_runtime_eval_reproduces_checkpoint_jf(exported: dict[str, object], trained: dict[str, Path]) -> None:
    from mobileseg.checkpoint import model_from_checkpoint
    from mobileseg.models import NetworkTracker

    val = open_davis2017(trained["data"], "val")
    model, _ = model_from_checkpoint(trained["student"])
    # the files take one object per state (--objects 1): the checkpoint tracks the same way here
    expected = predict_dataset(lambda: NetworkTracker(model, objects=1), val, size=SIZE).report.summary()["J&F-Mean"]  # type: ignore[union-attr]
    for suffix in (".onnx", ".tflite", ".pte"):
        source = artifact_source(exported["out"] / f"student{suffix}")  # type: ignore[operator]
        assert source.make().objects == 1  # type: ignore[attr-defined]
        got = predict_dataset(source.make, val, size=source.size).report.summary()["J&F-Mean"]  # type: ignore[union-attr]
        assert abs(got - expected) <= 0.002, f"{suffix}: J&F {got:.4f} vs checkpoint {expected:.4f} (0.2 points allowed)"


def test_readme_example_runs_without_mobileseg(exported: dict[str, object], tmp_path: Path) -> None:
    text = (ROOT / "README.md").read_text()
    code = re.search(r"<!-- example:litert -->\n```python\n(.*?)```\n<!-- /example:litert -->", text, re.S).group(1)  # type: ignore[union-attr]
    assert "mobileseg" not in code and len(code.strip().splitlines()) <= 15
    (tmp_path / "export").mkdir()
    os.symlink(exported["out"], tmp_path / "export" / "out")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    counts = [int(line.split(":")[1]) for line in result.stdout.splitlines() if line.startswith("object pixels:")]
    assert len(counts) == 4


def test_cli_export_verify_eval_and_clear_errors(exported: dict[str, object], trained: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", str(exported["out"] / "student.pte")])  # type: ignore[operator]
    assert ok.exit_code == 0 and "parity passed" in ok.output, ok.output
    spec = runner.invoke(cli, ["verify", str(exported["out"] / "student.mlpackage")])  # type: ignore[operator]
    assert spec.exit_code == 0 and "macOS" in spec.output
    scored = runner.invoke(cli, ["eval", "--data", str(trained["data"]), "--model", str(exported["out"] / "student.step.onnx")])  # type: ignore[operator]
    assert scored.exit_code == 0 and "J&F-Mean" in scored.output, scored.output
    teacher = runner.invoke(cli, ["export", "--checkpoint", str(trained["teacher"]), "--target", "onnx", "--size", "64x96", "--out", str(tmp_path)])
    assert teacher.exit_code == 1 and "teacher" in teacher.output and "student" in teacher.output
    odd = runner.invoke(cli, ["export", "--checkpoint", str(trained["student"]), "--target", "onnx", "--size", "65x96", "--out", str(tmp_path)])
    assert odd.exit_code == 1 and "multiples of 16" in odd.output
    assert "Traceback" not in teacher.output + odd.output


def test_parity_miss_fails_the_export_and_writes_nothing(trained: dict[str, Path], tmp_path: Path) -> None:
    from mobileseg.export.parity import Tolerance
    from mobileseg.export.pipeline import ExportError

    impossible = Tolerance(max_abs_prob=0.0, min_iou=1.0)  # fp32 runtimes never match to the last bit
    with pytest.raises(ExportError, match="parity FAILED.*not written"):
        export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["onnx"], out=tmp_path / "o", size=SIZE,
                                        tolerance=impossible))
    assert not any((tmp_path / "o").glob("student*")) and not any((tmp_path / "o").glob(".student*"))


def test_cli_recipe_with_override(trained: dict[str, Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "--checkpoint", str(trained["student"]), "--recipe", str(ROOT / "export" / "recipes" / "executorch.yaml"),
                                      "--size", "64x96", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "executorch" in result.output and "outside XNNPACK" in result.output
    assert load_contract(tmp_path / "student.pte").size == SIZE  # the command line beats the recipe's 480x864


def test_missing_toolchain_names_the_extra(trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("litert_torch") else real(name, *a))
    with pytest.raises(ToolchainError, match=r"mobileseg\[tflite\]"):
        export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["tflite"], out=tmp_path, size=SIZE))
    with pytest.raises(CheckpointError, match="teacher"):
        export_checkpoint(ExportRequest(checkpoint=trained["teacher"], targets=["onnx"], out=tmp_path, size=SIZE))
    with pytest.raises(ConfigError, match="multiples of 16"):
        export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["onnx"], out=tmp_path, size=(64, 100)))


def test_wrong_input_size_and_mismatched_files(exported: dict[str, object], tmp_path: Path) -> None:
    runtime = open_runtime(exported["out"] / "student.tflite")  # type: ignore[operator]
    with pytest.raises(RuntimeInputError, match=r"exported for \(1, 3, 64, 96\)"):
        runtime.tracker().init(torch.zeros(1, 3, 128, 96), torch.zeros(1, 1, 128, 96))
    with pytest.raises(ContractError, match="no contract"):
        open_runtime(tmp_path / "missing.tflite")


TALL = (256, 96)  # h = 16 equals channel counts of the tiny model (where a broadcast bug once hid)


@pytest.fixture(scope="module")
def tall(trained: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    """The student exported to TFLite at a second size, once for the tests below."""
    out = tmp_path_factory.mktemp("tall")
    return {r.target: r for r in export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["tflite"], out=out, size=TALL))}


@pytest.mark.parametrize("suffix", [".tflite", ".pte", ".onnx"])
def test_contract_that_does_not_match_its_file_says_which_side_changed(exported: dict[str, object], tmp_path: Path, suffix: str) -> None:
    out: Path = exported["out"]  # type: ignore[assignment]
    original = json.loads((out / f"student{suffix}.json").read_text())
    files = sorted(set(original["files"].values()))

    def place(folder: Path, contract: dict[str, object], source: Path = out) -> Path:
        folder.mkdir()
        for name in files:
            (folder / name).symlink_to(source / name)
        (folder / f"student{suffix}.json").write_text(json.dumps(contract))
        return folder / f"student{suffix}"

    # 1. the input section edited by hand: the contract contradicts its own entry points
    edited = json.loads(json.dumps(original))
    edited["input"]["height"] = 32
    with pytest.raises(ContractError, match=r"contradicts itself: its input section says 32x96.*edited by hand"):
        open_runtime(place(tmp_path / "height", edited))
    # 2. edited consistently (every frame/mask/prob shape at 32 rows): the file's own view disagrees
    for entry in edited["entry_points"].values():
        for spec in entry["inputs"] + entry["outputs"]:
            if spec["name"] in ("frame", "mask", "prob"):
                spec["shape"][2] = 32
    with pytest.raises(ContractError, match=r"frame.*the contract says \[1, 3, 32, 96\], the file has \[1, 3, 64, 96\].*so the contract was edited"):
        open_runtime(place(tmp_path / "shapes", edited))
    # 3. a model file replaced by another with the same shapes (one weight changed): its sha256 is not the recorded one
    replaced = tmp_path / "replaced"
    replaced.mkdir()
    for name in files:
        shutil.copy(out / name, replaced / name)
    (replaced / f"student{suffix}.json").write_text(json.dumps(original))
    victim = replaced / files[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(ContractError, match=rf"{victim.name} is not the file student{suffix}.json was exported with.*the model file was replaced"):
        open_runtime(replaced / f"student{suffix}")


def test_tflite_at_a_second_size_and_two_objects_in_onnx(tall: dict[str, ExportResult], trained: dict[str, Path], tmp_path: Path) -> None:
    assert tall["tflite"].parity["passed"] and load_contract(tall["tflite"].artifact).size == TALL
    pair = export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["onnx"], out=tmp_path / "pair", size=SIZE, objects=2))
    contract = load_contract(pair[0].artifact).data
    assert contract["entry_points"]["init"]["inputs"][1]["shape"] == [2, 1, *SIZE] and pair[0].parity["passed"]


def test_recipes_and_format_table_are_current() -> None:
    from mobileseg.export.readme import render
    from mobileseg.export.recipes import load_recipe

    readme = ROOT / "export" / "README.md"
    assert render(readme.read_text()) == readme.read_text(), "run: python -m mobileseg.export.readme"
    for recipe in sorted((ROOT / "export" / "recipes").glob("*.yaml")):
        loaded = load_recipe(recipe)
        assert loaded.targets and loaded.size and all(side % 16 == 0 for side in loaded.size)


def test_bad_recipe_is_refused(tmp_path: Path) -> None:
    from mobileseg.export.recipes import load_recipe

    (tmp_path / "r.yaml").write_text("target: tflite\nsize: 480x864\nexecute: rm -rf /\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        load_recipe(tmp_path / "r.yaml")
    (tmp_path / "s.yaml").write_text("size: big\n")
    with pytest.raises(ConfigError, match="HEIGHTxWIDTH"):
        load_recipe(tmp_path / "s.yaml")
    assert np.isfinite(1.0)
