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
    """

    def __init__(self, model: MemoryNetwork, objects: int | None = None) -> None:
        self.model = model.eval()
        self.objects = objects

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        return tuple(self.model.init(frame, mask))  # type: ignore[operator]

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        prob, *rest = self.model.step(frame, *state)  # type: ignore[operator]
        return prob, tuple(rest)

    def fast_forward(self, state: State, frame: int) -> State:
        """``state`` grown to the size it has before ``frame`` (a teacher); fixed-size states are returned as they are."""
        forward = getattr(self.model, "fast_forward", None)
        return tuple(forward(state, frame)) if forward is not None else state


__all__ = ["MODELS", "ROLES", "MemoryNetwork", "NetworkTracker", "build_model", "count_parameters"]
