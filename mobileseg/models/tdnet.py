"""The TDNet student: the MobileVOS student with a temporally distributed query encoder (after Hu et
al., "Temporally Distributed Networks for Fast Video Semantic Segmentation", CVPR 2020).

The ResNet-18 query encoder is split into m shallow sub-networks, each with 1/m of its channels
(``subnets``, m = 2 or 4). Frame 0 (``init``) runs all of them; every later frame runs only one,
round-robin: step j (frame j, j >= 1) runs sub-network (j - 1) mod m. An attention propagation
module (APM) fuses the current sub-network's stride-16 feature with those the other m-1 ran on
the last m-1 frames, so every frame's feature draws on all m sub-networks, and the fused feature
takes the place of the full encoder's f16 (memory key, decoder query, value-encoder fusion). The
skips (strides 8 and 4) come from the current sub-network alone. Memory readout, decoder and
value encoder are the plain student's, with its two slots.

APM (from TDNet: Hu et al., "Temporally Distributed Networks for Fast Video Semantic Segmentation", CVPR 2020; names as in the paper). Sub-network i's feature f gives
``q = Q_i f``, ``k = K_i f`` (width ``apm_key_dim``) and ``v = V_i f`` (the full f16 width), each a
1x1 conv. Past frames keep (q, k, v) average-pooled by ``apm_stride`` in a FIFO of m-1 entries,
oldest first; the current frame's q and v stay at stride 16. Attention is chained between
neighbouring entries, then from the current frame to the newest::

    v'_1 = v_1;   v'_p = phi(softmax(q_p k_{p-1}^T / sqrt(d_k)) v'_{p-1}) + v_p
    V'_t = phi(softmax(Q_t k_{m-1}^T / sqrt(d_k)) v'_{m-1}) + V_t        (phi: shared 1x1 conv)

Explicit state (all fixed-shape, fed back every frame like the memory)::

    mem_key [1, S, Ck, h, w], mem_value [K, S, Cv, h, w]         the two-slot memory
    apm_query [1, m-1, d_k, h', w'], apm_key [1, m-1, d_k, h', w'], apm_value [1, m-1, C16, h', w']
    phase [1]   which sub-network the next step runs (0..m-1), as a float

``init`` fills the FIFO with frame 0 as seen by sub-networks 1..m-1 and sets the phase to 0, so the
first step (sub-network 0) fuses every sub-network; each step then replaces the entry of the
sub-network it ran. Training (:meth:`encode_clip`) follows the same schedule over a clip, started
at the entry the training loop gives (the step number mod m), so that every sub-network is the
frame's main path equally often whatever the clip length: frame 0's FIFO then holds it as
sub-networks p+1..p+m-1 see it, the order a running video holds them in when sub-network p runs.
Training also decodes every frame from its sub-network's own value V_t alone (the sub-output,
TDNet's ``head(V_i)``), supervised with weight 0.5 and matched by the grouped distillation.

Where the APM departs from the official code (``feinanshan/TDNet``): past frames are average-pooled
(official: every third pixel); Q, K and V are one 1x1 conv each (official: Q and K two, with BN
between); one φ for every attention of the chain (official: one per pair of sub-networks); no
dropout; no LayerNorm before the head (the official one is tied to a fixed 97x193 feature map).
The exported step graphs and their state depend on these; no measurement here favours the others.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.models.backbones import Trunk, resnet_trunk
from mobileseg.models.base import ClipFeatures, KeyFeatures, Memory
from mobileseg.models.memory import aggregate
from mobileseg.models.registry import register_model
from mobileseg.models.spec import PHASE, StateTensor, StudentSpec
from mobileseg.models.student import MobileVOSStudent

Queue = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # (q, k, v), each [B, m-1, C, h', w']


def attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d_k)) v``: ``q [B, d, h, w]``, ``k [B, d, h', w']``, ``v [B, C, h', w']`` -> ``[B, C, h, w]``."""
    batch, dim, height, width = query.shape
    weights = torch.bmm(query.flatten(2).transpose(1, 2), key.flatten(2)) / math.sqrt(dim)  # [B, hw, h'w']
    out = torch.bmm(F.softmax(weights, dim=-1), value.flatten(2).transpose(1, 2))  # [B, hw, C]
    return out.transpose(1, 2).reshape(batch, value.shape[1], height, width)


