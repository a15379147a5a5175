"""Box-started tracking: box prompts in training clips (``box_init_prob``) and ``eval --first box``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mobileseg.cli import cli
from mobileseg.data.boxes import box_of_mask
from mobileseg.data.clips import ClipConfig, ClipDataset
from mobileseg.data.davis import open_davis2017
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import ConfigError
from mobileseg.eval.predict import predict_dataset
from mobileseg.sources import TrackerSource
from mobileseg.tracker import CopyFirstMaskTracker, State
from mobileseg.train.config import TrainConfig

CONFIG = ClipConfig(frames=3, max_skip=3, crop=(48, 64), max_objects=2, min_pixels=16)
INDICES = range(10)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthvos(tmp_path_factory.mktemp("box") / "d", SynthConfig(videos=3, frames=5, height=64, width=96, seed=2))


def is_filled_rectangle(mask: np.ndarray) -> bool:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows.size > 0 and bool(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all()) and int(mask.sum()) == rows.size * cols.size


def test_box_prob_one_gives_rectangles_in_the_init_masks_only(data: Path) -> None:
    train_set = open_davis2017(data, "train")
    plain, boxed = ClipDataset(train_set, CONFIG, seed=1), ClipDataset(train_set, replace(CONFIG, box_init_prob=1.0), seed=1)
    changed = 0
    for index in INDICES:
        exact, sample = plain[index], boxed[index]
        for key in ("frames", "masks", "labels", "selector"):  # what the loss and the later frames see: untouched
            assert torch.equal(exact[key], sample[key]), key
        assert sample["init_masks"].shape == exact["masks"][0].shape
        for slot in range(CONFIG.max_objects):
            first, init = exact["masks"][0, slot].numpy(), sample["init_masks"][slot].numpy()
            if exact["selector"][slot]:
                assert np.array_equal(init, box_of_mask(first)) and is_filled_rectangle(init)
                assert (init >= first).all()  # the box covers the object
                changed += int(not np.array_equal(init, first))
            else:
                assert init.sum() == 0  # padding stays empty
    assert changed > 0  # SynthVOS shapes are not rectangles: the prompt really differs from the mask


def test_box_prob_zero_leaves_the_clip_stream_as_it_was(data: Path) -> None:
    train_set = open_davis2017(data, "train")
    default, zero = ClipDataset(train_set, CONFIG, seed=3), ClipDataset(train_set, replace(CONFIG, box_init_prob=0.0), seed=3)
    half = ClipDataset(train_set, replace(CONFIG, box_init_prob=0.5), seed=3)
    boxed = 0
    for index in INDICES:
        a, b, c = default[index], zero[index], half[index]
        assert a.keys() == b.keys() == {"frames", "masks", "labels", "selector"}  # no init_masks at 0
        assert all(torch.equal(a[key], b[key]) for key in a)
        assert all(torch.equal(a[key], c[key]) for key in a)  # the box draw comes after every other draw
        boxed += int(not torch.equal(c["init_masks"], a["masks"][0]))
    assert 0 < boxed < len(INDICES)  # about half of the clips start from boxes at 0.5
    again = ClipDataset(train_set, replace(CONFIG, box_init_prob=0.5), seed=3)
    for index in reversed(INDICES):  # a pure function of the index, whatever came before: --resume stays exact
        assert torch.equal(again[index]["init_masks"], half[index]["init_masks"])


def test_no_random_draw_at_zero_and_one_draw_otherwise() -> None:
    sample = {"masks": torch.zeros(3, 2, 8, 8)}
    sample["masks"][0, 0, 2:5, 1:3] = 1
    for probability, draws in ((0.0, False), (0.3, True)):
        clips = ClipDataset.__new__(ClipDataset)
        clips.config = replace(CONFIG, box_init_prob=probability)
        rng = np.random.default_rng([0, 0])
        before = rng.bit_generator.state
        clips._prompt(rng, sample)
        assert (rng.bit_generator.state != before) == draws


def test_bad_probabilities_are_refused_with_the_allowed_range(data: Path) -> None:
    train_set = open_davis2017(data, "train")
    with pytest.raises(ConfigError, match=r"\[0, 1\], got 1.5"):
        ClipDataset(train_set, replace(CONFIG, box_init_prob=1.5))
    with pytest.raises(ConfigError, match=r"box init prob must be a probability in \[0, 1\].*got -0.1"):
        TrainConfig(model="mobilevos_r18_mv2_tiny", data=str(data), out="x", box_init_prob=-0.1).check()
    result = CliRunner().invoke(cli, ["train", "--model", "mobilevos_r18_mv2_tiny", "--data", str(data), "--out", "x",
                                      "--box-init-prob", "1.5"])
    assert result.exit_code == 2 and "--box-init-prob" in result.output and "0<=x<=1" in result.output


def test_old_configs_without_the_field_load_with_zero() -> None:
    stored = TrainConfig(model="m", data="d", out="o").to_dict()
    del stored["box_init_prob"]
    assert TrainConfig.from_dict(stored).box_init_prob == 0.0


@pytest.fixture
def one_thread():  # type: ignore[no-untyped-def]
    """Tiny forward passes: one thread is faster than two fighting a busy CPU for spin-waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_runner_starts_the_memory_from_init_masks_and_the_teacher_from_the_masks(one_thread: None) -> None:
    from mobileseg.models import build_model
    from mobileseg.models.clip import ClipRunner
    from mobileseg.train.runner import DistillRunner

    torch.manual_seed(0)
    student, teacher = build_model("mobilevos_r18_mv2_tiny").eval(), build_model("stcn_r50_r18_tiny").eval()
    seen: dict[str, list[torch.Tensor]] = {"student": [], "teacher": []}
    for name, model in (("student", student), ("teacher", teacher)):
        original = model.encode_value
        model.encode_value = lambda frame, f16, masks, *rest, _o=original, _n=name: seen[_n].append(masks.clone()) or _o(frame, f16, masks, *rest)  # type: ignore[method-assign]
    frames = torch.rand(1, 3, 3, 32, 32)
    masks = torch.zeros(1, 3, 2, 32, 32)
    masks[:, :, 0, 4:12, 6:10] = 1
    masks[:, :, 0, 4, 12] = 1  # one pixel outside the rectangle: the box differs from the mask
    init = torch.from_numpy(box_of_mask(masks[0, 0, 0].numpy()))[None, None].repeat(1, 2, 1, 1) * torch.tensor([1.0, 0.0])[:, None, None]
    selector = torch.tensor([[1.0, 0.0]])
    with torch.no_grad():
        DistillRunner(student, teacher)(frames, masks, selector, init)
    assert torch.equal(seen["student"][0], init) and torch.equal(seen["teacher"][0], masks[:, 0])
    seen["student"].clear()
    with torch.no_grad():
        ClipRunner(student)(frames, masks, selector)  # without init_masks: frame 0's masks, as before
    assert torch.equal(seen["student"][0], masks[:, 0])


