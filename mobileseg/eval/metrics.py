"""DAVIS region (J) and boundary (F) measures, per frame and per object.

Follows the semi-supervised protocol of the DAVIS 2017 evaluation toolkit:
- J: intersection over union of the binary object masks, void pixels excluded; 1.0 when both
  prediction and ground truth are empty (an absent object correctly predicted absent).
- F: F-measure between the boundary pixels of prediction and ground truth, where a boundary
  pixel counts as matched when the other boundary passes within ``ceil(0.008 * diagonal)``
  pixels (a disk-shaped tolerance). Both boundaries empty -> 1.0; exactly one empty -> 0.0.
- Per object over a sequence: mean M, recall O = fraction of frames scoring > 0.5, and decay
  D = mean of the first quarter of the frames minus mean of the last quarter.

Names: ``pred``, ``gt``, ``void`` are ``bool [H, W]`` maps of one object in one frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

BOUNDARY_TOLERANCE = 0.008  # fraction of the image diagonal, as in DAVIS


def region_similarity(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """J: IoU of ``pred`` and ``gt`` outside ``void``; 1.0 when both are empty."""
    keep = np.ones_like(gt, dtype=bool) if void is None else ~void
    intersection = np.count_nonzero(pred & gt & keep)
    union = np.count_nonzero((pred | gt) & keep)
    return 1.0 if union == 0 else intersection / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """``bool [H, W]``: pixels whose value differs from the right, lower or lower-right neighbour.

    This is the one-pixel-wide boundary used by the DAVIS toolkit (``seg2bmap`` at the mask's own
    resolution). On the last row only the right neighbour counts, on the last column only the
    lower one, and the bottom-right pixel is never a boundary.
    """
    mask = mask.astype(bool)
    right = np.zeros_like(mask)
    below = np.zeros_like(mask)
    diagonal = np.zeros_like(mask)
    right[:, :-1] = mask[:, 1:]
    below[:-1, :] = mask[1:, :]
    diagonal[:-1, :-1] = mask[1:, 1:]
    boundary = (mask ^ right) | (mask ^ below) | (mask ^ diagonal)
    boundary[-1, :] = mask[-1, :] ^ right[-1, :]
    boundary[:, -1] = mask[:, -1] ^ below[:, -1]
    boundary[-1, -1] = False
    return boundary


@lru_cache(maxsize=16)
def disk(radius: int) -> np.ndarray:
    """``bool [2r+1, 2r+1]``: the offsets (dy, dx) with dy^2 + dx^2 <= r^2."""
    offsets = np.arange(-radius, radius + 1)
    return (offsets[:, None] ** 2 + offsets[None, :] ** 2) <= radius**2


def tolerance_pixels(height: int, width: int, tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Match radius in pixels: ``tolerance`` itself when >= 1, else ``ceil(tolerance * diagonal)``."""
    if tolerance >= 1:
        return int(tolerance)
    return int(math.ceil(tolerance * math.hypot(height, width)))


def boundary_measure(
    pred: np.ndarray,
    gt: np.ndarray,
    void: np.ndarray | None = None,
    tolerance: float = BOUNDARY_TOLERANCE,
) -> float:
    """F: boundary F-measure of ``pred`` against ``gt`` (see the module docstring)."""
    if void is not None:
        pred = pred & ~void
        gt = gt & ~void
    pred_boundary = boundary_map(pred)
    gt_boundary = boundary_map(gt)
    n_pred = int(np.count_nonzero(pred_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_pred == 0 or n_gt == 0:
        # Official conventions: both empty -> P = R = 1; one empty -> P or R is 0, so F = 0.
        return 1.0 if n_pred == n_gt else 0.0
    structure = disk(tolerance_pixels(gt.shape[0], gt.shape[1], tolerance=tolerance))
    pred_dilated = ndimage.binary_dilation(pred_boundary, structure=structure)
    gt_dilated = ndimage.binary_dilation(gt_boundary, structure=structure)
    precision = np.count_nonzero(pred_boundary & gt_dilated) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_dilated) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Statistics:
    """Per-object summary of per-frame values: mean, recall (> 0.5) and decay."""

    mean: float
    recall: float
    decay: float


def statistics(values: np.ndarray) -> Statistics:
    """Mean, recall and decay of one object's per-frame J (or F) values, as DAVIS reports them.

    Decay splits the frames into four bins with the toolkit's rounding
    (``round(linspace(1, n, 5)) - 1`` as inclusive bin edges) and subtracts the mean of the last
    bin from the mean of the first. NaN values are ignored.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("statistics need at least one value")
    with np.errstate(invalid="ignore"):
        mean = float(np.nanmean(values))
        recall = float(np.nanmean(values > 0.5))
    edges = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
    first = values[edges[0] : edges[1] + 1]
    last = values[edges[3] : edges[4] + 1]
    decay = float(np.nanmean(first) - np.nanmean(last))
    return Statistics(mean=mean, recall=recall, decay=decay)
