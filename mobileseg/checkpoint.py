"""Checkpoints: written atomically, read with ``weights_only=True``, checked for the right model.

A checkpoint is a plain dict of tensors and Python literals (so ``torch.load(weights_only=True)``
accepts it):

    format: "mobileseg.checkpoint", version: 1
    model: registry name, role: student | teacher, model_kwargs: {...}
    model_state: the network's state dict
    train: {config, step, optimizer, rng, best, history, distiller}   (absent in exported-only weights)

``train.distiller`` (last.pt only) is the distiller's state dict: its trainable head and its
buffers (memory banks), so ``--resume`` continues with them. It is empty for parameterless
methods and absent in checkpoints written before distillers could hold state; it is never part
of ``model_state``, so nothing built from a checkpoint (eval, export) carries distiller weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mobileseg.artifact.targets import exported_target
from mobileseg.errors import MobilesegError
from mobileseg.models import ROLES, build_model
from mobileseg.models.base import MemoryNetwork
from mobileseg.models.spec import Student
from mobileseg.models.stcn_weights import load_stcn
from mobileseg.utils.fsio import atomic_path, save_failed

FORMAT = "mobileseg.checkpoint"
VERSION = 1


class CheckpointError(MobilesegError):
    """A checkpoint is missing, unreadable, from another program or for another model."""


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temp file + fsync + rename)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            torch.save({"format": FORMAT, "version": VERSION, **payload}, tmp)
        except RuntimeError as exc:  # the zip writer's "unexpected pos" on a full disk
            raise save_failed(path, exc) from None
    return path


WRITTEN_BY = "Pass a file written by `mobileseg train` or `mobileseg distill` (RUN_DIR/best.pt or last.pt)."


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a mobileseg checkpoint safely (``weights_only=True``); CheckpointError otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}. {WRITTEN_BY}")
    exported = exported_target(path)
    if exported is not None:
        raise CheckpointError(
            f"{path} is an exported model ({exported.title}), not a PyTorch checkpoint. `mobileseg run` and `mobileseg eval` "
            f"take it with --model {path}; `mobileseg verify {path}` re-checks it. --checkpoint takes the checkpoint it "
            "was exported from (RUN_DIR/best.pt)."
        )
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): it was not written completely (a full disk, an "
                              f"interrupted copy?). {WRITTEN_BY}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails in many ways (zip, pickle, struct, ...)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
        raise CheckpointError(
            f"cannot read checkpoint {path} ({reason}): the file is corrupt, truncated or not a PyTorch checkpoint. "
            f"{WRITTEN_BY}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a mobileseg checkpoint (no format marker '{FORMAT}'). For an official "
            "STCN file use the teacher loader; otherwise pass a file written by `mobileseg train`."
        )
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint version {payload.get('version')}; this mobileseg reads version {VERSION}.")
    if not isinstance(payload.get("model"), str) or not isinstance(payload.get("model_state"), dict):
        raise CheckpointError(f"{path} has the mobileseg marker but no model name or no model_state dict; it was not "
                              f"written by mobileseg. {WRITTEN_BY}")
    return payload


def _listed(keys: list[str], shown: int = 3) -> str:
    more = f" (+{len(keys) - shown} more)" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def _shape(value: Any) -> str:
    return str(list(value.shape)) if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"


def _mismatches(expected: dict[str, Any], state: dict[str, Any]) -> list[str]:
    """Missing, unexpected and reshaped keys of ``state`` against ``expected``, a few of each."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    reshaped = [f"{key} (file {_shape(state[key])}, model {_shape(expected[key])})" for key in expected
                if key in state and _shape(state[key]) != _shape(expected[key])]
    return [f"{label}: {_listed(keys)}" for label, keys in
            (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", reshaped)) if keys]


def load_model_state(model: torch.nn.Module, state: dict[str, Any], name: str, path: str | os.PathLike[str]) -> None:
    """``model.load_state_dict(state)``, or a CheckpointError naming a few offending keys and the model."""
    problems = _mismatches(model.state_dict(), state)
    if problems and type(model).load_state_dict is not torch.nn.Module.load_state_dict:
        try:  # a model that explains its own mismatches (the teacher: weights from before its STCN layout)
            model.load_state_dict(state)
        except MobilesegError as exc:
            raise type(exc)(f"{path}: {exc}") from None
    if problems:
        raise CheckpointError(
            f"{path} does not fit model {name!r}: {'; '.join(problems)}. The weights belong to another architecture or "
            f"were edited by hand. {WRITTEN_BY}"
        )
    model.load_state_dict(state)


def load_distiller_state(distiller: torch.nn.Module, state: dict[str, Any] | None, name: str, path: str | os.PathLike[str]) -> None:
    """Restore a distiller's head and banks from ``train["distiller"]`` of ``path``.

    ``state`` None (a checkpoint written before distillers held state) is fine for a method
    without state; otherwise, and for a state that does not fit, a CheckpointError naming the file.
    """
    expected = distiller.state_dict()
    if state is None:
        if expected:
            raise CheckpointError(
                f"{path} holds no distiller state, but --distiller {name} keeps some ({_listed(sorted(expected))}), so the "
                f"run cannot continue as it would have. The file predates stateful distillers or was edited; start a new run "
                f"with another --out."
            )
        return
    problems = _mismatches(expected, state)
    if problems:
        raise CheckpointError(
            f"{path}: the stored state of --distiller {name} does not fit it: {'; '.join(problems)}. The file was written by "
            f"another version of mobileseg or edited by hand; start a new run with another --out."
        )
    distiller.load_state_dict(state)


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
    load_model_state(model, payload["model_state"], name, path)
    return model.eval(), payload


def student_from_checkpoint(path: str | os.PathLike[str]) -> tuple[Student, dict[str, Any]]:
    """:func:`model_from_checkpoint` for the student role: the network is a :class:`Student` (exportable)."""
    model, payload = model_from_checkpoint(path, role="student")
    if not isinstance(model, Student):  # register_model checks every student's class; a guard for the type
        raise CheckpointError(f"{path} holds {payload['model']!r}, which is registered as a student but is not a Student network")
    return model, payload


def load_teacher(path: str | os.PathLike[str]) -> tuple[MemoryNetwork, str]:
    """A frozen teacher from a ``mobileseg train`` teacher checkpoint or an official STCN ``stcn.pth``.

    Returns the network (eval mode, no gradients) and its registry name.
    """
    model: MemoryNetwork
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
