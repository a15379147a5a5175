"""Drive a tracker over videos: one joint state per group of objects, aggregation, DAVIS result PNGs.

The same driver serves PyTorch checkpoints, exported runtimes and baselines, so the numbers of
``mobileseg eval`` describe the program that runs on the phone. ``first="box"`` starts every
object's tracker from the bounding box of its given mask (the app's drag-a-box start) instead of
the mask; only what ``init`` receives changes, the scoring does not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from mobileseg.data.boxes import box_of_mask
from mobileseg.data.io import save_mask
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.data.tensors import frame_tensor, mask_tensor
from mobileseg.errors import ConfigError, OutputError
from mobileseg.eval.davis import FIRST_STARTS, EvalReport, check_void, score_sequence
from mobileseg.tracker import State, Tracker, TrackerFactory, aggregate
from mobileseg.utils.fsio import check_writable_folder, is_within
from mobileseg.utils.owned import claimed
from mobileseg.utils.progress import progress
from mobileseg.utils.timing import Timer


def check_first(first: str) -> None:
    """ConfigError unless ``first`` is one of :data:`FIRST_STARTS`."""
    if first not in FIRST_STARTS:
        raise ConfigError(f"first must be one of {', '.join(FIRST_STARTS)} (what each object's tracker is started from: "
                          f"{'; '.join(f'{k}: {v}' for k, v in FIRST_STARTS.items())}), got {first!r}.")


def start_mask(mask: np.ndarray, first: str) -> np.ndarray:
    """The ``[H, W]`` mask an object's tracker is started from: ``mask`` itself, or its bounding box (``box``)."""
    check_first(first)
    return box_of_mask(mask) if first == "box" else mask


@dataclass
class Group:
    """Objects followed by one tracker and one state: they start on the same frame.

    ``ids`` are the object ids, in the order of the state's object axis; ``padding`` empty masks
    follow them when the tracker takes a fixed object count (an exported file) larger than the group.
    """

    start: int
    ids: list[int]
    padding: int = 0
    tracker: Tracker | None = None
    state: State | None = None


