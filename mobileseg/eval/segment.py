"""``mobileseg run``: segment one video given its first-frame mask; masks and an overlay out."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mobileseg.data.io import save_mask
from mobileseg.data.sequence import objects_in
from mobileseg.data.video import OverlayWriter, overlay
from mobileseg.errors import DatasetError, OutputError
from mobileseg.eval.predict import aligned_size, track_frames
from mobileseg.sources import TrackerSource
from mobileseg.utils.fsio import check_writable_folder, is_within, paths_overlap
from mobileseg.utils.owned import claimed
from mobileseg.utils.progress import progress
from mobileseg.utils.timing import Stopwatch, Timer


@dataclass
class SegmentedVideo:
    frames: int
    objects: tuple[int, ...]
    masks: Path
    overlay: Path | None
    tracker_ms_per_frame: float
    seconds: float


KIND = "segmentation"  # the marker kind of a `run --out` folder (mobileseg.utils.owned)


def check_overlay_name(name: str) -> str:
    """``--overlay`` is a file name written inside ``--out``; a path would write (or replace) a file elsewhere."""
    if not name or os.path.isabs(name) or Path(name).name != name or name in (".", ".."):
        raise OutputError(f"--overlay {name}: give a file name such as overlay.gif or overlay.mp4; it is written inside --out "
                          "(a path would write outside it). Use --out to choose the folder.")
    return name


def dataset_root(path: str | os.PathLike[str]) -> Path | None:
    """The DAVIS-layout dataset folder (holding JPEGImages and Annotations) that ``path`` lies in, if any."""
    for folder in [Path(path).resolve(), *Path(path).resolve().parents]:
        if (folder / "JPEGImages").is_dir() and (folder / "Annotations").is_dir():
            return folder
    return None


def check_run_output(out: str | os.PathLike[str], frames_dir: str | os.PathLike[str] | None = None,
                     video: str | os.PathLike[str] | None = None, overlay_path: str | os.PathLike[str] | None = None,
                     first_mask: str | os.PathLike[str] | None = None) -> None:
    """OutputError when writing masks (and the overlay) to ``out`` would mix them with the input
    frames or the first mask's folder, land inside the input dataset, or replace the input video;
    or when ``out`` cannot be written."""
    if first_mask is not None and Path(out).resolve() == Path(first_mask).parent.resolve():
        raise OutputError(
            f"--out {out} is the folder of the input --first-mask {first_mask}: the predicted masks (00000.png, ...) would "
            "replace it and its neighbours (a dataset's ground truth, for one). Choose another --out.")
    for given in (frames_dir, first_mask, video):
        root = dataset_root(given) if given is not None else None
        if root is not None and is_within(out, root):
            raise OutputError(
                f"--out {out} lies inside the dataset {root} that the input {given} comes from: predictions written there "
                "could replace its frames or ground truth, and a later eval would read them as data. Choose an --out outside it.")
    if frames_dir is not None and paths_overlap(out, frames_dir):
        raise OutputError(
            f"--out {out} overlaps the input --frames {frames_dir} (the same folder, or one inside the other): the masks "
            "would be mixed with the input frames (and a later run would read them as frames). Choose an --out outside the frame folder."
        )
    if video is not None and overlay_path is not None and Path(overlay_path).resolve() == Path(video).resolve():
        raise OutputError(f"the overlay {overlay_path} would replace the input --video {video}; choose another --out or --overlay.")
    check_writable_folder(out, "--out")


def _checked(frames: Iterable[np.ndarray], first_mask: np.ndarray) -> Iterator[np.ndarray]:
    for t, frame in enumerate(frames):
        if t == 0 and frame.shape[:2] != first_mask.shape:
            raise DatasetError(
                f"the first-frame mask is {first_mask.shape[1]}x{first_mask.shape[0]} (WxH) but the video is "
                f"{frame.shape[1]}x{frame.shape[0]}; give the mask of the first frame at the video's size."
            )
        yield frame


def segment_video(
    source: TrackerSource, frames: Iterable[np.ndarray], first_mask: np.ndarray, out: str | os.PathLike[str],
    size: tuple[int, int] | None = None, overlay_path: str | os.PathLike[str] | None = None, fps: float = 10.0,
    total: int | None = None, overwrite: bool = False,
) -> SegmentedVideo:
    """Track every object of ``first_mask`` (ids 1..254) through ``frames``; write ``out/NNNNN.png``.

    ``out`` must be new, empty or an earlier ``run``'s (else ``overwrite``). The masks are written
    into a staging folder and moved into ``out`` only when the whole video was segmented: a video
    that breaks halfway (a truncated file) leaves ``out`` as it was.
    """
    objects = objects_in(first_mask)
    if not objects:
        raise DatasetError("the first-frame mask contains no object (only background/void); nothing to track.")
    with claimed(out, KIND, overwrite=overwrite) as folder:
        staging = folder / f".masks.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            return _segment(source, frames, first_mask, objects, folder, staging, size, overlay_path, fps, total)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _segment(source: TrackerSource, frames: Iterable[np.ndarray], first_mask: np.ndarray, objects: tuple[int, ...], out: Path,
             staging: Path, size: tuple[int, int] | None, overlay_path: str | os.PathLike[str] | None, fps: float,
             total: int | None) -> SegmentedVideo:
    size = size or aligned_size(first_mask.shape, source.multiple)
    writer = OverlayWriter(overlay_path, fps) if overlay_path else None
    timer, count, wall = Timer(), 0, Stopwatch()
    frames_iter = iter(_checked(frames, first_mask))
    buffer: list[np.ndarray] = []  # frames handed to the trackers, waiting for their labels

    def feed() -> Iterator[np.ndarray]:
        for frame in frames_iter:
            buffer.append(frame)
            yield frame

    for labels in progress(track_frames(source.make, feed(), {0: first_mask}, {k: 0 for k in objects}, size, timer),
                           desc="segmenting", total=total, unit="frame"):
        frame = buffer.pop(0)
        save_mask(staging / f"{count:05d}.png", labels)
        if writer is not None:
            writer.add(overlay(frame, labels))
        count += 1
    for mask in sorted(staging.iterdir()):
        os.replace(mask, out / mask.name)
    written = writer.close() if writer is not None and count else None
    return SegmentedVideo(count, objects, out, written, timer.ms_per_frame(), wall.elapsed())
