"""Registry lookups, atomic writes, tables, palette, the torchvision CPU shim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mobileseg.data.io import davis_palette, encode_mask_png, load_mask
from mobileseg.errors import UnknownNameError
from mobileseg.registry import Registry
from mobileseg.tracker import CopyFirstMaskTracker, aggregate
from mobileseg.utils.fsio import atomic_path, write_json_atomic
from mobileseg.utils.table import format_table


def test_registry_unknown_name_lists_known_and_closest() -> None:
    things: Registry[int] = Registry("model")
    things.register("mobilevos_r18_mv2")(1)
    things.register("stcn_r50")(2)
    assert things.get("stcn_r50") == 2 and things.names() == ["mobilevos_r18_mv2", "stcn_r50"]
    with pytest.raises(UnknownNameError, match="Known models: mobilevos_r18_mv2, stcn_r50. Did you mean 'stcn_r50'"):
        things.get("stcn_r05")
    with pytest.raises(ValueError, match="twice"):
        things.register("stcn_r50")(3)


def test_atomic_write_keeps_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text().strip().startswith("{") and '"a": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_palette_matches_davis_colours_and_roundtrips(tmp_path: Path) -> None:
    palette = davis_palette()
    assert palette[0:3] == bytes([0, 0, 0]) and palette[3:6] == bytes([128, 0, 0])
    assert palette[6:9] == bytes([0, 128, 0]) and palette[9:12] == bytes([128, 128, 0])
    mask = np.array([[0, 1, 2], [3, 255, 0]], dtype=np.uint8)
    (tmp_path / "m.png").write_bytes(encode_mask_png(mask))
    assert np.array_equal(load_mask(tmp_path / "m.png"), mask)


def test_table_aligns_numbers() -> None:
    text = format_table([{"model": "a", "J&F": 0.5}, {"model": "bb", "J&F": 0.25}], ("model", "J&F"))
    assert text.splitlines()[2] == "a      0.500"
    assert format_table([{"x": 1}], ("x",), markdown=True).splitlines()[1] == "|--:|"


def test_aggregate_soft_background_and_overlap() -> None:
    probs = np.array([[[0.9, 0.2, 0.6]], [[0.3, 0.1, 0.7]]], dtype=np.float32)  # K=2, 1x3 image
    # pixel 0: bg 0.07 -> object 1; pixel 1: bg 0.72 -> background; pixel 2: object 2 wins
    assert aggregate(probs).tolist() == [[1, 0, 2]]


def test_copy_first_mask_tracker_keeps_state_shape() -> None:
    tracker = CopyFirstMaskTracker()
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:4, 2:4] = 1
    state = tracker.init(torch.rand(1, 3, 8, 8), mask)
    for _ in range(3):
        prob, state = tracker.step(torch.rand(1, 3, 8, 8), state)
        assert torch.equal(prob, mask) and state[0].shape == (1, 1, 8, 8)


def test_torchvision_imports_on_cpu_torch() -> None:
    from mobileseg._compat.torchvision_cpu import extension_loads, import_torchvision

    torchvision = import_torchvision()
    model = torchvision.models.resnet18(weights=None).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
    # the schemas exist either from the real extension or from the shim
    assert hasattr(torch.ops.torchvision, "nms")
    if not extension_loads():  # the shim declares schemas only; there is no kernel
        with pytest.raises((RuntimeError, NotImplementedError)):
            torchvision.ops.nms(torch.rand(2, 4), torch.rand(2), 0.5)