def plan_groups(first_frame: Mapping[int, int], capacity: int | None) -> list[Group]:
    """One group per start frame, split into chunks of ``capacity`` objects (None: any number).

    Objects that start together share a state, as in training and in STCN: each object's value is
    encoded with the other objects' masks, and the network normalises their probabilities jointly.
    """
    if capacity is not None and capacity < 1:
        raise ConfigError(f"a tracker must follow at least one object per state, got {capacity}")
    groups = []
    for start in sorted(set(first_frame.values())):
        ids = sorted(k for k, t in first_frame.items() if t == start)
        size = capacity or len(ids)
        for i in range(0, len(ids), size):
            chunk = ids[i : i + size]
            groups.append(Group(start, chunk, size - len(chunk) if capacity else 0))
    return groups


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
    mask's bounding box (``first="box"``, :func:`start_mask`). Objects that start on the same
    frame share one tracker and one joint state (:func:`plan_groups`; a tracker whose ``objects``
    attribute fixes its object count, such as an exported file, takes them in chunks of that
    many). Each pixel takes the most probable of background and the objects, where background
    is the product over groups of ``1 - sum`` of the group's probabilities (the network's own
    background for one joint group; ``prod (1 - p_k)`` for one object per state). Frames are
    resized to ``size`` (H, W) for the trackers and probabilities resized back. The labels
    yielded for a start frame are the given mask either way (the protocols do not score it).
    """
    check_first(first)
    ids = sorted(first_frame)
    lookup = np.array([0, *ids], dtype=np.uint8)
    slot = {object_id: i for i, object_id in enumerate(ids)}
    probe = make_tracker() if ids else None  # tells how many objects one state takes
    groups = plan_groups(first_frame, getattr(probe, "objects", None))
    for i, group in enumerate(groups):
        group.tracker = probe if i == 0 else make_tracker()
    timer = timer or Timer()
    for t, frame in enumerate(frames):
        height, width = frame.shape[:2]
        x = frame_tensor(frame, size)
        probs = np.zeros((len(ids), height, width), dtype=np.float32)
        background = np.ones((height, width), dtype=np.float32)
        for group in groups:
            if t < group.start:
                continue
            assert group.tracker is not None
            with timer.measure():
                if t == group.start:
                    masks = [start_mask(given[t] == k, first) for k in group.ids] + [np.zeros((height, width), bool)] * group.padding
                    group.state = group.tracker.init(x, torch.cat([mask_tensor(m, size) for m in masks]))
                    group_probs = np.stack([given[t] == k for k in group.ids]).astype(np.float32)
                else:
                    assert group.state is not None
                    prob, group.state = group.tracker.step(x, group.state)
                    prob = F.interpolate(prob, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
                    group_probs = prob[: len(group.ids), 0].numpy()
                    background *= np.clip(1.0 - prob[:, 0].sum(0).numpy(), 0.0, 1.0)  # padding objects' mass included
            for k, p in zip(group.ids, group_probs):
                probs[slot[k]] = p
        labels = lookup[aggregate(probs, background)] if ids else np.zeros((height, width), np.uint8)
        if t in given:  # objects introduced on this frame keep their given mask
            for object_id in ids:
                if first_frame[object_id] == t:
                    labels[given[t] == object_id] = object_id
        timer.frames += 1
        yield labels


@dataclass
class TrackedVideo:
    """A predicted sequence: object ids per frame and the time spent inside the trackers."""

    labels: list[np.ndarray]  # uint8 [H, W] per frame
    tracker_seconds: float


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
    return TrackedVideo(labels, timer.seconds)


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


RESULTS_KIND = "predicted masks"


@dataclass
class PredictionRun:
    """What a run over a dataset produced: scores (when asked), where PNGs went, tracker speed."""

    frames: int
    tracker_ms_per_frame: float  # mean tracker time of one video frame, all its objects
    report: EvalReport | None = None
    results: Path | None = None


def predict_dataset(
    make_tracker: TrackerFactory,
    dataset: VideoDataset,
    results: str | os.PathLike[str] | None = None,  # claimed as a RESULTS_KIND folder (mobileseg.utils.owned)
    size: tuple[int, int] | None = None,
    multiple: int = 1,
    score: bool = True,
    max_videos: int | None = None,
    desc: str = "predicting",
    first: str = "mask",
    void: str = "background",
    overwrite: bool = False,  # results may hold files mobileseg did not write
) -> PredictionRun:
    """Segment every sequence; write ``results/<sequence>/<frame>.png`` when ``results`` is given
    and score against the ground truth when ``score`` (DAVIS protocol, same code as folders).

    ``size`` (H, W) is the tracker's input size; without it frames are resized to the nearest
    multiple of ``multiple`` (16 for the networks). ``first`` is ``"mask"`` (trackers start from
    the given masks) or ``"box"`` (from each object's bounding box); the report records it, and
    ``void`` (what void ground-truth pixels count as, :data:`~mobileseg.eval.davis.VOID_POLICIES`).
    """
    check_first(first)
    check_void(void)
    if results is None:
        return _predict(make_tracker, dataset, None, size, multiple, score, max_videos, desc, first, void)
    check_results_folder(dataset, results)
    with claimed(results, RESULTS_KIND, "--results", overwrite=overwrite):
        return _predict(make_tracker, dataset, results, size, multiple, score, max_videos, desc, first, void)


def _predict(make_tracker: TrackerFactory, dataset: VideoDataset, results: str | os.PathLike[str] | None, size: tuple[int, int] | None,
             multiple: int, score: bool, max_videos: int | None, desc: str, first: str, void: str) -> PredictionRun:
    sequences = list(dataset)[:max_videos]
    report = EvalReport(first=first, void=void) if score else None
    timer = Timer()  # the trackers' time over every sequence
    for sequence in progress(sequences, desc=desc, total=len(sequences), unit="seq"):
        tracked = track_sequence(make_tracker, sequence, size or aligned_size(sequence.size(), multiple), first)
        if results is not None:
            for name, labels in zip(sequence.frame_names, tracked.labels):
                save_mask(Path(results) / sequence.name / f"{name}.png", labels)
        if report is not None:
            gt = [sequence.mask(i) for i in range(len(sequence))]
            report.objects.extend(score_sequence(sequence, gt, tracked.labels, void))
        timer.add(tracked.tracker_seconds, frames=len(sequence))
    return PredictionRun(timer.frames, timer.ms_per_frame(), report, Path(results) if results else None)


def aligned_size(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    """``size`` with each side rounded to the nearest positive multiple of ``multiple``."""
    height, width = (max(multiple, int(round(side / multiple)) * multiple) for side in size)
    return height, width
