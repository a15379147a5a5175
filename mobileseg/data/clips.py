"""Training clips: a few frames of one video, the same objects throughout, augmented together.

Clip ``i`` is a pure function of ``(seed, i)``: the sequence, frames, objects and augmentation
are drawn from ``numpy.random.default_rng([seed, i])``. A sampler that hands out indices
``step * batch + j`` therefore makes training resumable exactly at any step, and distributed
ranks simply take disjoint index ranges.

A sample (K = ``max_objects``, padded with empty objects):
    frames   ``float32 [T, 3, h, w]`` in [0, 1]
    masks    ``float32 [T, K, h, w]`` in {0, 1}
    labels   ``int64 [T, h, w]``: 0 background, k for the k-th chosen object, -100 void
    selector ``float32 [K]``: 1 for real objects, 0 for padding
    init_masks ``float32 [K, h, w]`` in {0, 1}, only when ``box_init_prob > 0``: the masks that start
             the network's memory; frame 0's masks, or with probability ``box_init_prob`` per clip
             each object's bounding box (:func:`mobileseg.data.boxes.box_of_mask`), as when the app
             starts tracking from a box the user drags. ``masks`` and ``labels`` (the loss targets)
             stay the true masks.

The box draw is the clip's last draw from its RNG and is skipped when ``box_init_prob`` is 0, so
every other part of a clip is the same at any ``box_init_prob``, and at 0 the stream is the one
of a dataset without the option.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from mobileseg.data.boxes import box_of_mask
from mobileseg.data.io import VOID
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.errors import ConfigError, DatasetError

IGNORE_INDEX = -100  # labels of void pixels (255 in DAVIS masks): no loss there


@dataclass(frozen=True)
class ClipConfig:
    """How clips are cut and augmented (defaults follow STCN's video stage, scaled down)."""

    frames: int = 3  # frames per clip (3-5)
    max_skip: int = 5  # largest gap between consecutive clip frames
    skip_ramp: int = 0  # clips over which the largest gap grows from 1 to max_skip (0: no ramp)
    crop: tuple[int, int] = (192, 192)  # output size (H, W)
    max_objects: int = 2
    scale: tuple[float, float] = (0.8, 1.25)  # random zoom around the reference below
    # "native": zoom around the frame's own scale (objects as large as at inference; zoomed in only
    # when the frame is smaller than the crop); "cover": around the scale at which the frame just
    # covers the crop (small crops of large frames then show shrunken objects)
    scale_reference: str = "cover"
    rotate: float = 15.0  # degrees, clip-level
    shear: float = 0.1
    jitter: float = 0.05  # per-frame extra scale/shift/rotation (fraction / radians)
    flip: bool = True
    reverse: bool = True  # play the clip backwards half of the time
    colour: float = 0.15  # brightness / contrast / saturation jitter
    min_pixels: int = 64  # an object must cover this many pixels of the first cropped frame
    box_init_prob: float = 0.0  # chance per clip that the memory starts from the objects' boxes


class FrameCache:
    """Decoded frames and masks kept in memory up to ``budget`` bytes (least recently used out)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.items: OrderedDict[tuple[str, int, str], np.ndarray] = OrderedDict()

    def get(self, sequence: VideoSequence, index: int, kind: str) -> np.ndarray:
        key = (sequence.name, index, kind)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        array = sequence.frame(index) if kind == "frame" else sequence.mask(index)
        self.items[key] = array
        self.used += array.nbytes
        while self.used > self.budget and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.used -= old.nbytes
        return array


def _pick_frames(rng: np.random.Generator, pool: list[int], count: int, max_skip: int) -> list[int]:
    """``count`` increasing positions of ``pool`` with gaps of 1..max_skip (shrunk to fit)."""
    skip = max(1, min(max_skip, (len(pool) - 1) // max(count - 1, 1)))
    gaps = rng.integers(1, skip + 1, size=count - 1)
    start = int(rng.integers(0, len(pool) - int(gaps.sum())))
    positions = np.concatenate([[start], start + np.cumsum(gaps)])
    return [pool[int(p)] for p in positions]


def _affine(rng: np.random.Generator, cfg: ClipConfig, src: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """3x3 map from crop pixels to source pixels: zoom, rotation, shear, flip around ``centre``."""
    ch, cw = cfg.crop
    cover = max(ch / src[0], cw / src[1])  # scale at which the frame just covers the crop
    reference = max(cover, 1.0) if cfg.scale_reference == "native" else cover
    zoom = reference * rng.uniform(*cfg.scale)
    angle = math.radians(rng.uniform(-cfg.rotate, cfg.rotate))
    shear = rng.uniform(-cfg.shear, cfg.shear)
    flip = -1.0 if cfg.flip and rng.random() < 0.5 else 1.0
    cos, sin = math.cos(angle), math.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag([flip, 1.0]) / zoom
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    # crop centre (cw/2, ch/2) lands on the source point ``centre`` (x, y)
    matrix[:2, 2] = np.array(centre) - linear @ np.array([cw / 2, ch / 2])
    return matrix


def _jitter(rng: np.random.Generator, strength: float, crop: tuple[int, int]) -> np.ndarray:
    ch, cw = crop
    zoom = 1.0 + rng.uniform(-strength, strength)
    angle = rng.uniform(-strength, strength)
    shift = rng.uniform(-strength, strength, size=2) * np.array([cw, ch])
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    centre = np.array([cw / 2, ch / 2])
    matrix = np.eye(3)
    matrix[:2, :2] = [[cos, -sin], [sin, cos]]
    matrix[:2, 2] = centre + shift - matrix[:2, :2] @ centre
    return matrix


def _warp(image: torch.Tensor, matrix: np.ndarray, crop: tuple[int, int], mode: str) -> torch.Tensor:
    """Sample ``image [C, H, W]`` at ``matrix @ (x, y, 1)`` for every crop pixel (zeros outside)."""
    height, width = image.shape[-2:]
    ch, cw = crop
    ys, xs = torch.meshgrid(torch.arange(ch, dtype=torch.float64) + 0.5, torch.arange(cw, dtype=torch.float64) + 0.5, indexing="ij")
    m = torch.from_numpy(matrix)
    sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    grid = torch.stack([sx / width * 2 - 1, sy / height * 2 - 1], dim=-1).float()[None]
    return F.grid_sample(image[None], grid, mode=mode, padding_mode="zeros", align_corners=False)[0]


def _colour(rng: np.random.Generator, frames: torch.Tensor, strength: float) -> torch.Tensor:
    """Clip-level brightness, contrast and saturation jitter on ``[T, 3, h, w]``."""
    if strength <= 0:
        return frames
    brightness, contrast, saturation = (1 + rng.uniform(-strength, strength, size=3)).tolist()
    grey = frames.mean(dim=1, keepdim=True)
    frames = grey + (frames - grey) * saturation
    mean = frames.mean(dim=(1, 2, 3), keepdim=True)
    frames = mean + (frames - mean) * contrast
    return (frames * brightness).clamp(0, 1)


class ClipDataset(Dataset):
    """Random training clips from the sequences of ``dataset`` (see the module docstring)."""

    def __init__(self, dataset: VideoDataset, config: ClipConfig, seed: int = 0, cache_bytes: int = 1 << 30) -> None:
        if not 0.0 <= config.box_init_prob <= 1.0:
            raise ConfigError(f"box_init_prob is a probability in [0, 1], got {config.box_init_prob}; "
                              "0 starts every clip from its masks, 1 every clip from the objects' boxes.")
        usable = [s for s in dataset if len(s.annotated) >= config.frames]
        if not usable:
            raise DatasetError(
                f"no sequence of {dataset.kind} {dataset.split} at {dataset.root} has {config.frames} "
                "annotated frames; use shorter clips (--clip-frames) or another split."
            )
        self.sequences, self.config, self.seed = usable, config, seed
        self.cache = FrameCache(cache_bytes)

    def __len__(self) -> int:
        return 2**62  # clips are drawn by index; samplers decide how many

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, int(index)])
        skip = self.max_skip_at(int(index))
        for _ in range(20):
            sample = self._try(rng, skip)
            if sample is not None:
                return self._prompt(rng, sample)
        sample = self._try(rng, skip, allow_empty=True)
        assert sample is not None  # allow_empty always gives a clip
        return self._prompt(rng, sample)

    def _prompt(self, rng: np.random.Generator, sample: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``sample`` with ``init_masks`` added when ``box_init_prob > 0`` (no draw at 0, see the module docstring)."""
        probability = self.config.box_init_prob
        if probability <= 0:
            return sample
        first = sample["masks"][0]  # [K, h, w]
        if rng.random() < probability:
            first = torch.from_numpy(np.stack([box_of_mask(mask) for mask in first.numpy()]))
        return {**sample, "init_masks": first.clone()}

    def max_skip_at(self, index: int) -> int:
        """The largest frame gap for clip ``index``: a curriculum from 1 when ``skip_ramp`` is set."""
        cfg = self.config
        if cfg.skip_ramp <= 0:
            return cfg.max_skip
        return 1 + int(round((cfg.max_skip - 1) * min(1.0, index / cfg.skip_ramp)))

    def _try(self, rng: np.random.Generator, max_skip: int, allow_empty: bool = False) -> dict[str, torch.Tensor] | None:
        cfg = self.config
        sequence = self.sequences[int(rng.integers(len(self.sequences)))]
        picks = _pick_frames(rng, sequence.annotated, cfg.frames, max_skip)
        if cfg.reverse and rng.random() < 0.5:
            picks = picks[::-1]
        labels0 = self.cache.get(sequence, picks[0], "mask")
        candidates = [k for k in sequence.object_ids if (labels0 == k).sum() >= cfg.min_pixels]
        if not candidates and not allow_empty:
            return None
        chosen = list(rng.permutation(candidates)[: cfg.max_objects]) if candidates else []
        target = np.isin(labels0, chosen) if chosen else np.ones_like(labels0, dtype=bool)
        ys, xs = np.nonzero(target)
        pick = int(rng.integers(len(ys)))
        centre = (xs[pick] + rng.uniform(-0.25, 0.25) * cfg.crop[1], ys[pick] + rng.uniform(-0.25, 0.25) * cfg.crop[0])
        base = _affine(rng, cfg, labels0.shape, centre)
        frames, labels = [], []
        for t in picks:
            matrix = base @ _jitter(rng, cfg.jitter, cfg.crop)
            image = torch.from_numpy(np.array(self.cache.get(sequence, t, "frame"))).permute(2, 0, 1).float() / 255
            ids = torch.from_numpy(np.array(self.cache.get(sequence, t, "mask"))).float()[None]
            frames.append(_warp(image, matrix, cfg.crop, "bilinear"))
            labels.append(_warp(ids, matrix, cfg.crop, "nearest")[0].round().long())
        return self._pack(rng, torch.stack(frames), torch.stack(labels), chosen, allow_empty)

    def _pack(self, rng: np.random.Generator, frames: torch.Tensor, raw: torch.Tensor, chosen: list[int], allow_empty: bool) -> dict[str, torch.Tensor] | None:
        """One-hot masks and labels of the chosen objects; objects cropped out of frame 0 are dropped."""
        cfg = self.config
        masks = torch.zeros(cfg.frames, cfg.max_objects, *cfg.crop)
        labels = torch.zeros(cfg.frames, *cfg.crop, dtype=torch.long)
        labels[raw == VOID] = IGNORE_INDEX
        selector = torch.zeros(cfg.max_objects)
        kept = [k for k in chosen if int((raw[0] == int(k)).sum()) >= cfg.min_pixels]
        if not kept and not allow_empty:
            return None
        for slot, object_id in enumerate(kept):
            region = raw == int(object_id)
            masks[:, slot] = region.float()
            labels[region] = slot + 1
            selector[slot] = 1.0
        return {"frames": _colour(rng, frames, cfg.colour), "masks": masks, "labels": labels, "selector": selector}
