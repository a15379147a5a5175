"""The parity rule: float noise at the mask threshold is not a disagreement; a real one is.

A barely trained network puts many probabilities within a few millionths of 0.5, so two correct
fp32 runtimes flip some of those pixels (which ones depends on the CPU that trained the weights).
Pixels whose reference probability lies within the tolerance band of the threshold are left out
of the mask IoU; everything else must agree.
"""

from __future__ import annotations

import pytest
import torch

from mobileseg.export.parity import AGREEMENT_BAND, Tolerance, compare_trackers, mask_agreement
from mobileseg.tracker import State

H, W = 16, 20


def _undecided(seed: int) -> torch.Tensor:
    """Probabilities ``[1, 1, H, W]``: half the pixels within 1e-5 of 0.5 (a barely trained network), the rest decided."""
    generator = torch.Generator().manual_seed(seed)
    prob = torch.where(torch.rand(1, 1, H, W, generator=generator) < 0.5, 0.9, 0.1)
    near = torch.rand(1, 1, H, W, generator=generator) < 0.5
    return torch.where(near, 0.5 + (torch.rand(1, 1, H, W, generator=generator) - 0.5) * 2e-5, prob)


def test_pixels_straddling_the_threshold_by_less_than_the_band_do_not_count() -> None:
    reference = _undecided(0)
    candidate = 1.0 - reference  # every undecided pixel flips side, by less than 2e-5 ...
    candidate = torch.where((reference - 0.5).abs() < 1e-3, candidate, reference)  # ... and only those
    flips = int(((reference > 0.5) != (candidate > 0.5)).sum())
    assert flips > 50  # the naive rule would see a large disagreement
    masks = mask_agreement(reference, candidate, band=1e-3)
    assert masks.iou == 1.0 and masks.flipped == 0 and masks.near_threshold == int(((reference - 0.5).abs() <= 1e-3).sum())


def test_a_real_disagreement_far_from_the_threshold_counts() -> None:
    reference = _undecided(1)
    candidate = reference.clone()
    candidate[..., :4, :] = 1.0 - candidate[..., :4, :]  # 4 rows: decided pixels flip from 0.9 to 0.1 and back
    decided = ((reference[..., :4, :] - 0.5).abs() > 1e-3).sum()
    masks = mask_agreement(reference, candidate, band=1e-3)
    assert masks.flipped == int(decided) > 0 and masks.iou < 0.9


def test_the_band_is_the_probability_tolerance_or_a_fixed_one_without_it() -> None:
    assert Tolerance().band == 1e-3 and Tolerance(max_abs_prob=5e-2).band == 5e-2
    assert Tolerance(float("inf"), 0.0).band == AGREEMENT_BAND  # the agreement of a quantised file


class _Replay:
    """A tracker that plays back given probabilities (its state counts frames)."""

    objects = 1

    def __init__(self, probs: list[torch.Tensor]) -> None:
        self.probs = probs

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        return (torch.zeros(1),)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        t = int(state[0])
        return self.probs[t], (state[0] + 1,)


def _video(frames: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    return [torch.zeros(1, 3, H, W)] * frames, torch.zeros(1, 1, H, W)


def test_compare_trackers_passes_float_noise_and_fails_a_real_difference() -> None:
    reference = [_undecided(seed) for seed in range(5)]
    frames, first = _video(len(reference) + 1)
    # float noise: 5e-7 with either sign, which flips undecided pixels (as the TFLite file did on another CPU)
    noise = [r + torch.where(torch.rand(r.shape, generator=torch.Generator().manual_seed(9 + i)) < 0.5, -5e-7, 5e-7)
             for i, r in enumerate(reference)]
    assert any(((r > 0.5) != (n > 0.5)).any() for r, n in zip(reference, noise))
    report = compare_trackers(_Replay(reference), _Replay(noise), frames, first)
    assert report.passed, report.describe()
    assert report.iou_min == 1.0 and sum(report.flipped) == 0 and sum(report.near_threshold) > 0
    assert report.to_dict()["near_threshold"] == sum(report.near_threshold)
    # a real difference on one frame: a block of decided pixels flips
    wrong = [r.clone() for r in reference]
    wrong[2][..., 4:10, 4:12] = 1.0 - wrong[2][..., 4:10, 4:12]
    report = compare_trackers(_Replay(reference), _Replay(wrong), frames, first)
    assert not report.passed and report.iou_min < 0.999 and report.flipped[2] > 0 and "FAILED" in report.describe()
    # the IoU criterion on its own (a quantised file's agreement has no probability tolerance)
    agreement = compare_trackers(_Replay(reference), _Replay(wrong), frames, first, Tolerance(float("inf"), 0.999))
    assert not agreement.passed and agreement.flipped[2] > 0
    assert compare_trackers(_Replay(reference), _Replay(noise), frames, first, Tolerance(float("inf"), 0.999)).passed


@pytest.mark.parametrize("band", [0.0, 1e-7])
def test_without_a_band_noise_at_the_threshold_is_a_flip(band: float) -> None:
    reference = torch.full((1, 1, 2, 2), 0.5 + 5e-7)
    masks = mask_agreement(reference, reference - 1e-6, band)
    assert masks.flipped == 4 and masks.iou == 0.0 and masks.near_threshold == 0
