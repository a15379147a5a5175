"""Quantised exports: which (target, precision) pairs exist, calibration on real state, measured accuracy.

Precisions: ``fp32`` (the plain export), ``fp16`` (half-precision weights), ``dynamic-int8``
(int8 weights, activations quantised on the fly) and ``int8`` (int8 weights and activations with
scales from calibration). Inputs and outputs stay float32 in every file, so the contract, the
state feedback and the app do not change with the precision.

Calibration (``int8``) records what the graphs really see: the fp32 PyTorch tracker runs over
videos (``--calibration-data``, or generated SynthVOS videos at the export size) with its own
state fed back, and every ``init`` and step call's inputs are kept, so the state (``mem_key``,
``mem_value``, ...) is calibrated on the values it takes in use, not on zeros or noise. A student
with several step graphs (``step_0``, ``step_1``, ...) has each calibrated on the inputs it
receives in that run: the calls of its own phase.

Accuracy is measured, never assumed: the quantised file runs in its real runtime (1) against the
fp32 PyTorch tracker over the parity video (mask IoU min/mean, max |dprob|: the agreement) and
(2) over a validation set (``--data``'s val split, or a generated one), J&F of the file beside the
fp32 J&F of the checkpoint on the same videos. The export is refused when the drop exceeds
``max_jf_drop`` points (0-100 scale) unless the caller allows it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobileseg.artifact.signature import step_names
from mobileseg.data.datasets import open_dataset
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.data.tensors import frame_tensor, mask_tensor
from mobileseg.errors import ConfigError, DatasetError
from mobileseg.eval.predict import predict_dataset
from mobileseg.export.parity import Tolerance, compare_trackers, parity_video
from mobileseg.models import NetworkTracker
from mobileseg.models.spec import Student
from mobileseg.runtime import open_runtime

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "dynamic-int8", "int8")
CALIBRATION_FRAMES = 64
CALIBRATION_SEED = 1000  # generated calibration videos (the parity video uses seed 0, the J&F set 2000)
JF_SEED = 2000


@dataclass
class Calibration:
    """Recorded inputs of each entry point, in call order: ``init`` (frame, mask), ``step`` (frame, *state)
    of every step call, and ``phases``, the phase each step call ran (its step entry: ``steps[phase]``)."""

    init: list[tuple[torch.Tensor, ...]] = field(default_factory=list)
    step: list[tuple[torch.Tensor, ...]] = field(default_factory=list)
    phases: list[int] = field(default_factory=list)
    steps: tuple[str, ...] = ("step",)  # the step entry names, in phase order
    source: str = ""

    def samples(self, entry: str) -> list[tuple[torch.Tensor, ...]]:
        """The recorded inputs of entry point ``entry`` (``init`` or one of ``steps``)."""
        if entry == "init":
            return self.init
        if entry not in self.steps:
            raise KeyError(f"no calibration for entry point {entry!r} (recorded: init, {', '.join(self.steps)})")
        phase = self.steps.index(entry)
        return [sample for sample, ran in zip(self.step, self.phases) if ran == phase]

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"source": self.source, "init_samples": len(self.init), "step_samples": len(self.step)}
        if len(self.steps) > 1:
            described["samples_per_step_entry"] = {name: len(self.samples(name)) for name in self.steps}
        return described


def stem_for(stem: str, precision: str) -> str:
    """``student`` -> ``student-int8`` (fp32 keeps the plain name)."""
    return stem if precision == "fp32" else f"{stem}-{precision}"


def check_precision(precision: str, target: str, supported: tuple[str, ...]) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"--quantize {precision!r} is not a precision; choose one of {', '.join(PRECISIONS[1:])}.")
    if precision != "fp32" and precision not in supported:
        offered = ", ".join(supported) or "none"
        raise ConfigError(f"target {target!r} has no {precision} export (it offers: {offered}); see export/README.md "
                          "for the supported (target, precision) pairs, or choose another --target.")


def _first_masks(labels: np.ndarray, objects: int, size: tuple[int, int]) -> torch.Tensor | None:
    """The first ``objects`` objects of a label map as ``[K, 1, H, W]`` masks (None when the frame has none)."""

    ids = [int(i) for i in np.unique(labels) if i not in (0, 255)][:objects]
    if not ids:
        return None
    masks = [mask_tensor(labels == i, size)[0] for i in ids]
    masks += [torch.zeros_like(masks[0])] * (objects - len(ids))
    return torch.stack(masks)


def calibration_videos(size: tuple[int, int], objects: int, data: str | os.PathLike[str] | None,
                       seed: int = CALIBRATION_SEED) -> Iterator[tuple[list[torch.Tensor], torch.Tensor]]:
    """Videos as (frames ``[1, 3, H, W]`` at ``size``, first masks ``[K, 1, H, W]``): a dataset's train
    split (its val split when it has no train split), or generated SynthVOS videos without end."""

    if data is None:

        index = 0
        while True:
            yield parity_video(*size, objects=objects, frames=24, seed=seed + index)
            index += 1

    try:
        dataset = open_dataset(data, "train")
    except DatasetError:
        dataset = open_dataset(data, "val")
    for sequence in dataset:
        first = _first_masks(sequence.mask(0), objects, size) if sequence.masks[0] is not None else None
        if first is not None:
            yield [frame_tensor(sequence.frame(t), size) for t in range(len(sequence))], first


@torch.no_grad()
def record_calibration(model: Student, size: tuple[int, int], objects: int, frames: int = CALIBRATION_FRAMES,
                       data: str | os.PathLike[str] | None = None) -> Calibration:
    """Run the fp32 tracker with its state fed back and keep every entry point's inputs (``frames`` step
    calls, more if needed until every step entry of a multi-phase student has its own samples)."""

    if frames < 1:
        raise ConfigError(f"--calibration-frames must be >= 1, got {frames}")
    source = str(data) if data is not None else f"generated SynthVOS videos at {size[0]}x{size[1]}"
    spec = model.spec()
    phases = spec.phases
    calibration = Calibration(steps=step_names(phases), source=source)
    model = model.eval()
    for video, first in calibration_videos(size, objects, data):
        state = model.init(video[0], first)
        calibration.init.append((video[0], first))
        for frame in video[1:]:
            calibration.step.append((frame, *state))
            calibration.phases.append(spec.phase_of(state))
            _, *rest = model.step(frame, *state)
            state = tuple(rest)
            if len(calibration.step) >= frames and len(set(calibration.phases)) == phases:
                return calibration
    if not calibration.step:
        raise ConfigError(f"--calibration-data {data}: no video with an annotated first frame to calibrate on.")
    missing = [name for name in calibration.steps if not calibration.samples(name)]
    if missing:
        raise ConfigError(f"--calibration-data {data}: its videos are too short to reach {', '.join(missing)} (the student runs "
                          f"{phases} step graphs in turn); give videos of at least {phases + 1} frames.")
    log.warning("calibration: only %d step frames in %s (asked for %d)", len(calibration.step), source, frames)
    return calibration


def jf_dataset(data: str | os.PathLike[str] | None, size: tuple[int, int], workdir: Path) -> Any:
    """The videos J&F is measured on: ``data``'s val split, or a generated SynthVOS set at the export size."""

    if data is not None:
        return open_dataset(data, "val")

    config = SynthConfig(videos=8, frames=24, height=size[0], width=size[1], objects=(1, 2), seed=JF_SEED, val_fraction=0.5)
    return open_dataset(generate_synthvos(workdir / "jf-set", config), "val")


