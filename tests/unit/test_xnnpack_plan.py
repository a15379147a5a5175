"""xnnpack_plan reads back which ops XNNPACK takes, on files written here by litert-torch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

pytest.importorskip("litert_torch", reason="the [tflite] extra (litert-torch) writes the files this reads")

from mobileseg.runtime.xnnpack_plan import xnnpack_plan  # noqa: E402


class Two(nn.Module):
    """A conv (XNNPACK takes it), then a float cumulative sum (it does not: TFLite's CUMSUM kernel)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x)
        return y, torch.cumsum(y, dim=1) * 2.0


def _write(tmp_path: Path) -> Path:
    import litert_torch

    sample = (torch.rand(1, 3, 8, 8),)
    edge = litert_torch.signature("other", nn.Sequential(nn.ReLU()).eval(), sample).signature("step", Two().eval(), sample).convert()
    path = tmp_path / "two.tflite"
    edge.export(str(path))
    return path


def test_plan_counts_ops_partitions_and_what_is_left(tmp_path: Path) -> None:
    plan = xnnpack_plan(_write(tmp_path), "step")
    names = [op.name for op in plan.ops]
    assert "CONV_2D" in names and "CUMSUM" in names and all(op.dtypes[-1] == "FLOAT32" for op in plan.ops)
    assert [op.name for op in plan.left] == ["CUMSUM"]  # the conv and the multiply after it run in XNNPACK
    assert plan.partitions == 2  # conv | cumsum | mul: the op left to TFLite splits XNNPACK's graph in two
    assert plan.summary()["left_by_type"] == {"CUMSUM FLOAT32": 1}


def test_other_signatures_and_unknown_ones(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert [op.name for op in xnnpack_plan(path, "other").ops] == ["RELU"] and xnnpack_plan(path, "other").left == []
    with pytest.raises(ValueError, match=r"has the signatures \['other', 'step'\], not 'init'"):
        xnnpack_plan(path, "init")
