"""Whole-video parity: the exported file against the PyTorch tracker, each feeding its own state.

A single frame proves little for a recurrent model: an error in the state only shows after it
has been fed back a few times. So both trackers run a whole generated video (>= 30 frames,
moving, deforming, occluding objects): ``init`` on frame 0, then ``step`` on every later frame
with their *own* previous state (a student with several step graphs runs them in turn, as its
state's phase says, so a video exercises every one). Per frame we record the largest absolute difference of the
probabilities and the agreement of the two masks (prob > 0.5) by :func:`mask_agreement`.
``mobileseg export``, ``mobileseg verify``, the quantised files' agreement figures and the tests
all call :func:`compare_trackers`.

The mask rule: a pixel whose *reference* probability lies within the probability tolerance of
the threshold cannot count as a disagreement. Two correct fp32 runtimes differ by float noise
(1e-7 to 1e-5 here), and a lightly trained network puts many pixels within that of 0.5, so which
side they land on is noise, not a difference between the networks; which pixels those are
changes from CPU to CPU with the trained weights. Mask IoU and the count of flipped pixels are
computed over the other pixels, and the excluded ones are counted and reported.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from mobileseg.data.synth import SynthConfig, render_video
from mobileseg.errors import ConfigError
from mobileseg.tracker import Tracker

PARITY_FRAMES = 30
MASK_THRESHOLD = 0.5  # the contract's input.mask_threshold: prob > 0.5 is the object
AGREEMENT_BAND = 1e-3  # the band around the threshold where a tolerance without one (quantised files: inf) still excludes pixels


@dataclass(frozen=True)
class Tolerance:
    """fp32 defaults: every frame within 1e-3 in probability and 0.999 in mask IoU.

    The mask IoU leaves out the pixels whose reference probability lies within :attr:`band` of
    the threshold (see the module docstring).
    """

    max_abs_prob: float = 1e-3
    min_iou: float = 0.999

    def __post_init__(self) -> None:
        if not (isinstance(self.max_abs_prob, (int, float)) and self.max_abs_prob >= 0):
            raise ConfigError(f"--max-abs-prob {self.max_abs_prob} (or tolerance.max_abs_prob in a recipe): the largest allowed "
                              "|probability difference| must be a number >= 0 (probabilities differ by at most 1), e.g. 1e-3.")
        if not (isinstance(self.min_iou, (int, float)) and 0 <= self.min_iou <= 1):  # NaN fails both comparisons
            raise ConfigError(f"--min-iou {self.min_iou} (or tolerance.min_iou in a recipe): the smallest allowed mask IoU must be "
                              "a number from 0 to 1, e.g. 0.999.")

    @property
    def band(self) -> float:
        """Half-width of the band around the threshold whose pixels cannot disagree: the probability tolerance
        (fp32 parity), or AGREEMENT_BAND when that is unbounded (the agreement of a quantised file)."""
        return float(self.max_abs_prob) if math.isfinite(self.max_abs_prob) else AGREEMENT_BAND


@dataclass(frozen=True)
class MaskAgreement:
    """Two masks compared outside the band around the threshold (:func:`mask_agreement`)."""

    iou: float  # IoU of the two masks over the pixels outside the band (1.0 when both are empty there)
    flipped: int  # pixels outside the band on different sides of the threshold
    near_threshold: int  # pixels inside the band, left out of both figures


def mask_agreement(reference: torch.Tensor, candidate: torch.Tensor, band: float, threshold: float = MASK_THRESHOLD) -> MaskAgreement:
    """Agreement of ``candidate > threshold`` with ``reference > threshold``, probabilities of any shape.

    A pixel with ``|reference - threshold| <= band`` is left out: a candidate within ``band`` of
    the reference may legitimately land on either side there. The rest must agree.
    """
    certain = (reference - threshold).abs() > band
    ref, cand = (reference > threshold) & certain, (candidate > threshold) & certain
    union = int((ref | cand).sum())
    return MaskAgreement(iou=1.0 if union == 0 else int((ref & cand).sum()) / union, flipped=int((ref ^ cand).sum()),
                         near_threshold=int(reference.numel() - certain.sum()))


@dataclass
class ParityReport:
    tolerance: Tolerance
    frames: int = 0
    init_max_abs_state: float = 0.0
    max_abs_prob: list[float] = field(default_factory=list)  # per step frame
    iou: list[float] = field(default_factory=list)  # mask IoU outside the band around the threshold, per step frame
    flipped: list[int] = field(default_factory=list)  # pixels outside the band on different sides, per step frame
    near_threshold: list[int] = field(default_factory=list)  # pixels inside the band (left out), per step frame

    @property
    def worst_prob(self) -> float:
        return max(self.max_abs_prob, default=0.0)

    @property
    def iou_min(self) -> float:
        return min(self.iou, default=1.0)

    @property
    def iou_mean(self) -> float:
        return float(np.mean(self.iou)) if self.iou else 1.0

    @property
    def passed(self) -> bool:
        return self.worst_prob <= self.tolerance.max_abs_prob and self.iou_min >= self.tolerance.min_iou

    def describe(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        worst = int(np.argmax(self.max_abs_prob)) + 1 if self.max_abs_prob else 0
        return (f"parity {verdict} over {self.frames} frames: max |dprob| {self.worst_prob:.2e} (frame {worst}, tolerance "
                f"{self.tolerance.max_abs_prob:.0e}), mask IoU min {self.iou_min:.5f} mean {self.iou_mean:.5f} "
                f"(tolerance {self.tolerance.min_iou}; {sum(self.flipped)} pixels flipped, {sum(self.near_threshold)} within "
                f"{self.tolerance.band:.0e} of the threshold left out), init state max |d| {self.init_max_abs_state:.2e}")

    def to_dict(self) -> dict[str, object]:
        return {"frames": self.frames, "passed": self.passed, "tolerance": asdict(self.tolerance),
                "max_abs_prob": self.worst_prob, "iou_min": self.iou_min, "iou_mean": self.iou_mean,
                "init_max_abs_state": self.init_max_abs_state, "threshold_band": self.tolerance.band,
                "flipped": sum(self.flipped), "near_threshold": sum(self.near_threshold),
                "per_frame": [{"frame": t + 1, "max_abs_prob": d, "iou": i, "flipped": f, "near_threshold": n}
                              for t, (d, i, f, n) in enumerate(zip(self.max_abs_prob, self.iou, self.flipped, self.near_threshold))]}


def parity_video(height: int, width: int, objects: int = 1, frames: int = PARITY_FRAMES, seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A generated video at the export size: frames ``[1, 3, H, W]`` and the first masks ``[K, 1, H, W]``."""
    config = SynthConfig(videos=1, frames=frames, height=height, width=width, objects=(objects, objects), distractors=(1, 1), seed=seed)
    images, labels = render_video(0, config)
    tensors = [torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255 for image in images]
    first = torch.stack([torch.from_numpy(labels[0] == k).float()[None] for k in range(1, objects + 1)])
    return tensors, first


@torch.no_grad()
def compare_trackers(reference: Tracker, candidate: Tracker, frames: list[torch.Tensor], first_mask: torch.Tensor,
                     tolerance: Tolerance = Tolerance()) -> ParityReport:
    """Run both trackers over ``frames`` from ``first_mask``, each on its own state."""
    report = ParityReport(tolerance, frames=len(frames))
    ref_state = reference.init(frames[0], first_mask)
    cand_state = candidate.init(frames[0], first_mask)
    report.init_max_abs_state = max(float((a - b).abs().max()) for a, b in zip(ref_state, cand_state))
    for frame in frames[1:]:
        ref_prob, ref_state = reference.step(frame, ref_state)
        cand_prob, cand_state = candidate.step(frame, cand_state)
        report.max_abs_prob.append(float((ref_prob - cand_prob).abs().max()))
        masks = mask_agreement(ref_prob, cand_prob, tolerance.band)
        report.iou.append(masks.iou)
        report.flipped.append(masks.flipped)
        report.near_threshold.append(masks.near_threshold)
    return report
