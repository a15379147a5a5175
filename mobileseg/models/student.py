"""The MobileVOS student: small encoders, ASPP decoder, a fixed two-slot memory.

Layout (Miles et al., CVPR 2023, on STCN): ResNet-18 query/key encoder (f16 with skips at
strides 8 and 4), MobileNetV2 value encoder taking frame + mask + other objects' mask, a 3x3
key projection, the L2-affinity memory readout, ASPP before a decoder with skip connections, and
a linear (1x1) embedding head giving the per-pixel representation Z for distillation.

Memory is explicit, fixed-shape state: ``slots`` entries (default 2); with ``pin_first`` slot 0
keeps the first frame for the whole video and the rest are a FIFO of the latest frames. At
``init`` every slot holds the first frame.

Tracker entry points (the exported graphs), for K objects of one video:
    init(frame [1, 3, H, W], mask [K, 1, H, W]) -> (mem_key [1, S, Ck, h, w], mem_value [K, S, Cv, h, w])
    step(frame, mem_key, mem_value) -> (prob [K, 1, H, W], mem_key, mem_value)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from mobileseg.models.backbones import Trunk, mobilenet_v2_trunk, resnet_trunk
from mobileseg.models.base import Decoder, Memory
from mobileseg.models.blocks import ASPP, FeatureFusionBlock, KeyProjection, SeparableResBlock, UpsampleBlock
from mobileseg.models.memory import fill_slots, push_slot
from mobileseg.models.registry import register_model
from mobileseg.models.spec import MemoryPolicy, StateTensor, Student, StudentSpec

MEM_KEY = StateTensor("mem_key", "1 x slots x key_dim x H/16 x W/16", "memory keys, one slot per remembered frame (slot 0 = first frame)")
MEM_VALUE = StateTensor("mem_value", "K x slots x value_dim x H/16 x W/16", "memory values per object and slot")


class StudentDecoder(Decoder):
    """ASPP at stride 16, then two upsampling steps with skips; returns (logits/4, features/4).

    ``lite``: separable ASPP branches, 1x1 skip convolutions and depthwise-separable residual
    blocks (the full decoder spends ~30 of the student's ~65 GFLOPs at 480x864 in its 3x3 convs
    at strides 8 and 4).
    """

    def __init__(self, in_dim: int, skip8: int, skip4: int, dims: Sequence[int], branch_dim: int, rates: Sequence[int],
                 lite: bool = False) -> None:
        super().__init__()
        d16, d8, d4 = dims
        self.aspp = ASPP(in_dim, branch_dim, d16, rates, separable=lite)
        self.up_16_8 = UpsampleBlock(skip8, d16, d8, lite)
        self.up_8_4 = UpsampleBlock(skip4, d8, d4, lite)
        self.pred = nn.Conv2d(d4, 1, 3, padding=1)
        self.out_dim = d4

    def forward(self, x: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.up_8_4(f4, self.up_16_8(f8, self.aspp(x)))
        features = torch.relu(x)
        return self.pred(features), features


class MobileVOSStudent(Student):
    """The student; see the module docstring. Widths scale the backbones for small variants.

    ``lite`` keeps the encoders, memory, state and distillation hooks and makes everything after
    the encoders cheap: a 1x1 query compression, a depthwise-separable fuser and the lite decoder.
    """

    key_encoder: Trunk

    def __init__(
        self, *, key_width: float = 1.0, key_layers: Sequence[int] = (2, 2, 2), value_width: float = 1.0,
        key_dim: int = 64, query_dim: int = 128, value_dim: int = 128, decoder_dims: Sequence[int] = (256, 128, 64),
        aspp_branch_dim: int = 128, aspp_rates: Sequence[int] = (3, 6, 9), embed_dim: int = 64,
        slots: int = 2, pin_first: bool = True, pretrained: str | None = None, lite: bool = False,
        key_encoder: Trunk | None = None,
    ) -> None:
        super().__init__()
        if slots < 1 or (pin_first and slots < 2):
            raise ValueError(f"slots must be >= 1 (>= 2 with pin_first), got {slots}")
        self.slots, self.pin_first = slots, pin_first
        # another query encoder (TDNet's) in place of the ResNet-18 trunk: any module with .channels (c4, c8, c16)
        self.key_encoder = key_encoder if key_encoder is not None else resnet_trunk("resnet18", key_width, key_layers, pretrained=pretrained)
        c4, c8, c16 = self.key_encoder.channels
        self.key_proj = KeyProjection(c16, key_dim)
        self.key_comp = nn.Conv2d(c16, query_dim, 1) if lite else nn.Conv2d(c16, query_dim, 3, padding=1)
        self.value_encoder = mobilenet_v2_trunk(value_width, in_channels=5, pretrained=pretrained)
        self.fuser = FeatureFusionBlock(self.value_encoder.channels + c16, value_dim, SeparableResBlock if lite else None)
        self.decoder = StudentDecoder(value_dim + query_dim, c8, c4, decoder_dims, aspp_branch_dim, aspp_rates, lite)
        self.embed = nn.Conv2d(self.decoder.out_dim, embed_dim, 1)

    # --- memory policy: fixed slots -------------------------------------------------------------
    def start_memory(self, key: torch.Tensor, values: torch.Tensor) -> Memory:
        return Memory(fill_slots(key, 1, self.slots), fill_slots(values.flatten(0, 1), 1, self.slots))

    def memorize(self, memory: Memory, key: torch.Tensor, values: torch.Tensor) -> Memory:
        return Memory(push_slot(memory.keys, key, 1, self.pin_first),
                      push_slot(memory.values, values.flatten(0, 1), 1, self.pin_first))

    # --- tracker entry points (exported) ---------------------------------------------------------
    def spec(self) -> StudentSpec:
        """State ``(mem_key, mem_value)``, one step graph, the slots."""
        return StudentSpec((MEM_KEY, MEM_VALUE), MemoryPolicy(self.slots, self.pin_first))

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``frame [1, 3, H, W]``, ``mask [K, 1, H, W]`` -> ``(mem_key, mem_value)``."""
        feats = self.encode_key(frame)
        memory = self.start_memory(feats.key, self.encode_value(frame, feats.f16, mask.transpose(0, 1)))
        return memory.keys, memory.values

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame: ``prob [K, 1, H, W]`` and the updated ``(mem_key, mem_value)``."""
        mem_key, mem_value = state
        memory = Memory(mem_key, mem_value)
        feats, _, _, prob = self.predict(frame, memory)
        memory = self.memorize(memory, feats.key, self.encode_value(frame, feats.f16, prob))
        return prob.transpose(0, 1), memory.keys, memory.values


@register_model("mobilevos_r18_mv2", role="student")
def mobilevos_r18_mv2(**kwargs: Any) -> MobileVOSStudent:
    """Full student: ResNet-18 key encoder, MobileNetV2 value encoder, 2 slots (~8 M parameters)."""
    return MobileVOSStudent(**kwargs)


SMALL = dict(key_width=0.5, value_width=0.5, key_dim=32, query_dim=64, value_dim=64,
             decoder_dims=(96, 48, 32), aspp_branch_dim=48, aspp_rates=(2, 4, 6), embed_dim=32)


@register_model("mobilevos_r18_mv2_small", role="student")
def mobilevos_r18_mv2_small(**kwargs: Any) -> MobileVOSStudent:
    """Half-width student for the quickstart on a CPU."""
    return MobileVOSStudent(**{**SMALL, **kwargs})


@register_model("mobilevos_r18_mv2_tiny", role="student")
def mobilevos_r18_mv2_tiny(**kwargs: Any) -> MobileVOSStudent:
    """Quarter-width, one block per stage: for tests."""
    settings = dict(key_width=0.25, key_layers=(1, 1, 1), value_width=0.25, key_dim=16, query_dim=16,
                    value_dim=16, decoder_dims=(32, 16, 16), aspp_branch_dim=16, aspp_rates=(1, 2, 3), embed_dim=16)
    return MobileVOSStudent(**{**settings, **kwargs})


LITE_DECODER = dict(lite=True, decoder_dims=(128, 64, 32))


@register_model("mobilevos_r18_mv2_lite", role="student")
def mobilevos_r18_mv2_lite(**kwargs: Any) -> MobileVOSStudent:
    """Full-size encoders and memory, lite decoder: ~2x fewer FLOPs per frame (benchmarks/README.md, "fast")."""
    return MobileVOSStudent(**{**LITE_DECODER, **kwargs})


@register_model("mobilevos_r18_mv2_lite_wide", role="student")
def mobilevos_r18_mv2_lite_wide(**kwargs: Any) -> MobileVOSStudent:
    """The lite student with its separable decoder blocks as wide as the full student's (256/128/64)."""
    return MobileVOSStudent(**{**LITE_DECODER, "decoder_dims": (256, 128, 64), **kwargs})


