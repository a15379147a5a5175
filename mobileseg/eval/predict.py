"""Drive a tracker over videos: one state per object, aggregation, DAVIS result PNGs.

The same driver serves PyTorch checkpoints, exported runtimes and baselines, so the numbers of
``mobileseg eval`` describe the program that runs on the phone. ``first="box"`` starts every
object's tracker from the bounding box of its given mask (the app's drag-a-box start) instead of
the mask; only what ``init`` receives changes, the scoring does not.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from mobileseg.data.boxes import box_of_mask
from mobileseg.data.io import save_mask
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.errors import ConfigError, OutputError
from mobileseg.eval.davis import FIRST_STARTS, EvalReport, score_sequence
from mobileseg.tracker import State, Tracker, aggregate
from mobileseg.utils.fsio import check_writable_folder, is_within
from mobileseg.utils.progress import progress

TrackerFactory = Callable[[], Tracker]


def check_first(first: str) -> None:
    """ConfigError unless ``first`` is one of :data:`FIRST_STARTS`."""
    if first not in FIRST_STARTS:
        raise ConfigError(f"first must be one of {', '.join(FIRST_STARTS)} (what each object's tracker is started from: "
                          f"{'; '.join(f'{k}: {v}' for k, v in FIRST_STARTS.items())}), got {first!r}.")


def start_mask(mask: np.ndarray, first: str) -> np.ndarray:
    """The ``[H, W]`` mask an object's tracker is started from: ``mask`` itself, or its bounding box (``box``)."""
    check_first(first)
    return box_of_mask(mask) if first == "box" else mask


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


class Timer:
    """Accumulates the time spent inside tracker calls."""

    def __init__(self) -> None:
        self.seconds, self.calls = 0.0, 0

    def add(self, began: float) -> None:
        self.seconds += time.perf_counter() - began
        self.calls += 1


@torch.inference_mode()
def track_frames(
    make_tracker: TrackerFactory,
    frames: Iterable[np.ndarray],
    given: Mapping[int, np.ndarray],
    first_frame: Mapping[int, int],
    size: tuple[int, int] | None = None,
    timer: Timer | None = None,
    first: str = "mask",
) -> Iterator[np.ndarray]:
    """Yield object ids ``uint8 [H, W]`` for each frame of a stream.

    ``given[t]`` is the label map of a frame where objects start; object ``k`` starts at
    ``first_frame[k]`` with the mask ``given[first_frame[k]] == k`` (``first="mask"``) or that
    mask's bounding box (``first="box"``, :func:`start_mask`). One tracker (and state) per
    object; probabilities are combined by soft aggregation. Frames are resized to ``size``
    (H, W) for the trackers and probabilities resized back. The labels yielded for a start
    frame are the given mask either way (the protocols do not score that frame).
    """
    check_first(first)
    ids = sorted(first_frame)
    lookup = np.array([0, *ids], dtype=np.uint8)
    states: dict[int, tuple[Tracker, State]] = {}
    timer = timer or Timer()
    for t, frame in enumerate(frames):
        height, width = frame.shape[:2]
        x = frame_tensor(frame, size)
        probs = np.zeros((len(ids), height, width), dtype=np.float32)
        for slot, object_id in enumerate(ids):
            if t < first_frame[object_id]:
                continue
            began = time.perf_counter()
            if t == first_frame[object_id]:
                tracker = make_tracker()
                states[object_id] = (tracker, tracker.init(x, mask_tensor(start_mask(given[t] == object_id, first), size)))
                probs[slot] = given[t] == object_id
            else:
                tracker, state = states[object_id]
                prob, state = tracker.step(x, state)
                states[object_id] = (tracker, state)
                prob = F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False)
                probs[slot] = prob[0, 0].clamp(0, 1).numpy()
            timer.add(began)
        labels = lookup[aggregate(probs)] if ids else np.zeros((height, width), np.uint8)
        if t in given:  # objects introduced on this frame keep their given mask
            for object_id in ids:
                if first_frame[object_id] == t:
                    labels[given[t] == object_id] = object_id
        yield labels


@dataclass
class TrackedVideo:
    """A predicted sequence: object ids per frame and the time spent inside the trackers."""

    labels: list[np.ndarray]  # uint8 [H, W] per frame
    tracker_seconds: float
    tracker_calls: int


