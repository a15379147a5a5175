"""Load an official STCN checkpoint (``stcn.pth`` from the STCN authors) into the teacher.

STCN's parameter names (its public ``model/network.py`` and ``model/modules.py``) differ from
ours in three places, mapped here:

    key_encoder.res2.*       -> key_encoder.layer1.*      (ResNet-50 stage 1)
    value_encoder.fuser.*    -> fuser.*                   (the value/key fusion block)
    value_encoder.conv1.weight with 4 input channels (STCN's single-object stage) -> 5 channels,
                             the "other objects" filters start at zero

Everything else (key_proj.key_proj, key_comp, value_encoder.conv1/bn1/layer1-3, decoder.compress,
decoder.up_16_8, decoder.up_8_4, decoder.pred) has the same name and shape. A ``module.`` prefix
(saved from DistributedDataParallel) is stripped.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from mobileseg.errors import MobilesegError
from mobileseg.models.teacher import STCNTeacher, stcn_r50_r18

RENAMES = (("key_encoder.res2.", "key_encoder.layer1."), ("value_encoder.fuser.", "fuser."))


class TeacherWeightsError(MobilesegError):
    """A file meant as teacher weights does not fit the teacher."""


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
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    wrong = sorted(k for k in set(own) & set(mapped) if own[k].shape != mapped[k].shape)
    if missing or unexpected or wrong:
        def show(keys: list[str]) -> str:
            return ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "") if keys else "none"

        raise TeacherWeightsError(
            f"{path} does not fit the STCN teacher (stcn_r50_r18). Missing keys: {show(missing)}. Unexpected keys: "
            f"{show(unexpected)}. Shape mismatches: {show(wrong)}. Pass STCN's own stcn.pth (from the STCN authors) "
            "or a teacher checkpoint written by `mobileseg train`."
        )
    teacher.load_state_dict(mapped)
    return teacher.eval()
