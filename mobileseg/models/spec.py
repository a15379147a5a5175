"""What makes a network an exportable student: explicit state, declared once.

A :class:`Student` declares its tracker entry points and a :meth:`Student.spec`: the named state
tensors (name, layout, description) that ``init`` returns and every ``step`` takes after the
frame and returns updated, how many step graphs (phases) it has, and its memory policy. Export,
calibration, the runtimes and the app's contract all derive from the spec, so a new student needs
its file and its registration only (``register_model(..., role="student")`` refuses a builder
whose class is not a complete :class:`Student`)::

    init(frame, mask) -> (*state)
    step(frame, *state) -> (prob, *new_state)                    phases == 1
    step_phase(i, frame, *state) -> (prob, *new_state)           one graph per phase i = 0..m-1

A student with m > 1 phases keeps a ``phase`` state tensor (float ``[1]``) saying which step graph
runs the next frame.
"""

from __future__ import annotations

import abc
import inspect
import typing
from dataclasses import dataclass

import torch

from mobileseg.models.base import MemoryNetwork

PHASE = "phase"  # the state tensor a multi-phase student keeps its schedule position in


@dataclass(frozen=True)
class StateTensor:
    """One named state tensor, as the contract describes it to the runtimes and the app."""

    name: str
    layout: str
    description: str


@dataclass(frozen=True)
class MemoryPolicy:
    """Fixed memory slots; with ``pin_first`` slot 0 keeps the first frame for the whole video."""

    slots: int
    pin_first: bool

    def describe(self) -> str:
        kept = ("slot 0 holds the first frame for the whole video; slots 1.. are a FIFO of the latest frames"
                if self.pin_first else "all slots are a FIFO of the latest frames")
        return kept + "; at init every slot holds the first frame"


@dataclass(frozen=True)
class StudentSpec:
    state: tuple[StateTensor, ...]
    memory: MemoryPolicy
    phases: int = 1

    def __post_init__(self) -> None:
        names = self.names
        if not names or len(set(names)) != len(names):
            raise ValueError(f"a student's state needs one or more distinct tensor names, got {names}")
        if self.phases < 1:
            raise ValueError(f"a student has at least one step graph, got phases={self.phases}")
        if self.phases > 1 and PHASE not in names:
            raise ValueError(f"{self.phases} step graphs need a {PHASE!r} state tensor to choose them (state {names})")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(tensor.name for tensor in self.state)

    def tensor(self, name: str) -> StateTensor:
        for tensor in self.state:
            if tensor.name == name:
                return tensor
        raise KeyError(f"{name!r} is not a state tensor of this student ({', '.join(self.names)})")

    def phase_of(self, state: tuple[torch.Tensor, ...]) -> int:
        """The phase the next step runs with ``state`` (0 for a one-phase student)."""
        if self.phases == 1:
            return 0
        return int(state[self.names.index(PHASE)].reshape(-1)[0].item())


class Student(MemoryNetwork, abc.ABC):
    """A network with fixed-shape explicit state that can be exported (see the module docstring)."""

    @abc.abstractmethod
    def spec(self) -> StudentSpec:
        """The named state tensors, phases and memory policy."""

    @abc.abstractmethod
    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``frame [1, 3, H, W]``, ``mask [K, 1, H, W]`` -> the state, in ``spec().names`` order."""

    @abc.abstractmethod
    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame: ``prob [K, 1, H, W]`` and the updated state."""

    def step_phase(self, index: int, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`step` as the graph of phase ``index`` (a one-phase student has phase 0 only)."""
        if index != 0:
            raise ValueError(f"{type(self).__name__} has one step graph (phase 0), got phase {index}")
        return self.step(frame, *state)


def check_student_builder(name: str, builder: typing.Callable[..., object]) -> None:
    """TypeError unless ``builder`` is annotated to return a complete :class:`Student` subclass."""
    try:
        returned = typing.get_type_hints(builder).get("return")
    except NameError as exc:
        raise TypeError(f"student {name!r}: cannot resolve the return annotation of {builder.__qualname__} ({exc})") from None
    if not (inspect.isclass(returned) and issubclass(returned, Student)):
        raise TypeError(f"student {name!r}: its builder {builder.__qualname__} must be annotated to return a subclass of "
                        f"mobileseg.models.spec.Student (got {returned!r}); a student declares spec(), init() and step()")
    if inspect.isabstract(returned):
        missing = ", ".join(sorted(returned.__abstractmethods__))
        raise TypeError(f"student {name!r}: {returned.__name__} does not implement {missing} (see mobileseg.models.spec.Student)")
