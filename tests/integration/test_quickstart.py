"""`mobileseg quickstart` runs to the end and leaves its table and outputs where it says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mobileseg.cli import cli


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(out), "--budget", "tiny"])
    assert result.exit_code == 0, result.output
    assert "copy-first-mask" in result.output and "J&F" in result.output
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
    assert set(summary["runs"]) == {"teacher", "student (no KD)", "student (KD)"}
    student = summary["rows"][4]["J&F"]  # the checkpoint with one object per state, as the files were exported
    assert summary["rows"][4]["params"] == summary["rows"][3]["params"]
    for row in summary["rows"][5:]:  # each runtime reproduces the distilled checkpoint's J&F
        assert abs(row["J&F"] - student) <= 0.002 and row["MB"] > 0
    assert sorted(p.name for p in (out / "export").glob("*.json")) == [
        "student.mlpackage.json", "student.onnx.json", "student.pte.json", "student.tflite.json"]
    assert (out / "summary.md").read_text().startswith("| model")
    for name in ("copy-first-mask", "stcn_r50_r18_tiny-teacher", "mobilevos_r18_mv2_tiny-student-no-KD",
                 "mobilevos_r18_mv2_tiny-student-KD", "mobilevos_r18_mv2_tiny-tflite"):
        assert any((out / "results" / name).iterdir())
    # a second run reuses the dataset, the finished training runs and the verified exports
    kept = (out / "data" / "synthvos" / "synthvos.json", out / "runs" / "student-kd" / "best.pt", out / "export" / "student.tflite.json")
    stamps = [p.stat().st_mtime_ns for p in kept]
    again = CliRunner().invoke(cli, ["quickstart", "--out", str(out), "--budget", "tiny"])
    assert again.exit_code == 0, again.output
    assert [p.stat().st_mtime_ns for p in kept] == stamps
