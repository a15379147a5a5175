"""TFLite (LiteRT): one ``.tflite`` holding the signatures ``init`` and ``step``, via litert-torch.

litert-torch converts from torch.export without TensorFlow. Signature inputs are named by the
keyword arguments given at conversion and outputs by the keys of a returned dict, so each entry
point is wrapped to return ``{name: tensor}``. Shapes stay NCHW as in PyTorch. Runs in
ai-edge-litert (``mobileseg.runtime.litert``), XNNPACK by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from mobileseg.export.formats import ExportFormat, Written, register_format
from mobileseg.export.quiet import quiet
from mobileseg.export.signature import INIT, STEP, EntryPoint, InitEntry, Signature, StepEntry
from mobileseg.runtime.base import require


class NamedOutputs(nn.Module):
    """An entry point whose forward takes keyword inputs and returns ``{output name: tensor}``."""

    def __init__(self, inner: nn.Module, entry: EntryPoint) -> None:
        super().__init__()
        self.inner, self.names = inner, entry.outputs

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.inner(**inputs)))


def write_tflite(init: InitEntry, step: StepEntry, signature: Signature, folder: Path, stem: str, options: dict[str, Any]) -> Written:
    with quiet():
        litert_torch = require("litert_torch", "tflite", "TFLite export")
        converter = litert_torch
        for entry, module in ((INIT, init), (STEP, step)):
            sample = dict(zip(entry.inputs, signature.example(entry)))
            converter = converter.signature(entry.name, NamedOutputs(module, entry).eval(), sample_kwargs=sample)
        edge = converter.convert()
    path = folder / f"{stem}.tflite"
    edge.export(str(path))
    return Written({INIT.name: path.name, STEP.name: path.name}, {"signatures": [INIT.name, STEP.name], "converter": "litert-torch"})


TFLITE = register_format(ExportFormat(
    name="tflite", title="TFLite / LiteRT", suffix=".tflite", extra="tflite", modules=("litert_torch", "ai_edge_litert"),
    runtime="ai-edge-litert", entry_points="`student.tflite`, signatures `init` and `step`", write=write_tflite,
    notes="litert-torch (no TensorFlow); NCHW as in PyTorch; XNNPACK at run time",
))
