"""Space-time memory: readout by key affinity, soft aggregation of objects, fixed-slot updates.

Tensor layouts used by every model (B clips or videos, K objects, T memory frames):
    query key   ``[B, Ck, h, w]``            (h, w = H/16, W/16)
    memory keys ``[B, T, Ck, h, w]``
    values      ``[B*K, T, Cv, h, w]``       (objects of a clip are consecutive)
    readout     ``[B, K, Cv, h, w]``
All functions are pure tensor math with static shapes and at most five dimensions (Core ML's
limit), so ``torch.export`` traces them and every converter takes them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def affinity(mem_key: torch.Tensor, query_key: torch.Tensor, top_k: int | None = None) -> torch.Tensor:
    """``[B, h*w, T*h*w]``: for each query pixel, softmax over memory positions of the negative
    squared L2 distance between keys.

    As in STCN, ``-|m - q|^2 = -|m|^2 + 2 m.q - |q|^2``; the last term is constant over the
    softmax axis and dropped. Scaled by ``1/sqrt(Ck)``. Memory positions are the last axis so the
    softmax runs over the innermost dimension (XNNPACK delegates only that case).

    ``top_k``: STCN's inference (``softmax_w_top``, k = 20 in its evaluation): each query pixel keeps
    its k most similar memory positions, softmax over those, 0 elsewhere. None: every position.
    """
    batch, frames, channels, height, width = mem_key.shape
    mk = mem_key.permute(0, 2, 1, 3, 4).reshape(batch, channels, frames * height * width)  # [B, Ck, THW]
    qk = query_key.reshape(batch, channels, height * width)  # [B, Ck, HW]
    square = mk.pow(2).sum(dim=1, keepdim=True)  # [B, 1, THW]
    dot = 2 * torch.bmm(qk.transpose(1, 2), mk)  # [B, HW, THW]
    logits = (dot - square) / math.sqrt(channels)
    if top_k is not None and top_k < logits.shape[-1]:
        values, indices = logits.topk(top_k, dim=-1)
        return torch.zeros_like(logits).scatter_(-1, indices, F.softmax(values, dim=-1))
    return F.softmax(logits, dim=-1)


def readout(weights: torch.Tensor, mem_value: torch.Tensor) -> torch.Tensor:
    """Weighted sum of memory values: ``[B, HW, THW]`` x ``[B*K, T, Cv, h, w]`` -> ``[B, K, Cv, h, w]``."""
    batch = weights.shape[0]
    rows, frames, channels, height, width = mem_value.shape
    objects = rows // batch
    mv = mem_value.permute(0, 1, 3, 4, 2).reshape(batch, objects, frames * height * width, channels)
    mv = mv.permute(0, 2, 1, 3).reshape(batch, frames * height * width, objects * channels)  # [B, THW, K*Cv]
    out = torch.bmm(weights, mv).reshape(batch, height, width, objects, channels)
    return out.permute(0, 3, 4, 1, 2)


class MemoryReader(nn.Module):
    """The read-out as a module of its own (no parameters): :func:`affinity` of the query key to the memory
    keys (over the ``top_k`` best positions when given), then :func:`readout` of the values. Being a module
    names its ops in exported graphs
    (``MemoryReader_reader``): the TFLite int8 recipe keeps everything under that name in float, because
    the softmax over memory positions turns small errors in the keys' dot products into large errors
    in the weights (benchmarks/README.md, "fast", TFLite int8 accuracy)."""

    def forward(self, mem_key: torch.Tensor, query_key: torch.Tensor, mem_value: torch.Tensor,
                top_k: int | None = None) -> torch.Tensor:
        return readout(affinity(mem_key, query_key, top_k), mem_value)


def aggregate(prob: torch.Tensor, selector: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """STCN's soft aggregation of per-object probabilities ``[B, K, H, W]``.

    Background is ``prod_k (1 - p_k)``; the K+1 probabilities are turned into logits and
    renormalised with a softmax. ``selector [B, K]`` (1 = object exists) zeroes padding objects.
    Returns ``(class_logits [B, K+1, H, W], aggregated prob [B, K, H, W])``.
    """
    if selector is not None:
        prob = prob * selector[:, :, None, None]
    background = 1 - prob[:, :1]
    for k in range(1, prob.shape[1]):  # a product over the few objects (Core ML has no torch.prod)
        background = background * (1 - prob[:, k : k + 1])
    joint = torch.cat([background, prob], dim=1).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(joint / (1 - joint))
    return logits, F.softmax(logits, dim=1)[:, 1:]


def others_mask(masks: torch.Tensor) -> torch.Tensor:
    """For each object, the sum of the *other* objects' masks: ``[B, K, H, W]`` -> same shape."""
    return masks.sum(dim=1, keepdim=True) - masks


def push_slot(memory: torch.Tensor, new: torch.Tensor, dim: int, pin_first: bool) -> torch.Tensor:
    """Fixed-capacity update along the slot axis ``dim``: drop the oldest slot, append ``new``.

    ``new`` has the memory's shape without the slot axis. With ``pin_first`` slot 0 (the first
    frame) never leaves and the FIFO runs over slots 1..S-1. The result has the input's shape.
    """
    new = new.unsqueeze(dim)
    slots = memory.shape[dim]
    if pin_first and slots >= 2:
        kept = [memory.narrow(dim, 0, 1), memory.narrow(dim, 2, slots - 2)]
    else:
        kept = [memory.narrow(dim, 1, slots - 1)]
    return torch.cat([*kept, new], dim=dim)


def fill_slots(new: torch.Tensor, dim: int, slots: int) -> torch.Tensor:
    """A memory whose ``slots`` entries along ``dim`` all hold ``new`` (the state after ``init``)."""
    new = new.unsqueeze(dim)
    return new.expand(*new.shape[:dim], slots, *new.shape[dim + 1 :]).contiguous()
