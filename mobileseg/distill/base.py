"""What every distillation method sees, the protocol it implements and the registry.

A distiller receives one training step's outputs of the student and (when it needs one) of the
frozen teacher run over the same clips, and returns named loss terms; the training loop adds
them to the student's segmentation loss and logs every term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from mobileseg.registry import Registry
from mobileseg.train.runner import ClipOutput


@dataclass(frozen=True)
class StepOutputs:
    """One step, frames 1..T-1 of B clips with K object slots.

    student/teacher: logits ``[B, T-1, K+1, H, W]`` and decoder features ``[B, T-1, K, Cd, H/4, W/4]``;
    z_s/z_t: representations ``[B, T-1, K, D, H/4, W/4]``; labels ``[B, T, H, W]`` (frame 0 given);
    selector ``[B, K]`` (1 = the slot holds an object).
    """

    student: ClipOutput
    z_s: torch.Tensor
    teacher: ClipOutput | None
    z_t: torch.Tensor | None
    labels: torch.Tensor
    selector: torch.Tensor


class Distiller(Protocol):
    needs_teacher: bool

    def __call__(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]: ...


DISTILLERS: Registry[type] = Registry("distiller")


@DISTILLERS.register("none")
class NoDistillation:
    """The supervised baseline: no extra term, no teacher (same data, schedule and loss otherwise)."""

    needs_teacher = False

    def __call__(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}
