"""The distiller protocol: what a method declares, what it is given, the base class and the registry.

A method is one file: a :class:`Distiller` subclass registered with ``@DISTILLERS.register(name)``
(and imported in ``mobileseg/distill/__init__.py``). It declares

- its options, once: a frozen dataclass of :func:`option` fields (type, default, help, allowed
  range or choices), set as the class's ``Options``. :func:`parse_options` checks every value
  in one place (ConfigError naming the option, the value and what is allowed), and
  ``mobileseg distill`` generates one flag per option name from it, ``--resume`` reads defaults
  from it. Rules that tie options together go in the dataclass's ``check``;
- where its teacher comes from, :attr:`Distiller.teacher_mode` (it may depend on the options):
  ``checkpoint`` (a frozen network loaded from ``--teacher``, run over the step's clips beside
  the student), ``online`` (a network trained from scratch beside the student: the trainer builds
  :attr:`Distiller.online_network` from the model registry, the distiller owns and trains it) or
  ``none``;
- :meth:`Distiller.setup`, called once by the trainer with the :class:`Networks` (the student, the
  teacher or None, their representation widths and the device) before the optimiser exists: the
  place to create heads and banks, or to take what the method needs of the student (LGD keeps its
  decoder's entry point). The student stays the student's: its parameters are trained,
  checkpointed and exported as in every run, never as part of the distiller;
- :meth:`Distiller.forward`: one step's :class:`StepOutputs` -> named loss terms. The training
  loop adds them to the student's segmentation loss and logs every term.

Every distiller is an :class:`torch.nn.Module`, so a method may own state:

- trainable parameters (a projection head, an online teacher): the loop adds them to the
  optimiser, clips their gradients apart from the student's (each to ``--grad-clip``, so a large
  gradient of the method's own cannot shrink the student's step) and, under torchrun, wraps the distiller in
  its own DistributedDataParallel;
- buffers (fixed-size memory banks): saved in ``last.pt`` under ``train["distiller"]`` and
  restored by ``--resume``, so a resumed run continues with the same banks.

Parameterless methods (``none``, ``mobilevos``) have an empty state dict, and their checkpoints
(also those written before distillers could hold state) resume unchanged. The distiller never
enters ``model_state``: exported students are built from that alone.
"""

from __future__ import annotations

import inspect
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.errors import ConfigError
from mobileseg.models.clip import ClipOutput
from mobileseg.registry import Registry

if TYPE_CHECKING:
    from mobileseg.models.base import MemoryNetwork

TeacherMode = Literal["checkpoint", "online", "none"]
OPTION_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Networks:
    """What :meth:`Distiller.setup` is given: the networks, the widths D of their representations z and the device.

    ``teacher``: the frozen checkpoint teacher, the online teacher the trainer built for the
    distiller (to own and train), or None. Keep no reference to the student as a submodule.
    """

    student: MemoryNetwork
    teacher: MemoryNetwork | None
    student_dim: int
    teacher_dim: int | None
    device: torch.device

    @classmethod
    def of(cls, student: MemoryNetwork, teacher: MemoryNetwork | None, device: torch.device) -> Networks:
        """The networks with their widths read from ``representation_dim``."""
        return cls(student, teacher, student.representation_dim, None if teacher is None else teacher.representation_dim, device)


@dataclass(frozen=True)
class StepOutputs:
    """One step, frames 1..T-1 of B clips with K object slots.

    student/teacher: the networks' :class:`~mobileseg.models.clip.ClipOutput` (class logits
    ``[B, T-1, K+1, H, W]``, decoder features ``[B, T-1, K, Cd, H/4, W/4]``, embeddings z
    ``[B, T-1, K, D, H/4, W/4]``, decoder inputs); the teacher is the frozen checkpoint teacher's
    (None for the other modes). labels ``[B, T, H, W]`` (frame 0 given); selector ``[B, K]``
    (1 = the slot holds an object).

    step/steps: this step's index (0-based) and the run's step count, for methods whose rule
    changes during training; task_loss: the student's segmentation loss of this step (same
    Poly-1 epsilon and bootstrapping) as a function of class logits with the student's layout;
    batch: the step's clips (``frames [B, T, 3, H, W]``, ``masks [B, T, K, H, W]``, ``selector``,
    ...), for a method that runs a network of its own over them (online distillation's teacher).
    """

    student: ClipOutput
    teacher: ClipOutput | None
    labels: torch.Tensor
    selector: torch.Tensor
    step: int = 0
    steps: int = 1
    task_loss: Callable[[torch.Tensor], torch.Tensor] | None = None
    batch: dict[str, torch.Tensor] | None = None


@dataclass(frozen=True)
class Allowed:
    """What an option accepts beyond its type: an interval (None = unbounded) or a set of choices."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None

    def admits(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, float) and math.isnan(value):
            return self.low is None and self.high is None
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        low, high = (f"{b:g}" if isinstance(b, float) else str(b) for b in (self.low, self.high))
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{low}, {high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {low}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {high}"
        return "any value"


def option(default: Any, help: str, *, at_least: float | None = None, above: float | None = None,  # noqa: A002
           at_most: float | None = None, below: float | None = None, within: tuple[float, float] | None = None,
           choices: tuple[str, ...] | None = None) -> Any:
    """A field of a method's ``Options``: its default, its help line (``distill --help``) and what it allows.

    ``within=(a, b)`` is ``at_least=a, at_most=b``; ``above``/``below`` exclude the bound.
    """
    if within is not None:
        at_least, at_most = within
    allowed = Allowed(above if above is not None else at_least, below if below is not None else at_most,
                      above is not None, below is not None, choices)
    return field(default=default, metadata={"help": help, "allowed": allowed})


@dataclass(frozen=True)
class DistillOptions:
    """Base of every method's options (a frozen dataclass of :func:`option` fields); none by itself."""

    def check(self) -> None:
        """Rules between options (each value alone is checked already): raise ConfigError naming them."""


