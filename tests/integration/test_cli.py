"""The command line end to end: help texts, data -> eval, and bad input without tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from PIL import Image

from mobileseg.data.io import save_mask

SYNTH = ["data", "synth", "--videos", "3", "--frames", "5", "--size", "64x96", "--seed", "1"]


def mobileseg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MOBILESEG_PROGRESS": "never"}
    return subprocess.run([sys.executable, "-m", "mobileseg", *args], capture_output=True, text=True, env=env, cwd=cwd)


def assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "synth"
    result = mobileseg(*SYNTH, "--out", str(root))
    assert result.returncode == 0, result.stderr
    return root


def test_top_level_help_lists_the_stages() -> None:
    result = mobileseg("--help")
    assert result.returncode == 0
    for stage in ("data", "eval", "quickstart"):
        assert f"  {stage}" in result.stdout


def test_every_listed_command_loads_and_the_top_level_help_imports_no_torch() -> None:
    from mobileseg.cli import COMMANDS, cli

    context = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert isinstance(command, click.Command) and command.name == name
    listing = "from mobileseg.cli import cli; import sys; sys.argv = ['mobileseg', '--help']\ntry:\n    cli()\nexcept SystemExit:\n    pass\n" \
              "assert 'torch' not in sys.modules, 'mobileseg --help imported torch'"
    result = subprocess.run([sys.executable, "-c", listing], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_synth_and_eval_help_explain_every_option() -> None:
    synth_help = mobileseg("data", "synth", "--help").stdout
    for option in ("--out", "--videos", "--frames", "--size", "--objects", "--distractors", "--seed",
                   "--val-fraction", "--jpeg-quality", "--overwrite"):
        assert option in synth_help
    eval_help = mobileseg("eval", "--help").stdout
    for option in ("--data", "--results", "--split", "--kind", "--resolution", "--json"):
        assert option in eval_help
    words = " ".join(eval_help.split())
    assert "0.008" in words and "first and the last" in words


def test_ground_truth_against_itself_is_one(synth_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.json"
    result = mobileseg("eval", "--data", str(synth_root), "--results", str(synth_root / "Annotations" / "480p"),
                       "--json", str(out))
    assert result.returncode == 0, result.stderr
    scores = json.loads(out.read_text())
    assert scores["summary"]["J&F-Mean"] == 1.0
    assert "synth0002" in scores["sequences"]  # the val split of 3 videos is the last one


def test_eval_wrong_root_and_layout(tmp_path: Path) -> None:
    assert_clean_error(mobileseg("eval", "--data", str(tmp_path / "missing"), "--results", str(tmp_path)),
                       "does not exist")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "readme.txt").write_text("not a dataset")
    assert_clean_error(mobileseg("eval", "--data", str(tmp_path / "junk"), "--results", str(tmp_path)),
                       "cannot tell which dataset")


def _copy(root: Path, tmp_path: Path) -> Path:
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def test_eval_corrupt_png(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path)
    (root / "Annotations" / "480p" / "synth0002" / "00002.png").write_bytes(b"\x89PNG broken")
    result = mobileseg("eval", "--data", str(root), "--results", str(root / "Annotations" / "480p"))
    assert_clean_error(result, "00002.png")


def test_eval_mask_size_mismatch(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path)
    save_mask(root / "Annotations" / "480p" / "synth0002" / "00003.png", np.zeros((10, 10), np.uint8))
    result = mobileseg("eval", "--data", str(root), "--results", str(synth_root / "Annotations" / "480p"))
    assert_clean_error(result, "00003.png", "10x10")


def test_eval_rgb_mask(synth_root: Path, tmp_path: Path) -> None:
    root = _copy(synth_root, tmp_path)
    Image.new("RGB", (96, 64)).save(root / "Annotations" / "480p" / "synth0002" / "00001.png")
    result = mobileseg("eval", "--data", str(root), "--results", str(synth_root / "Annotations" / "480p"))
    assert_clean_error(result, "00001.png", "palette")


def test_synth_bad_options(tmp_path: Path) -> None:
    result = mobileseg("data", "synth", "--out", str(tmp_path / "x"), "--size", "big")
    assert result.returncode == 2 and "HEIGHTxWIDTH" in result.stderr and "Traceback" not in result.stderr
    result = mobileseg("data", "synth", "--out", str(tmp_path / "x"), "--objects", "3-1")
    assert result.returncode == 2 and "LOW <= HIGH" in result.stderr
    (tmp_path / "file").write_text("")
    assert_clean_error(mobileseg("data", "synth", "--out", str(tmp_path / "file")), "file")
