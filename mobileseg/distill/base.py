"""What every distillation method sees, the base class it derives from and the registry.

A distiller receives one training step's outputs of the student and (when it needs one) of the
frozen teacher run over the same clips, and returns named loss terms; the training loop adds
them to the student's segmentation loss and logs every term.

Every distiller is an :class:`torch.nn.Module`, so a method may own state:

- trainable parameters (a projection head): the loop adds them to the optimiser, clips their
  gradients with the student's and, under torchrun, wraps the distiller in its own
  DistributedDataParallel;
- buffers (fixed-size memory banks): saved in ``last.pt`` under ``train["distiller"]`` and
  restored by ``--resume``, so a resumed run continues with the same banks.

Parameterless methods (``none``, ``mobilevos``) have an empty state dict, and their checkpoints
(also those written before distillers could hold state) resume unchanged. The distiller never
enters ``model_state``: exported students are built from that alone.

Sizes that depend on the networks (the student's and the teacher's representation widths) are
not options: the loop passes them to :meth:`Distiller.build` once, before the optimiser exists.

A method that runs part of the student itself (LGD decodes its label-guided teacher features
with the student's decoder) sets ``needs_student``: the loop then calls :meth:`Distiller.attach`
with the student before ``build``, and the runner keeps the decoder's inputs
(``outputs.student.decoder_inputs``, and the teacher's when there is one). The student stays the student's: its parameters are
trained, checkpointed and exported as in every run, never as part of the distiller.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.registry import Registry
from mobileseg.models.clip import ClipOutput

if TYPE_CHECKING:
    from mobileseg.models.base import MemoryNetwork


@dataclass(frozen=True)
class StepOutputs:
    """One step, frames 1..T-1 of B clips with K object slots.

    student/teacher: logits ``[B, T-1, K+1, H, W]`` and decoder features ``[B, T-1, K, Cd, H/4, W/4]``;
    z_s/z_t: representations ``[B, T-1, K, D, H/4, W/4]``; labels ``[B, T, H, W]`` (frame 0 given);
    selector ``[B, K]`` (1 = the slot holds an object).

    step/steps: this step's index (0-based) and the run's step count, for methods whose rule
    changes during training; task_loss: the student's segmentation loss of this step (same
    Poly-1 epsilon and bootstrapping) as a function of any output with the student's layout;
    batch: the step's clips (``frames [B, T, 3, H, W]``, ``masks [B, T, K, H, W]``, ``selector``,
    ...), for a method that runs a network of its own over them (online distillation's teacher).
    """

    student: ClipOutput
    z_s: torch.Tensor
    teacher: ClipOutput | None
    z_t: torch.Tensor | None
    labels: torch.Tensor
    selector: torch.Tensor
    step: int = 0
    steps: int = 1
    task_loss: Callable[[ClipOutput], torch.Tensor] | None = None
    batch: dict[str, torch.Tensor] | None = None


class Distiller(nn.Module):
    """Base of every distillation method: ``distiller(outputs, generator) -> {term name: loss}``.

    The first line of a subclass's docstring is its one-line description in ``distill --help``.
    Options are keyword-only ``__init__`` arguments with defaults (the CLI and ``--resume`` read
    them from the signature). ``generator`` is the step's seeded CPU generator: draw every random
    number from it, so a resumed run repeats an uninterrupted one.
    """

    needs_teacher: bool = True
    needs_student: bool = False

    def attach(self, student: MemoryNetwork) -> None:
        """For methods with ``needs_student``: take what they need of the student (on its device),
        called once before :meth:`build`. Keep no reference to it as a submodule: the student's
        parameters must not enter the distiller's state dict or parameter list."""
        raise NotImplementedError(f"{type(self).__name__} sets needs_student but does not implement attach")

    def attach_teacher(self, teacher: MemoryNetwork) -> None:
        """Called once with the frozen teacher (when the method has one) before :meth:`build`, for
        sizes only the network tells (TDNet's grouped KD reads its stride-8 width). Keep no reference."""

    def build(self, student_dim: int, teacher_dim: int | None) -> None:
        """Create what depends on the networks (heads, banks) from the widths D of ``z_s`` and
        ``z_t``; called once by the training loop before the optimiser is built. Default: nothing."""

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")


DISTILLERS: Registry[type[Distiller]] = Registry("distiller")


@DISTILLERS.register("none")
class NoDistillation(Distiller):
    """The supervised baseline: no extra term, no teacher (same data, schedule and loss otherwise)."""

    needs_teacher = False

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}


def describe(method: type[Distiller]) -> str:
    """The one-line description of a registered method (the first line of its docstring)."""
    doc = inspect.getdoc(method) or ""
    return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""


def option_defaults(method: type[Distiller]) -> dict[str, Any]:
    """The options of ``method`` (its keyword-only ``__init__`` arguments) and their defaults."""
    parameters = inspect.signature(method).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def object_labels(outputs: StepOutputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Each object slot of each frame as its own image: labels at stride 4 and which images are real.

    Returns ``labels [B*(T-1)*K, h, w]`` (1 = that object, 0 = background or another object,
    -1 = void) and ``real [B*(T-1)*K]`` (bool; False for padding slots). Images are ordered like
    ``z_s.flatten(0, 2)``. Labels are downsampled with nearest neighbours.
    """
    batch, frames, objects = outputs.z_s.shape[:3]
    height, width = outputs.z_s.shape[-2:]
    labels = outputs.labels[:, 1:].float().flatten(0, 1)[:, None]
    small = F.interpolate(labels, size=(height, width), mode="nearest")[:, 0].long()  # [B*(T-1), h, w]
    ids = torch.arange(1, objects + 1, device=small.device).view(1, objects, 1, 1)
    binary = (small.unsqueeze(1) == ids).long()  # [B*(T-1), K, h, w]
    binary = binary.masked_fill((small < 0).unsqueeze(1), -1).flatten(0, 1)
    real = outputs.selector[:, None, :].expand(batch, frames, objects).flatten() > 0
    return binary, real
