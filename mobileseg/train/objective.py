"""The loss of one training step: the student's segmentation loss plus the distiller's terms.

``mobileseg train`` uses the ``none`` distiller (no teacher); ``mobileseg distill`` a registered
method and a frozen teacher. Every term is returned by name, with their sum as ``total``.
"""

from __future__ import annotations

from typing import Any

import torch

from mobileseg.distill import DISTILLERS, StepOutputs
from mobileseg.errors import ConfigError
from mobileseg.models.base import MemoryNetwork
from mobileseg.train.checkpoint import load_teacher
from mobileseg.train.config import TrainConfig
from mobileseg.train.runner import ClipOutput, DistillRunner, segmentation_loss


class Objective:
    """Callable on ``(runner outputs, batch, step, rank)`` -> named loss terms and ``total``."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        try:
            self.distiller = DISTILLERS.get(config.distiller)(**config.distill_options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"distiller {config.distiller!r} options {config.distill_options}: {exc}") from None
        if self.distiller.needs_teacher and config.teacher is None:
            raise ConfigError(f"distiller {config.distiller!r} needs --teacher (a teacher checkpoint or STCN's stcn.pth).")

    def runner(self, model: MemoryNetwork, device: torch.device) -> DistillRunner:
        teacher = None
        if self.distiller.needs_teacher:
            teacher, _ = load_teacher(self.config.teacher)  # type: ignore[arg-type]
            teacher = teacher.to(device)
        return DistillRunner(model, teacher)

    def __call__(self, outputs: tuple[Any, ...], batch: dict[str, torch.Tensor], step: int, rank: int) -> dict[str, torch.Tensor]:
        student, z_s, teacher, z_t = outputs
        student = ClipOutput(*(x.float() for x in student))
        top = self.config.bootstrap if step >= self.config.bootstrap_warmup else 1.0
        losses = segmentation_loss(student, batch["labels"], self.config.poly_epsilon, top)
        generator = torch.Generator().manual_seed((self.config.seed * 1_000_003 + step) * 64 + rank)
        step_outputs = StepOutputs(student, z_s.float(), teacher, None if z_t is None else z_t.float(), batch["labels"], batch["selector"])
        terms = self.distiller(step_outputs, generator)
        for name, value in terms.items():
            losses[name] = value
        losses["total"] = losses["seg"] + sum(terms.values(), torch.zeros((), device=losses["seg"].device))
        return losses
