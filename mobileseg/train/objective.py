"""The loss of one training step: the student's segmentation loss plus the distiller's terms.

``mobileseg train`` uses the ``none`` distiller (no teacher); ``mobileseg distill`` a registered
method and a frozen teacher. Every term is returned by name, with their sum as ``total``.
The distiller is a module (:class:`~mobileseg.distill.Distiller`): :meth:`Objective.runner`
builds it for the networks' widths and moves it to the device; the loop then trains its
parameters with the student's and checkpoints its state.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn

from mobileseg.distill import DISTILLERS, Distiller, StepOutputs
from mobileseg.errors import ConfigError
from mobileseg.models.base import KeyFeatures, MemoryNetwork
from mobileseg.checkpoint import load_teacher
from mobileseg.train.config import TrainConfig
from mobileseg.models.clip import ClipOutput, DecoderInputs, segmentation_loss
from mobileseg.train.runner import DistillRunner


class Objective:
    """Callable on ``(runner outputs, batch, step, rank)`` -> named loss terms and ``total``."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        try:
            self.distiller: Distiller = DISTILLERS.get(config.distiller)(**config.distill_options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"distiller {config.distiller!r} options {config.distill_options}: {exc}") from None
        if self.distiller.needs_teacher and config.teacher is None:
            raise ConfigError(f"distiller {config.distiller!r} needs --teacher (a teacher checkpoint or STCN's stcn.pth).")
        # what a step calls: the distiller itself, or its DistributedDataParallel wrapper under torchrun
        self.step_distiller: nn.Module = self.distiller

    def runner(self, model: MemoryNetwork, device: torch.device) -> DistillRunner:
        """The student (and the frozen teacher, when the distiller needs one) over whole clips; builds
        the distiller for their representation widths (attached to the student first when it needs
        it) and moves it to ``device``."""
        teacher = None
        if self.distiller.needs_teacher:
            teacher, _ = load_teacher(self.config.teacher)  # type: ignore[arg-type]
            teacher = teacher.to(device)
        try:
            if self.distiller.needs_student:
                self.distiller.attach(model)
            if teacher is not None:
                self.distiller.attach_teacher(teacher)
            self.distiller.build(model.representation_dim, None if teacher is None else teacher.representation_dim)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"distiller {self.config.distiller!r}: {exc}") from None
        self.distiller.to(device)
        return DistillRunner(model, teacher, keep_decoder_inputs=self.distiller.needs_student)

    def __call__(self, outputs: tuple[Any, ...], batch: dict[str, torch.Tensor], step: int, rank: int) -> dict[str, torch.Tensor]:
        student, z_s, teacher, z_t = outputs
        student = as_float(student)
        top = self.config.bootstrap if step >= self.config.bootstrap_warmup else 1.0
        losses = segmentation_loss(student, batch["labels"], self.config.poly_epsilon, top)
        generator = torch.Generator().manual_seed((self.config.seed * 1_000_003 + step) * 64 + rank)
        task_loss = partial(_seg_term, labels=batch["labels"], epsilon=self.config.poly_epsilon, top_fraction=top)
        step_outputs = StepOutputs(student, z_s.float(), teacher, None if z_t is None else z_t.float(), batch["labels"],
                                   batch["selector"], step=step, steps=self.config.steps, task_loss=task_loss,
                                   batch=batch)
        terms = self.step_distiller(step_outputs, generator)
        for name, value in terms.items():
            losses[name] = value
        losses["total"] = losses["seg"] + sum(terms.values(), torch.zeros((), device=losses["seg"].device))
        return losses


def as_float(output: ClipOutput) -> ClipOutput:
    """``output`` in float32 (under --amp the runner's tensors are bfloat16), decoder inputs included."""
    inputs = output.decoder_inputs
    if inputs is not None:
        inputs = DecoderInputs(inputs.read.float(), KeyFeatures(*(x.float() for x in inputs.feats)))
    return ClipOutput(output.class_logits.float(), output.features.float(), inputs)


def _seg_term(output: ClipOutput, labels: torch.Tensor, epsilon: float, top_fraction: float) -> torch.Tensor:
    return segmentation_loss(output, labels, epsilon, top_fraction)["seg"]

