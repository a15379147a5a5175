"""Drive a tracker over videos: one state per object, aggregation, DAVIS result PNGs.

The same driver serves PyTorch checkpoints, exported runtimes and baselines, so the numbers of
``mobileseg eval`` describe the program that runs on the phone.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from mobileseg.data.io import save_mask
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.tracker import State, Tracker, aggregate
from mobileseg.utils.progress import progress

TrackerFactory = Callable[[], Tracker]


def frame_tensor(frame: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``uint8 [H, W, 3]`` -> ``float32 [1, 3, h, w]`` in [0, 1], resized bilinearly to ``size``."""
    tensor = torch.from_numpy(np.array(frame, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
    if size is not None and tuple(tensor.shape[-2:]) != size:
        tensor = F.interpolate(tensor, size=size, mode="bilinear", align_corners=False)
    return tensor


def mask_tensor(mask: np.ndarray, size: tuple[int, int] | None = None) -> torch.Tensor:
    """``bool/uint8 [H, W]`` -> ``float32 [1, 1, h, w]`` in {0, 1}, resized (nearest) to ``size``."""
    tensor = torch.from_numpy(np.array(mask, dtype=np.float32))[None, None]
    if size is not None and tuple(tensor.shape[-2:]) != size:
        tensor = F.interpolate(tensor, size=size, mode="nearest")
    return tensor


@dataclass
class TrackedVideo:
    """A predicted sequence: object ids per frame and the time spent inside the trackers."""

    labels: list[np.ndarray]  # uint8 [H, W] per frame
    tracker_seconds: float
    tracker_calls: int


@torch.inference_mode()
def track_sequence(make_tracker: TrackerFactory, sequence: VideoSequence, size: tuple[int, int] | None = None) -> TrackedVideo:
    """Segment every frame of ``sequence``; objects start at their ``first_frame``.

    Frames are resized to ``size`` (H, W) for the tracker when given and probabilities are resized
    back, so labels always have the dataset's resolution.
    """
    ids = list(sequence.object_ids)
    states: dict[int, tuple[Tracker, State]] = {}
    labels_out: list[np.ndarray] = []
    seconds, calls = 0.0, 0
    for t in range(len(sequence)):
        frame = sequence.frame(t)
        height, width = frame.shape[:2]
        x = frame_tensor(frame, size)
        probs = np.zeros((len(ids), height, width), dtype=np.float32)
        given = sequence.mask(t) if any(sequence.first_frame[k] == t for k in ids) else None
        for slot, object_id in enumerate(ids):
            start = sequence.first_frame[object_id]
            if t < start:
                continue
            began = time.perf_counter()
            if t == start:
                tracker = make_tracker()
                states[object_id] = (tracker, tracker.init(x, mask_tensor(given == object_id, size)))
                probs[slot] = given == object_id
            else:
                tracker, state = states[object_id]
                prob, state = tracker.step(x, state)
                states[object_id] = (tracker, state)
                prob = F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False)
                probs[slot] = prob[0, 0].clamp(0, 1).numpy()
            seconds += time.perf_counter() - began
            calls += 1
        positions = aggregate(probs) if ids else np.zeros((height, width), np.uint8)
        lookup = np.array([0, *ids], dtype=np.uint8)
        labels = lookup[positions]
        if given is not None:  # objects introduced on this frame keep their given mask
            for object_id in ids:
                if sequence.first_frame[object_id] == t:
                    labels[given == object_id] = object_id
        labels_out.append(labels)
    return TrackedVideo(labels_out, seconds, calls)


@dataclass
class PredictionRun:
    """Where predictions were written and how fast the tracker ran (ms per object-frame)."""

    results: Path
    frames: int
    tracker_ms_per_frame: float


def predict_dataset(
    make_tracker: TrackerFactory,
    dataset: VideoDataset,
    results: str | os.PathLike[str],
    size: tuple[int, int] | None = None,
    desc: str = "predicting",
) -> PredictionRun:
    """Write ``results/<sequence>/<frame>.png`` for every frame of every sequence."""
    results = Path(results)
    frames, seconds, calls = 0, 0.0, 0
    for sequence in progress(dataset, desc=desc, total=len(dataset), unit="seq"):
        tracked = track_sequence(make_tracker, sequence, size)
        for name, labels in zip(sequence.frame_names, tracked.labels):
            save_mask(results / sequence.name / f"{name}.png", labels)
        frames += len(sequence)
        seconds += tracked.tracker_seconds
        calls += tracked.tracker_calls
    return PredictionRun(results, frames, 1000.0 * seconds / max(calls, 1))