@dataclass(frozen=True)
class OptionSpec:
    """One option as the CLI and ``--resume`` see it."""

    name: str
    type: type
    default: Any
    help: str
    allowed: Allowed


def option_specs(method: type[Distiller]) -> list[OptionSpec]:
    """The options of ``method`` in their declared order."""
    hints = typing.get_type_hints(method.Options)
    specs = []
    for f in fields(method.Options):
        kind = hints[f.name]
        if kind not in OPTION_TYPES or f.default is MISSING:
            raise TypeError(f"{method.__name__}.Options.{f.name}: an option is a bool, int, float or str with a default")
        specs.append(OptionSpec(f.name, kind, f.default, f.metadata.get("help", ""), f.metadata.get("allowed", Allowed())))
    return specs


def option_defaults(method: type[Distiller]) -> dict[str, Any]:
    """The options of ``method`` and their defaults."""
    return {spec.name: spec.default for spec in option_specs(method)}


def _typed(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def parse_options(method: type[Distiller], values: Mapping[str, Any]) -> DistillOptions:
    """``values`` (name -> value; a left-out option takes its default) as ``method``'s checked options.

    ConfigError for an option the method does not have, a value of the wrong type or outside what
    the option allows (naming the option, the value and what is allowed), or a broken rule between options.
    """
    name = _registered_name(method)
    specs = {spec.name: spec for spec in option_specs(method)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ConfigError(f"distiller {name} has no option {', '.join(unknown)}; its options are "
                          f"{', '.join(specs) or '(none)'}. Drop {'it' if len(unknown) == 1 else 'them'} or choose another distiller.")
    for key, value in values.items():
        spec = specs[key]
        flag = f"--{key.replace('_', '-')}"
        if not _typed(value, spec.type):
            kind = {bool: "true or false", int: "an int", float: "a number", str: "a string"}[spec.type]
            raise ConfigError(f"distiller {name}: option {key} ({flag}) takes {kind}; got {value!r}.")
        if not spec.allowed.admits(value):
            hint = "Choose one of them." if spec.allowed.choices is not None else f"Give a value {spec.allowed}."
            raise ConfigError(f"distiller {name}: option {key} ({flag}) must be {spec.allowed}; got {value!r}. {hint}")
    options = method.Options(**values)
    options.check()
    return options


def _registered_name(method: type[Distiller]) -> str:
    for name in DISTILLERS.in_order():
        if DISTILLERS.get(name) is method:
            return name
    return method.__name__


class Distiller(nn.Module):
    """Base of every distillation method: ``distiller(outputs, generator) -> {term name: loss}``.

    The first line of a subclass's docstring is its one-line description in ``distill --help``.
    ``Distiller(**options)`` checks the options (:func:`parse_options`) and keeps them as
    ``self.options``. ``generator`` is the step's seeded CPU generator: draw every random number
    from it, so a resumed run repeats an uninterrupted one.
    """

    Options: ClassVar[type[DistillOptions]] = DistillOptions

    def __init__(self, **options: Any) -> None:
        super().__init__()
        self.options = parse_options(type(self), options)

    @property
    def teacher_mode(self) -> TeacherMode:
        """``checkpoint``, ``online`` or ``none`` (see the module docstring). Default: ``checkpoint``."""
        return "checkpoint"

    @property
    def online_network(self) -> str:
        """For ``teacher_mode == "online"``: the registered network the trainer builds (from scratch) as the teacher."""
        raise NotImplementedError(f"{type(self).__name__} has teacher_mode {self.teacher_mode!r} and no online network")

    def setup(self, networks: Networks) -> None:
        """Create what depends on the networks (heads, banks; take what the method needs of the student);
        called once by the trainer before the optimiser is built, with the distiller still on the CPU
        (it is moved to ``networks.device`` after). Default: nothing."""

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")


DISTILLERS: Registry[type[Distiller]] = Registry("distiller")


@DISTILLERS.register("none")
class NoDistillation(Distiller):
    """The supervised baseline: no extra term, no teacher (same data, schedule and loss otherwise)."""

    @property
    def teacher_mode(self) -> TeacherMode:
        return "none"

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}


def describe(method: type[Distiller]) -> str:
    """The one-line description of a registered method (the first line of its docstring)."""
    doc = inspect.getdoc(method) or ""
    return doc.strip().splitlines()[0].rstrip(".") if doc.strip() else ""


def object_labels(outputs: StepOutputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Each object slot of each frame as its own image: labels at stride 4 and which images are real.

    Returns ``labels [B*(T-1)*K, h, w]`` (1 = that object, 0 = background or another object,
    -1 = void) and ``real [B*(T-1)*K]`` (bool; False for padding slots). Images are ordered like
    ``outputs.student.embeddings.flatten(0, 2)``. Labels are downsampled with nearest neighbours.
    """
    z = outputs.student.embeddings
    batch, frames, objects = z.shape[:3]
    height, width = z.shape[-2:]
    labels = outputs.labels[:, 1:].float().flatten(0, 1)[:, None]
    small = F.interpolate(labels, size=(height, width), mode="nearest")[:, 0].long()  # [B*(T-1), h, w]
    ids = torch.arange(1, objects + 1, device=small.device).view(1, objects, 1, 1)
    binary = (small.unsqueeze(1) == ids).long()  # [B*(T-1), K, h, w]
    binary = binary.masked_fill((small < 0).unsqueeze(1), -1).flatten(0, 1)
    real = outputs.selector[:, None, :].expand(batch, frames, objects).flatten() > 0
    return binary, real
