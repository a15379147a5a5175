"""Load an official STCN checkpoint (``stcn.pth`` from the STCN authors) into the teacher.

``stcn.pth`` is a bare state dict of STCN's ``model/eval_network.py`` network (github.com/
hkchengrex/STCN; ``tests/fixtures/stcn_state_shapes.json`` lists its 405 names and shapes). The
teacher has the same parameters with the same shapes (54,434,180 parameters); two names differ,
because our networks share one layout (the fuser beside the value encoder, torchvision's stage
name ``layer1``), and are mapped here:

    key_encoder.res2.*       -> key_encoder.layer1.*      (ResNet-50 stage 1)
    value_encoder.fuser.*    -> fuser.*                   (the fusion block, CBAM included)

Also accepted: a ``module.`` prefix (a network saved from DataParallel/DistributedDataParallel),
STCN's training checkpoint (``{"it", "network", "optimizer", "scheduler"}``), batch-norm
``num_batches_tracked`` counters left out (set to 0), and a 4-channel ``value_encoder.conv1.weight``
(STCN's single-object stage 0; the "other objects" filters start at zero, as STCN's
``eval_davis.py`` does). Anything else that does not fit is refused with the keys named.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mobileseg.models.teacher import STCNTeacher, TeacherWeightsError, state_mismatch, stcn_r50_r18

__all__ = ["RENAMES", "TeacherWeightsError", "from_stcn_names", "load_stcn", "to_stcn_names"]

RENAMES = (("key_encoder.res2.", "key_encoder.layer1."), ("value_encoder.fuser.", "fuser."))


def from_stcn_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """STCN's parameter names and shapes -> this teacher's."""
    mapped = {}
    for name, value in state.items():
        name = name.removeprefix("module.")
        for old, new in RENAMES:
            if name.startswith(old):
                name = new + name[len(old):]
        mapped[name] = value
    conv = mapped.get("value_encoder.conv1.weight")
    if conv is not None and conv.shape[1] == 4:  # single-object STCN: add the other-objects channel
        mapped["value_encoder.conv1.weight"] = torch.cat([conv, conv.new_zeros(conv.shape[0], 1, *conv.shape[2:])], 1)
    return mapped


def to_stcn_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse mapping (for writing a teacher in STCN's format)."""
    mapped = {}
    for name, value in state.items():
        for old, new in RENAMES:
            if name.startswith(new):
                name = old + name[len(new):]
        mapped[name] = value
    return mapped


def load_stcn(path: str | os.PathLike[str]) -> STCNTeacher:
    """The full-size teacher with the weights of an official STCN checkpoint."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - a corrupt file fails in many ways (zip, pickle, struct, ...)
        raise TeacherWeightsError(f"cannot read {path} as STCN weights: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict) and "network" in state and isinstance(state["network"], dict):
        state = state["network"]  # STCN's training checkpoint (it, network, optimizer, scheduler)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TeacherWeightsError(f"{path} is not a state dict of tensors (STCN's stcn.pth is one).")
    teacher = stcn_r50_r18()
    own = teacher.state_dict()
    mapped = from_stcn_names(state)
    for name, value in own.items():  # counters only: files saved without them are still complete
        if name.endswith(".num_batches_tracked") and name not in mapped:
            mapped[name] = torch.zeros_like(value)
    problem = state_mismatch(own, mapped)
    if problem is not None:
        raise TeacherWeightsError(
            f"{path} does not fit the STCN teacher (stcn_r50_r18) under STCN's names. {problem} Pass STCN's own "
            "stcn.pth (from the STCN authors) or a teacher checkpoint written by `mobileseg train`."
        )
    teacher.load_state_dict(mapped)
    teacher.eval()
    return teacher
