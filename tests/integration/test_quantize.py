"""The lite student and quantised exports: every (target, precision) pair the registry offers is
written, run in its real runtime against the fp32 PyTorch tracker, and gated on J&F.

J&F is measured on a pseudo-labelled set: its annotations are the fp32 checkpoint's own
predictions, so the fp32 J&F is exactly 100 and every point a quantised file loses is
disagreement with fp32. That makes the gate testable with a model trained for seconds.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result

from mobileseg.artifact.contract import load_contract
from mobileseg.checkpoint import model_from_checkpoint
from mobileseg.cli import cli
from mobileseg.data.datasets import open_dataset
from mobileseg.data.io import save_frame
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import ConfigError
from mobileseg.eval.predict import predict_dataset
from mobileseg.export import FORMATS
from mobileseg.export.android import ASSETS, MANIFEST, check_for_app
from mobileseg.export.pipeline import ExportError, ExportRequest, export_checkpoint
from mobileseg.export.quantize import record_calibration
from mobileseg.runtime import open_runtime
from mobileseg.runtime.xnnpack_plan import xnnpack_plan
from mobileseg.sources import checkpoint_source
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow
APP = Path(__file__).resolve().parents[2] / "android_demo"
SIZE = (64, 96)
PAIRS = [(name, p) for name in FORMATS.names() for p in FORMATS.get(name).precisions if FORMATS.get(name).runtime]
# agreement with the fp32 tracker over the parity video, per precision (mean mask IoU, max |dprob|)
AGREEMENT = {"fp16": (0.99, 0.02), "dynamic-int8": (0.95, 0.2), "int8": (0.8, 0.6)}


@pytest.fixture(scope="module")
def lite(trained: dict[str, Path]) -> Path:
    config = TrainConfig(model="mobilevos_r18_mv2_lite_tiny", out=str(trained["root"] / "lite"), data=str(trained["data"]),
                         steps=8, batch_size=2, crop=(48, 64), val_every=0, bn_batches=2, lr=1e-3)
    return train(config).best  # type: ignore[return-value]


@pytest.fixture(scope="module")
def labelled(lite: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SynthVOS val set whose annotations after frame 0 are the fp32 checkpoint's predictions."""
    root = tmp_path_factory.mktemp("labelled")
    data = generate_synthvos(root / "set", SynthConfig(videos=4, frames=10, height=SIZE[0], width=SIZE[1], objects=(1, 1), seed=21,
                                                        val_fraction=0.5))
    source = checkpoint_source(lite)
    predict_dataset(source.make, open_dataset(data, "val"), results=root / "pred", size=SIZE, score=False)
    for sequence in (p for p in (root / "pred").iterdir() if p.is_dir()):
        for png in sequence.glob("*.png"):
            if png.stem != "00000":
                shutil.copy(png, data / "Annotations" / "480p" / sequence.name / png.name)
    return data


def _request(checkpoint: Path, out: Path, data: Path, **kwargs: object) -> ExportRequest:
    return ExportRequest(checkpoint=checkpoint, out=out, size=SIZE, parity_frames=12, data=data, **kwargs)  # type: ignore[arg-type]


def test_lite_student_exports_everywhere_with_whole_video_parity(lite: Path, tmp_path: Path) -> None:
    results = export_checkpoint(ExportRequest(checkpoint=lite, targets=["all"], out=tmp_path, size=SIZE))
    assert sorted(r.target for r in results) == ["coreml", "executorch", "onnx", "tflite"]
    for result in results:
        assert result.parity["passed"] is True
        if result.target != "coreml":
            assert result.parity["frames"] >= 30 and result.parity["max_abs_prob"] <= 1e-3
    assert load_contract(results[0].artifact).data["model"]["name"] == "mobilevos_r18_mv2_lite_tiny"


def test_onnx_weights_are_stored_once(lite: Path, tmp_path: Path) -> None:
    result = export_checkpoint(ExportRequest(checkpoint=lite, targets=["onnx"], out=tmp_path, size=SIZE))[0]
    files = load_contract(result.artifact).data["files"]
    assert files == {"init": "student.init.onnx", "step": "student.step.onnx", "weights": "student.weights"}
    model, _ = model_from_checkpoint(lite)
    param_bytes = 4 * sum(p.numel() for p in model.parameters() if p.ndim > 1 or p.numel() >= 256)
    weights, graphs = (tmp_path / "student.weights").stat().st_size, sum((tmp_path / files[e]).stat().st_size for e in ("init", "step"))
    assert weights <= 1.15 * param_bytes, f"weights file {weights} B for {param_bytes} B of parameters: stored twice?"
    assert graphs < weights


