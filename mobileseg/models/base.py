"""What the student and the teacher share: a space-time memory network in named steps.

    feats  = net.encode_key(frame)                        # query key + decoder features
    values = net.encode_value(frame, feats.f16, masks)    # one value per object
    memory = net.start_memory(feats.key, values)          # first frame
    read   = net.read_memory(feats.key, memory)           # later frames
    seg    = net.segment(read, feats)                     # logits + features for Z
    memory = net.memorize(memory, feats.key, values)      # the memory policy (per network)

Shapes: frames ``[B, 3, H, W]`` in [0, 1] (ImageNet normalisation happens inside), masks and
logits ``[B, K, H, W]``, keys ``[B, Ck, h, w]`` with h, w = H/16, W/16. Training runs these
steps over clips; ``init``/``step`` (the tracker protocol) run them over one video.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.models.memory import MemoryReader, aggregate, others_mask

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 16  # input sides must be multiples of this


class KeyFeatures(NamedTuple):
    key: torch.Tensor  # [B, Ck, h, w]
    thin: torch.Tensor  # [B, Cq, h, w] compressed f16 for the decoder
    f16: torch.Tensor
    f8: torch.Tensor
    f4: torch.Tensor


class ClipFeatures(NamedTuple):
    """What :meth:`MemoryNetwork.encode_clip` gives for training clips ``[B, T, 3, H, W]``; tensors flattened ``[B*T, ...]``."""

    feats: KeyFeatures  # every frame's query features, as the tracker computes them
    phases: tuple[int, ...]  # the step graph (``step_phase``) that segments frames 1..T-1; all 0 for a single-path network
    own: KeyFeatures | None = None  # distributed encoders: every frame from its sub-network's own stride-16 feature, unfused


class Memory(NamedTuple):
    keys: torch.Tensor  # [B, T, Ck, h, w]
    values: torch.Tensor  # [B*K, T, Cv, h, w], the K objects of each clip consecutive


class Segmentation(NamedTuple):
    logits: torch.Tensor  # [B, K, H, W] per-object mask logits
    features: torch.Tensor  # [B, K, Cd, H/4, W/4] decoder features before the last conv


class Decoder(nn.Module):
    """``(readout + query features at stride 16, f8, f4)`` -> ``(logits, features)`` at stride 4; ``out_dim``: the features' width."""

    out_dim: int


