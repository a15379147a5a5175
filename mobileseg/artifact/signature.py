"""The one place that names the exported entry points, their tensors and the state feedback.

Every format, every runtime, the contract JSON and the Android app take names and the
output -> input mapping from here (the app through the contract JSON). The names derive from
the student itself: its ``state_names`` (what ``init`` returns and every step takes after the
frame) and its ``phases`` (how many step graphs it has)::

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

from dataclasses import dataclass

import torch
from torch import nn

from mobileseg.models.base import MemoryNetwork

PHASE = "phase"  # the state tensor a multi-phase student keeps its schedule position in
NEW = "new_"  # a step output that feeds state input <s> on the next frame is called new_<s>


@dataclass(frozen=True)
class EntryPoint:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    phase: int | None = None  # the step graph's phase; None for init


DESCRIPTIONS = {
    "frame": "RGB frame scaled to [0, 1], channels first (normalisation happens inside the model)",
    "mask": "first-frame mask of each object in [0, 1]",
    "prob": "object probability per pixel",
    "mem_key": "memory keys, one slot per remembered frame (slot 0 = first frame)",
    "mem_value": "memory values per object and slot",
    "apm_query": "attention-propagation queries of the last m-1 frames (one per other sub-network), oldest first",
    "apm_key": "attention-propagation keys of the last m-1 frames, oldest first",
    "apm_value": "attention-propagation values (stride-16 features) of the last m-1 frames, oldest first",
    "phase": "which step entry runs the next frame (schedule.steps[int(phase)]), as a float; init sets 0",
}
LAYOUTS = {"frame": "NCHW", "mask": "KCHW (K objects, C=1)", "prob": "KCHW (K objects, C=1)",
           "mem_key": "1 x slots x key_dim x H/16 x W/16", "mem_value": "K x slots x value_dim x H/16 x W/16",
           "apm_query": "1 x (m-1) x apm_key_dim x h' x w' (h', w' = H/16, W/16 pooled by apm_stride)",
           "apm_key": "1 x (m-1) x apm_key_dim x h' x w'", "apm_value": "1 x (m-1) x C16 x h' x w'",
           "phase": "[1], float32 holding a whole number 0..m-1"}
for _name in ("mem_key", "mem_value", "apm_query", "apm_key", "apm_value", "phase"):
    DESCRIPTIONS[NEW + _name] = f"updated {_name}: feed back as {_name} on the next frame"
    LAYOUTS[NEW + _name] = LAYOUTS[_name]


def step_names(phases: int) -> tuple[str, ...]:
    """``("step",)`` for one phase, else ``("step_0", ..., "step_{m-1}")``."""
    if phases < 1:
        raise ValueError(f"a student has at least one step graph, got phases={phases}")
    return ("step",) if phases == 1 else tuple(f"step_{i}" for i in range(phases))


def phase_of(model: MemoryNetwork, state: tuple[torch.Tensor, ...]) -> int:
    """The phase the next step of ``model`` runs with ``state`` (0 for a one-phase student)."""
    phases = int(getattr(model, "phases", 1))
    if phases == 1:
        return 0
    return int(state[tuple(model.state_names).index(PHASE)].reshape(-1)[0].item())  # type: ignore[operator]


class InitEntry(nn.Module):
    """``init`` as its own module (what each converter traces)."""

    def __init__(self, model: MemoryNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.init(frame, mask))  # type: ignore[operator]


class StepEntry(nn.Module):
    """The step graph of one ``phase`` as its own module (the student's ``step_phase(phase, ...)``)."""

    def __init__(self, model: MemoryNetwork, phase: int = 0) -> None:
        super().__init__()
        self.model, self.phase = model, phase

    def forward(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.model.step_phase(self.phase, frame, *state))  # type: ignore[operator]


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

    def modules(self, model: MemoryNetwork) -> dict[str, nn.Module]:
        """Entry name -> the module a converter traces: ``InitEntry`` and a ``StepEntry`` per phase."""
        modules: dict[str, nn.Module] = {"init": InitEntry(model).eval()}
        modules.update({entry.name: StepEntry(model, entry.phase or 0).eval() for entry in self.step_entries})
        return modules


@torch.no_grad()
def signature_of(model: MemoryNetwork, height: int, width: int, objects: int = 1) -> Signature:
    """Shapes of every entry-point tensor, from a dry run of ``model`` at ``height`` x ``width``
    (``init``, then the step graph of phase 0 on init's state)."""
    state_names = tuple(getattr(model, "state_names", ()))
    phases = int(getattr(model, "phases", 1))
    if not state_names:
        raise ValueError(f"{type(model).__name__} declares no state_names: only students with explicit state can be exported")
    if phases > 1 and PHASE not in state_names:
        raise ValueError(f"{type(model).__name__} has {phases} step graphs but no {PHASE!r} state tensor to choose them "
                         f"(state_names {state_names})")
    frame = torch.zeros(1, 3, height, width)
    mask = torch.zeros(objects, 1, height, width)
    state = tuple(model.eval().init(frame, mask))  # type: ignore[operator]
    if len(state) != len(state_names):
        raise ValueError(f"{type(model).__name__}.init returned {len(state)} tensors, its state_names list {len(state_names)}")
    prob, *new_state = model.step_phase(0, frame, *state)  # type: ignore[operator]
    tensors = {"frame": frame, "mask": mask, "prob": prob, **dict(zip(state_names, state)),
               **{NEW + name: value for name, value in zip(state_names, new_state)}}
    return Signature(height, width, objects, {name: tuple(t.shape) for name, t in tensors.items()}, state_names, step_names(phases))
