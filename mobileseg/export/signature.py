"""The one place that names the exported entry points, their tensors and the state feedback.

Every format, every runtime, the contract JSON and the Android app take names and the
output -> input mapping from here (the app through the contract JSON):

    init(frame, mask) -> (mem_key, mem_value)
    step(frame, mem_key, mem_value) -> (prob, new_mem_key, new_mem_value)
    feedback: new_mem_key -> mem_key, new_mem_value -> mem_value (and init's outputs -> step's inputs)

Shapes come from a dry run of the student at the export size, so they are never typed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mobileseg.models.base import MemoryNetwork


@dataclass(frozen=True)
class EntryPoint:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


INIT = EntryPoint("init", inputs=("frame", "mask"), outputs=("mem_key", "mem_value"))
STEP = EntryPoint("step", inputs=("frame", "mem_key", "mem_value"), outputs=("prob", "new_mem_key", "new_mem_value"))
ENTRY_POINTS = (INIT, STEP)
# step output -> step input on the next frame (init's outputs already carry the input names)
FEEDBACK = {"new_mem_key": "mem_key", "new_mem_value": "mem_value"}
STATE = ("mem_key", "mem_value")

DESCRIPTIONS = {
    "frame": "RGB frame scaled to [0, 1], channels first (normalisation happens inside the model)",
    "mask": "first-frame mask of each object in [0, 1]",
    "prob": "object probability per pixel",
    "mem_key": "memory keys, one slot per remembered frame (slot 0 = first frame)",
    "mem_value": "memory values per object and slot",
    "new_mem_key": "updated memory keys: feed back as mem_key on the next frame",
    "new_mem_value": "updated memory values: feed back as mem_value on the next frame",
}
LAYOUTS = {"frame": "NCHW", "mask": "KCHW (K objects, C=1)", "prob": "KCHW (K objects, C=1)",
           "mem_key": "1 x slots x key_dim x H/16 x W/16", "mem_value": "K x slots x value_dim x H/16 x W/16"}
LAYOUTS["new_mem_key"], LAYOUTS["new_mem_value"] = LAYOUTS["mem_key"], LAYOUTS["mem_value"]


class InitEntry(nn.Module):
    """``init`` as its own module (what each converter traces)."""

    def __init__(self, model: MemoryNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model.init(frame, mask)  # type: ignore[operator,no-any-return]


class StepEntry(nn.Module):
    """``step`` as its own module."""

    def __init__(self, model: MemoryNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, frame: torch.Tensor, mem_key: torch.Tensor, mem_value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.model.step(frame, mem_key, mem_value)  # type: ignore[operator,no-any-return]


@dataclass(frozen=True)
class Signature:
    """Concrete shapes of every named tensor at one export size and object count."""

    height: int
    width: int
    objects: int
    shapes: dict[str, tuple[int, ...]]

    def example(self, entry: EntryPoint) -> tuple[torch.Tensor, ...]:
        """Zero inputs of ``entry`` with the right shapes (for tracing)."""
        return tuple(torch.zeros(self.shapes[name]) for name in entry.inputs)


@torch.no_grad()
def signature_of(model: MemoryNetwork, height: int, width: int, objects: int = 1) -> Signature:
    """Shapes of every entry-point tensor, from a dry run of ``model`` at ``height`` x ``width``."""
    frame = torch.zeros(1, 3, height, width)
    mask = torch.zeros(objects, 1, height, width)
    mem_key, mem_value = model.eval().init(frame, mask)  # type: ignore[operator]
    prob, new_key, new_value = model.step(frame, mem_key, mem_value)  # type: ignore[operator]
    tensors = {"frame": frame, "mask": mask, "mem_key": mem_key, "mem_value": mem_value, "prob": prob,
               "new_mem_key": new_key, "new_mem_value": new_value}
    return Signature(height, width, objects, {name: tuple(t.shape) for name, t in tensors.items()})