class MemoryNetwork(nn.Module):
    """Base of the student and the teacher. Subclasses build the modules and the memory policy.

    Subclasses set: ``key_encoder`` (trunk -> f16, f8, f4), ``key_proj``, ``key_comp``,
    ``value_encoder`` (trunk -> f16), ``fuser``, ``decoder`` and ``embed`` (or None), and
    implement ``start_memory``/``memorize``.
    """

    key_encoder: nn.Module
    key_proj: nn.Module
    key_comp: nn.Module
    value_encoder: nn.Module
    fuser: nn.Module
    decoder: Decoder
    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor
    embed: nn.Module | None

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pixel_mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.reader = MemoryReader()  # no parameters: a name scope for the read-out's ops in exported graphs

    # --- the named steps -------------------------------------------------------------------
    def normalize(self, frame: torch.Tensor) -> torch.Tensor:
        return (frame - self.pixel_mean) / self.pixel_std

    def encode_key(self, frame: torch.Tensor) -> KeyFeatures:
        f16, f8, f4 = self.key_encoder(self.normalize(frame))
        return KeyFeatures(self.key_proj(f16), self.key_comp(f16), f16, f8, f4)

    def encode_clip(self, frames: torch.Tensor, phase: int = 0) -> ClipFeatures:
        """Features of every frame of training clips ``[B, T, 3, H, W]``, flattened ``[B*T, ...]``.

        Keys never depend on the memory, so one batched pass; a network whose encoder has state of
        its own over frames (TDNet's sub-networks and attention propagation) follows it here.
        ``phase``: where in its schedule of step graphs such a network starts the clip (frame 1
        runs entry ``phase mod phases``); a single-path network ignores it.
        """
        return ClipFeatures(self.encode_key(frames.flatten(0, 1)), (0,) * (frames.shape[1] - 1))

    def encode_value(self, frame: torch.Tensor, key_f16: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``[B, 3, H, W]``, ``[B, C16, h, w]``, masks ``[B, K, H, W]`` -> values ``[B, K, Cv, h, w]``.

        Each object is encoded from the frame, its own mask and the sum of the other objects'.
        """
        batch, objects = masks.shape[:2]
        image = self.normalize(frame).unsqueeze(1).expand(-1, objects, -1, -1, -1)
        inputs = torch.cat([image, masks.unsqueeze(2), others_mask(masks).unsqueeze(2)], dim=2)
        x = self.value_encoder(inputs.flatten(0, 1))
        f16 = key_f16.unsqueeze(1).expand(-1, objects, -1, -1, -1).flatten(0, 1)
        values = self.fuser(x, f16)
        return values.view(batch, objects, *values.shape[1:])

    def read_memory(self, key: torch.Tensor, memory: Memory) -> torch.Tensor:
        """Readout ``[B, K, Cv, h, w]`` of ``memory`` for the query ``key [B, Ck, h, w]``."""
        return self.reader(memory.keys, key, memory.values)

    def segment(self, read: torch.Tensor, feats: KeyFeatures) -> Segmentation:
        """Decode per-object mask logits at full resolution from the memory readout."""
        batch, objects = read.shape[:2]

        def per_object(x: torch.Tensor) -> torch.Tensor:
            return x.unsqueeze(1).expand(-1, objects, -1, -1, -1).flatten(0, 1)

        x = torch.cat([read.flatten(0, 1), per_object(feats.thin)], dim=1)
        logits, features = self.decoder(x, per_object(feats.f8), per_object(feats.f4))
        size = (feats.f4.shape[-2] * 4, feats.f4.shape[-1] * 4)
        logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return Segmentation(logits.view(batch, objects, *size), features.view(batch, objects, *features.shape[1:]))

    def represent(self, features: torch.Tensor) -> torch.Tensor:
        """Per-pixel representation Z ``[B, K, D, H/4, W/4]`` for distillation (not normalised)."""
        if self.embed is None:
            return features
        batch, objects = features.shape[:2]
        z = self.embed(features.flatten(0, 1))
        return z.view(batch, objects, *z.shape[1:])

    @property
    def representation_dim(self) -> int:
        """The width D of :meth:`represent`'s output: the embedding layer's, or the decoder's features'."""
        if self.embed is None:
            return int(self.decoder.out_dim)
        width = getattr(self.embed, "out_channels", None) or getattr(self.embed, "out_features", None)
        if width is None:
            raise TypeError(f"cannot tell the representation width of {type(self).__name__}: its embed layer "
                            f"{type(self.embed).__name__} has no out_channels/out_features")
        return int(width)

    # --- the tracker entry points: explicit state (mobileseg.tracker) --------------------------
    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``frame [1, 3, H, W]``, ``mask [K, 1, H, W]`` -> the state the first frame leaves."""
        raise NotImplementedError(f"{type(self).__name__} does not implement init")

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame: ``prob [K, 1, H, W]`` and the updated state."""
        raise NotImplementedError(f"{type(self).__name__} does not implement step")

    def fast_forward(self, state: tuple[torch.Tensor, ...], frame: int) -> tuple[torch.Tensor, ...]:
        """``state`` grown to the size it has before ``frame`` (to time late frames); fixed-size states are kept."""
        return state

    # --- the memory policy -----------------------------------------------------------------
    def start_memory(self, key: torch.Tensor, values: torch.Tensor) -> Memory:
        raise NotImplementedError

    def memorize(self, memory: Memory, key: torch.Tensor, values: torch.Tensor) -> Memory:
        raise NotImplementedError

    # --- one frame of a video, shared by training and trackers --------------------------------
    def predict(self, frame: torch.Tensor, memory: Memory, selector: torch.Tensor | None = None) -> tuple[KeyFeatures, Segmentation, torch.Tensor, torch.Tensor]:
        """Segment ``frame`` from ``memory``: features, segmentation, class logits, aggregated prob."""
        feats = self.encode_key(frame)
        seg = self.segment(self.read_memory(feats.key, memory), feats)
        class_logits, prob = aggregate(torch.sigmoid(seg.logits), selector)
        return feats, seg, class_logits, prob
