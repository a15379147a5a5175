"""Image and mask files: RGB JPEG frames and palette-indexed PNG masks (DAVIS conventions).

Naming used across ``mobileseg.data``:
    frame: ``uint8 [H, W, 3]`` RGB;
    mask (label map): ``uint8 [H, W]``, 0 = background, 1..K = objects, 255 = void.

Every reader raises :class:`~mobileseg.errors.DatasetError` naming the file, never a Pillow
traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from mobileseg.errors import DatasetError

VOID = 255
# Modes whose pixel values are object ids. RGB masks are refused: the colour -> id mapping is
# ambiguous, so the user must convert them to indexed PNGs.
_INDEX_MODES = ("P", "L")


def davis_palette() -> bytes:
    """The 256-colour palette of DAVIS and PASCAL VOC masks (index 1 red, 2 green, 3 olive, ...).

    Colour bits are spread over the index bits: bit 3j+c of the index sets bit 7-j of channel c.
    """
    colours = bytearray(256 * 3)
    for index in range(256):
        code = index
        rgb = [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((code >> channel) & 1) << shift
            code >>= 3
        colours[3 * index : 3 * index + 3] = bytes(rgb)
    return bytes(colours)


_PALETTE = davis_palette()


def _open(path: Path, what: str) -> Image.Image:
    if not path.is_file():
        raise DatasetError(f"{what} not found: {path}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(
            f"cannot decode {what} {path}: {exc}. The file is corrupt or not an image; "
            "re-extract or regenerate it."
        ) from None
    return image


def load_frame(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an RGB frame as ``uint8 [H, W, 3]``."""
    image = _open(Path(path), "frame")
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def load_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an indexed mask as ``uint8 [H, W]`` object ids (the raw palette indices).

    Raises DatasetError for a missing or corrupt file and for masks that are not indexed
    (RGB, RGBA, 16-bit), whose object ids cannot be read without guessing.
    """
    path = Path(path)
    image = _open(path, "mask")
    if image.mode not in _INDEX_MODES:
        raise DatasetError(
            f"mask {path} has image mode {image.mode!r}; masks must be palette-indexed PNGs "
            f"(mode 'P', or greyscale 'L' holding object ids), as in DAVIS. Convert the file "
            "so that each pixel stores its object id (0 = background)."
        )
    return np.asarray(image, dtype=np.uint8)


def encode_mask_png(mask: np.ndarray) -> bytes:
    """Encode an object-id map as a palette PNG with the DAVIS palette."""
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise ValueError(f"mask must be uint8 [H, W], got {mask.dtype} {tuple(mask.shape)}")
    image = Image.fromarray(mask, mode="P")
    image.putpalette(_PALETTE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def encode_frame_jpeg(frame: np.ndarray, quality: int = 90) -> bytes:
    """Encode ``uint8 [H, W, 3]`` RGB as JPEG (deterministic for a given Pillow version)."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be uint8 [H, W, 3], got {frame.dtype} {tuple(frame.shape)}")
    buffer = io.BytesIO()
    Image.fromarray(frame, mode="RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def save_mask(path: str | os.PathLike[str], mask: np.ndarray) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_mask_png(mask))


def save_frame(path: str | os.PathLike[str], frame: np.ndarray, quality: int = 90) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_frame_jpeg(frame, quality))