class AttentionPropagation(nn.Module):
    """The APM: per-sub-network 1x1 projections, the chained attention and the FIFO update."""

    def __init__(self, subnets: int, in_dim: int, out_dim: int, key_dim: int, stride: int) -> None:
        super().__init__()
        self.subnets, self.stride = subnets, stride
        self.query = nn.ModuleList(nn.Conv2d(in_dim, key_dim, 1) for _ in range(subnets))
        self.key = nn.ModuleList(nn.Conv2d(in_dim, key_dim, 1) for _ in range(subnets))
        self.value = nn.ModuleList(nn.Conv2d(in_dim, out_dim, 1) for _ in range(subnets))
        self.phi = nn.Conv2d(out_dim, out_dim, 1)

    def project(self, index: int, feature: torch.Tensor) -> Queue:
        """Sub-network ``index``'s ``(q, k, v)`` of ``feature [B, C16/m, h, w]`` at stride 16."""
        return self.query[index](feature), self.key[index](feature), self.value[index](feature)

    def shrink(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.stride) if self.stride > 1 else x

    def fuse(self, queue: Queue, query: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """``V'_t`` from the FIFO ``queue`` and the current frame's ``query``/``value`` at stride 16."""
        qs, ks, vs = queue
        propagated = vs[:, 0]
        for p in range(1, qs.shape[1]):
            propagated = self.phi(attend(qs[:, p], ks[:, p - 1], propagated)) + vs[:, p]
        return self.phi(attend(query, ks[:, -1], propagated)) + value

    def push(self, queue: Queue, entry: Queue) -> Queue:
        """The FIFO without its oldest entry and with ``entry`` (stride 16, shrunk here) as the newest."""
        q, k, v = (torch.cat([old[:, 1:], self.shrink(new).unsqueeze(1)], 1) for old, new in zip(queue, entry))
        return q, k, v


class DistributedEncoder(Trunk):
    """The query encoder as m sub-networks (ResNet-18 trunks at 1/m of ``width``) and the APM.

    ``channels`` = (c4/m, c8/m, c16): skips of one sub-network, the fused feature at full width.
    Called as a trunk (``x -> (f16, f8, f4)``) it encodes a frame with no history, as frame 0.
    """

    def __init__(self, subnets: int, width: float, layers: tuple[int, ...], key_dim: int, stride: int) -> None:
        super().__init__()
        if subnets < 2:
            raise ValueError(f"subnets must be >= 2 (1 is the plain student), got {subnets}")
        if stride < 1 or key_dim < 1:
            raise ValueError(f"apm_stride and apm_key_dim must be >= 1, got {stride}, {key_dim}")
        trunks = [resnet_trunk("resnet18", width / subnets, layers) for _ in range(subnets)]
        self.subnets = nn.ModuleList(trunks)
        full = max(8, int(round(256 * width)))  # the whole encoder's f16 width, as resnet_trunk rounds it
        c4, c8, c16 = trunks[0].channels
        self.apm = AttentionPropagation(subnets, c16, full, key_dim, stride)
        self.channels = (c4, c8, full)

    def first(self, x: torch.Tensor, phase: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], Queue, torch.Tensor]:
        """Normalised frame 0 through every sub-network, as the schedule's entry ``phase`` sees it: ``(fused f16, f8,
        f4)`` from sub-network ``phase`` fused with the FIFO of frame 0 as the others see it (sub-networks phase+1 ..
        phase+m-1, oldest first, the order they hold in a running video), that FIFO, and sub-network ``phase``'s own
        unfused value. ``init`` is ``phase = 0``."""
        outputs = [subnet(x) for subnet in self.subnets]
        entries = [self.apm.project(i, f16) for i, (f16, _, _) in enumerate(outputs)]
        others = [entries[(phase + j) % len(entries)] for j in range(1, len(entries))]
        q, k, v = (torch.stack([self.apm.shrink(e[j]) for e in others], 1) for j in range(3))
        queue: Queue = (q, k, v)
        own_q, _, own_v = entries[phase]
        return (self.apm.fuse(queue, own_q, own_v), outputs[phase][1], outputs[phase][2]), queue, own_v

    def next(self, x: torch.Tensor, queue: Queue, phase: int) -> tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], Queue, torch.Tensor]:
        """A later normalised frame through sub-network ``phase`` alone, fused with the FIFO; the updated FIFO and the
        sub-network's own unfused value ``V_t`` (what the sub-output decodes in training)."""
        f16, f8, f4 = self.subnets[phase](x)
        q, k, v = self.apm.project(phase, f16)
        return (self.apm.fuse(queue, q, v), f8, f4), self.apm.push(queue, (q, k, v)), v

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.first(x)[0]


