"""The export targets' names, titles and file suffixes: what a path tells about the file behind it.

The one table every layer reads (the export formats take their title and suffix from it; the
checkpoint loader uses it to tell a user who passed an exported file where a checkpoint is needed).
A new export target adds its row here and its format under ``mobileseg/export/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TargetFiles:
    name: str  # what --target takes
    title: str
    suffix: str  # what the user passes to verify/eval/run: <stem><suffix>, its contract <stem><suffix>.json


TARGETS: dict[str, TargetFiles] = {t.name: t for t in (
    TargetFiles("onnx", "ONNX", ".onnx"),
    TargetFiles("tflite", "TFLite / LiteRT", ".tflite"),
    TargetFiles("executorch", "ExecuTorch", ".pte"),
    TargetFiles("coreml", "Core ML", ".mlpackage"),
)}


def exported_target(path: str | os.PathLike[str]) -> TargetFiles | None:
    """The target whose exported file (or contract) ``path`` is named like, if any."""
    name = Path(path).name.lower()
    for target in TARGETS.values():
        if name.endswith((target.suffix, f"{target.suffix}.json")):
            return target
    return None
