"""Networks: the MobileVOS student, the STCN teacher, and the tracker adapter over them.

Importing this package registers every model; ``build_model(name)`` builds one by the name the
CLI takes (``--model mobilevos_r18_mv2``).
"""

from __future__ import annotations

import torch
from torch import nn

from mobileseg.models import student, tdnet, teacher  # noqa: F401  (registers the models)
from mobileseg.models.base import MemoryNetwork
from mobileseg.models.registry import MODELS, ROLES
from mobileseg.models.spec import Student, StudentSpec
from mobileseg.tracker import State


def build_model(name: str, **kwargs: object) -> MemoryNetwork:
    """Build the registered model ``name`` (UnknownNameError lists the known names)."""
    model = MODELS.get(name)(**kwargs)
    assert isinstance(model, MemoryNetwork)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class NetworkTracker:
    """The tracker protocol over a network's ``init``/``step`` methods.

    ``objects``: how many objects one state follows; None (the default) takes any number, an int
    makes the tracker behave like a file exported with that ``--objects`` (to compare the two).
    A student's state tensors have names (its spec's, the exported files' inputs): ``named(state)``.
    """

    def __init__(self, model: MemoryNetwork, objects: int | None = None) -> None:
        self.model = model.eval()
        self.objects = objects
        self.state_names: tuple[str, ...] | None = model.spec().names if isinstance(model, Student) else None

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        return tuple(self.model.init(frame, mask))

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        prob, *rest = self.model.step(frame, *state)
        return prob, tuple(rest)

    def named(self, state: State) -> dict[str, torch.Tensor]:
        """``state`` by the names of the student's spec (what the exported files call them)."""
        if self.state_names is None:
            raise TypeError(f"{type(self.model).__name__} is not a student: its state has no names")
        if len(state) != len(self.state_names):
            raise ValueError(f"the state has {len(state)} tensors; {type(self.model).__name__} names {len(self.state_names)} "
                             f"({', '.join(self.state_names)})")
        return dict(zip(self.state_names, state))

    def fast_forward(self, state: State, frame: int) -> State:
        """``state`` grown to the size it has before ``frame`` (a teacher); fixed-size states are returned as they are."""
        return tuple(self.model.fast_forward(state, frame))


__all__ = ["MODELS", "ROLES", "MemoryNetwork", "NetworkTracker", "Student", "StudentSpec", "build_model", "count_parameters"]
