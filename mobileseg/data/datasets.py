"""One entry point for every supported dataset layout, with auto-detection.

``open_dataset(root, split, kind="auto")`` looks at the folder and calls the matching reader:

* ``youtubevos``: ``meta.json`` in ``<root>/<split>/`` or ``<root>/``;
* ``davis2017``: ``<root>/ImageSets/2017/``;
* ``davis2016``: ``<root>/ImageSets/480p/`` or ``1080p/`` with frame-pair lines, or only
  ``<root>/ImageSets/2016/``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from pathlib import Path

from mobileseg.data.davis import (
    LAYOUT_2016,
    LAYOUT_2017,
    open_davis2016,
    open_davis2017,
    read_lines,
    require_root,
    shorten,
    subfolders,
)
from mobileseg.data.sequence import VideoDataset
from mobileseg.data.youtubevos import LAYOUT as LAYOUT_YTVOS
from mobileseg.data.youtubevos import YOUTUBEVOS_SPLITS, check_first_masks, open_youtubevos
from mobileseg.errors import DatasetError, UnknownNameError

# The values of VideoDataset.kind; ``open_dataset`` also takes "auto".
DATASET_KINDS = ("davis2017", "davis2016", "youtubevos")
AUTO = "auto"
_LAYOUTS = f"{LAYOUT_2017}; or the {LAYOUT_2016}; or the {LAYOUT_YTVOS}"
_LAYOUT_OF = {"davis2017": LAYOUT_2017, "davis2016": LAYOUT_2016, "youtubevos": LAYOUT_YTVOS}

Opener = Callable[[Path, str, str, bool], VideoDataset]


def _open_2017(root: Path, split: str, resolution: str, require_masks: bool) -> VideoDataset:
    return open_davis2017(root, split, resolution, require_masks)


def _open_2016(root: Path, split: str, resolution: str, require_masks: bool) -> VideoDataset:
    return open_davis2016(root, split, resolution)  # every DAVIS 2016 frame is annotated


def _open_ytvos(root: Path, split: str, resolution: str, require_masks: bool) -> VideoDataset:
    return open_youtubevos(root, split)  # one resolution; annotations are sparse by design


_OPENERS: dict[str, Opener] = {
    "davis2017": _open_2017,
    "davis2016": _open_2016,
    "youtubevos": _open_ytvos,
}


def _has_pair_lists(root: Path) -> bool:
    """True if ``ImageSets/480p`` or ``1080p`` holds a list whose first line is a frame pair."""
    for res in ("480p", "1080p"):
        sets = root / "ImageSets" / res
        for list_path in sorted(sets.glob("*.txt")) if sets.is_dir() else []:
            lines = [line for line in read_lines(list_path) if line.strip()]
            if lines and len(lines[0].split()) == 2:
                return True
    return False


def _is_youtubevos(root: Path, split: str) -> bool:
    """meta.json in the split folder, the root, or any standard split folder (then the reader
    reports a wrong split name with the splits that exist, e.g. ``val`` instead of ``valid``)."""
    folders = (root, root / split, *(root / name for name in YOUTUBEVOS_SPLITS))
    return any((folder / "meta.json").is_file() for folder in folders)


def detect_kind(root: str | os.PathLike[str], split: str = "val") -> str:
    """The dataset kind (one of DATASET_KINDS) of the folder ``root``, judged by its layout.

    Raises DatasetError naming the folder, what it holds and the layouts that were expected.
    """
    path = require_root(root, _LAYOUTS)
    if _is_youtubevos(path, split):
        return "youtubevos"
    if (path / "ImageSets" / "2017").is_dir():
        return "davis2017"
    if (path / "ImageSets" / "2016").is_dir() or _has_pair_lists(path):
        return "davis2016"
    raise DatasetError(
        f"cannot tell which dataset {path} holds (found: {shorten(subfolders(path))}). Expected the "
        f"{_LAYOUTS}. Pass --data pointing at the dataset folder, or name the layout with --kind "
        f"({', '.join(DATASET_KINDS)})."
    )


def _check_kind(kind: str) -> None:
    allowed = (AUTO, *DATASET_KINDS)
    if kind not in allowed:
        close = difflib.get_close_matches(kind, allowed, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(f"unknown dataset kind {kind!r}; allowed: {', '.join(allowed)}.{hint}")


def open_dataset(
    root: str | os.PathLike[str],
    split: str = "val",
    kind: str = AUTO,
    resolution: str = "480p",
    require_masks: bool = True,
) -> VideoDataset:
    """Open ``split`` of the dataset at ``root``.

    Args:
        root: the dataset folder (see each reader for its layout).
        split: the list file (DAVIS) or split folder (YouTube-VOS) to read.
        kind: ``auto`` (detect from the folder) or one of DATASET_KINDS.
        resolution: DAVIS only: ``480p`` or ``full`` (``Full-Resolution`` / ``1080p``).
        require_masks: DAVIS 2017 only: every frame must be annotated (False for test-dev).

    Raises:
        UnknownNameError (a ConfigError) for an unknown ``kind``; DatasetError for data problems.
    """
    _check_kind(kind)
    path = require_root(root, _LAYOUT_OF.get(kind, _LAYOUTS))
    chosen = detect_kind(path, split) if kind == AUTO else kind
    return _OPENERS[chosen](path, split, resolution, require_masks)


def validate_dataset(dataset: VideoDataset) -> None:
    """Read every file header and each object's first mask; DatasetError on the first problem.

    Checks that frames and masks exist, decode, share their sequence's size, and that each
    object's first mask contains it. Reads one mask per object, so it is slower than opening.
    """
    for sequence in dataset:
        sequence.validate()
        if dataset.kind == "youtubevos":
            check_first_masks(sequence)
        else:
            sequence.mask(0)  # DAVIS objects all start at frame 0: decode it once
