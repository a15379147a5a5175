"""J and F pinned on hand-computed cases.

Geometry used below: a 100x100 image has diagonal 141.42 px, so the DAVIS boundary tolerance is
ceil(0.008 * 141.42) = 2 px. A filled 10x10 square at rows/cols 10..19 has a boundary ring of
40 pixels (the top-left corners of the non-uniform 2x2 blocks: rows/cols 9..19).
"""

from __future__ import annotations

import numpy as np
import pytest

from mobileseg.eval.metrics import (
    boundary_map,
    boundary_measure,
    disk,
    region_similarity,
    statistics,
    tolerance_pixels,
)


def square(shift_x: int = 0, size: int = 100) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[10:20, 10 + shift_x : 20 + shift_x] = True
    return mask


def test_perfect_prediction_scores_one() -> None:
    gt = square()
    assert region_similarity(gt, gt) == 1.0
    assert boundary_measure(gt, gt) == 1.0


def test_empty_prediction_of_present_object_scores_zero() -> None:
    gt, empty = square(), np.zeros((100, 100), dtype=bool)
    assert region_similarity(empty, gt) == 0.0
    assert boundary_measure(empty, gt) == 0.0
    # ... and a prediction of an absent object also scores zero
    assert region_similarity(gt, empty) == 0.0
    assert boundary_measure(gt, empty) == 0.0


def test_absent_object_predicted_absent_scores_one() -> None:
    empty = np.zeros((100, 100), dtype=bool)
    assert region_similarity(empty, empty) == 1.0
    assert boundary_measure(empty, empty) == 1.0


def test_shifted_square_iou_by_hand() -> None:
    # shift 3: intersection 10 x 7 = 70, union 200 - 70 = 130
    assert region_similarity(square(3), square()) == pytest.approx(70 / 130)
    assert region_similarity(square(1), square()) == pytest.approx(90 / 110)


def test_void_pixels_are_ignored() -> None:
    gt, pred = square(), square(3)
    void = np.zeros_like(gt)
    void[:, 20:] = True  # hides the 30 predicted pixels right of the ground truth
    assert region_similarity(pred, gt, void) == pytest.approx(70 / 100)


def test_boundary_ring_of_a_square() -> None:
    ring = boundary_map(square())
    assert ring.sum() == 40
    rows, cols = np.nonzero(ring)
    assert rows.min() == 9 and rows.max() == 19 and cols.min() == 9 and cols.max() == 19


def test_tolerance_is_ceil_of_diagonal_fraction() -> None:
    assert tolerance_pixels(100, 100) == 2
    assert tolerance_pixels(480, 854) == 8  # DAVIS 480p: ceil(0.008 * 979.6)
    assert tolerance_pixels(480, 854, tolerance=3) == 3  # >= 1 means pixels
    assert disk(2).sum() == 13  # offsets with dy^2 + dx^2 <= 4


def test_boundary_within_tolerance_matches_fully() -> None:
    assert boundary_measure(square(2), square()) == 1.0
    assert boundary_measure(square(1), square()) == 1.0


def test_boundary_just_outside_tolerance_by_hand() -> None:
    # Shift 3 > 2 px: of the predicted ring's 40 pixels, the right column (9), the two far
    # corners (2) and the 5 middle pixels of the left column (rows 12..16) are farther than
    # 2 px from the true ring: precision = 24/40. Recall is 24/40 by symmetry, so F = 0.6.
    assert boundary_measure(square(3), square()) == pytest.approx(0.6)


def test_statistics_mean_recall_decay() -> None:
    values = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=float)
    stats = statistics(values)
    # bins (toolkit rounding) for 8 frames: [0..2], [2..4], [4..5], [5..7]
    assert stats.mean == 0.5
    assert stats.recall == 0.5
    assert stats.decay == 1.0
    flat = statistics(np.full(5, 0.7))
    assert flat.decay == pytest.approx(0.0) and flat.recall == 1.0 and flat.mean == pytest.approx(0.7)


def test_statistics_handles_one_frame_and_rejects_none() -> None:
    single = statistics(np.array([0.4]))
    assert single.mean == pytest.approx(0.4) and single.recall == 0.0 and single.decay == 0.0
    with pytest.raises(ValueError):
        statistics(np.array([]))
