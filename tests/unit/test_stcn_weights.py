"""Loading an official STCN checkpoint: STCN's own names and shapes, and clear errors for other files.

The reference is ``tests/fixtures/stcn_state_shapes.json``: every (name, shape, dtype) of the state
dict of STCN's ``model/eval_network.py`` network, generated from the authors' code
(github.com/hkchengrex/STCN at commit eb83102e1957d9f21fb268ab202dad72ef06a1b0; files
model/eval_network.py, network.py, modules.py, cbam.py, mod_resnet.py), not from our model.
``stcn.pth`` is that state dict saved bare (``torch.save(self.STCN.module.state_dict())``).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

from mobileseg.checkpoint import CheckpointError, load_teacher, save_checkpoint
from mobileseg.models import build_model, count_parameters
from mobileseg.models.stcn_weights import TeacherWeightsError, load_stcn, to_stcn_names

FIXTURE = json.loads((Path(__file__).parents[1] / "fixtures" / "stcn_state_shapes.json").read_text())
STCN_SHAPES = {name: tuple(shape) for name, shape, _ in FIXTURE["state"]}
ATTENTION = "value_encoder.fuser.attention.ChannelGate.mlp.1.weight"


def random_stcn_state(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """Random tensors of STCN's names, shapes and dtypes, scaled so that a forward pass stays finite."""
    generator = torch.Generator().manual_seed(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, shape, dtype in FIXTURE["state"]:
        if dtype == "int64":  # num_batches_tracked
            state[name] = torch.zeros(shape, dtype=torch.int64)
            continue
        noise = torch.randn(shape, generator=generator)
        if name.endswith("running_var"):
            state[name] = 0.5 + noise.abs()
        elif len(shape) == 1:  # norm weights near 1, biases and running means near 0
            state[name] = 0.1 * noise + (1.0 if name.endswith(".weight") else 0.0)
        else:
            state[name] = noise / noise[0].numel() ** 0.5
    return state


@pytest.fixture(scope="module")
def stcn_state() -> OrderedDict[str, torch.Tensor]:
    return random_stcn_state()


def test_fixture_is_stcns_published_layout() -> None:
    assert FIXTURE["commit"] == "eb83102e1957d9f21fb268ab202dad72ef06a1b0" and len(STCN_SHAPES) == 405
    assert STCN_SHAPES[ATTENTION] == (32, 512)
    assert STCN_SHAPES["value_encoder.fuser.attention.SpatialGate.spatial.conv.weight"] == (1, 2, 7, 7)
    assert STCN_SHAPES["value_encoder.conv1.weight"] == (64, 5, 7, 7) and "value_encoder.conv1.bias" in STCN_SHAPES
    assert "key_encoder.conv1.bias" not in STCN_SHAPES and "key_encoder.res2.0.conv1.weight" in STCN_SHAPES


def test_teacher_state_has_exactly_stcns_names_and_shapes() -> None:
    torch.manual_seed(0)
    teacher = build_model("stcn_r50_r18")
    assert {k: tuple(v.shape) for k, v in to_stcn_names(teacher.state_dict()).items()} == STCN_SHAPES
    assert count_parameters(teacher) == FIXTURE["parameters"] == 54_434_180


def test_released_stcn_file_loads_strictly_and_runs(stcn_state: OrderedDict[str, torch.Tensor], tmp_path: Path) -> None:
    torch.save(stcn_state, tmp_path / "stcn.pth")  # the released layout: a bare state dict, no prefix
    teacher = load_stcn(tmp_path / "stcn.pth")
    mapped = to_stcn_names(teacher.state_dict())
    assert mapped.keys() == stcn_state.keys() and all(torch.equal(mapped[k], v) for k, v in stcn_state.items())
    torch.manual_seed(0)
    frame, mask = torch.rand(1, 3, 64, 64), torch.zeros(1, 1, 64, 64)
    mask[..., 16:40, 20:48] = 1
    with torch.no_grad():
        state = teacher.init(frame, mask)
        prob, *_ = teacher.step(torch.rand(1, 3, 64, 64), *state)
    assert prob.shape == (1, 1, 64, 64) and torch.isfinite(prob).all() and 0 <= prob.min() <= prob.max() <= 1
    loaded, name = load_teacher(tmp_path / "stcn.pth")
    assert name == "stcn_r50_r18" and not any(p.requires_grad for p in loaded.parameters())


def test_prefixed_single_object_file_without_counters(stcn_state: OrderedDict[str, torch.Tensor], tmp_path: Path) -> None:
    saved = {f"module.{k}": v for k, v in stcn_state.items() if not k.endswith("num_batches_tracked")}
    saved["module.value_encoder.conv1.weight"] = stcn_state["value_encoder.conv1.weight"][:, :4].clone()  # STCN stage 0
    torch.save(saved, tmp_path / "stcn.pth")
    teacher = load_stcn(tmp_path / "stcn.pth")
    assert torch.equal(teacher.key_encoder.layer1[0].conv1.weight, stcn_state["key_encoder.res2.0.conv1.weight"])
    assert torch.equal(teacher.fuser.attention.ChannelGate.mlp[1].weight, stcn_state[ATTENTION])
    conv = teacher.value_encoder.conv1.weight
    assert torch.equal(conv[:, :4], stcn_state["value_encoder.conv1.weight"][:, :4]) and conv[:, 4].abs().sum() == 0


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_one_key_missing_or_extra_is_named(change: str, stcn_state: OrderedDict[str, torch.Tensor], tmp_path: Path) -> None:
    broken = OrderedDict(stcn_state)
    if change == "missing":
        broken.pop(ATTENTION)
        expected = rf"Missing keys: {ATTENTION.replace('value_encoder.', '')}\. Unexpected keys: none"
    else:
        broken["value_encoder.fuser.attention.SpatialGate.spatial.bn.weight"] = torch.ones(1)
        expected = r"Missing keys: none\. Unexpected keys: fuser\.attention\.SpatialGate\.spatial\.bn\.weight\."
    torch.save(broken, tmp_path / "bad.pth")
    with pytest.raises(TeacherWeightsError, match=expected):
        load_stcn(tmp_path / "bad.pth")


def test_old_layout_teacher_checkpoint_says_retrain(tmp_path: Path) -> None:
    torch.manual_seed(0)
    state = build_model("stcn_r50_r18_tiny").state_dict()
    old = {k: v for k, v in state.items() if "attention" not in k and not (k.startswith("value_encoder.") and k.endswith(".bias")
                                                                          and ".bn" not in k and "downsample.1" not in k)}
    assert len(state) - len(old) == 6 + 9  # CBAM + the value encoder's conv biases (tiny: one block per stage)
    save_checkpoint(tmp_path / "old.pt", {"model": "stcn_r50_r18_tiny", "role": "teacher", "model_kwargs": {}, "model_state": old})
    with pytest.raises(TeacherWeightsError, match=r"Missing keys: fuser\.attention\.ChannelGate\.mlp\.1\.bias.*predate.*retrain"):
        load_teacher(tmp_path / "old.pt")


def test_files_that_are_not_state_dicts(tmp_path: Path) -> None:
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(TeacherWeightsError, match="state dict"):
        load_stcn(tmp_path / "list.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_teacher(tmp_path / "junk.pth")
