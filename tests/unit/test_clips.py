"""Training clips: a pure function of the index, consistent masks and labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mobileseg.data.clips import IGNORE_INDEX, ClipConfig, ClipDataset
from mobileseg.data.davis import open_davis2017
from mobileseg.data.io import save_frame, save_mask
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import DatasetError

CONFIG = ClipConfig(frames=3, max_skip=3, crop=(48, 64), max_objects=2, min_pixels=16)


@pytest.fixture(scope="module")
def train_set(tmp_path_factory: pytest.TempPathFactory):
    root = generate_synthvos(tmp_path_factory.mktemp("clips") / "d", SynthConfig(videos=3, frames=6, height=64, width=96, seed=2))
    return open_davis2017(root, "train")


def test_same_index_same_clip_other_index_other_clip(train_set) -> None:
    a, b = ClipDataset(train_set, CONFIG, seed=1), ClipDataset(train_set, CONFIG, seed=1)
    first, again = a[5], b[5]
    for key in first:
        assert torch.equal(first[key], again[key])
    assert not torch.equal(a[6]["frames"], first["frames"])
    assert not torch.equal(ClipDataset(train_set, CONFIG, seed=2)[5]["frames"], first["frames"])


def test_shapes_and_mask_label_agreement(train_set) -> None:
    clips = ClipDataset(train_set, CONFIG, seed=0)
    for index in range(8):
        sample = clips[index]
        assert sample["frames"].shape == (3, 3, 48, 64) and sample["masks"].shape == (3, 2, 48, 64)
        assert 0 <= sample["frames"].min() and sample["frames"].max() <= 1
        for slot in range(2):
            if sample["selector"][slot]:
                assert torch.equal(sample["masks"][:, slot] > 0, sample["labels"] == slot + 1)
                assert sample["masks"][0, slot].sum() >= CONFIG.min_pixels  # visible in frame 0
            else:
                assert sample["masks"][:, slot].sum() == 0
        assert sample["selector"].sum() >= 1


def test_void_pixels_are_ignored_and_short_videos_refused(tmp_path: Path) -> None:
    root = tmp_path / "d"
    for t in range(3):
        mask = np.zeros((48, 64), np.uint8)
        mask[10:30, 10:40] = 1
        mask[:, :4] = 255
        save_frame(root / "JPEGImages" / "480p" / "v" / f"{t:05d}.jpg", np.full((48, 64, 3), 90, np.uint8))
        save_mask(root / "Annotations" / "480p" / "v" / f"{t:05d}.png", mask)
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "train.txt").write_text("v\n")
    data = open_davis2017(root, "train")
    flat = ClipConfig(frames=3, crop=(48, 64), scale=(1.0, 1.0), rotate=0, shear=0, jitter=0, flip=False, min_pixels=16)
    sample = ClipDataset(data, flat, seed=0)[0]
    assert (sample["labels"] == IGNORE_INDEX).any() and (sample["labels"] == 1).any()
    with pytest.raises(DatasetError, match="annotated frames"):
        ClipDataset(data, ClipConfig(frames=4), seed=0)


def test_skip_ramp_grows_the_largest_gap_from_one() -> None:
    clips = ClipDataset.__new__(ClipDataset)
    clips.config = ClipConfig(max_skip=5, skip_ramp=100)
    assert [clips.max_skip_at(i) for i in (0, 24, 50, 100, 10_000)] == [1, 2, 3, 5, 5]
    clips.config = ClipConfig(max_skip=5)
    assert clips.max_skip_at(0) == 5


def test_native_crop_scale_keeps_object_size_while_cover_shrinks_it() -> None:
    from mobileseg.data.clips import _affine

    fixed = dict(crop=(64, 64), scale=(1.0, 1.0), rotate=0, shear=0, flip=False)
    src = (256, 384)  # a frame four times the crop: "cover" zooms out by 4, "native" keeps pixels 1:1
    cover = _affine(np.random.default_rng(0), ClipConfig(**fixed), src, (128.0, 192.0))
    native = _affine(np.random.default_rng(0), ClipConfig(scale_reference="native", **fixed), src, (128.0, 192.0))
    assert np.allclose(np.abs(np.linalg.det(cover[:2, :2])), 4.0**2) and np.allclose(np.abs(np.linalg.det(native[:2, :2])), 1.0)
