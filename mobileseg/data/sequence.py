"""The in-memory view of a VOS dataset that every reader returns.

A :class:`VideoSequence` lists a video's frame files and its (possibly sparse) annotation files;
pixels are read lazily. ``object_ids`` are the objects to segment and ``first_frame[k]`` is the
index of the frame whose mask introduces object ``k`` (always 0 in DAVIS; later in YouTube-VOS).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mobileseg.data.io import VOID, load_frame, load_mask
from mobileseg.errors import DatasetError


def _identity(mask: np.ndarray) -> np.ndarray:
    return mask


def image_size(path: Path, what: str) -> tuple[int, int]:
    """``(height, width)`` from the file header, without decoding pixels."""
    try:
        with Image.open(path) as image:
            width, height = image.size
    except FileNotFoundError:
        raise DatasetError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise DatasetError(f"cannot read {what} {path}: {exc}. The file is corrupt or not an image.") from None
    return height, width


@dataclass(frozen=True)
class VideoSequence:
    """One video: ordered frame files, per-frame annotation files (None where not annotated)."""

    name: str
    frames: tuple[Path, ...]
    masks: tuple[Path | None, ...]
    object_ids: tuple[int, ...]
    first_frame: Mapping[int, int]
    # Maps a raw mask (palette indices) to object ids, e.g. DAVIS 2016 turns 255 into object 1.
    decode_mask: Callable[[np.ndarray], np.ndarray] = field(default=_identity, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def frame_names(self) -> list[str]:
        """File stems of the frames (``00000``, ``00005``, ...), used to name result masks."""
        return [path.stem for path in self.frames]

    @property
    def annotated(self) -> list[int]:
        """Indices of the frames that have an annotation file."""
        return [i for i, path in enumerate(self.masks) if path is not None]

    def frame(self, index: int) -> np.ndarray:
        """``uint8 [H, W, 3]`` RGB frame."""
        return load_frame(self.frames[index])

    def mask(self, index: int) -> np.ndarray:
        """``uint8 [H, W]`` object ids of frame ``index`` (0 background, 255 void)."""
        path = self.masks[index]
        if path is None:
            raise DatasetError(
                f"sequence {self.name!r} has no annotation for frame {self.frames[index].name}; "
                f"annotated frames: {[self.frames[i].stem for i in self.annotated][:10]}"
            )
        mask = self.decode_mask(load_mask(path))
        height, width = image_size(self.frames[index], "frame")
        if mask.shape != (height, width):
            raise DatasetError(
                f"mask {path} is {mask.shape[1]}x{mask.shape[0]} (WxH) but its frame "
                f"{self.frames[index]} is {width}x{height}; masks must have the frame's size."
            )
        return mask

    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the first frame."""
        return image_size(self.frames[0], "frame")

    def validate(self) -> None:
        """Check from file headers that every frame and mask exists and has the same size."""
        expected = self.size()
        for frame_path, mask_path in zip(self.frames, self.masks):
            if image_size(frame_path, "frame") != expected:
                raise DatasetError(
                    f"frame {frame_path} differs in size from {self.frames[0]} "
                    f"({expected[1]}x{expected[0]}); all frames of a sequence must share one size."
                )
            if mask_path is not None and image_size(mask_path, "mask") != expected:
                height, width = image_size(mask_path, "mask")
                raise DatasetError(
                    f"mask {mask_path} is {width}x{height} (WxH) but the frames of "
                    f"{self.name!r} are {expected[1]}x{expected[0]}; masks must have the frame's size."
                )


@dataclass(frozen=True)
class VideoDataset:
    """A split of a dataset: an ordered list of sequences plus where it came from."""

    kind: str
    root: Path
    split: str
    sequences: tuple[VideoSequence, ...]

    def __len__(self) -> int:
        return len(self.sequences)

    def __iter__(self) -> Iterator[VideoSequence]:
        return iter(self.sequences)

    def __getitem__(self, key: int | str) -> VideoSequence:
        if isinstance(key, int):
            return self.sequences[key]
        for sequence in self.sequences:
            if sequence.name == key:
                return sequence
        raise DatasetError(f"no sequence {key!r} in {self.kind} {self.split} at {self.root}")

    @property
    def names(self) -> list[str]:
        return [sequence.name for sequence in self.sequences]


def objects_in(mask: np.ndarray) -> tuple[int, ...]:
    """Object ids present in a label map (background and void excluded)."""
    return tuple(int(v) for v in np.unique(mask) if v not in (0, VOID))
