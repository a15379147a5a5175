"""Boxes around masks and masks from boxes: how a tracker is started from a box.

The Android demo app starts tracking from a box the user drags (its JVM module,
``android_demo/core``, implements :func:`box_to_mask` the same way and is tested against this
file); ``--box-init-prob`` in training and ``eval --first box`` use the same two functions.

Convention: a box is ``(x0, y0, x1, y1)`` in pixel units of the image it belongs to, with the
end exclusive. Pixel ``(x, y)`` (column, row) is inside when its centre is:
``x0 <= x + 0.5 < x1`` and ``y0 <= y + 0.5 < y1``. So the box of a mask, whose corners are whole
numbers, gives back exactly the mask's bounding rectangle, and a box in any other coordinates
(a phone's view) can be scaled to the model's pixels as floats without rounding first.
"""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def mask_to_box(mask: np.ndarray) -> Box | None:
    """Bounding box ``(x0, y0, x1, y1)`` of the non-zero pixels of a ``[H, W]`` mask; None if empty."""
    if mask.ndim != 2:
        raise ValueError(f"mask_to_box takes a [H, W] mask, got shape {mask.shape}")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def box_to_mask(box: Box, height: int, width: int) -> np.ndarray:
    """``[H, W]`` float32 mask: 1 at pixels whose centre lies in ``box`` (see module docstring), else 0.

    A box reaching past the image is clipped; an empty or inverted box gives an all-zero mask.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    centres_x = np.arange(width, dtype=np.float64) + 0.5
    centres_y = np.arange(height, dtype=np.float64) + 0.5
    inside_x = (centres_x >= x0) & (centres_x < x1)
    inside_y = (centres_y >= y0) & (centres_y < y1)
    return (inside_y[:, None] & inside_x[None, :]).astype(np.float32)


def box_of_mask(mask: np.ndarray) -> np.ndarray:
    """The mask replaced by its bounding rectangle (same shape and dtype; empty stays empty)."""
    box = mask_to_box(mask)
    if box is None:
        return np.zeros_like(mask)
    return box_to_mask(box, mask.shape[0], mask.shape[1]).astype(mask.dtype)