# The half-width student's counterparts of the lite students: benchmarks/lite_accuracy.py trains them on a
# CPU beside mobilevos_r18_mv2_small to compare the decoders at a budget where students track.
@register_model("mobilevos_r18_mv2_lite_small", role="student")
def mobilevos_r18_mv2_lite_small(**kwargs: Any) -> MobileVOSStudent:
    """The half-width student with the lite decoder at half its decoder widths (48/24/16), as the lite student is to the full one."""
    return MobileVOSStudent(**{**SMALL, "lite": True, "decoder_dims": (48, 24, 16), **kwargs})


@register_model("mobilevos_r18_mv2_lite_wide_small", role="student")
def mobilevos_r18_mv2_lite_wide_small(**kwargs: Any) -> MobileVOSStudent:
    """The half-width student with the lite decoder at its own decoder widths (96/48/32)."""
    return MobileVOSStudent(**{**SMALL, "lite": True, **kwargs})


@register_model("mobilevos_r18_mv2_lite_tiny", role="student")
def mobilevos_r18_mv2_lite_tiny(**kwargs: Any) -> MobileVOSStudent:
    """The tiny student with the lite decoder: for tests."""
    settings = dict(key_width=0.25, key_layers=(1, 1, 1), value_width=0.25, key_dim=16, query_dim=16,
                    value_dim=16, decoder_dims=(16, 16, 8), aspp_branch_dim=16, aspp_rates=(1, 2, 3), embed_dim=16, lite=True)
    return MobileVOSStudent(**{**settings, **kwargs})
