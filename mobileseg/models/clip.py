"""Running a network over training clips, frame by frame through its own memory, and the losses.

Frame 0 of a clip gives the masks (or, for box-started clips, the ``init_masks`` that replace
them as the memory's input only); frames 1..T-1 are segmented from the memory, and each
prediction (soft-aggregated probabilities, with gradient) is encoded into the memory before the
next frame, exactly as the tracker does at inference. The student therefore trains with its
fixed slots and the teacher with its growing memory.

A network with a distributed encoder (TDNet) also decodes every frame from its sub-network's own
feature alone (its sub-output, read from the same memory): ``ClipOutput.sub_logits``, which
:func:`segmentation_loss` supervises with weight :data:`SUB_OUTPUT_WEIGHT` as TDNet's training
does, and its grouped distillation matches to the teacher's groups.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.models.base import KeyFeatures, MemoryNetwork
from mobileseg.models.memory import aggregate


class DecoderInputs(NamedTuple):
    """What the decoder took for frames 1..T-1, for methods that decode features of their own.

    ``segment(read[:, t], KeyFeatures(*(x[:, t] for x in feats)))`` repeats the network's own decoding
    of frame t+1 (LGD decodes its label-guided teacher features in place of ``read``).
    """

    read: torch.Tensor  # [B, T-1, K, Cv, h, w] memory readout per object (h, w = H/16, W/16), stacked over frames
    feats: KeyFeatures  # the frames' query features, each [B, T-1, C, h', w'] (views, no copies)


class ClipOutput(NamedTuple):
    """A network over clips, frames 1..T-1: what the loss and every distiller see, for the student and the teacher alike."""

    class_logits: torch.Tensor  # [B, T-1, K+1, H, W] background + objects
    features: torch.Tensor  # [B, T-1, K, Cd, H/4, W/4] decoder features
    embeddings: torch.Tensor  # [B, T-1, K, D, H/4, W/4] the representation z = network.represent(features)
    decoder_inputs: DecoderInputs
    phases: tuple[int, ...] = ()  # the step graph that segmented frames 1..T-1 (all 0 for a single-path network)
    sub_logits: torch.Tensor | None = None  # [B, T-1, K+1, H, W] distributed encoders: each frame from its sub-network alone


def _frame_features(feats: KeyFeatures, batch: int, t: int) -> KeyFeatures:
    return KeyFeatures(*(x.view(batch, -1, *x.shape[1:])[:, t] for x in feats))


class ClipRunner(nn.Module):
    """Wraps a network so one ``forward`` runs whole clips (what DDP needs to sync gradients).

    The output carries the representation z and the decoder's inputs too (:class:`ClipOutput`):
    the query features are views of the clip's one encoder pass; only the readouts are stacked
    into a new tensor (``[B, T-1, K, Cv, H/16, W/16]``, small next to the stride-4 features).
    """

    def __init__(self, model: MemoryNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, masks: torch.Tensor, selector: torch.Tensor, init_masks: torch.Tensor | None = None,
                phase: int = 0) -> ClipOutput:
        """``frames [B, T, 3, H, W]``, ``masks [B, T, K, H, W]`` (frame 0 used), ``selector [B, K]``;
        ``init_masks [B, K, H, W]``, when given, start the memory instead of ``masks[:, 0]``; ``phase``: where a
        network with several step graphs starts its schedule (:meth:`MemoryNetwork.encode_clip`)."""
        model = self.model
        batch, length = frames.shape[:2]
        clip = model.encode_clip(frames, phase)  # keys never depend on the memory: one pass over the clips
        all_feats = clip.feats
        first = _frame_features(all_feats, batch, 0)
        start = masks[:, 0] if init_masks is None else init_masks
        memory = model.start_memory(first.key, model.encode_value(frames[:, 0], first.f16, start * selector[:, :, None, None]))
        logits, features, reads, subs = [], [], [], []
        for t in range(1, length):
            feats = _frame_features(all_feats, batch, t)
            read = model.read_memory(feats.key, memory)
            seg = model.segment(read, feats)
            class_logits, prob = aggregate(torch.sigmoid(seg.logits), selector)
            logits.append(class_logits)
            features.append(seg.features)
            reads.append(read)
            if clip.own is not None:  # the sub-output: the frame from its sub-network's own feature, same memory
                own = _frame_features(clip.own, batch, t)
                subs.append(aggregate(torch.sigmoid(model.segment(model.read_memory(own.key, memory), own).logits), selector)[0])
            if t < length - 1:
                memory = model.memorize(memory, feats.key, model.encode_value(frames[:, t], feats.f16, prob))
        stacked = torch.stack(features, 1)
        z = model.represent(stacked.flatten(0, 1)).unflatten(0, stacked.shape[:2])
        later = KeyFeatures(*(x.view(batch, length, *x.shape[1:])[:, 1:] for x in all_feats))
        return ClipOutput(torch.stack(logits, 1), stacked, z, DecoderInputs(torch.stack(reads, 1), later), clip.phases,
                          torch.stack(subs, 1) if subs else None)


def pixel_losses(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.0) -> torch.Tensor:
    """Per-pixel Poly-1 loss (Leng et al., 2022) ``CE + epsilon * (1 - p_true)``: ``[N, H, W]``.

    ``logits [N, C, H, W]``, ``labels [N, H, W]`` with ``IGNORE_INDEX`` for void (loss 0 there).
    ``epsilon = 0`` is plain cross-entropy.
    """
    ce = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    if epsilon:
        p_true = torch.softmax(logits, dim=1).gather(1, labels.clamp(min=0).unsqueeze(1)).squeeze(1)
        ce = ce + epsilon * (1 - p_true) * (labels != IGNORE_INDEX)
    return ce


def poly1_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 1.0) -> torch.Tensor:
    """Mean Poly-1 loss over labelled pixels (see :func:`pixel_losses`)."""
    valid = labels != IGNORE_INDEX
    return pixel_losses(logits, labels, epsilon).sum() / valid.sum().clamp(min=1)


def bootstrapped(losses: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean of the hardest ``fraction`` of the pixel losses of each image (STCN's bootstrapped CE).

    ``losses [N, H, W]``; ``fraction = 1`` is the plain mean. Small objects are a few percent of
    a frame, so the plain mean is dominated by easy background pixels.
    """
    flat = losses.flatten(1)
    count = max(1, int(round(fraction * flat.shape[1])))
    return flat.topk(count, dim=1, sorted=False).values.mean()


