"""The teacher: an STCN-class network with unbounded memory (PyTorch only, never exported).

Layout of STCN (Cheng et al., NeurIPS 2021; github.com/hkchengrex/STCN ``model/eval_network.py``):
ResNet-50 key encoder (f16 1024, f8 512, f4 256), 64-d key projection, f16 compressed to 512 for
the decoder, STCN's ResNet-18 value encoder (biased convolutions) on frame + mask + other
objects' mask, fused with the key f16 into 512-d values by ``ResBlock -> x + CBAM(x) ->
ResBlock``, L2-affinity readout, and a decoder ``compress -> up_16_8 -> up_8_4 -> pred``. Every
parameter has STCN's shape and, but for two renames (:mod:`mobileseg.models.stcn_weights`),
STCN's name, so the authors' ``stcn.pth`` loads strictly. The representation Z is the decoder's
last features (``embed_dim=None``) or a 1x1 head on them.

Memory: during training every earlier frame of the clip; as a tracker, the first frame plus every
``memory_every``-th frame (STCN's inference setting is 5), so it grows through the video, and
with ``include_last`` (STCN's option of the same name, off in its evaluation) the previous frame
as a temporary entry that the next frame replaces.

Readout: in train mode a softmax over every memory position (STCN's training); in eval mode
(tracking, validation, and as a frozen teacher in distillation) over the ``top_k`` most similar
positions of each query pixel (STCN's evaluation: k = 20); ``top_k=None`` reads every position
there too. The defaults are STCN's evaluation (``--top-k 20``, no temporary entry);
``benchmarks/README.md`` ("teacher inference") measures the alternatives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from mobileseg.errors import MobilesegError
from mobileseg.models.backbones import resnet_trunk
from mobileseg.models.base import Decoder, Memory, MemoryNetwork
from mobileseg.models.blocks import KeyProjection, ResBlock, UpsampleBlock
from mobileseg.models.registry import register_model
from mobileseg.models.stcn_modules import STCNFusionBlock, stcn_value_encoder

# Parameters the teacher gained when it took STCN's exact layout: a state dict that lacks exactly
# these was written by an earlier mobileseg teacher (no CBAM in the fuser, bias-free value encoder).
STCN_LAYOUT_KEYS = re.compile(r"fuser\.attention\..*|value_encoder\.(.*\.)?(conv\d|downsample\.0)\.bias")


class TeacherWeightsError(MobilesegError):
    """A file meant as teacher weights does not fit the teacher."""


def _show(keys: list[str]) -> str:
    return ", ".join(keys[:8]) + (f", ... ({len(keys)} in all)" if len(keys) > 8 else "") if keys else "none"


def state_mismatch(own: Mapping[str, torch.Tensor], given: Mapping[str, Any]) -> str | None:
    """What keeps ``given`` from loading strictly into a network whose state is ``own``; None if it fits.

    Keys are named (the fuser's missing CBAM keys first); weights of the teacher's layout before it
    matched STCN's (no CBAM, no value-encoder conv biases) are recognised and told to be retrained.
    """
    missing = sorted(set(own) - set(given), key=lambda k: (not k.startswith("fuser.attention."), k))
    unexpected = sorted(set(given) - set(own))
    wrong = sorted(k for k in set(own) & set(given) if not isinstance(given[k], torch.Tensor) or own[k].shape != given[k].shape)
    if not (missing or unexpected or wrong):
        return None
    text = f"Missing keys: {_show(missing)}. Unexpected keys: {_show(unexpected)}. Shape mismatches: {_show(wrong)}."
    if not (unexpected or wrong) and all(STCN_LAYOUT_KEYS.fullmatch(k) for k in missing):
        text += (" These weights come from a teacher checkpoint that predates the STCN layout (the fuser's CBAM "
                 "attention fuser.attention.* and the value encoder's conv biases are new), so they cannot be used: retrain the teacher "
                 "(mobileseg train --model stcn_r50_r18, or the _small/_tiny variant it was) or use STCN's own stcn.pth.")
    return text


class STCNDecoder(Decoder):
    """``compress`` (ResBlock) at stride 16, two upsampling steps; returns (logits/4, features/4)."""

    def __init__(self, in_dim: int, skip8: int, skip4: int, dims: Sequence[int]) -> None:
        super().__init__()
        d16, d8, d4 = dims
        self.compress = ResBlock(in_dim, d16)
        self.up_16_8 = UpsampleBlock(skip8, d16, d8)
        self.up_8_4 = UpsampleBlock(skip4, d8, d4)
        self.pred = nn.Conv2d(d4, 1, 3, padding=1)
        self.out_dim = d4

    def forward(self, x: torch.Tensor, f8: torch.Tensor, f4: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.up_8_4(f4, self.up_16_8(f8, self.compress(x)))
        features = torch.relu(x)
        return self.pred(features), features


class STCNTeacher(MemoryNetwork):
    """The teacher; see the module docstring. ``width`` scales every channel for small variants."""

    def __init__(
        self, *, width: float = 1.0, key_layers: Sequence[int] = (3, 4, 6), value_layers: Sequence[int] = (2, 2, 2),
        key_dim: int = 64, embed_dim: int | None = None, memory_every: int = 5, include_last: bool = False,
        top_k: int | None = 20, pretrained: str | None = None,
    ) -> None:
        super().__init__()
        if memory_every < 1:
            raise ValueError(f"memory_every must be >= 1, got {memory_every}")
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None: every memory position), got {top_k}")
        self.memory_every, self.include_last, self.top_k = memory_every, include_last, top_k
        self.key_encoder = resnet_trunk("resnet50", width, key_layers, pretrained=pretrained)
        c4, c8, c16 = self.key_encoder.channels
        half = c16 // 2
        self.key_proj = KeyProjection(c16, key_dim)
        self.key_comp = nn.Conv2d(c16, half, 3, padding=1)
        self.value_encoder = stcn_value_encoder(width, value_layers, in_channels=5, pretrained=pretrained)
        self.fuser = STCNFusionBlock(c16 + self.value_encoder.channels[2], half)
        self.decoder = STCNDecoder(2 * half, c8, c4, (half, c4, c4))
        self.embed = None if embed_dim is None else nn.Conv2d(self.decoder.out_dim, embed_dim, 1)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """As :meth:`torch.nn.Module.load_state_dict`; with ``strict``, a state that does not fit raises
        :class:`TeacherWeightsError` naming the keys (and saying so when it predates the STCN layout)."""
        if strict and (problem := state_mismatch(self.state_dict(), state_dict)) is not None:
            raise TeacherWeightsError(f"the state dict does not fit this teacher ({type(self).__name__}). {problem}")
        return super().load_state_dict(state_dict, strict, assign)

    def read_memory(self, key: torch.Tensor, memory: Memory) -> torch.Tensor:
        """The readout over every memory position in train mode, over the ``top_k`` best in eval mode (STCN's)."""
        return self.reader(memory.keys, key, memory.values, None if self.training else self.top_k)

    def start_memory(self, key: torch.Tensor, values: torch.Tensor) -> Memory:
        return Memory(key.unsqueeze(1), values.flatten(0, 1).unsqueeze(1))

    def memorize(self, memory: Memory, key: torch.Tensor, values: torch.Tensor) -> Memory:
        """Append a frame: the memory grows by one entry (unbounded)."""
        return Memory(torch.cat([memory.keys, key.unsqueeze(1)], 1), torch.cat([memory.values, values.flatten(0, 1).unsqueeze(1)], 1))

    # --- tracker entry points (PyTorch only) ------------------------------------------------
    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``frame [1, 3, H, W]``, ``mask [K, 1, H, W]`` -> ``(mem_key, mem_value, frame_index, last_key, last_value)``.

        ``mem_*`` is the permanent memory (grows), ``last_*`` the temporary entry (0 or 1 frames).
        """
        feats = self.encode_key(frame)
        memory = self.start_memory(feats.key, self.encode_value(frame, feats.f16, mask.transpose(0, 1)))
        keys, values = memory.keys, memory.values
        return keys, values, torch.zeros((), dtype=torch.int64), keys[:, :0], values[:, :0]

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One frame; every ``memory_every``-th frame joins the memory, the others replace ``last``."""
        mem_key, mem_value, index, last_key, last_value = state
        readable = Memory(torch.cat([mem_key, last_key], 1), torch.cat([mem_value, last_value], 1))
        feats, _, _, prob = self.predict(frame, readable)
        index = index + 1
        permanent = int(index) % self.memory_every == 0
        if permanent or self.include_last:
            values = self.encode_value(frame, feats.f16, prob)[0]  # [K, Cv, h, w]
            key = feats.key.unsqueeze(1)
            if permanent:
                mem_key, mem_value = torch.cat([mem_key, key], 1), torch.cat([mem_value, values.unsqueeze(1)], 1)
                last_key, last_value = last_key[:, :0], last_value[:, :0]
            else:
                last_key, last_value = key, values.unsqueeze(1)
        return prob.transpose(0, 1), mem_key, mem_value, index, last_key, last_value

    def fast_forward(self, state: tuple[torch.Tensor, ...], frame: int) -> tuple[torch.Tensor, ...]:
        """The state with the *size* it has just before ``frame`` of a video, to time late frames
        without running the earlier ones (``mobileseg bench --start-frame``).

        The permanent memory gets ``1 + (frame - 1) // memory_every`` entries, copies of the
        entries ``state`` holds (cycled), the temporary entry is present when a real run would
        have one, and the frame index is ``frame - 1``. A step's cost depends on the memory's
        size, not on what it holds; its output is not a prediction of that frame.
        """
        mem_key, mem_value, _, _, _ = state
        before = max(frame - 1, 0)
        order = torch.arange(1 + before // self.memory_every) % mem_key.shape[1]
        mem_key, mem_value = mem_key[:, order], mem_value[:, order]
        temporary = self.include_last and before % self.memory_every != 0
        last = slice(0, 1) if temporary else slice(0, 0)
        return mem_key, mem_value, torch.tensor(before, dtype=torch.int64), mem_key[:, last], mem_value[:, last]


@register_model("stcn_r50_r18", role="teacher")
def stcn_r50_r18(**kwargs: Any) -> STCNTeacher:
    """Full STCN layout (ResNet-50 keys, ResNet-18 values, 512-d values)."""
    return STCNTeacher(**kwargs)


@register_model("stcn_r50_r18_small", role="teacher")
def stcn_r50_r18_small(**kwargs: Any) -> STCNTeacher:
    """Quarter-width STCN with shallower stages: for the quickstart on a CPU."""
    return STCNTeacher(**{"width": 0.25, "key_layers": (2, 2, 2), "value_layers": (1, 1, 1), **kwargs})


@register_model("stcn_r50_r18_tiny", role="teacher")
def stcn_r50_r18_tiny(**kwargs: Any) -> STCNTeacher:
    """Eighth-width, one block per stage: for tests."""
    return STCNTeacher(**{"width": 0.125, "key_layers": (1, 1, 1), "value_layers": (1, 1, 1), "key_dim": 16, **kwargs})
