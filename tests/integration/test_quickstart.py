"""`mobileseg quickstart` runs to the end and leaves its table and outputs where it says."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mobileseg.cli import cli


def test_quickstart_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "qs"
    result = CliRunner().invoke(cli, ["quickstart", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "copy-first-mask" in result.output and "J&F" in result.output
    summary = json.loads((out / "summary.json").read_text())
    (row,) = summary["rows"]
    assert 0.0 < row["J&F"] < 1.0  # tracking SynthVOS is not trivial
    assert (out / "summary.md").read_text().startswith("| model")
    assert any((out / "results" / "copy-first-mask").iterdir())
    # a second run reuses the dataset instead of generating it again
    stamp = (out / "data" / "synthvos" / "synthvos.json").stat().st_mtime_ns
    again = CliRunner().invoke(cli, ["quickstart", "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "data" / "synthvos" / "synthvos.json").stat().st_mtime_ns == stamp
