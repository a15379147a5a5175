"""Running a network over training clips, frame by frame through its own memory, and the losses.

Frame 0 of a clip gives the masks; frames 1..T-1 are segmented from the memory, and each
prediction (soft-aggregated probabilities, with gradient) is encoded into the memory before the
next frame, exactly as the tracker does at inference. The student therefore trains with its
fixed slots and the teacher with its growing memory.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.models.base import KeyFeatures, MemoryNetwork
from mobileseg.models.memory import aggregate


class ClipOutput(NamedTuple):
    class_logits: torch.Tensor  # [B, T-1, K+1, H, W] background + objects, frames 1..T-1
    features: torch.Tensor  # [B, T-1, K, Cd, H/4, W/4] decoder features (for representations)


def _frame_features(feats: KeyFeatures, batch: int, t: int) -> KeyFeatures:
    return KeyFeatures(*(x.view(batch, -1, *x.shape[1:])[:, t] for x in feats))


class ClipRunner(nn.Module):
    """Wraps a network so one ``forward`` runs whole clips (what DDP needs to sync gradients)."""

    def __init__(self, model: MemoryNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, masks: torch.Tensor, selector: torch.Tensor) -> ClipOutput:
        """``frames [B, T, 3, H, W]``, ``masks [B, T, K, H, W]`` (frame 0 used), ``selector [B, K]``."""
        model = self.model
        batch, length = frames.shape[:2]
        all_feats = model.encode_key(frames.flatten(0, 1))  # keys never depend on memory: one pass
        first = _frame_features(all_feats, batch, 0)
        memory = model.start_memory(first.key, model.encode_value(frames[:, 0], first.f16, masks[:, 0] * selector[:, :, None, None]))
        logits, features = [], []
        for t in range(1, length):
            feats = _frame_features(all_feats, batch, t)
            seg = model.segment(model.read_memory(feats.key, memory), feats)
            class_logits, prob = aggregate(torch.sigmoid(seg.logits), selector)
            logits.append(class_logits)
            features.append(seg.features)
            if t < length - 1:
                memory = model.memorize(memory, feats.key, model.encode_value(frames[:, t], feats.f16, prob))
        return ClipOutput(torch.stack(logits, 1), torch.stack(features, 1))


def poly1_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 1.0) -> torch.Tensor:
    """Poly-1 loss (Leng et al., 2022): ``CE + epsilon * (1 - p_true)``, mean over labelled pixels.

    ``logits [N, C, H, W]``, ``labels [N, H, W]`` with ``IGNORE_INDEX`` for void. ``epsilon = 0``
    is plain cross-entropy.
    """
    ce = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    valid = labels != IGNORE_INDEX
    if epsilon:
        p_true = torch.softmax(logits, dim=1).gather(1, labels.clamp(min=0).unsqueeze(1)).squeeze(1)
        ce = ce + epsilon * (1 - p_true)
    return (ce * valid).sum() / valid.sum().clamp(min=1)


def segmentation_loss(output: ClipOutput, labels: torch.Tensor, epsilon: float = 0.0) -> dict[str, torch.Tensor]:
    """Named loss terms and ``total`` for frames 1..T-1 of ``labels [B, T, H, W]``."""
    logits = output.class_logits.flatten(0, 1)
    target = labels[:, 1:].flatten(0, 1)
    seg = poly1_cross_entropy(logits, target, epsilon)
    return {"seg": seg, "total": seg}
