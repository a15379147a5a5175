"""Loading an official STCN checkpoint: STCN's names and shapes, and clear errors for other files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mobileseg.models import build_model
from mobileseg.models.stcn_weights import TeacherWeightsError, load_stcn, to_stcn_names
from mobileseg.train.checkpoint import CheckpointError, load_teacher

# Parameter names and shapes of STCN's model (model/network.py, model/modules.py in the STCN repository):
# a ResNet-50 key encoder whose first stage is called res2, 64-d keys, f16 compressed to 512, a
# ResNet-18 value encoder on image + mask + other masks with the fusion block inside it, and the decoder.
STCN_SHAPES = {
    "key_encoder.conv1.weight": (64, 3, 7, 7),
    "key_encoder.res2.0.conv1.weight": (64, 64, 1, 1),
    "key_encoder.res2.0.downsample.0.weight": (256, 64, 1, 1),
    "key_encoder.layer3.5.conv3.weight": (1024, 256, 1, 1),
    "key_proj.key_proj.weight": (64, 1024, 3, 3),
    "key_comp.weight": (512, 1024, 3, 3),
    "value_encoder.conv1.weight": (64, 5, 7, 7),
    "value_encoder.layer3.1.conv2.weight": (256, 256, 3, 3),
    "value_encoder.fuser.block1.downsample.weight": (512, 1280, 3, 3),
    "value_encoder.fuser.block2.conv2.weight": (512, 512, 3, 3),
    "decoder.compress.downsample.weight": (512, 1024, 3, 3),
    "decoder.up_16_8.skip_conv.weight": (512, 512, 3, 3),
    "decoder.up_16_8.out_conv.downsample.weight": (256, 512, 3, 3),
    "decoder.up_8_4.skip_conv.weight": (256, 256, 3, 3),
    "decoder.pred.weight": (1, 256, 3, 3),
}


@pytest.fixture(scope="module")
def stcn_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return to_stcn_names(build_model("stcn_r50_r18").state_dict())


def test_teacher_state_has_stcn_names_and_shapes(stcn_state: dict[str, torch.Tensor]) -> None:
    for name, shape in STCN_SHAPES.items():
        assert name in stcn_state, f"{name} missing"
        assert tuple(stcn_state[name].shape) == shape, name
    assert not any(k.startswith("fuser.") or ".layer1." in k and k.startswith("key_encoder") for k in stcn_state)


def test_load_stcn_file_with_module_prefix_and_single_object_conv(stcn_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    saved = {f"module.{k}": v for k, v in stcn_state.items()}
    saved["module.value_encoder.conv1.weight"] = stcn_state["value_encoder.conv1.weight"][:, :4].clone()  # STCN stage 0
    torch.save(saved, tmp_path / "stcn.pth")
    teacher = load_stcn(tmp_path / "stcn.pth")
    assert torch.equal(teacher.key_encoder.layer1[0].conv1.weight, stcn_state["key_encoder.res2.0.conv1.weight"])
    assert torch.equal(teacher.fuser.block1.downsample.weight, stcn_state["value_encoder.fuser.block1.downsample.weight"])
    conv = teacher.value_encoder.conv1.weight
    assert torch.equal(conv[:, :4], stcn_state["value_encoder.conv1.weight"][:, :4]) and conv[:, 4].abs().sum() == 0
    loaded, name = load_teacher(tmp_path / "stcn.pth")
    assert name == "stcn_r50_r18" and not any(p.requires_grad for p in loaded.parameters())


def test_wrong_file_lists_missing_and_unexpected_keys(stcn_state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    broken = dict(stcn_state)
    broken.pop("decoder.pred.weight")
    broken["decoder.extra_head.weight"] = torch.zeros(3)
    torch.save(broken, tmp_path / "bad.pth")
    with pytest.raises(TeacherWeightsError, match=r"Missing keys: decoder\.pred\.weight.*Unexpected keys: decoder\.extra_head\.weight"):
        load_stcn(tmp_path / "bad.pth")
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(TeacherWeightsError, match="state dict"):
        load_stcn(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_teacher(tmp_path / "junk.pth")