def track_sequence(make_tracker: TrackerFactory, sequence: VideoSequence, size: tuple[int, int] | None = None,
                   first: str = "mask") -> TrackedVideo:
    """Segment every frame of a dataset sequence; objects start at their ``first_frame`` from
    their mask or its box (``first``, see :func:`track_frames`)."""
    starts = sorted(set(sequence.first_frame[k] for k in sequence.object_ids))
    given = {t: sequence.mask(t) for t in starts}
    first_frames = {k: sequence.first_frame[k] for k in sequence.object_ids}
    timer = Timer()
    frames = (sequence.frame(t) for t in range(len(sequence)))
    labels = list(track_frames(make_tracker, frames, given, first_frames, size, timer, first))
    return TrackedVideo(labels, timer.seconds, timer.calls)


def dataset_folders(dataset: VideoDataset) -> dict[Path, str]:
    """The folders that hold a dataset's frames and masks: each one holding the sequence folders, and
    the folders between it and the dataset root (``Annotations/480p`` and ``Annotations``)."""
    root = dataset.root.absolute()
    folders: dict[Path, str] = {}
    for sequence in dataset:
        for files, what in ((sequence.masks, "annotations"), (sequence.frames, "frames")):
            for sequence_dir in {Path(f).absolute().parent for f in files if f is not None}:
                folder = sequence_dir.parent
                while folder != root and root in folder.parents:
                    folders.setdefault(folder, what)
                    folder = folder.parent
                folders.setdefault(sequence_dir.resolve().parent, what)  # where a symlinked sequence really is
    return folders


def check_results_folder(dataset: VideoDataset, results: str | os.PathLike[str]) -> None:
    """OutputError when predictions written to ``results`` would land in the dataset's frames or
    annotations (overwriting the ground truth they are scored against), or cannot be written."""
    for folder, what in dataset_folders(dataset).items():
        if is_within(results, folder):
            where = "is" if Path(results).resolve() == folder.resolve() else "lies inside"
            raise OutputError(
                f"--results {results} {where} the dataset's {what} folder {folder}: the predictions would "
                f"overwrite the dataset's own files{' (and then be scored against themselves)' if what == 'annotations' else ''}. "
                f"Choose a folder outside {dataset.root}'s frames and annotations, e.g. {dataset.root.resolve().parent / 'results'}."
            )
    check_writable_folder(results, "--results")


@dataclass
class PredictionRun:
    """What a run over a dataset produced: scores (when asked), where PNGs went, tracker speed."""

    frames: int
    tracker_ms_per_frame: float  # mean time of one init/step call (one object, one frame)
    report: EvalReport | None = None
    results: Path | None = None


def predict_dataset(
    make_tracker: TrackerFactory,
    dataset: VideoDataset,
    results: str | os.PathLike[str] | None = None,
    size: tuple[int, int] | None = None,
    multiple: int = 1,
    score: bool = True,
    max_videos: int | None = None,
    desc: str = "predicting",
    first: str = "mask",
) -> PredictionRun:
    """Segment every sequence; write ``results/<sequence>/<frame>.png`` when ``results`` is given
    and score against the ground truth when ``score`` (DAVIS protocol, same code as folders).

    ``size`` (H, W) is the tracker's input size; without it frames are resized to the nearest
    multiple of ``multiple`` (16 for the networks). ``first`` is ``"mask"`` (trackers start from
    the given masks) or ``"box"`` (from each object's bounding box); the report records it.
    """
    check_first(first)
    if results is not None:
        check_results_folder(dataset, results)
    sequences = list(dataset)[:max_videos]
    report = EvalReport(first=first) if score else None
    frames, seconds, calls = 0, 0.0, 0
    for sequence in progress(sequences, desc=desc, total=len(sequences), unit="seq"):
        tracked = track_sequence(make_tracker, sequence, size or aligned_size(sequence.size(), multiple), first)
        if results is not None:
            for name, labels in zip(sequence.frame_names, tracked.labels):
                save_mask(Path(results) / sequence.name / f"{name}.png", labels)
        if report is not None:
            gt = [sequence.mask(i) for i in range(len(sequence))]
            report.objects.extend(score_sequence(sequence, gt, tracked.labels))
        frames += len(sequence)
        seconds += tracked.tracker_seconds
        calls += tracked.tracker_calls
    return PredictionRun(frames, 1000.0 * seconds / max(calls, 1), report, Path(results) if results else None)


def aligned_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``size`` with each side rounded to the nearest positive multiple of ``multiple``."""
    return tuple(max(multiple, int(round(side / multiple)) * multiple) for side in size)  # type: ignore[return-value]
