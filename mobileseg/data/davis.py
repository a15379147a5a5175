"""Readers for the DAVIS 2017 and DAVIS 2016 folder layouts.

DAVIS 2017 (also the folder DAVIS 2016 sequences are usually read from today)::

    <root>/JPEGImages/<res>/<seq>/00000.jpg       res: 480p | Full-Resolution
    <root>/Annotations/<res>/<seq>/00000.png      palette PNG: 0 bg, 1..K objects, 255 void
    <root>/ImageSets/2017/<split>.txt             one sequence name per line
    <root>/ImageSets/2016/<split>.txt             (optional) the DAVIS 2016 sequences

The original DAVIS 2016 release::

    <root>/ImageSets/480p/<split>.txt             one frame pair per line:
        /JPEGImages/480p/bear/00000.jpg /Annotations/480p/bear/00000.png
    <root>/ImageSets/1080p/<split>.txt
    masks: 0 background, 255 (or any value > 0) the single object

Structural problems (missing folders, lists, unpaired files) raise
:class:`~mobileseg.errors.DatasetError` when the dataset is opened; pixel-level problems (sizes,
corrupt files) are found when a mask is loaded or :meth:`VideoSequence.validate` runs. The one
exception is the first mask of each DAVIS 2017 sequence, which is read to count its objects.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from mobileseg.data.io import VOID, load_mask
from mobileseg.data.sequence import VideoDataset, VideoSequence
from mobileseg.errors import ConfigError, DatasetError

FRAME_SUFFIXES = (".jpg", ".jpeg")
MASK_SUFFIX = ".png"
RESOLUTIONS_2017 = ("480p", "Full-Resolution")
RESOLUTIONS_2016 = ("480p", "1080p")
# Names a user may type for the full-resolution folder of either release.
_FULL_ALIASES = ("full", "Full-Resolution", "1080p")
_SHOWN = 5  # how many names an error message lists before "..."

LAYOUT_2017 = (
    "DAVIS 2017 layout: <root>/JPEGImages/<res>/<seq>/*.jpg, <root>/Annotations/<res>/<seq>/*.png "
    "and <root>/ImageSets/2017/<split>.txt"
)
LAYOUT_2016 = (
    "DAVIS 2016 layout: <root>/ImageSets/480p/<split>.txt (or 1080p/) listing "
    "'/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png' pairs, or a DAVIS 2017 "
    "folder with <root>/ImageSets/2016/<split>.txt"
)
_FIX = "pass --data pointing at the folder that contains JPEGImages/ and Annotations/"


def shorten(names: list[str]) -> str:
    """``a, b, c, ... (12 in all)``: a list for an error message that stays one line."""
    if not names:
        return "(none)"
    head = ", ".join(names[:_SHOWN])
    return head if len(names) <= _SHOWN else f"{head}, ... ({len(names)} in all)"


def require_root(root: str | os.PathLike[str], layout: str) -> Path:
    """``root`` as a Path; DatasetError naming the expected layout if it is not a folder."""
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"dataset folder {path} does not exist. Expected the {layout}; {_FIX}.")
    if not path.is_dir():
        raise DatasetError(f"dataset root {path} is a file, not a folder. Expected the {layout}; {_FIX}.")
    return path


def list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` whose suffix (case-insensitive) is in ``suffixes``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def subfolders(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` (empty when it is not a folder)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def match_masks(name: str, frames: list[Path], mask_dir: Path) -> tuple[Path | None, ...]:
    """Match the ``.png`` files of ``mask_dir`` to ``frames`` by file stem.

    Returns one entry per frame: its mask path, or None where the frame has no mask (also when
    ``mask_dir`` does not exist). A mask without a frame raises DatasetError.
    """
    by_stem = {p.stem: p for p in list_files(mask_dir, (MASK_SUFFIX,))} if mask_dir.is_dir() else {}
    frame_stems = {p.stem for p in frames}
    orphans = sorted(stem for stem in by_stem if stem not in frame_stems)
    if orphans:
        raise DatasetError(
            f"sequence {name!r}: masks without a frame in {mask_dir}: {shorten(orphans)}. Frames are "
            f"in {frames[0].parent}; each mask NNNNN.png needs a frame NNNNN.jpg. Remove the extra "
            "masks or restore the missing frames."
        )
    return tuple(by_stem.get(p.stem) for p in frames)


def _require_masks(
    name: str, frames: list[Path], masks: tuple[Path | None, ...], mask_dir: Path, require_all: bool
) -> None:
    """DatasetError unless frame 0 (and, with ``require_all``, every frame) has a mask."""
    missing = [frames[i].name for i, m in enumerate(masks) if m is None]
    if masks[0] is None or (require_all and missing):
        need = "every frame" if require_all else "the first frame"
        where = mask_dir if mask_dir.is_dir() else f"{mask_dir} (the folder does not exist)"
        hint = ", or pass require_masks=False for a split without them (test-dev)" if require_all else ""
        raise DatasetError(
            f"sequence {name!r}: {need} needs a mask in {where}, but these frames have none: "
            f"{shorten(missing)}. Restore the annotations{hint}."
        )


def _frames_of(name: str, frame_dir: Path, list_path: Path) -> list[Path]:
    if not frame_dir.is_dir():
        raise DatasetError(
            f"sequence {name!r} is listed in {list_path} but its frame folder {frame_dir} does not "
            "exist. Download the missing sequence or remove it from the list."
        )
    frames = list_files(frame_dir, FRAME_SUFFIXES)
    if not frames:
        raise DatasetError(f"frame folder {frame_dir} of sequence {name!r} holds no .jpg frames.")
    return frames


def read_lines(list_path: Path) -> list[str]:
    """The lines of a text list file; DatasetError naming the file if it is not readable text."""
    try:
        return list_path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetError(f"list file {list_path} is not UTF-8 text ({exc}); re-extract it.") from None


def read_sequence_list(list_path: Path) -> list[str]:
    """Sequence names from a DAVIS 2017 style list (one per line, blank lines skipped)."""
    names = [line.strip() for line in read_lines(list_path) if line.strip()]
    if not names:
        raise DatasetError(f"sequence list {list_path} is empty; it must name one sequence per line.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f"sequence list {list_path} names {shorten(repeated)} more than once.")
    return names


def _list_path(root: Path, year: str, split: str) -> Path:
    sets = root / "ImageSets" / year
    list_path = sets / f"{split}.txt"
    if list_path.is_file():
        return list_path
    if not (root / "JPEGImages").is_dir() and not (root / "ImageSets").is_dir():
        raise DatasetError(
            f"{root} is not a DAVIS folder: it has no JPEGImages/ or ImageSets/ (found: "
            f"{shorten(subfolders(root))}). Expected the {LAYOUT_2017}; {_FIX}."
        )
    present = sorted(p.stem for p in sets.glob("*.txt")) if sets.is_dir() else []
    raise DatasetError(
        f"no list file for split {split!r}: {list_path} does not exist. List files in {sets}: "
        f"{shorten(present)}. Pick one of those splits, or add {split}.txt with one sequence per line."
    )


def _resolution_dirs(root: Path, resolution: str) -> tuple[Path, Path]:
    """``(JPEGImages/<res>, Annotations/<res>)`` of a DAVIS 2017 folder, checked to exist."""
    frames_root = root / "JPEGImages" / resolution
    masks_root = root / "Annotations" / resolution
    for folder in (frames_root, masks_root):
        if not folder.is_dir():
            raise DatasetError(
                f"resolution folder {folder} does not exist (found in {folder.parent}: "
                f"{shorten(subfolders(folder.parent))}). Pass a resolution that was downloaded "
                f"({', '.join(RESOLUTIONS_2017)}), or point the root at the folder containing them."
            )
    return frames_root, masks_root


def normalise_resolution(resolution: str, allowed: tuple[str, ...]) -> str:
    """Map ``full``/``1080p``/``Full-Resolution`` to the full-resolution entry of ``allowed``."""
    if resolution in allowed:
        return resolution
    if resolution in _FULL_ALIASES:
        return allowed[1]
    raise ConfigError(
        f"unknown DAVIS resolution {resolution!r}; allowed: {', '.join(allowed)} "
        "(or 'full' for the full-resolution frames)."
    )


def _objects_2017(name: str, first_mask: Path | None) -> tuple[int, ...]:
    """Object ids ``1..max id`` of the first mask, as in the official DAVIS 2017 toolkit."""
    if first_mask is None:  # _require_masks already refuses this; kept for the type checker
        raise DatasetError(f"sequence {name!r} has no mask for its first frame.")
    ids = load_mask(first_mask)
    ids = ids[ids != VOID]
    top = int(ids.max()) if ids.size else 0
    if top == 0:
        raise DatasetError(
            f"first mask {first_mask} of sequence {name!r} contains no object (only background or "
            "void); semi-supervised VOS needs the objects given in the first frame. Fix the mask "
            "or remove the sequence from the list."
        )
    return tuple(range(1, top + 1))


def _scan_davis_folder(
    root: Path, year: str, split: str, resolution: str, require_masks: bool
) -> list[tuple[str, list[Path], tuple[Path | None, ...]]]:
    """``(name, frames, masks)`` of every listed sequence of a DAVIS 2017 style folder."""
    list_path = _list_path(root, year, split)
    frames_root, masks_root = _resolution_dirs(root, resolution)
    scanned = []
    for name in read_sequence_list(list_path):
        frames = _frames_of(name, frames_root / name, list_path)
        masks = match_masks(name, frames, masks_root / name)
        _require_masks(name, frames, masks, masks_root / name, require_masks)
        scanned.append((name, frames, masks))
    return scanned


def open_davis2017(
    root: str | os.PathLike[str],
    split: str = "val",
    resolution: str = "480p",
    require_masks: bool = True,
) -> VideoDataset:
    """Open a split of a DAVIS 2017 folder.

    Args:
        root: the folder containing ``JPEGImages/``, ``Annotations/`` and ``ImageSets/2017/``.
        split: a list file name in ``ImageSets/2017`` (train, val, test-dev, test-challenge, ...).
        resolution: ``480p`` or ``Full-Resolution`` (alias ``full``).
        require_masks: every frame must have a mask; pass False for test-dev, where only the
            first frame is annotated.

    Returns:
        a ``davis2017`` VideoDataset; each sequence has objects ``1..max id of frame 0``, all
        starting at frame 0, and raw masks (0 bg, 1..K, 255 void).
    """
    root_path = require_root(root, LAYOUT_2017)
    res = normalise_resolution(resolution, RESOLUTIONS_2017)
    sequences = []
    for name, frames, masks in _scan_davis_folder(root_path, "2017", split, res, require_masks):
        ids = _objects_2017(name, masks[0])
        sequences.append(VideoSequence(name, tuple(frames), masks, ids, {k: 0 for k in ids}))
    return VideoDataset("davis2017", root_path, split, tuple(sequences))


def decode_binary(mask: np.ndarray) -> np.ndarray:
    """DAVIS 2016 masks: ``uint8 [H, W]`` 0/255 -> 0/1 (255 is the object there, not void)."""
    return (mask > 0).astype(np.uint8)


def merge_objects(mask: np.ndarray) -> np.ndarray:
    """``uint8 [H, W]`` ids 0..K, 255 -> one object: 1..254 become 1, 0 and 255 (void) stay."""
    return np.where((mask > 0) & (mask != VOID), 1, mask).astype(np.uint8)


def _pair_line(line: str, number: int, list_path: Path, root: Path) -> tuple[Path, Path]:
    parts = line.split()
    if len(parts) != 2:
        raise DatasetError(
            f"line {number} of {list_path} is {line!r}; DAVIS 2016 lists need two paths per line, "
            "'/JPEGImages/480p/<seq>/00000.jpg /Annotations/480p/<seq>/00000.png'."
        )
    frame, mask = (root / part.lstrip("/") for part in parts)
    if frame.stem != mask.stem:
        raise DatasetError(f"line {number} of {list_path} pairs frame {frame.name} with mask {mask.name}.")
    return frame, mask


def _read_pair_list(list_path: Path, root: Path) -> dict[str, list[tuple[Path, Path]]]:
    """``{sequence: [(frame, mask), ...]}`` from a DAVIS 2016 pair list, in list order."""
    groups: dict[str, list[tuple[Path, Path]]] = {}
    for number, line in enumerate(read_lines(list_path), start=1):
        if line.strip():
            frame, mask = _pair_line(line, number, list_path, root)
            groups.setdefault(frame.parent.name, []).append((frame, mask))
    if not groups:
        raise DatasetError(f"frame-pair list {list_path} is empty.")
    return groups


def _sequence_2016(name: str, pairs: list[tuple[Path, Path]], list_path: Path) -> VideoSequence:
    pairs = sorted(pairs, key=lambda pair: pair[0].name)
    folder = pairs[0][0].parent
    if not folder.is_dir():
        raise DatasetError(
            f"sequence {name!r} is listed in {list_path} but its frame folder {folder} does not "
            "exist. Download the missing sequence or remove its lines from the list."
        )
    for frame, mask in pairs:
        for path, what in ((frame, "frame"), (mask, "mask")):
            if not path.is_file():
                raise DatasetError(f"{what} {path} listed in {list_path} does not exist; restore it.")
    frames = tuple(frame for frame, _ in pairs)
    masks = tuple(mask for _, mask in pairs)
    return VideoSequence(name, frames, masks, (1,), {1: 0}, decode_binary)


def _open_original_2016(root: Path, split: str, resolution: str) -> VideoDataset:
    sets = root / "ImageSets" / resolution
    list_path = sets / f"{split}.txt"
    if not list_path.is_file():
        sets_2016 = root / "ImageSets" / "2016"
        present = [f"{p.parent.name}/{p.stem}" for d in (sets, sets_2016) for p in sorted(d.glob("*.txt"))]
        raise DatasetError(
            f"no list file for split {split!r}: neither {list_path} nor {sets_2016 / f'{split}.txt'} "
            f"exists. List files in {root / 'ImageSets'}: {shorten(present)}. Expected the "
            f"{LAYOUT_2016}; pick an existing split."
        )
    groups = _read_pair_list(list_path, root)
    sequences = tuple(_sequence_2016(name, pairs, list_path) for name, pairs in groups.items())
    return VideoDataset("davis2016", root, split, sequences)


def open_davis2016(
    root: str | os.PathLike[str], split: str = "val", resolution: str = "480p"
) -> VideoDataset:
    """Open a split of DAVIS 2016: single-object masks, ``uint8`` 0 bg / 1 object / 255 void.

    Reads either the original release (``ImageSets/<480p|1080p>/<split>.txt`` frame-pair lists,
    0/255 masks decoded to 0/1) or a DAVIS 2017 folder with ``ImageSets/2016/<split>.txt``, whose
    objects are merged into object 1 (255 stays void). The 2017 layout is used when its list
    file exists.

    Args:
        root: the dataset folder.
        split: list file name (train, val, trainval, ...).
        resolution: ``480p`` or ``1080p`` (alias ``full``; ``Full-Resolution`` in a 2017 folder).
    """
    root_path = require_root(root, LAYOUT_2016)
    if (root_path / "ImageSets" / "2016" / f"{split}.txt").is_file():
        res = normalise_resolution(resolution, RESOLUTIONS_2017)
        scanned = _scan_davis_folder(root_path, "2016", split, res, require_masks=True)
        sequences = tuple(
            VideoSequence(name, tuple(frames), masks, (1,), {1: 0}, merge_objects)
            for name, frames, masks in scanned
        )
        return VideoDataset("davis2016", root_path, split, sequences)
    res = normalise_resolution(resolution, RESOLUTIONS_2016)
    if not (root_path / "ImageSets").is_dir():
        raise DatasetError(
            f"{root_path} is not a DAVIS 2016 folder: it has no ImageSets/ (found: "
            f"{shorten(subfolders(root_path))}). Expected the {LAYOUT_2016}; {_FIX}."
        )
    return _open_original_2016(root_path, split, res)
