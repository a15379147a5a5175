"""Backbone trunks from torchvision, cut at stride 16, with optional ImageNet weights.

- :class:`ResNetTrunk`: ``conv1 .. layer3`` of a torchvision ResNet (BasicBlock = ResNet-18/34,
  Bottleneck = ResNet-50); returns features at strides 16, 8 and 4. Parameter names match
  torchvision's, so its state dicts load directly. Width and depth are arguments, so tests and
  the quickstart can build narrow variants of the same layout.
- :func:`mobilenet_v2_trunk`: ``features[:14]`` of torchvision's MobileNetV2 (stride 16).

Extra input channels (a mask, the other objects' mask) are added to the first convolution; when
pretrained weights are loaded their RGB filters are kept and the extra filters start at zero.

Weights (``pretrained``): ``None`` (random init), ``"imagenet"`` (torchvision's weights, from the
torch hub cache or downloaded), or a folder holding torchvision's checkpoint files under their
usual names (e.g. ``resnet18-f37072fd.pth``, as in ``~/.cache/torch/hub/checkpoints``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from mobileseg._compat.torchvision_cpu import import_torchvision
from mobileseg.errors import ConfigError

import_torchvision()

from torchvision.models import MobileNet_V2_Weights, ResNet18_Weights, ResNet50_Weights  # noqa: E402
from torchvision.models.mobilenetv2 import MobileNetV2  # noqa: E402
from torchvision.models.resnet import BasicBlock, Bottleneck, conv1x1  # noqa: E402

Block = type[BasicBlock] | type[Bottleneck]
WEIGHTS = {
    "resnet18": ResNet18_Weights.IMAGENET1K_V1,
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "mobilenet_v2": MobileNet_V2_Weights.IMAGENET1K_V1,
}


def _weights_file(arch: str) -> str:
    return Path(WEIGHTS[arch].url).name


def load_imagenet_state(arch: str, pretrained: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet state dict of ``arch``: from the hub (``"imagenet"``) or a folder."""
    source = str(pretrained)
    if source == "imagenet":
        try:
            return WEIGHTS[arch].get_state_dict(progress=False, check_hash=True)
        except (OSError, RuntimeError) as exc:  # URLError is an OSError
            raise ConfigError(
                f"cannot get ImageNet weights for {arch} ({type(exc).__name__}: {exc}). This machine "
                f"may be offline: download {WEIGHTS[arch].url} elsewhere, put it in a folder and pass "
                "that folder as --pretrained, or train without --pretrained."
            ) from None
    folder = Path(source)
    path = folder / _weights_file(arch) if folder.is_dir() else folder
    if not path.is_file():
        raise ConfigError(
            f"--pretrained {source}: no {_weights_file(arch)} there. Pass 'imagenet' (downloads "
            f"from torchvision) or a folder holding torchvision's file {_weights_file(arch)} "
            f"({WEIGHTS[arch].url})."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise ConfigError(f"cannot read backbone weights {path}: {exc}") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{path} holds a {type(state).__name__}, not a state dict of {arch}.")
    return state


def _widen_first_conv(state: dict[str, torch.Tensor], key: str, in_channels: int) -> None:
    """Give the first conv's weight ``in_channels`` inputs: RGB filters kept, extra ones zero."""
    weight = state[key]
    if weight.shape[1] < in_channels:
        extra = weight.new_zeros(weight.shape[0], in_channels - weight.shape[1], *weight.shape[2:])
        state[key] = torch.cat([weight, extra], dim=1)


def _load_matching(module: nn.Module, state: dict[str, torch.Tensor], arch: str) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        raise ConfigError(
            f"ImageNet weights for {arch} do not fit this backbone (missing {missing[:3]}, shape "
            f"mismatch {wrong[:3]}). Pretrained weights need the full-width variant of the model."
        )
    module.load_state_dict({k: state[k] for k in own})


class Trunk(nn.Module):
    """A query encoder: ``x [B, 3, H, W]`` -> ``(f16, f8, f4)``, with ``channels`` = their widths ``(c4, c8, c16)``."""

    channels: tuple[int, int, int]


class ResNetTrunk(Trunk):
    """``conv1 .. layer3`` of a ResNet: ``x [B, C, H, W]`` -> ``(f16, f8, f4)``, or only ``f16``
    when ``only_f16`` (a value encoder needs no skip features)."""

    def __init__(
        self, block: Block, layers: Sequence[int], widths: Sequence[int] = (64, 128, 256),
        in_channels: int = 3, stem: int = 64, only_f16: bool = False,
    ) -> None:
        super().__init__()
        self.only_f16 = only_f16
        self.inplanes = stem
        self.conv1 = nn.Conv2d(in_channels, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        c4, c8, c16 = (w * block.expansion for w in widths)
        self.channels = (c4, c8, c16)  # (f4, f8, f16)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers.extend(block(self.inplanes, planes) for _ in range(1, blocks))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = self.layer1(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16 if self.only_f16 else (f16, f8, f4)

    def load_imagenet(self, arch: str, pretrained: str | os.PathLike[str]) -> None:
        state = dict(load_imagenet_state(arch, pretrained))
        _widen_first_conv(state, "conv1.weight", self.conv1.in_channels)
        _load_matching(self, state, arch)


def resnet_trunk(
    arch: str, width: float = 1.0, layers: Sequence[int] | None = None, in_channels: int = 3,
    pretrained: str | os.PathLike[str] | None = None, only_f16: bool = False,
) -> ResNetTrunk:
    """ResNet-18 or ResNet-50 layout to stride 16; ``width`` scales every channel count."""
    block, default_layers = {"resnet18": (BasicBlock, (2, 2, 2)), "resnet50": (Bottleneck, (3, 4, 6))}[arch]
    widths = tuple(max(8, int(round(c * width))) for c in (64, 128, 256))
    stem = max(8, int(round(64 * width)))
    trunk = ResNetTrunk(block, layers or default_layers, widths, in_channels, stem, only_f16)
    if pretrained is not None:
        trunk.load_imagenet(arch, pretrained)
    return trunk


class MobileNetV2Trunk(nn.Module):
    """``features[:14]`` of MobileNetV2: ``x [B, C, H, W]`` -> ``f16 [B, 96 * width, H/16, W/16]``."""

    def __init__(self, width: float = 1.0, in_channels: int = 3) -> None:
        super().__init__()
        net = MobileNetV2(width_mult=width)
        first = net.features[0][0]
        if in_channels != 3:
            net.features[0][0] = nn.Conv2d(in_channels, first.out_channels, 3, 2, 1, bias=False)
            nn.init.kaiming_normal_(net.features[0][0].weight, mode="fan_out")
        self.features = net.features[:14]
        self.channels = self.features[-1].out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def load_imagenet(self, pretrained: str | os.PathLike[str]) -> None:
        state = {k: v for k, v in load_imagenet_state("mobilenet_v2", pretrained).items() if k.startswith("features.")}
        _widen_first_conv(state, "features.0.0.weight", self.features[0][0].in_channels)
        _load_matching(self, state, "mobilenet_v2")


def mobilenet_v2_trunk(width: float = 1.0, in_channels: int = 3, pretrained: str | os.PathLike[str] | None = None) -> MobileNetV2Trunk:
    trunk = MobileNetV2Trunk(width, in_channels)
    if pretrained is not None:
        trunk.load_imagenet(pretrained)
    return trunk