@pytest.mark.parametrize("target,precision", PAIRS, ids=[f"{t}-{p}" for t, p in PAIRS])
def test_quantised_export_runs_in_its_runtime_and_records_its_accuracy(lite: Path, labelled: Path, tmp_path: Path,
                                                                        target: str, precision: str) -> None:
    result = export_checkpoint(_request(lite, tmp_path, labelled, targets=[target], precision=precision,
                                        calibration_frames=24, max_jf_drop=100.0))[0]
    assert result.artifact.name.startswith(f"student-{precision}.")
    contract = load_contract(result.artifact).data
    assert contract["export"]["precision"] == precision
    figures = contract["parity"]
    assert figures["kind"] == "agreement" and figures["jf_fp32"] == pytest.approx(100.0)  # pseudo labels: fp32 is exact
    assert figures["jf_drop"] == pytest.approx(figures["jf_fp32"] - figures["jf"], abs=1e-3) and figures["gate"]["passed"]
    min_iou, max_prob = AGREEMENT[precision]
    assert figures["iou_mean"] >= min_iou and figures["max_abs_prob"] <= max_prob, figures["summary"]
    # inputs and outputs stay float32: the runtime drives it with the fp32 contract, state fed back
    runtime = open_runtime(result.artifact)
    frame = torch.rand(1, 3, *SIZE)
    state = runtime.tracker().init(frame, torch.ones(1, 1, *SIZE))
    prob, state = runtime.tracker().step(frame, state)
    assert prob.dtype == torch.float32 and all(s.dtype == torch.float32 for s in state)
    if precision == "int8":
        assert contract["export"]["calibration"]["step_samples"] == 24
    if (target, precision) == ("tflite", "int8"):  # what XNNPACK takes (issue: int8 slower than fp32 in TFLite)
        plan = xnnpack_plan(result.artifact, "step")
        convs = [op for op in plan.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")]
        assert convs and all(op.dtypes[-1] == "INT8" for op in convs), plan.count(convs)
        readout = [op for op in plan.ops if op.name in ("BATCH_MATMUL", "SOFTMAX")]
        assert len(readout) == 3 and all(op.dtypes[-1] == "FLOAT32" for op in readout), plan.count(readout)
        # the whole read-out (its affinity logits too) in float: INT8_FLOAT_SCOPES by the module's name
        reader = [op for op in plan.ops if "MemoryReader_reader" in op.scope]
        assert {"SUB", "MUL", "BATCH_MATMUL", "SOFTMAX"} <= {op.name for op in reader}, plan.count(reader)
        assert all(op.dtypes[-1] == "FLOAT32" for op in reader if op.name != "QUANTIZE"), plan.count(reader)  # QUANTIZE: to the decoder
        left = {op.name for op in plan.left}
        assert not left & {"CONV_2D", "DEPTHWISE_CONV_2D", "BATCH_MATMUL", "SOFTMAX", "RESIZE_BILINEAR"}, plan.summary()["left"]


def _black(labelled: Path, tmp_path: Path) -> Path:
    """``labelled`` with every frame black: int8 calibrated on it loses far more than 1 J&F point."""
    black = tmp_path / "black"
    shutil.copytree(labelled, black)
    for jpeg in (black / "JPEGImages").rglob("*.jpg"):
        save_frame(jpeg, np.zeros((*SIZE, 3), np.uint8))
    return black


def _app(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    (app / MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(APP / MANIFEST, app / MANIFEST)
    return app


def _export_android(lite: Path, labelled: Path, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["export", "--checkpoint", str(lite), "--size", f"{SIZE[0]}x{SIZE[1]}", "--parity-frames", "6",
                                    "--data", str(labelled), "--calibration-frames", "24", "--out", str(tmp_path / "out"),
                                    "--android", str(_app(tmp_path)), *args])


def test_export_android_defaults_to_tflite_int8(lite: Path, labelled: Path, tmp_path: Path) -> None:
    result = _export_android(lite, labelled, tmp_path, "--max-jf-drop", "100")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["student-int8.tflite",
                                                                                                  "student-int8.tflite.json"]
    assets = tmp_path / "app" / ASSETS
    assert sorted(p.name for p in assets.iterdir()) == ["student-int8.tflite", "student-int8.tflite.json"]
    contract = load_contract(assets / "student-int8.tflite.json").data
    assert contract["export"]["precision"] == "int8" and contract["parity"]["gate"]["passed"] is True
    check_for_app(contract)


def test_export_android_falls_back_to_fp32_when_int8_fails_the_gate(lite: Path, labelled: Path, tmp_path: Path) -> None:
    result = _export_android(lite, labelled, tmp_path, "--calibration-data", str(_black(labelled, tmp_path)))
    assert result.exit_code == 0, result.output
    assert "more than --max-jf-drop 1.0" in result.output and "the app gets the fp32 file instead" in result.output
    assets = tmp_path / "app" / ASSETS
    assert sorted(p.name for p in assets.iterdir()) == ["student.tflite", "student.tflite.json"]
    assert load_contract(assets / "student.tflite.json").data["export"]["precision"] == "fp32"
    # an explicit --quantize int8 is not replaced: the gate's refusal is the answer
    again = _export_android(lite, labelled, tmp_path, "--calibration-data", str(tmp_path / "black"), "--quantize", "int8")
    assert again.exit_code == 1 and "Nothing is written" in again.output and "fp32 file instead" not in again.output


def test_int8_calibrated_on_black_frames_is_refused_and_writes_nothing(lite: Path, labelled: Path, tmp_path: Path) -> None:
    black = _black(labelled, tmp_path)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match=r"tflite int8: .*J&F .* vs fp32 100.00 .*more than --max-jf-drop 1.0.*Nothing is written"):
        export_checkpoint(_request(lite, out, labelled, targets=["tflite"], precision="int8", calibration_data=black))
    assert not list(out.glob("student-int8*")) and not list(out.glob(".student*"))
    allowed = export_checkpoint(_request(lite, out, labelled, targets=["tflite"], precision="int8", calibration_data=black,
                                         allow_accuracy_drop=True))[0]
    figures = load_contract(allowed.artifact).data["parity"]
    assert figures["jf_drop"] > 1.0 and figures["gate"] == {"max_jf_drop": 1.0, "allowed_drop": True, "passed": False}
    # verify holds a quantised file to its accuracy, not to the fp32 parity tolerance
    verdict = CliRunner().invoke(cli, ["verify", str(allowed.artifact), "--data", str(labelled), "--frames", "6"])
    assert verdict.exit_code == 1 and "loses more than --max-jf-drop 1.0 J&F points" in verdict.output, verdict.output
    assert "vs fp32 100.00" in verdict.output


def test_coreml_fp16_is_written_only_when_the_unmeasured_accuracy_is_allowed(lite: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="cannot be measured here.*--allow-accuracy-drop"):
        export_checkpoint(ExportRequest(checkpoint=lite, targets=["coreml"], out=tmp_path, size=SIZE, precision="fp16"))
    assert not list(tmp_path.glob("student-fp16*"))
    result = export_checkpoint(ExportRequest(checkpoint=lite, targets=["coreml"], out=tmp_path, size=SIZE, precision="fp16",
                                             allow_accuracy_drop=True))[0]
    contract = load_contract(result.artifact).data
    assert contract["parity"]["measured"] is False and contract["export"]["compute_precision"] == "float16"


def test_unsupported_pair_and_bad_calibration_data_are_refused(lite: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"target 'executorch' has no fp16 export \(it offers: int8\)"):
        export_checkpoint(ExportRequest(checkpoint=lite, targets=["executorch"], out=tmp_path, size=SIZE, precision="fp16"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Exception, match=str(empty)):
        export_checkpoint(ExportRequest(checkpoint=lite, targets=["tflite"], out=tmp_path / "out", size=SIZE, precision="int8", calibration_data=empty))


def test_calibration_records_the_state_the_tracker_feeds_back(lite: Path) -> None:
    model, _ = model_from_checkpoint(lite)
    calibration = record_calibration(model, SIZE, objects=1, frames=30)
    assert len(calibration.step) == 30 and len(calibration.init) == 2  # 24-frame videos: 23 steps, then a second video
    with torch.no_grad():
        state = model.init(*calibration.init[0])
        for sample in calibration.step[:23]:
            assert all(torch.equal(a, b) for a, b in zip(sample[1:], state))
            _, *state = model.step(*sample)
    assert not torch.equal(calibration.step[1][1], calibration.step[10][1]) or not torch.equal(calibration.step[1][2], calibration.step[10][2])
