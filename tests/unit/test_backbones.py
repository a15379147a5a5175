"""Backbone weights: torchvision ImageNet state dicts from a folder, and clear errors."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch

from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.backbones import WEIGHTS, mobilenet_v2_trunk, resnet_trunk


def _torchvision_state(arch: str) -> dict[str, torch.Tensor]:
    from mobileseg._compat.torchvision_cpu import import_torchvision

    tv = import_torchvision()
    torch.manual_seed(1)
    net = {"resnet18": tv.models.resnet18, "resnet50": tv.models.resnet50, "mobilenet_v2": tv.models.mobilenet_v2}[arch]()
    return net.state_dict()


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hub")
    for arch in ("resnet18", "mobilenet_v2"):
        torch.save(_torchvision_state(arch), folder / Path(WEIGHTS[arch].url).name)
    return folder


def test_student_loads_imagenet_weights_from_a_folder(weights_dir: Path) -> None:
    reference = _torchvision_state("resnet18")
    model = build_model("mobilevos_r18_mv2", pretrained=str(weights_dir))
    assert torch.equal(model.key_encoder.layer3[1].conv2.weight, reference["layer3.1.conv2.weight"])
    first = model.value_encoder.features[0][0].weight
    mobilenet = _torchvision_state("mobilenet_v2")["features.0.0.weight"]
    assert first.shape[1] == 5
    assert torch.equal(first[:, :3], mobilenet) and first[:, 3:].abs().sum() == 0  # mask channels start at zero


def test_missing_file_offline_hub_and_narrow_widths_are_clear_errors(weights_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="resnet50-.*pth"):
        resnet_trunk("resnet50", pretrained=str(tmp_path))

    def offline(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(type(WEIGHTS["resnet18"]), "get_state_dict", offline)
    with pytest.raises(ConfigError, match="offline"):
        resnet_trunk("resnet18", pretrained="imagenet")
    with pytest.raises(ConfigError, match="full-width"):
        resnet_trunk("resnet18", width=0.5, pretrained=str(weights_dir))
    (tmp_path / Path(WEIGHTS["mobilenet_v2"].url).name).write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot read"):
        mobilenet_v2_trunk(pretrained=str(tmp_path))
