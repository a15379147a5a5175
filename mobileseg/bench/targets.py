"""What ``mobileseg bench --model`` accepts: an exported file (any runtime) or a checkpoint (eager PyTorch).

An exported file is recognised by its contract (``<file>.json``); its runtime, input size and
parameter count come from there. A ``mobileseg train`` checkpoint runs in eager PyTorch at the
size asked for (students and teachers alike; a teacher's memory grows with the frame index).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from mobileseg.artifact.contract import contract_path, load_contract
from mobileseg.errors import ConfigError
from mobileseg.models import ROLES
from mobileseg.sources import TrackerSource, artifact_source, checkpoint_source

CHECKPOINT_SUFFIXES = (".pt", ".pth")


@dataclass(frozen=True)
class BenchTarget:
    """One model to time: where it is, how to make trackers over it and what the tables say about it."""

    path: Path
    name: str  # e.g. "mobilevos_r18_mv2"
    format: str  # tflite | onnx | executorch | pytorch
    role: str  # student | teacher
    size: tuple[int, int]  # the input H, W it runs at
    file_bytes: int
    params: int
    source: TrackerSource


def kind_of(path: str | os.PathLike[str]) -> str:
    """``checkpoint`` or ``artifact``; ConfigError for anything else, saying what is accepted."""

    path = Path(path)
    if path.suffix in CHECKPOINT_SUFFIXES:
        return "checkpoint"
    if contract_path(path).is_file():
        return "artifact"
    if not path.exists():
        raise ConfigError(f"--model {path}: no such file. Give an exported file (student.tflite, student.pte, student.onnx, "
                          "each with its .json contract beside it) or a checkpoint (RUN/best.pt).")
    raise ConfigError(f"--model {path} is neither a checkpoint (.pt) nor an exported file with its contract "
                      f"({contract_path(path).name} is missing). Export it with `mobileseg export`, or pass RUN/best.pt.")


def open_target(path: str | os.PathLike[str], threads: int, size: tuple[int, int]) -> BenchTarget:
    """Load ``path`` for timing; checkpoints run at ``size``, exported files at their own size."""
    path = Path(path)
    if kind_of(path) == "checkpoint":


        torch.set_num_threads(threads)
        source = checkpoint_source(path)
        return BenchTarget(path, source.name, "pytorch", ROLES[source.name], size, path.stat().st_size, source.params, source)

    source = artifact_source(path, threads)
    contract = load_contract(path)
    name = contract.data.get("model", {}).get("name", "student")
    return BenchTarget(path, name, contract.target, "student", contract.size, source.file_bytes or 0, source.params, source)