SUB_OUTPUT_WEIGHT = 0.5  # TDNet's official training: loss(out) + 0.5 loss(out_sub), out_sub a sub-network's own output


def segmentation_loss(output: ClipOutput, labels: torch.Tensor, epsilon: float = 0.0, top_fraction: float = 1.0) -> dict[str, torch.Tensor]:
    """Named loss terms and ``total`` for frames 1..T-1 of ``labels [B, T, H, W]``: ``seg``, and for a distributed
    encoder ``sub_seg``, the same loss of its sub-outputs weighted by :data:`SUB_OUTPUT_WEIGHT`."""
    seg = logits_loss(output.class_logits, labels, epsilon, top_fraction)
    terms = {"seg": seg}
    if output.sub_logits is not None:
        terms["sub_seg"] = SUB_OUTPUT_WEIGHT * logits_loss(output.sub_logits, labels, epsilon, top_fraction)
    terms["total"] = sum(terms.values(), torch.zeros((), device=seg.device))
    return terms


def logits_loss(class_logits: torch.Tensor, labels: torch.Tensor, epsilon: float = 0.0, top_fraction: float = 1.0) -> torch.Tensor:
    """The segmentation loss of ``class_logits [B, T-1, K+1, H, W]`` against frames 1..T-1 of ``labels [B, T, H, W]``:
    Poly-1 with ``epsilon``, over the hardest ``top_fraction`` of each frame's pixels."""
    logits = class_logits.flatten(0, 1)
    target = labels[:, 1:].flatten(0, 1)
    if top_fraction < 1.0:
        return bootstrapped(pixel_losses(logits, target, epsilon), top_fraction)
    return poly1_cross_entropy(logits, target, epsilon)
