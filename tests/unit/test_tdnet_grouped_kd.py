"""TDNet grouped distillation: the channel KL, groups follow the sub-network schedule, gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobileseg.distill import DISTILLERS, Networks, StepOutputs
from mobileseg.distill.tdnet import TDNetDistiller, channel_kl
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.train.runner import DistillRunner

H, W = 48, 64

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(frames: int = 3, subnets: int = 2, **options: float) -> tuple[nn.Module, nn.Module, TDNetDistiller, StepOutputs]:
    torch.manual_seed(0)
    student, teacher = build_model("tdnet_r18_mv2_tiny", subnets=subnets), build_model("stcn_r50_r18_tiny")
    distiller = DISTILLERS.get("tdnet")(**options)
    distiller.setup(Networks.of(student, teacher, torch.device("cpu")))
    labels = torch.zeros(1, frames, H, W, dtype=torch.long)
    labels[:, :, 8:30, 10:40] = 1
    masks = (labels == 1).float().unsqueeze(2)
    out, t_out = DistillRunner(student, teacher)(torch.rand(1, frames, 3, H, W), masks, torch.ones(1, 1))
    return student, teacher, distiller, StepOutputs(out, t_out, labels, torch.ones(1, 1))  # type: ignore[return-value]


def test_channel_kl_by_hand() -> None:
    same = torch.randn(2, 3, 4, 4)
    assert torch.allclose(channel_kl(same, same, 1.0), torch.zeros(2, 4, 4), atol=1e-6)
    teacher = torch.log(torch.tensor([0.5, 0.5])).view(1, 2, 1, 1)
    student = torch.log(torch.tensor([0.25, 0.75])).view(1, 2, 1, 1)
    expected = 0.5 * torch.log(torch.tensor(0.5 / 0.25)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75))
    assert torch.allclose(channel_kl(student, teacher, 1.0).flatten(), expected.view(1), atol=1e-6)
    assert torch.allclose(channel_kl(student * 2, teacher * 2, 2.0), 4 * channel_kl(student, teacher, 1.0), atol=1e-6)


def test_groups_split_the_teachers_channels_one_per_sub_network() -> None:
    _, teacher, distiller, _ = _setup(subnets=4)
    widths = [adapter.out_channels for adapter in distiller.adapters]
    assert len(widths) == 4 and sum(widths) == teacher.key_encoder.channels[1] and max(widths) - min(widths) <= 1
    plain = DISTILLERS.get("tdnet")()
    plain.setup(Networks.of(build_model("mobilevos_r18_mv2_tiny"), teacher, torch.device("cpu")))
    assert len(plain.adapters) == 1  # a plain student: one group, plain feature KD


def test_each_frame_trains_the_sub_network_that_ran_it_against_its_group() -> None:
    student, teacher, distiller, outputs = _setup(frames=2)  # one segmented frame: sub-network 0 ran it
    terms = distiller(outputs)
    assert set(terms) == {"logit_kd", "group_kd"} and terms["group_kd"] > 0
    terms["group_kd"].backward()
    touched = [any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters()) for m in distiller.adapters]
    assert touched == [True, False]
    subnets = [any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters()) for m in student.key_encoder.subnets]
    assert subnets[0]  # frame 1's own skip; frame 0 (all sub-networks) feeds no skip to the decoder
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is frozen

    _, _, distiller, outputs = _setup(frames=3)
    distiller(outputs)["group_kd"].backward()
    assert all(any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters()) for m in distiller.adapters)


def test_bad_options_are_named() -> None:
    with pytest.raises(ConfigError, match="use --distiller none"):
        TDNetDistiller(logit_weight=0.0, group_weight=0.0)
    with pytest.raises(ConfigError, match=r"group_weight \(--group-weight\) must be >= 0; got -1.0"):
        TDNetDistiller(group_weight=-1.0)
    with pytest.raises(ConfigError, match="distils from a teacher"):
        TDNetDistiller().setup(Networks.of(build_model("tdnet_r18_mv2_tiny"), None, torch.device("cpu")))
