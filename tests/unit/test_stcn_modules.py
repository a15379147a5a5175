"""The teacher's STCN modules: CBAM's gates compute what STCN's do, and ImageNet weights load as STCN's do."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.backbones import WEIGHTS
from mobileseg.models.stcn_modules import CBAM, STCNFusionBlock, stcn_value_encoder


def test_cbam_gates_sum_avg_and_max_branches_then_gate_pixels() -> None:
    torch.manual_seed(0)
    cbam = CBAM(32)
    x = torch.randn(2, 32, 5, 7)
    with torch.no_grad():
        for p in cbam.parameters():
            p.zero_()
        assert torch.allclose(cbam(x), x * 0.25)  # both gates at sigmoid(0) = 0.5
        channel_bias = torch.randn(32)
        cbam.ChannelGate.mlp[3].bias.copy_(channel_bias)  # reached by the avg and the max branch: counted twice
        cbam.SpatialGate.spatial.conv.bias.fill_(1.5)
        expected = x * torch.sigmoid(2 * channel_bias)[None, :, None, None] * torch.sigmoid(torch.tensor(1.5))
        assert torch.allclose(cbam(x), expected, atol=1e-6)
        cbam.SpatialGate.spatial.conv.weight[0, 0, 3, 3] = 1.0  # centre tap on the channel max
        gated = x * torch.sigmoid(2 * channel_bias)[None, :, None, None]
        expected = gated * torch.sigmoid(1.5 + gated.amax(dim=1, keepdim=True))
        assert torch.allclose(cbam(x), expected, atol=1e-6)


def test_fusion_block_adds_the_attention_between_its_blocks() -> None:
    torch.manual_seed(0)
    fuser = STCNFusionBlock(24, 16)
    x, key = torch.randn(1, 8, 4, 4), torch.randn(1, 16, 4, 4)
    with torch.no_grad():
        mid = fuser.block1(torch.cat([x, key], dim=1))
        assert torch.allclose(fuser(x, key), fuser.block2(mid + fuser.attention(mid)))
        for p in fuser.attention.parameters():
            p.fill_(-1e3)  # channel gate shut: x + 0
        assert torch.allclose(fuser(x, key), fuser.block2(mid))


def test_value_encoder_has_biased_convs_and_loads_imagenet_as_stcn(tmp_path: Path) -> None:
    from mobileseg._compat.torchvision_cpu import import_torchvision

    tv = import_torchvision()
    torch.manual_seed(1)
    for arch, build in (("resnet18", tv.models.resnet18), ("resnet50", tv.models.resnet50)):
        torch.save(build().state_dict(), tmp_path / Path(WEIGHTS[arch].url).name)
    reference = torch.load(tmp_path / Path(WEIGHTS["resnet18"].url).name, weights_only=True)
    encoder = stcn_value_encoder(pretrained=str(tmp_path))
    assert encoder(torch.rand(1, 5, 64, 64)).shape == (1, 256, 4, 4)
    state = encoder.state_dict()
    assert torch.equal(state["layer3.1.conv2.weight"], reference["layer3.1.conv2.weight"])
    assert torch.equal(state["conv1.weight"][:, :3], reference["conv1.weight"]) and state["conv1.weight"][:, 3:].abs().sum() > 0
    biases = [k for k in state if k.endswith(".bias") and k not in reference]
    assert len(biases) == 15 and all(state[k].abs().sum() == 0 for k in biases)
    teacher = build_model("stcn_r50_r18", pretrained=str(tmp_path))  # both encoders from the folder
    assert torch.equal(teacher.value_encoder.layer1[0].conv1.weight, reference["layer1.0.conv1.weight"])
    with pytest.raises(ConfigError, match="full-width"):
        stcn_value_encoder(width=0.5, pretrained=str(tmp_path))
