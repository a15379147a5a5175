"""Checkpoints: written atomically, read with ``weights_only=True``, checked for the right model.

A checkpoint is a plain dict of tensors and Python literals (so ``torch.load(weights_only=True)``
accepts it):

    format: "mobileseg.checkpoint", version: 1
    model: registry name, role: student | teacher, model_kwargs: {...}
    model_state: the network's state dict
    train: {config, step, optimizer, rng, best, history}   (absent in exported-only weights)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mobileseg.errors import MobilesegError
from mobileseg.models import ROLES, build_model
from mobileseg.models.base import MemoryNetwork
from mobileseg.utils.fsio import atomic_path

FORMAT = "mobileseg.checkpoint"
VERSION = 1


class CheckpointError(MobilesegError):
    """A checkpoint is missing, unreadable, from another program or for another model."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a mobileseg checkpoint safely (``weights_only=True``); CheckpointError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}. Pass a file written by `mobileseg train` (RUN_DIR/best.pt or last.pt).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails in many ways (zip, pickle, struct, ...)
        raise CheckpointError(
            f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}. The file is corrupt, truncated "
            "or not a PyTorch checkpoint; use RUN_DIR/last.pt or train again."
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a mobileseg checkpoint (no format marker '{FORMAT}'). For an official "
            "STCN file use the teacher loader; otherwise pass a file written by `mobileseg train`."
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}; this mobileseg reads version {VERSION}.")
    return payload


def model_from_checkpoint(path: str | os.PathLike[str], role: str | None = None) -> tuple[MemoryNetwork, dict[str, Any]]:
    """Rebuild the network stored in ``path``; with ``role``, refuse a checkpoint of the other role."""
    payload = load_checkpoint(path)
    name = payload["model"]
    if role is not None and ROLES.get(name) != role:
        raise CheckpointError(
            f"{path} holds {ROLES.get(name, 'unknown')} model {name!r}, but a {role} is needed here. "
            f"Pass a checkpoint of a {role} (models: {', '.join(n for n, r in ROLES.items() if r == role)})."
        )
    model = build_model(name, **payload.get("model_kwargs", {}))
    model.load_state_dict(payload["model_state"])
    return model.eval(), payload


def load_teacher(path: str | os.PathLike[str]) -> tuple[MemoryNetwork, str]:
    """A frozen teacher from a ``mobileseg train`` teacher checkpoint or an official STCN ``stcn.pth``.

    Returns the network (eval mode, no gradients) and its registry name.
    """
    from mobileseg.models.stcn_weights import load_stcn

    try:
        payload = load_checkpoint(path)
    except CheckpointError as exc:
        if "not a mobileseg checkpoint" not in str(exc):
            raise
        model, name = load_stcn(path), "stcn_r50_r18"
    else:
        if payload.get("role") != "teacher":
            raise CheckpointError(f"--teacher {path} holds {payload.get('role')} model {payload.get('model')!r}; "
                                  "the teacher must be a teacher checkpoint (mobileseg train --model stcn_*) or STCN's stcn.pth.")
        model, _ = model_from_checkpoint(path, role="teacher")
        name = payload["model"]
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.eval(), name