def measure_accuracy(artifact: Path, model: Student, *, threads: int, parity_frames: int,
                     data: str | os.PathLike[str] | None, jf: bool = True) -> dict[str, Any]:
    """Agreement with the fp32 tracker over the parity video, and (``jf``) J&F of the file vs the fp32 checkpoint."""

    runtime = open_runtime(artifact, threads)
    size = runtime.contract.size
    objects = runtime.contract.objects
    video, first = parity_video(*size, objects=objects, frames=parity_frames)
    agreement = compare_trackers(NetworkTracker(model), runtime.tracker(), video, first, Tolerance(float("inf"), 0.0))
    # mask IoU outside the band around the threshold where fp32 itself is undecided (export.parity's rule)
    figures: dict[str, Any] = {"kind": "agreement", "frames": agreement.frames, "iou_min": agreement.iou_min, "iou_mean": agreement.iou_mean,
               "max_abs_prob": agreement.worst_prob, "flipped": sum(agreement.flipped), "near_threshold": sum(agreement.near_threshold),
               "threshold_band": agreement.tolerance.band,
               "summary": (f"agreement with fp32 over {agreement.frames} frames: mask IoU min {agreement.iou_min:.4f} mean "
                           f"{agreement.iou_mean:.4f} ({sum(agreement.flipped)} pixels flipped outside "
                           f"{agreement.tolerance.band:.0e} of the threshold), max |dprob| {agreement.worst_prob:.2e}")}
    if not jf:
        return {**figures, "summary": figures["summary"] + "; J&F not measured"}
    with tempfile.TemporaryDirectory(prefix="mobileseg-jf-") as work:
        dataset = jf_dataset(data, size, Path(work))
        # the fp32 reference tracks the objects as the file does: ``objects`` of them per state
        reference = predict_dataset(lambda: NetworkTracker(model, objects), dataset, size=size, desc="J&F fp32")
        candidate = predict_dataset(runtime.tracker, dataset, size=size, desc="J&F quantised")
    assert reference.report is not None and candidate.report is not None  # predict_dataset scores by default
    jf_fp32 = 100 * float(reference.report.summary()["J&F-Mean"])
    jf_value = 100 * float(candidate.report.summary()["J&F-Mean"])
    return {**figures, "jf_fp32": round(jf_fp32, 3), "jf": round(jf_value, 3), "jf_drop": round(jf_fp32 - jf_value, 3),
            "jf_videos": len(dataset), "jf_data": str(data) if data is not None else "generated SynthVOS val set (4 videos, seed 2000)",
            "summary": figures["summary"] + f"; J&F {jf_value:.2f} vs fp32 {jf_fp32:.2f} (drop {jf_fp32 - jf_value:.2f} points)"}