APM_STATE = (
    StateTensor("apm_query", "1 x (m-1) x apm_key_dim x h' x w' (h', w' = H/16, W/16 pooled by apm_stride)",
                "attention-propagation queries of the last m-1 frames (one per other sub-network), oldest first"),
    StateTensor("apm_key", "1 x (m-1) x apm_key_dim x h' x w'", "attention-propagation keys of the last m-1 frames, oldest first"),
    StateTensor("apm_value", "1 x (m-1) x C16 x h' x w'", "attention-propagation values (stride-16 features) of the last m-1 frames, oldest first"),
    StateTensor(PHASE, "[1], float32 holding a whole number 0..m-1", "which step entry runs the next frame (schedule.steps[int(phase)]), as a float; init sets 0"),
)


class TDNetStudent(MobileVOSStudent):
    """The MobileVOS student with a temporally distributed query encoder; see the module docstring."""

    key_encoder: DistributedEncoder

    def __init__(self, *, subnets: int = 2, apm_key_dim: int = 64, apm_stride: int = 2, key_width: float = 1.0,
                 key_layers: tuple[int, ...] = (2, 2, 2), **kwargs: Any) -> None:
        if kwargs.get("pretrained") is not None:
            raise ValueError("TDNet sub-networks have 1/m of ResNet-18's channels: ImageNet weights do not fit them (drop --pretrained)")
        encoder = DistributedEncoder(subnets, key_width, tuple(key_layers), apm_key_dim, apm_stride)
        super().__init__(key_encoder=encoder, **kwargs)

    def spec(self) -> StudentSpec:
        """The plain student's memory, the APM FIFO and the phase; one step graph per sub-network."""
        plain = super().spec()
        return replace(plain, state=(*plain.state, *APM_STATE), phases=self.phases)

    @property
    def phases(self) -> int:
        """Sub-networks, run round-robin: step graphs ``step_phase(0..phases-1)``."""
        return len(self.key_encoder.subnets)

    def _features(self, f16: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> KeyFeatures:
        return KeyFeatures(self.key_proj(f16), self.key_comp(f16), f16, f8, f4)

    def encode_first(self, frame: torch.Tensor, phase: int = 0) -> tuple[KeyFeatures, Queue]:
        """Frame 0 ``[B, 3, H, W]``: features from every sub-network, and the FIFO it leaves (``init``: phase 0)."""
        parts, queue, _ = self.key_encoder.first(self.normalize(frame), phase)
        return self._features(*parts), queue

    def encode_next(self, frame: torch.Tensor, queue: Queue, phase: int) -> tuple[KeyFeatures, Queue]:
        """A later frame through sub-network ``phase``, fused with the FIFO; the updated FIFO."""
        parts, queue, _ = self.key_encoder.next(self.normalize(frame), queue, phase)
        return self._features(*parts), queue

    def encode_clip(self, frames: torch.Tensor, phase: int = 0) -> ClipFeatures:
        """Training clips ``[B, T, 3, H, W]`` on the tracker's schedule, started at entry ``phase mod m``: frame t >= 1 runs
        sub-network ``(phase + t - 1) mod m``, and frame 0 is seen as that schedule's steady state would see it (the
        FIFO holds it as the other sub-networks see it). The training loop passes the step number as ``phase``, so over
        any m consecutive steps every sub-network segments as many frames as the others, whatever the clip length.

        Every frame's features, flattened ``[B*T, ...]``, and (``own``) the same frames from their sub-network's own
        unfused value ``V_t`` in place of the fused ``V'_t`` (TDNet's sub-output; frame 0: sub-network ``phase``'s).
        """
        m = self.phases
        start = phase % m
        normalized = self.normalize(frames.flatten(0, 1)).view(frames.shape)
        parts, queue, own = self.key_encoder.first(normalized[:, 0], start)
        fused, owns, phases = [self._features(*parts)], [self._features(own, *parts[1:])], []
        for t in range(1, frames.shape[1]):
            index = (start + t - 1) % m
            parts, queue, own = self.key_encoder.next(normalized[:, t], queue, index)
            fused.append(self._features(*parts))
            owns.append(self._features(own, *parts[1:]))
            phases.append(index)

        def stacked(feats: list[KeyFeatures]) -> KeyFeatures:
            return KeyFeatures(*(torch.stack(parts, 1).flatten(0, 1) for parts in zip(*feats)))

        return ClipFeatures(stacked(fused), tuple(phases), stacked(owns))

    # --- tracker entry points ------------------------------------------------------------------------
    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``frame [1, 3, H, W]``, ``mask [K, 1, H, W]`` -> ``(mem_key, mem_value, apm_query, apm_key, apm_value, phase)``."""
        feats, queue = self.encode_first(frame)
        memory = self.start_memory(feats.key, self.encode_value(frame, feats.f16, mask.transpose(0, 1)))
        return memory.keys, memory.values, *queue, frame.new_zeros(1)

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame with sub-network ``phase`` (the last state tensor): ``prob [K, 1, H, W]`` and the updated state."""
        index = int(state[-1].reshape(-1)[0].item())
        if not 0 <= index < self.phases:
            raise ValueError(f"phase {index} is outside 0..{self.phases - 1} (this TDNet student has {self.phases} sub-networks)")
        return self.step_phase(index, frame, *state)

    def step_phase(self, index: int, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """:meth:`step` with the sub-network fixed to ``index`` (the graph of one exported ``step_<index>``):
        no data-dependent branch; the phase input only sets the phase output's dtype and device."""
        mem_key, mem_value, apm_query, apm_key, apm_value, phase = state
        feats, queue = self.encode_next(frame, (apm_query, apm_key, apm_value), index)
        memory = Memory(mem_key, mem_value)
        seg = self.segment(self.read_memory(feats.key, memory), feats)
        _, prob = aggregate(torch.sigmoid(seg.logits))
        memory = self.memorize(memory, feats.key, self.encode_value(frame, feats.f16, prob))
        return prob.transpose(0, 1), memory.keys, memory.values, *queue, phase.new_full((1,), float((index + 1) % self.phases))


SMALL = dict(key_width=0.5, value_width=0.5, key_dim=32, query_dim=64, value_dim=64, decoder_dims=(96, 48, 32),
             aspp_branch_dim=48, aspp_rates=(2, 4, 6), embed_dim=32, apm_key_dim=32)
TINY = dict(key_width=0.25, key_layers=(1, 1, 1), value_width=0.25, key_dim=16, query_dim=16, value_dim=16,
            decoder_dims=(32, 16, 16), aspp_branch_dim=16, aspp_rates=(1, 2, 3), embed_dim=16, apm_key_dim=8)


@register_model("tdnet_r18_mv2", role="student")
def tdnet_r18_mv2(**kwargs: Any) -> TDNetStudent:
    """The full student with its query encoder split into 2 sub-networks run round-robin (~6 M parameters)."""
    return TDNetStudent(**kwargs)


@register_model("tdnet_r18_mv2_m4", role="student")
def tdnet_r18_mv2_m4(**kwargs: Any) -> TDNetStudent:
    """The full student with its query encoder split into 4 sub-networks (a quarter of the channels each)."""
    return TDNetStudent(**{"subnets": 4, **kwargs})


@register_model("tdnet_r18_mv2_small", role="student")
def tdnet_r18_mv2_small(**kwargs: Any) -> TDNetStudent:
    """The half-width student (as mobilevos_r18_mv2_small) with 2 temporally distributed sub-networks."""
    return TDNetStudent(**{**SMALL, **kwargs})


@register_model("tdnet_r18_mv2_tiny", role="student")
def tdnet_r18_mv2_tiny(**kwargs: Any) -> TDNetStudent:
    """The quarter-width TDNet student: for tests."""
    return TDNetStudent(**{**TINY, **kwargs})
