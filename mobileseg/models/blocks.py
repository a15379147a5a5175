"""Building blocks shared by the student and the teacher (STCN's family, plus ASPP).

Module and parameter names follow STCN's public code (``ResBlock.conv1/conv2/downsample``,
``FeatureFusionBlock.block1/block2``, ``UpsampleBlock.skip_conv/out_conv``,
``KeyProjection.key_proj``) so an official STCN checkpoint maps onto the teacher by name.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    """Pre-activation residual block: ``x + conv(relu(conv(relu(x))))``; 3x3 projection if widths differ."""

    def __init__(self, in_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        out_dim = out_dim or in_dim
        self.downsample = None if in_dim == out_dim else nn.Conv2d(in_dim, out_dim, 3, padding=1)
        self.conv1 = nn.Conv2d(in_dim, out_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return (x if self.downsample is None else self.downsample(x)) + r


class FeatureFusionBlock(nn.Module):
    """Fuses value-encoder features with the key encoder's f16: ``cat -> ResBlock -> ResBlock``."""

    def __init__(self, in_dim: int, out_dim: int, block: type[nn.Module] | None = None) -> None:
        super().__init__()
        block = block or ResBlock
        self.block1 = block(in_dim, out_dim)
        self.block2 = block(out_dim, out_dim)

    def forward(self, x: torch.Tensor, key_f16: torch.Tensor) -> torch.Tensor:
        return self.block2(self.block1(torch.cat([x, key_f16], dim=1)))


class UpsampleBlock(nn.Module):
    """Decoder step: ``ResBlock(skip_conv(skip) + upsample(x, 2))``; ``lite``: 1x1 skip conv, separable block."""

    def __init__(self, skip_dim: int, up_dim: int, out_dim: int, lite: bool = False) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, up_dim, 1) if lite else nn.Conv2d(skip_dim, up_dim, 3, padding=1)
        self.out_conv = SeparableResBlock(up_dim, out_dim) if lite else ResBlock(up_dim, out_dim)

    def forward(self, skip: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x = self.skip_conv(skip) + F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.out_conv(x)


class KeyProjection(nn.Module):
    """3x3 conv from f16 to the key space; orthogonal init keeps keys spread out (STCN)."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, 3, padding=1)
        nn.init.orthogonal_(self.key_proj.weight.data)
        assert self.key_proj.bias is not None  # a Conv2d with bias (the default)
        nn.init.zeros_(self.key_proj.bias.data)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.key_proj(x)


class SeparableConv(nn.Sequential):
    """Depthwise ``k x k`` (optionally dilated) then pointwise 1x1: ~k*k times fewer multiply-adds than a full conv."""

    def __init__(self, in_dim: int, out_dim: int, kernel: int = 3, dilation: int = 1) -> None:
        padding = dilation * (kernel // 2)
        super().__init__(nn.Conv2d(in_dim, in_dim, kernel, padding=padding, dilation=dilation, groups=in_dim),
                         nn.Conv2d(in_dim, out_dim, 1))


class SeparableResBlock(nn.Module):
    """:class:`ResBlock` with depthwise-separable convolutions and a 1x1 projection (the lite student)."""

    def __init__(self, in_dim: int, out_dim: int | None = None) -> None:
        super().__init__()
        out_dim = out_dim or in_dim
        self.downsample = None if in_dim == out_dim else nn.Conv2d(in_dim, out_dim, 1)
        self.conv1 = SeparableConv(in_dim, out_dim)
        self.conv2 = SeparableConv(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return (x if self.downsample is None else self.downsample(x)) + r


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabv3) before the decoder, as in the MobileVOS student.

    Branches: a 1x1 conv, one 3x3 conv per dilation rate (depthwise-separable with ``separable``)
    and global average pooling; their concatenation is projected to ``out_dim``. No
    normalisation layers: the decoder family has none, and batch statistics of a 1x1 pooled map
    are meaningless at the small batch sizes of video training.
    """

    def __init__(self, in_dim: int, branch_dim: int, out_dim: int, rates: Sequence[int] = (3, 6, 9), separable: bool = False) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(in_dim, branch_dim, 1)])
        if separable:  # DeepLabv3+'s separable ASPP
            self.branches.extend(SeparableConv(in_dim, branch_dim, 3, r) for r in rates)
        else:
            self.branches.extend(nn.Conv2d(in_dim, branch_dim, 3, padding=r, dilation=r) for r in rates)
        self.pool = nn.Conv2d(in_dim, branch_dim, 1)
        self.project = nn.Conv2d(branch_dim * (len(rates) + 2), out_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [F.relu(branch(x)) for branch in self.branches]
        pooled = F.relu(self.pool(x.mean(dim=(2, 3), keepdim=True)))
        # Broadcast by addition, not ``expand``: litert-torch 0.10 turns this expand into a
        # BROADCAST_TO that gives wrong numbers (or fails to load) for some map sizes.
        outs.append(pooled + torch.zeros_like(outs[0]))
        return F.relu(self.project(torch.cat(outs, dim=1)))