class RecordingTracker(CopyFirstMaskTracker):
    """Copies its first mask (like the baseline) and records every mask ``init`` receives."""

    inits: ClassVar[list[np.ndarray]] = []

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        RecordingTracker.inits.extend(m.numpy().copy() for m in mask[:, 0])  # one joint state: every object's mask
        return super().init(frame, mask)


def test_predict_with_first_box_hands_init_the_bounding_boxes(data: Path) -> None:
    val = open_davis2017(data, "val")
    RecordingTracker.inits = []
    from_mask = predict_dataset(RecordingTracker, val, size=(64, 96), first="mask")
    masks = list(RecordingTracker.inits)
    RecordingTracker.inits = []
    from_box = predict_dataset(RecordingTracker, val, size=(64, 96), first="box")
    assert len(masks) == len(RecordingTracker.inits) > 0
    for mask, box in zip(masks, RecordingTracker.inits):
        assert np.array_equal(box, box_of_mask(mask)) and is_filled_rectangle(box)
    assert any(not np.array_equal(m, b) for m, b in zip(masks, RecordingTracker.inits))
    assert from_mask.report.first == "mask" and from_box.report.first == "box"  # type: ignore[union-attr]
    # copying the box onto every later frame scores worse than copying the mask
    assert from_box.report.summary()["J&F-Mean"] < from_mask.report.summary()["J&F-Mean"]  # type: ignore[union-attr]
    assert from_box.report.to_dict()["first"] == "box"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="first must be one of mask, box.*got 'circle'"):
        predict_dataset(RecordingTracker, val, first="circle")


@pytest.mark.parametrize("path_option", ["--checkpoint", "--model"])
def test_eval_first_box_reaches_init_for_checkpoints_and_exported_files(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                         path_option: str) -> None:
    import mobileseg.cli.eval as eval_command  # where eval_command looks its sources up

    source = TrackerSource("recorder", RecordingTracker, 0, 16)
    monkeypatch.setattr(eval_command, "checkpoint_source", lambda path: source)
    monkeypatch.setattr(eval_command, "artifact_source", lambda path, threads: source)
    (tmp_path / "model.file").write_bytes(b"")
    RecordingTracker.inits = []
    result = CliRunner().invoke(cli, ["eval", "--data", str(data), path_option, str(tmp_path / "model.file"), "--first", "box",
                                      "--json", str(tmp_path / "scores.json")])
    assert result.exit_code == 0, result.output
    assert RecordingTracker.inits and all(is_filled_rectangle(m) for m in RecordingTracker.inits)
    assert "trackers started from the bounding box of each object's first-frame mask (--first box)" in result.output
    assert '"first": "box"' in (tmp_path / "scores.json").read_text()


def test_eval_first_bad_values_are_refused(data: Path, tmp_path: Path) -> None:
    circle = CliRunner().invoke(cli, ["eval", "--data", str(data), "--checkpoint", str(tmp_path / "x.pt"), "--first", "circle"])
    assert circle.exit_code == 2 and "'circle' is not one of 'mask', 'box'" in circle.output
    folder = CliRunner().invoke(cli, ["eval", "--data", str(data), "--results", str(tmp_path), "--first", "box"])
    assert folder.exit_code == 1 and "--first box" in folder.output and "needs --checkpoint FILE or --model FILE" in folder.output
