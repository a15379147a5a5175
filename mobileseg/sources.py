"""Where trackers come from: a training checkpoint (PyTorch), a baseline, later exported files.

``load_tracker(...)`` returns a :class:`TrackerSource`: a factory that makes one tracker per
object, plus what the tables report about it (name, parameter count, input alignment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from mobileseg.checkpoint import model_from_checkpoint
from mobileseg.models import NetworkTracker, count_parameters
from mobileseg.models.footprint import check_fits
from mobileseg.runtime import open_runtime
from mobileseg.tracker import CopyFirstMaskTracker, TrackerFactory


@dataclass(frozen=True)
class TrackerSource:
    name: str
    make: TrackerFactory
    params: int
    multiple: int  # input sides must be multiples of this (16 for the networks)
    size: tuple[int, int] | None = None  # the one input size an exported file takes
    file_bytes: int | None = None
    model: Any = None  # the PyTorch network behind a checkpoint source (for the memory check of a --size)

    def check_size(self, size: tuple[int, int] | None, override: bool = False) -> None:
        """ConfigError when ``size`` would not fit in this machine's memory (PyTorch sources; see models.footprint)."""
        if size is not None and self.model is not None and not override:

            check_fits(self.model, size)


def checkpoint_source(path: str | os.PathLike[str], objects: int | None = None) -> TrackerSource:
    """A PyTorch tracker over the network stored in a ``mobileseg train`` checkpoint; one state
    follows every object that starts on a frame, or ``objects`` of them (as a file exported with
    that ``--objects`` does)."""

    model, payload = model_from_checkpoint(path)
    name = payload["model"] if objects is None else f"{payload['model']} ({objects} object/state)"
    return TrackerSource(name, lambda: NetworkTracker(model, objects), count_parameters(model), 16, model=model)


def artifact_source(path: str | os.PathLike[str], threads: int = 2) -> TrackerSource:
    """A tracker over an exported file in its runtime (onnxruntime, ai-edge-litert, executorch)."""

    runtime = open_runtime(path, threads)
    contract = runtime.contract
    files = {contract.file(entry) for entry in contract.data["files"]}
    size = sum(f.stat().st_size for f in files if f.is_file())
    name = f"{contract.data.get('model', {}).get('name', 'student')} ({contract.target})"
    return TrackerSource(name, runtime.tracker, int(contract.data.get("model", {}).get("params", 0)), 16, contract.size, size)


def baseline_source() -> TrackerSource:
    return TrackerSource(CopyFirstMaskTracker.name, CopyFirstMaskTracker, 0, 1)
