"""The one place that names the exported entry points, their tensors and the state feedback.

Every format, every runtime, the contract JSON and the Android app take names and the
output -> input mapping from here (the app through the contract JSON). The names derive from
the student's spec (:class:`~mobileseg.models.spec.StudentSpec`): its named state tensors (what
``init`` returns and every step takes after the frame) and its phases (how many step graphs)::

    init(frame, mask) -> (*state)
    step(frame, *state) -> (prob, *new_state)                    phases == 1: one entry "step"
    step_i(frame, *state) -> (prob, *new_state), i = 0..m-1      phases == m > 1 (TDNet's sub-networks)
    feedback: new_<s> -> <s> (and init's outputs -> the step inputs of the same name)

The plain student's state is ``(mem_key, mem_value)``: ``init``, ``step`` and their files are
what they always were. A student with m phases carries a ``phase`` state tensor (float ``[1]``)
saying which step entry runs the next frame: ``steps[int(phase)]`` (the contract's ``schedule``).

Shapes come from a dry run of the student at the export size, so they are never typed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mobileseg.models.spec import PHASE, Student, StudentSpec

NEW = "new_"  # a step output that feeds state input <s> on the next frame is called new_<s>


@dataclass(frozen=True)
class EntryPoint:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    phase: int | None = None  # the step graph's phase; None for init


# the entry points' own tensors; the state's come from the student's spec
IO_TENSORS = {
    "frame": ("NCHW", "RGB frame scaled to [0, 1], channels first (normalisation happens inside the model)"),
    "mask": ("KCHW (K objects, C=1)", "first-frame mask of each object in [0, 1]"),
    "prob": ("KCHW (K objects, C=1)", "object probability per pixel"),
}


def described_tensors(spec: StudentSpec) -> dict[str, tuple[str, str]]:
    """Name -> (layout, description) of every entry-point tensor of a student with ``spec``."""
    described = dict(IO_TENSORS)
    for tensor in spec.state:
        described[tensor.name] = (tensor.layout, tensor.description)
        described[NEW + tensor.name] = (tensor.layout, f"updated {tensor.name}: feed back as {tensor.name} on the next frame")
    return described


def step_names(phases: int) -> tuple[str, ...]:
    """``("step",)`` for one phase, else ``("step_0", ..., "step_{m-1}")``."""
    if phases < 1:
        raise ValueError(f"a student has at least one step graph, got phases={phases}")
    return ("step",) if phases == 1 else tuple(f"step_{i}" for i in range(phases))


class InitEntry(nn.Module):
    """``init`` as its own module (what each converter traces)."""

    def __init__(self, model: Student) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.init(frame, mask))


class StepEntry(nn.Module):
    """The step graph of one ``phase`` as its own module (the student's ``step_phase(phase, ...)``)."""

    def __init__(self, model: Student, phase: int = 0) -> None:
        super().__init__()
        self.model, self.phase = model, phase

    def forward(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.step_phase(self.phase, frame, *state))


@dataclass(frozen=True)
class Signature:
    """Concrete shapes of every named tensor at one export size and object count, and the entry
    points: ``state`` names in order, ``steps`` the step entries in phase order."""

    height: int
    width: int
    objects: int
    shapes: dict[str, tuple[int, ...]]
    state: tuple[str, ...] = ("mem_key", "mem_value")
    steps: tuple[str, ...] = ("step",)
    described: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (layout, description) of every tensor above

    @property
    def init(self) -> EntryPoint:
        return EntryPoint("init", inputs=("frame", "mask"), outputs=self.state)

    @property
    def step_entries(self) -> tuple[EntryPoint, ...]:
        outputs = ("prob", *(NEW + name for name in self.state))
        return tuple(EntryPoint(name, inputs=("frame", *self.state), outputs=outputs, phase=i) for i, name in enumerate(self.steps))

    @property
    def entry_points(self) -> tuple[EntryPoint, ...]:
        """``init`` then every step entry, in phase order."""
        return (self.init, *self.step_entries)

    @property
    def feedback(self) -> dict[str, str]:
        """Step output -> state input on the next frame (the same for every step entry)."""
        return {NEW + name: name for name in self.state}

    @property
    def phase(self) -> str | None:
        """The state input that picks the step entry (None with one step entry)."""
        return PHASE if len(self.steps) > 1 else None

    def example(self, entry: EntryPoint) -> tuple[torch.Tensor, ...]:
        """Zero inputs of ``entry`` with the right shapes (for tracing)."""
        return tuple(torch.zeros(self.shapes[name]) for name in entry.inputs)

    def describe(self, name: str) -> tuple[str, str]:
        """``(layout, description)`` of tensor ``name`` as the contract states it."""
        return self.described[name]

    def modules(self, model: Student) -> dict[str, nn.Module]:
        """Entry name -> the module a converter traces: ``InitEntry`` and a ``StepEntry`` per phase."""
        modules: dict[str, nn.Module] = {"init": InitEntry(model).eval()}
        modules.update({entry.name: StepEntry(model, entry.phase or 0).eval() for entry in self.step_entries})
        return modules


@torch.no_grad()
def signature_of(model: Student, height: int, width: int, objects: int = 1) -> Signature:
    """Shapes of every entry-point tensor, from a dry run of ``model`` at ``height`` x ``width``
    (``init``, then the step graph of phase 0 on init's state)."""
    if not isinstance(model, Student):
        raise TypeError(f"{type(model).__name__} is not a mobileseg.models.spec.Student: only students with explicit state can be exported")
    spec = model.spec()
    frame = torch.zeros(1, 3, height, width)
    mask = torch.zeros(objects, 1, height, width)
    state = tuple(model.eval().init(frame, mask))
    if len(state) != len(spec.names):
        raise ValueError(f"{type(model).__name__}.init returned {len(state)} tensors, its spec names {len(spec.names)} ({', '.join(spec.names)})")
    prob, *new_state = model.step_phase(0, frame, *state)
    tensors = {"frame": frame, "mask": mask, "prob": prob, **dict(zip(spec.names, state)),
               **{NEW + name: value for name, value in zip(spec.names, new_state)}}
    return Signature(height, width, objects, {name: tuple(t.shape) for name, t in tensors.items()}, spec.names,
                     step_names(spec.phases), described_tensors(spec))
