"""The loss of one training step: the student's segmentation loss plus the distiller's terms.

``mobileseg train`` uses the ``none`` distiller (no teacher); ``mobileseg distill`` a registered
method. Every term is returned by name, with their sum as ``total``. The distiller is a module
(:class:`~mobileseg.distill.Distiller`); :meth:`Objective.runner` resolves its teacher mode
(loads the frozen checkpoint teacher, or builds the online teacher from the model registry and
hands it over), calls its ``setup`` with the networks and moves it to the device; the loop then
trains its parameters with the student's and checkpoints its state.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import torch
from torch import nn

from mobileseg.checkpoint import load_teacher
from mobileseg.distill import DISTILLERS, Distiller, Networks, StepOutputs
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.base import KeyFeatures, MemoryNetwork
from mobileseg.models.clip import ClipOutput, DecoderInputs, logits_loss, segmentation_loss
from mobileseg.models.spec import Student
from mobileseg.train.config import DISTILL_CLIP_FRAMES, DISTILL_MAX_SKIP, TrainConfig
from mobileseg.train.runner import DistillRunner

log = logging.getLogger(__name__)


def warn_if_no_memory_gap(config: TrainConfig, student: MemoryNetwork) -> bool:
    """Warn (and return True) when no frame of a training clip gives the teacher more memory than the student.

    Over a clip the teacher reads every earlier frame; a student with S slots reads S of them, so
    clips of S + 1 frames or fewer show both the same frames and the teacher's memory teaches nothing.
    """
    if not isinstance(student, Student):
        return False
    slots = student.spec().memory.slots
    if config.clip_frames - 1 > slots:
        return False
    log.warning("%s: clips of %d frames give the teacher no more memory than the student: at the last clip frame the "
                "teacher reads the %d earlier frames and the student's %d slots hold them too. Use --clip-frames %d or more "
                "(distill's default is %d, with --max-skip %d).", config.distiller, config.clip_frames, config.clip_frames - 1,
                slots, slots + 2, DISTILL_CLIP_FRAMES, DISTILL_MAX_SKIP)
    return True


def check_every_phase_trains(config: TrainConfig, student: MemoryNetwork) -> None:
    """Refuse a run in which some step graph of a multi-phase student would never segment a frame.

    Step s starts its clips at schedule entry s mod m (:meth:`MemoryNetwork.encode_clip`), so frames
    1..T-1 of the clips of steps 0..S-1 run entries 0..S+T-3: every entry needs S + T - 2 >= m.
    """
    if not isinstance(student, Student):
        return
    phases = student.spec().phases
    reached = config.steps + config.clip_frames - 2
    if reached >= phases:
        return
    never = ", ".join(str(i) for i in range(reached, phases))
    raise ConfigError(f"{config.model} runs {phases} step graphs in turn, but {config.steps} step(s) of {config.clip_frames}-frame clips "
                      f"reach only the first {reached}: step graph(s) {never} would never segment a frame, yet the exports run "
                      f"them on every video. Use --steps {phases - config.clip_frames + 2} or more, or --clip-frames "
                      f"{phases - config.steps + 2} or more.")


class Objective:
    """Callable on ``(runner outputs, batch, step, rank)`` -> named loss terms and ``total``."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.distiller: Distiller = DISTILLERS.get(config.distiller)(**config.distill_options)  # ConfigError on a bad option
        if self.distiller.teacher_mode == "checkpoint" and config.teacher is None:
            raise ConfigError(f"distiller {config.distiller!r} needs --teacher (a teacher checkpoint or STCN's stcn.pth).")
        # what a step calls: the distiller itself, or its DistributedDataParallel wrapper under torchrun
        self.step_distiller: nn.Module = self.distiller

    def runner(self, model: MemoryNetwork, device: torch.device) -> DistillRunner:
        """The student (and the frozen teacher, in teacher mode ``checkpoint``) over whole clips. Sets the
        distiller up with the networks (an ``online`` teacher is built here and handed to it, to own and
        train) and moves it to ``device``."""
        check_every_phase_trains(self.config, model)
        mode, frozen, teacher = self.distiller.teacher_mode, None, None
        if mode == "checkpoint":
            assert self.config.teacher is not None  # __init__ refuses a checkpoint-mode distiller without --teacher
            frozen, _ = load_teacher(self.config.teacher)
            teacher = frozen = frozen.to(device)
        try:
            if mode == "online":
                teacher = build_model(self.distiller.online_network)  # from scratch, on the CPU like the distiller's own modules
            self.distiller.setup(Networks.of(model, teacher, device))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"distiller {self.config.distiller!r}: {exc}") from None
        if mode != "none":
            warn_if_no_memory_gap(self.config, model)
        self.distiller.to(device)
        return DistillRunner(model, frozen)

    def __call__(self, outputs: tuple[Any, ...], batch: dict[str, torch.Tensor], step: int, rank: int) -> dict[str, torch.Tensor]:
        student, teacher = outputs
        student = as_float(student)
        if teacher is not None:  # only its embeddings in float32, as the teacher's outputs always were
            teacher = teacher._replace(embeddings=teacher.embeddings.float())
        top = self.config.bootstrap if step >= self.config.bootstrap_warmup else 1.0
        losses = segmentation_loss(student, batch["labels"], self.config.poly_epsilon, top)
        generator = torch.Generator().manual_seed((self.config.seed * 1_000_003 + step) * 64 + rank)
        task_loss = partial(logits_loss, labels=batch["labels"], epsilon=self.config.poly_epsilon, top_fraction=top)
        step_outputs = StepOutputs(student, teacher, batch["labels"], batch["selector"], step=step, steps=self.config.steps,
                                   task_loss=task_loss, batch=batch)
        terms = self.step_distiller(step_outputs, generator)
        for name, value in terms.items():
            losses[name] = value
        losses["total"] = losses["total"] + sum(terms.values(), torch.zeros((), device=losses["seg"].device))
        return losses


def as_float(output: ClipOutput) -> ClipOutput:
    """``output`` in float32 (under --amp the runner's tensors are bfloat16), decoder inputs included."""
    inputs = output.decoder_inputs
    inputs = DecoderInputs(inputs.read.float(), KeyFeatures(*(x.float() for x in inputs.feats)))
    sub = None if output.sub_logits is None else output.sub_logits.float()
    return output._replace(class_logits=output.class_logits.float(), features=output.features.float(),
                           embeddings=output.embeddings.float(), decoder_inputs=inputs, sub_logits=sub)
