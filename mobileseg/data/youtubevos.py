"""Reader for the YouTube-VOS 2019 layout (sparse annotations, objects that appear later).

::

    <root>/<split>/JPEGImages/<vid>/<frame>.jpg
    <root>/<split>/Annotations/<vid>/<frame>.png   palette PNG of object ids; train: every 5th
                                                    frame, valid/test: only where an object appears
    <root>/<split>/meta.json                        {"videos": {vid: {"objects": {"1":
                                                       {"category": "person", "frames": ["00000", ...]}}}}}
    <root>/valid_all_frames/JPEGImages/<vid>/...    (optional) every frame of the valid videos

``first_frame[k]`` is the index of the first frame meta.json lists for object ``k``; that frame
must have an annotation file. Whether the file really contains ``k`` is a pixel-level check, done
by :func:`check_first_masks`, not when the dataset is opened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mobileseg.data.davis import (
    FRAME_SUFFIXES,
    list_files,
    match_masks,
    require_root,
    shorten,
    subfolders,
)
from mobileseg.data.sequence import VideoDataset, VideoSequence, objects_in
from mobileseg.errors import DatasetError

ALL_FRAMES_SPLIT = "valid_all_frames"
YOUTUBEVOS_SPLITS = ("train", "valid", "test", ALL_FRAMES_SPLIT)
LAYOUT = (
    "YouTube-VOS layout: <root>/<split>/JPEGImages/<video>/*.jpg, "
    "<root>/<split>/Annotations/<video>/*.png and <root>/<split>/meta.json"
)
_FIX = "pass --data pointing at the folder that contains train/, valid/ (or at one split folder)"


def _split_dir(root: Path, split: str) -> Path:
    """The folder holding JPEGImages/, Annotations/ and meta.json of ``split``."""
    if (root / split).is_dir():
        return root / split
    if (root / "meta.json").is_file() or (root / "JPEGImages").is_dir():
        if root.name in YOUTUBEVOS_SPLITS and root.name != split:
            raise DatasetError(
                f"{root} is the {root.name!r} split folder but split {split!r} was asked. Pass "
                f"split={root.name!r}, or pass the parent folder {root.parent} to choose a split."
            )
        return root
    raise DatasetError(
        f"{root} has no {split}/ folder and is not a split folder itself (found: "
        f"{shorten(subfolders(root))}). Expected the {LAYOUT}; {_FIX}."
    )


def _layout_dirs(root: Path, split: str) -> tuple[Path, Path, Path]:
    """``(frames root, annotations root, meta.json)`` for ``split``."""
    if split != ALL_FRAMES_SPLIT:
        split_dir = _split_dir(root, split)
        return split_dir / "JPEGImages", split_dir / "Annotations", split_dir / "meta.json"
    base = root.parent if root.name == ALL_FRAMES_SPLIT else root
    frames_root = base / ALL_FRAMES_SPLIT / "JPEGImages"
    if not frames_root.is_dir():
        raise DatasetError(
            f"split {ALL_FRAMES_SPLIT!r} needs {frames_root}, which does not exist. Download "
            f"the all-frames archive of the valid split, or pass split='valid'."
        )
    return frames_root, base / "valid" / "Annotations", base / "valid" / "meta.json"


def read_meta(meta_path: Path) -> dict[str, Any]:
    """The ``videos`` table of a YouTube-VOS meta.json: ``{video: {"objects": {...}}}``."""
    if not meta_path.is_file():
        raise DatasetError(
            f"meta.json not found: {meta_path}. Expected the {LAYOUT}; every split folder of "
            "YouTube-VOS 2019 ships one."
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(
            f"{meta_path} is not valid JSON ({exc}). Re-extract it from the YouTube-VOS archive."
        ) from None
    videos = meta.get("videos") if isinstance(meta, dict) else None
    if not isinstance(videos, dict):
        found = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
        raise DatasetError(
            f"{meta_path} has no 'videos' table (found: {found}); expected "
            '{"videos": {"<video>": {"objects": {"1": {"category": ..., "frames": [...]}}}}}.'
        )
    return videos


def _objects(video: str, entry: Any, meta_path: Path) -> dict[int, str]:
    """``{object id: first listed frame stem}`` of one meta.json video entry."""
    objects = entry.get("objects") if isinstance(entry, dict) else None
    if not isinstance(objects, dict) or not objects:
        raise DatasetError(
            f"video {video!r} in {meta_path} has no 'objects' table; expected "
            '"objects": {"1": {"frames": ["00000", ...]}}.'
        )
    firsts: dict[int, str] = {}
    for key, obj in objects.items():
        frames = obj.get("frames") if isinstance(obj, dict) else None
        if not key.isdigit() or int(key) in (0, 255) or not isinstance(frames, list) or not frames:
            raise DatasetError(
                f"object {key!r} of video {video!r} in {meta_path} is malformed: ids must be "
                "integers 1..254 and each object needs a non-empty 'frames' list."
            )
        firsts[int(key)] = str(frames[0])
    return dict(sorted(firsts.items()))


def _first_indices(
    video: str, firsts: Mapping[int, str], frames: list[Path], masks: tuple[Path | None, ...], mask_dir: Path
) -> dict[int, int]:
    """``{object id: index of its first frame}``, checking that frame exists and is annotated."""
    index = {path.stem: i for i, path in enumerate(frames)}
    first_frame: dict[int, int] = {}
    for obj, stem in firsts.items():
        if stem not in index:
            raise DatasetError(
                f"meta.json says object {obj} of video {video!r} first appears in frame {stem!r}, "
                f"but {frames[0].parent} has no such frame. Restore the frame or fix meta.json."
            )
        if masks[index[stem]] is None:
            raise DatasetError(
                f"object {obj} of video {video!r} first appears in frame {stem!r}, but there is no "
                f"annotation {mask_dir / (stem + '.png')}; the first frame of every object must be "
                "annotated. Restore the annotation file."
            )
        first_frame[obj] = index[stem]
    return first_frame


def _video(name: str, entry: Any, frames_root: Path, masks_root: Path, meta_path: Path) -> VideoSequence:
    firsts = _objects(name, entry, meta_path)
    frame_dir = frames_root / name
    if not frame_dir.is_dir():
        raise DatasetError(
            f"video {name!r} is listed in {meta_path} but its frame folder {frame_dir} does not "
            "exist. Re-extract the split or remove the video from meta.json."
        )
    frames = list_files(frame_dir, FRAME_SUFFIXES)
    if not frames:
        raise DatasetError(f"frame folder {frame_dir} of video {name!r} holds no .jpg frames.")
    mask_dir = masks_root / name
    if not mask_dir.is_dir():
        raise DatasetError(
            f"video {name!r} has no annotation folder {mask_dir}; every video needs at least the "
            "masks of the frames where its objects first appear."
        )
    # Objects may appear after frame 0, so unannotated frames are fine; only orphan masks are not.
    masks = match_masks(name, frames, mask_dir)
    first_frame = _first_indices(name, firsts, frames, masks, mask_dir)
    return VideoSequence(name, tuple(frames), masks, tuple(firsts), first_frame)


def open_youtubevos(root: str | os.PathLike[str], split: str = "train") -> VideoDataset:
    """Open a split of YouTube-VOS 2019.

    Args:
        root: the folder containing ``train/``, ``valid/``, ... or one split folder itself.
        split: ``train``, ``valid``, ``test`` or ``valid_all_frames`` (frames from
            ``valid_all_frames/JPEGImages``, annotations and meta.json from ``valid/``).

    Returns:
        a ``youtubevos`` VideoDataset, videos sorted by name; masks are sparse (None where a
        frame has no annotation) and hold raw object ids.
    """
    root_path = require_root(root, LAYOUT)
    frames_root, masks_root, meta_path = _layout_dirs(root_path, split)
    videos = read_meta(meta_path)
    for folder in (frames_root, masks_root):
        if not folder.is_dir():
            raise DatasetError(f"{folder} does not exist. Expected the {LAYOUT}; {_FIX}.")
    sequences = tuple(
        _video(name, videos[name], frames_root, masks_root, meta_path) for name in sorted(videos)
    )
    return VideoDataset("youtubevos", root_path, split, sequences)


def check_first_masks(sequence: VideoSequence) -> None:
    """Pixel-level check: the mask of each object's first frame contains that object's id.

    Reads one mask per object; raises DatasetError naming the mask file and the ids it holds.
    """
    for obj, index in sequence.first_frame.items():
        present = objects_in(sequence.mask(index))
        if obj not in present:
            raise DatasetError(
                f"object {obj} of {sequence.name!r} should first appear in "
                f"{sequence.masks[index]}, but that mask holds objects {list(present)}. Fix the "
                "annotation or the object's frame list in meta.json."
            )
