"""The tracker protocol every model, runtime and baseline implements (see docs/ARCHITECTURE.md).

    state = tracker.init(frame, mask)          # the first frame and its objects' masks
    prob, state = tracker.step(frame, state)   # every later frame

- ``frame``: ``float32 [1, 3, H, W]`` RGB in [0, 1] (normalisation happens inside the model);
- ``mask``: ``float32 [K, 1, H, W]`` in [0, 1], one per object; ``prob``: ``float32 [K, 1, H, W]``;
- ``state``: a tuple of fixed-shape tensors; its shapes never change from frame to frame.

One state follows the K objects that start on the same frame, jointly, as in training: the
network encodes each object with the others' masks and normalises their probabilities together.
``objects`` tells how many objects one state takes: ``None`` for any number (PyTorch networks,
the baseline), an int for an exported file (its ``--objects``). ``mobileseg.eval.predict``
groups objects accordingly and combines the groups with :func:`aggregate`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch

State = tuple[torch.Tensor, ...]


class Tracker(Protocol):
    """Anything with ``init`` and ``step`` over explicit state (``objects``: see the module docstring)."""

    objects: int | None

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State: ...

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


TrackerFactory = Callable[[], Tracker]  # makes a fresh tracker (one per group of objects starting together)


class CopyFirstMaskTracker:
    """The trivial baseline: predicts the first frame's mask on every frame.

    A model that does not beat it has learnt nothing about motion.
    """

    name = "copy-first-mask"
    objects: int | None = None

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        return (mask.clone(),)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return state[0].clone(), state


def aggregate(probs: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Object ids ``uint8 [H, W]`` from per-object probabilities ``float [K, H, W]``.

    Each pixel takes the most probable of background and the K objects (ids 1..K in the order
    given). ``background [H, W]`` defaults to ``prod_k (1 - p_k)`` (STCN's soft aggregation of
    independent objects); a joint state gives its own (``1 - sum_k p_k`` of its normalised probabilities).
    """
    if probs.shape[0] == 0:
        raise ValueError("aggregate needs at least one object")
    background = np.prod(1.0 - probs, axis=0) if background is None else background
    return np.argmax(np.concatenate([background[None], probs], axis=0), axis=0).astype(np.uint8)
