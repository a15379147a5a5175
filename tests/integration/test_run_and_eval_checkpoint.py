"""`mobileseg run` and `mobileseg eval --checkpoint` with a (briefly) trained tiny student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mobileseg.cli import cli
from mobileseg.data.io import load_mask, save_mask
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("run")
    data = generate_synthvos(root / "synth", SynthConfig(videos=3, frames=5, height=64, width=96, objects=(2, 2), seed=4))
    config = TrainConfig(model="mobilevos_r18_mv2_tiny", data=str(data), out=str(root / "run"), steps=2, batch_size=2,
                         crop=(48, 64), val_every=0, bn_batches=1)
    return data, train(config).best


def invoke(*args: str):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output
    return result


def test_run_on_a_frame_folder_writes_masks_and_overlay(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, best = trained
    frames = data / "JPEGImages" / "480p" / "synth0002"
    first = data / "Annotations" / "480p" / "synth0002" / "00000.png"
    result = invoke("run", "--checkpoint", str(best), "--frames", str(frames), "--first-mask", str(first), "--out", str(tmp_path / "o"))
    assert result.exit_code == 0, result.output
    masks = sorted((tmp_path / "o").glob("*.png"))
    assert len(masks) == 5
    assert np.array_equal(load_mask(masks[0]), load_mask(first))  # the given mask is kept on frame 0
    assert set(np.unique(load_mask(masks[3]))) <= {0, 1, 2}
    with Image.open(tmp_path / "o" / "overlay.gif") as gif:
        assert gif.n_frames == 5 and gif.size == (96, 64)


def test_run_on_a_gif_and_bad_inputs(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, best = trained
    frames = [Image.open(p).convert("RGB") for p in sorted((data / "JPEGImages" / "480p" / "synth0002").glob("*.jpg"))]
    frames[0].save(tmp_path / "clip.gif", save_all=True, append_images=frames[1:])
    first = data / "Annotations" / "480p" / "synth0002" / "00000.png"
    result = invoke("run", "--checkpoint", str(best), "--video", str(tmp_path / "clip.gif"), "--first-mask", str(first),
                    "--out", str(tmp_path / "g"), "--overlay", "none")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "g").glob("*.png"))) == 5 and not (tmp_path / "g" / "overlay.gif").exists()
    both = invoke("run", "--checkpoint", str(best), "--video", "x.gif", "--frames", str(tmp_path), "--first-mask", str(first), "--out", str(tmp_path / "x"))
    assert both.exit_code == 1 and "exactly one of --frames" in both.output
    save_mask(tmp_path / "small.png", np.ones((8, 8), np.uint8))
    wrong = invoke("run", "--checkpoint", str(best), "--video", str(tmp_path / "clip.gif"), "--first-mask", str(tmp_path / "small.png"), "--out", str(tmp_path / "y"))
    assert wrong.exit_code == 1 and "8x8" in wrong.output
    not_ckpt = invoke("run", "--checkpoint", str(first), "--video", str(tmp_path / "clip.gif"), "--first-mask", str(first), "--out", str(tmp_path / "z"))
    assert not_ckpt.exit_code == 1 and "cannot read checkpoint" in not_ckpt.output


def test_eval_with_checkpoint_predicts_and_scores(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, best = trained
    out = tmp_path / "scores.json"
    result = invoke("eval", "--data", str(data), "--checkpoint", str(best), "--results", str(tmp_path / "res"), "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "mobilevos_r18_mv2_tiny" in result.output and "ms per frame (all objects)" in result.output
    scores = json.loads(out.read_text())
    assert 0.0 <= scores["summary"]["J&F-Mean"] <= 1.0
    # the written predictions score the same through the folder path
    again = invoke("eval", "--data", str(data), "--results", str(tmp_path / "res"), "--json", str(tmp_path / "again.json"))
    assert again.exit_code == 0
    assert json.loads((tmp_path / "again.json").read_text())["summary"] == scores["summary"]
    neither = invoke("eval", "--data", str(data))
    assert neither.exit_code == 1 and "--results" in neither.output


def test_mp4_overlay_and_mp4_input(trained: tuple[Path, Path], tmp_path: Path) -> None:
    data, best = trained
    frames = data / "JPEGImages" / "480p" / "synth0002"
    first = data / "Annotations" / "480p" / "synth0002" / "00000.png"
    made = invoke("run", "--checkpoint", str(best), "--frames", str(frames), "--first-mask", str(first), "--out", str(tmp_path / "a"),
                  "--overlay", "overlay.mp4")
    assert made.exit_code == 0, made.output
    from mobileseg.data.video import read_video

    decoded = list(read_video(tmp_path / "a" / "overlay.mp4"))
    assert len(decoded) == 5 and decoded[0].shape == (64, 96, 3)
    again = invoke("run", "--checkpoint", str(best), "--video", str(tmp_path / "a" / "overlay.mp4"), "--first-mask", str(first),
                   "--out", str(tmp_path / "b"), "--overlay", "none")
    assert again.exit_code == 0, again.output
    assert len(list((tmp_path / "b").glob("*.png"))) == 5
