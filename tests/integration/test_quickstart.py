"""`mobileseg quickstart` runs to the end and leaves its table and outputs where it says."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mobileseg.cli import cli


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mobileseg import quickstart
    from mobileseg.export import pipeline

    # first run, with two of the four targets: the TFLite file misses its parity check (forced here); the other
    # stages still run and the table says so
    verify, resolve = pipeline.verify_artifact, pipeline.resolve_targets

    def tflite_fails(artifact, *args, **kwargs):  # type: ignore[no-untyped-def]
        figures = verify(artifact, *args, **kwargs)
        if str(artifact).endswith(".tflite.json"):
            return {**figures, "passed": False, "summary": "parity FAILED over 30 frames (forced by the test)"}
        return figures

    monkeypatch.setattr(pipeline, "verify_artifact", tflite_fails)
    monkeypatch.setattr(quickstart, "resolve_targets", lambda targets: [f for f in resolve(targets) if f.name in ("onnx", "tflite")])
    # in this process, where the patches hold (the second run exports and scores in worker processes, as the standard budget does)
    monkeypatch.setitem(quickstart.BUDGETS, "tiny", dataclasses.replace(quickstart.BUDGETS["tiny"], workers=1))
    out = tmp_path / "qs"
    failed = CliRunner().invoke(cli, ["quickstart", "--out", str(out), "--budget", "tiny"])
    assert failed.exit_code == 1, failed.output
    assert failed.output.strip().splitlines()[-1].startswith("Error: the quickstart finished, but 1 of 2 export targets failed")
    assert "failed: tflite: parity FAILED over 30 frames (forced by the test)" in failed.output and "copy-first-mask" in failed.output
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["failed"]) == ["tflite"] and "forced by the test" in summary["failed"]["tflite"]
    assert [row["role"] for row in summary["rows"]][-2:] == ["exported student (KD)"] * 2  # onnx, then the failed tflite
    assert summary["rows"][-1]["note"].startswith("failed: tflite") and summary["rows"][-1].get("J&F") is None
    assert [t["format"] for t in summary["timings"]][2:] == ["onnx"]
    assert not (out / "export" / "student.tflite").exists()

    # a second run, with every target, reuses the dataset, the finished training runs and the export that passed,
    # and exports the rest (the failed one again), in worker processes
    monkeypatch.undo()
    kept = (out / "data" / "synthvos" / "synthvos.json", out / "runs" / "student-kd" / "best.pt", out / "export" / "student.onnx.json")
    stamps = [p.stat().st_mtime_ns for p in kept]
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(out), "--budget", "tiny"])
    assert result.exit_code == 0, result.output
    assert [p.stat().st_mtime_ns for p in kept] == stamps
    assert "copy-first-mask" in result.output and "J&F" in result.output and "failed" not in result.output
    summary = json.loads((out / "summary.json").read_text())
    roles = [row["role"] for row in summary["rows"]]
    assert roles == ["baseline", "teacher", "student (no KD)", "student (KD)", "student (KD), 1 object/state"] + ["exported student (KD)"] * 3
    for row in summary["rows"]:
        assert 0.0 <= row["J&F"] <= 1.0
    timings = summary["timings"]
    assert [t["role"] for t in timings] == ["teacher", "student (KD)"] + ["exported student (KD)"] * 3
    assert [t["format"] for t in timings][:2] == ["pytorch", "pytorch"] and all(t["ms @ frame 500"] > 0 for t in timings)
    assert all(row["params"] > 0 for row in summary["rows"][1:4])
    assert summary["rows"][2]["params"] == summary["rows"][3]["params"]  # the same student, with and without KD
    assert set(summary["runs"]) == {"teacher", "student (no KD)", "student (KD)"} and summary["failed"] == {}
    student = summary["rows"][4]["J&F"]  # the checkpoint with one object per state, as the files were exported
    assert summary["rows"][4]["params"] == summary["rows"][3]["params"]
    for row in summary["rows"][5:]:  # each runtime reproduces the distilled checkpoint's J&F
        assert abs(row["J&F"] - student) <= 0.002 and row["MB"] > 0
    assert sorted(p.name for p in (out / "export").glob("student*.json")) == [
        "student.mlpackage.json", "student.onnx.json", "student.pte.json", "student.tflite.json"]
    assert (out / "summary.md").read_text().startswith("| model")
    for name in ("copy-first-mask", "stcn_r50_r18_tiny-teacher", "mobilevos_r18_mv2_tiny-student-no-KD",
                 "mobilevos_r18_mv2_tiny-student-KD", "mobilevos_r18_mv2_tiny-tflite"):
        assert any((out / "results" / name).iterdir())
