"""The tracker protocol every model, runtime and baseline implements (see DESIGN.md).

    state = tracker.init(frame, mask)          # the first frame and its object's mask
    prob, state = tracker.step(frame, state)   # every later frame

- ``frame``: ``float32 [1, 3, H, W]`` RGB in [0, 1] (normalisation happens inside the model);
- ``mask``: ``float32 [1, 1, H, W]`` in [0, 1]; ``prob``: ``float32 [1, 1, H, W]``;
- ``state``: a tuple of fixed-shape tensors; its shapes never change from frame to frame.

A tracker follows one object. Several objects are followed by one state each and combined by
:func:`aggregate` (``mobileseg.eval.predict`` does that), exactly as on the phone.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

State = tuple[torch.Tensor, ...]


class Tracker(Protocol):
    """Anything with ``init`` and ``step`` over explicit state."""

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State: ...

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]: ...


class CopyFirstMaskTracker:
    """The trivial baseline: predicts the first frame's mask on every frame.

    A model that does not beat it has learnt nothing about motion.
    """

    name = "copy-first-mask"

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        return (mask.clone(),)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return state[0].clone(), state


def aggregate(probs: np.ndarray) -> np.ndarray:
    """Object ids ``uint8 [H, W]`` from per-object probabilities ``float [K, H, W]``.

    The background probability is ``prod_k (1 - p_k)`` (STCN's soft aggregation); each pixel
    takes the most probable of background and the K objects (ids 1..K in the order given).
    """
    if probs.shape[0] == 0:
        raise ValueError("aggregate needs at least one object")
    background = np.prod(1.0 - probs, axis=0, keepdims=True)
    return np.argmax(np.concatenate([background, probs], axis=0), axis=0).astype(np.uint8)
