"""The teacher's STCN-specific modules: the fusion block with CBAM and STCN's value encoder.

Written from STCN's public code (github.com/hkchengrex/STCN: ``model/modules.py``,
``model/cbam.py``, ``model/mod_resnet.py``), with its parameter names and shapes, so that the
authors' ``stcn.pth`` loads by name (``tests/fixtures/stcn_state_shapes.json`` lists them):

- :class:`CBAM`: channel gate (an MLP ``mlp.1``/``mlp.3`` over the average- and max-pooled
  channels) then spatial gate (a biased 7x7 conv ``spatial.conv`` over the channel max and mean;
  STCN's copy of CBAM has no batch norm there).
- :class:`STCNFusionBlock`: ``block1(cat(x, key_f16))``, then ``block2(x + CBAM(x))``.
- :class:`STCNValueEncoder`: STCN's modified ResNet-18 ``conv1 .. layer3``: *every* convolution
  has a bias (``mod_resnet`` builds them with PyTorch's default ``bias=True``), and ``conv1``
  takes 5 channels (RGB, the object's mask, the other objects' mask).

The student keeps its own blocks (``blocks.py``); nothing here is exported.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from mobileseg.errors import ConfigError
from mobileseg.models.backbones import load_imagenet_state
from mobileseg.models.blocks import ResBlock


class ChannelGate(nn.Module):
    """``x * sigmoid(mlp(avgpool(x)) + mlp(maxpool(x)))`` per channel; hidden width ``C // reduction``."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        # index 0 is STCN's Flatten: it keeps the Linear layers at STCN's names mlp.1 and mlp.3
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))  # [B, C]
        return x * torch.sigmoid(pooled)[:, :, None, None]


class SpatialGate(nn.Module):
    """``x * sigmoid(conv7x7([max_c(x), mean_c(x)]))`` per pixel."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.spatial = nn.Sequential(OrderedDict(conv=nn.Conv2d(2, 1, kernel, padding=kernel // 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)  # [B, 2, H, W]
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Convolutional block attention (Woo et al., ECCV 2018) as STCN uses it: channel, then spatial gate."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(channels, reduction)  # STCN's parameter names, capitals included
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class STCNFusionBlock(nn.Module):
    """Value features ``x [B, Cv, h, w]`` and key ``f16 [B, Ck, h, w]`` -> values ``[B, out_dim, h, w]``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.block1 = ResBlock(in_dim, out_dim)
        self.attention = CBAM(out_dim)
        self.block2 = ResBlock(out_dim, out_dim)

    def forward(self, x: torch.Tensor, key_f16: torch.Tensor) -> torch.Tensor:
        x = self.block1(torch.cat([x, key_f16], dim=1))
        return self.block2(x + self.attention(x))


class BiasedBasicBlock(nn.Module):
    """ResNet's BasicBlock with biased 3x3 convolutions (STCN's ``mod_resnet.BasicBlock``)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class STCNValueEncoder(nn.Module):
    """``conv1 .. layer3`` of STCN's ResNet-18: ``[B, in_channels, H, W]`` -> ``f16 [B, C16, H/16, W/16]``.

    ``widths`` are the stem and the three stages' channels (64, 64, 128, 256 at full size);
    ``channels`` is ``(f4, f8, f16)`` as for :class:`~mobileseg.models.backbones.ResNetTrunk`.
    """

    def __init__(self, layers: Sequence[int] = (2, 2, 2), widths: Sequence[int] = (64, 64, 128, 256), in_channels: int = 5) -> None:
        super().__init__()
        stem, *stages = widths
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _stage(stem, stages[0], layers[0], stride=1)
        self.layer2 = _stage(stages[0], stages[1], layers[1], stride=2)
        self.layer3 = _stage(stages[1], stages[2], layers[2], stride=2)
        self.channels = tuple(stages)
        for m in self.modules():  # STCN's init: He normal (fan-out) weights, zero biases
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))

    def load_imagenet(self, pretrained: str | os.PathLike[str]) -> None:
        """torchvision's ResNet-18 weights, as STCN starts: biases stay zero (torchvision's convs have
        none), the mask channels of ``conv1`` get orthogonal filters (STCN's ``load_weights_sequential``)."""
        state = load_imagenet_state("resnet18", pretrained)
        own = self.state_dict()
        missing = [k for k in own if k not in state and not _is_conv_bias(self, k)]
        wrong = [k for k in own if k in state and k != "conv1.weight" and state[k].shape != own[k].shape]
        first, conv = own["conv1.weight"], state.get("conv1.weight")
        if conv is not None and (conv.shape[0] != first.shape[0] or conv.shape[1] > first.shape[1] or conv.shape[2:] != first.shape[2:]):
            wrong.append("conv1.weight")
        if missing or wrong or conv is None:
            raise ConfigError(
                f"ImageNet weights for resnet18 do not fit the teacher's value encoder (missing {missing[:3]}, shape "
                f"mismatch {wrong[:3]}). Pretrained weights need the full-width variant of the model (stcn_r50_r18)."
            )
        loaded = {k: state[k] for k in own if k in state}
        extra = conv.new_empty(conv.shape[0], first.shape[1] - conv.shape[1], *conv.shape[2:])
        loaded["conv1.weight"] = torch.cat([conv, nn.init.orthogonal_(extra) if extra.shape[1] else extra], dim=1)
        self.load_state_dict(loaded, strict=False)


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:  # 1x1 projection with a bias, as all of STCN's value-encoder convs
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride), nn.BatchNorm2d(planes))
    rest = (BiasedBasicBlock(planes, planes) for _ in range(1, blocks))
    return nn.Sequential(BiasedBasicBlock(inplanes, planes, stride, downsample), *rest)


def _is_conv_bias(module: nn.Module, key: str) -> bool:
    owner, _, leaf = key.rpartition(".")
    return leaf == "bias" and isinstance(module.get_submodule(owner), nn.Conv2d)


def stcn_value_encoder(
    width: float = 1.0, layers: Sequence[int] = (2, 2, 2), in_channels: int = 5, pretrained: str | os.PathLike[str] | None = None,
) -> STCNValueEncoder:
    """STCN's value encoder; ``width`` scales every channel count as :func:`~mobileseg.models.backbones.resnet_trunk` does."""
    widths = tuple(max(8, int(round(c * width))) for c in (64, 64, 128, 256))
    encoder = STCNValueEncoder(layers, widths, in_channels)
    if pretrained is not None:
        encoder.load_imagenet(pretrained)
    return encoder

