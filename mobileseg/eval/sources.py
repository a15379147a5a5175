"""Where trackers come from: a training checkpoint (PyTorch), a baseline, later exported files.

``load_tracker(...)`` returns a :class:`TrackerSource`: a factory that makes one tracker per
object, plus what the tables report about it (name, parameter count, input alignment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mobileseg.eval.predict import TrackerFactory
from mobileseg.tracker import CopyFirstMaskTracker


@dataclass(frozen=True)
class TrackerSource:
    name: str
    make: TrackerFactory
    params: int
    multiple: int  # input sides must be multiples of this (16 for the networks)


def checkpoint_source(path: str | os.PathLike[str]) -> TrackerSource:
    """A PyTorch tracker over the network stored in a ``mobileseg train`` checkpoint."""
    from mobileseg.models import NetworkTracker, count_parameters
    from mobileseg.train.checkpoint import model_from_checkpoint

    model, payload = model_from_checkpoint(path)
    return TrackerSource(payload["model"], lambda: NetworkTracker(model), count_parameters(model), 16)


def baseline_source() -> TrackerSource:
    return TrackerSource(CopyFirstMaskTracker.name, CopyFirstMaskTracker, 0, 1)
