"""TDNet grouped distillation as the paper's code does it: each frame's sub-output against the teacher decoded from
the group of channels of the sub-network that ran the frame; the fused output against the whole teacher."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.distill import DISTILLERS, Networks, StepOutputs
from mobileseg.distill.tdnet import TDNetDistiller, channel_kl, group_logits
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.clip import SUB_OUTPUT_WEIGHT, logits_loss, segmentation_loss
from mobileseg.models.memory import aggregate
from mobileseg.train.runner import DistillRunner

H, W = 48, 64

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(frames: int = 3, subnets: int = 2, phase: int = 0, **options: float):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    student, teacher = build_model("tdnet_r18_mv2_tiny", subnets=subnets), build_model("stcn_r50_r18_tiny")
    distiller = DISTILLERS.get("tdnet")(**options)
    distiller.setup(Networks.of(student, teacher, torch.device("cpu")))
    labels = torch.zeros(1, frames, H, W, dtype=torch.long)
    labels[:, :, 8:30, 10:40] = 1
    labels[:, :, 0:2] = IGNORE_INDEX  # a void band: left out of both terms
    masks = (labels == 1).float().unsqueeze(2)
    out, t_out = DistillRunner(student, teacher)(torch.rand(1, frames, 3, H, W), masks, torch.ones(1, 1), phase=phase)
    return student, teacher, distiller, StepOutputs(out, t_out, labels, torch.ones(1, 1))


def test_channel_kl_by_hand() -> None:
    same = torch.randn(2, 3, 4, 4)
    assert torch.allclose(channel_kl(same, same, 1.0), torch.zeros(2, 4, 4), atol=1e-6)
    teacher = torch.log(torch.tensor([0.5, 0.5])).view(1, 2, 1, 1)
    student = torch.log(torch.tensor([0.25, 0.75])).view(1, 2, 1, 1)
    expected = 0.5 * torch.log(torch.tensor(0.5 / 0.25)) + 0.5 * torch.log(torch.tensor(0.5 / 0.75))
    assert torch.allclose(channel_kl(student, teacher, 1.0).flatten(), expected.view(1), atol=1e-6)
    assert torch.allclose(channel_kl(student * 2, teacher * 2, 2.0), 4 * channel_kl(student, teacher, 1.0), atol=1e-6)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_the_teachers_groups_average_to_its_own_logits(groups: int) -> None:
    """``pred(m x_i)`` over the m groups of the last features: their mean is the teacher's own per-object logit."""
    torch.manual_seed(0)
    teacher = build_model("stcn_r50_r18_tiny")
    pred = teacher.decoder.pred
    features = torch.relu(torch.randn(2, 3, pred.in_channels, 12, 16))  # [B, K, Cd, H/4, W/4]
    own = F.interpolate(pred(features.flatten(0, 1)), size=(H, W), mode="bilinear", align_corners=False).view(2, 3, H, W)
    parts = [group_logits(pred, features, groups, i, (H, W)) for i in range(groups)]
    assert torch.allclose(torch.stack(parts).mean(0), own, atol=1e-5)
    if groups > 1:
        assert not torch.allclose(parts[0], parts[1])  # each group alone predicts something of its own


@pytest.mark.parametrize("phase", [0, 1])
def test_each_sub_output_is_matched_to_the_group_of_the_sub_network_that_ran_its_frame(phase: int) -> None:
    student, teacher, distiller, outputs = _setup(frames=3, phase=phase)
    assert outputs.student.phases == (phase % 2, (phase + 1) % 2) and outputs.student.sub_logits is not None
    terms = distiller(outputs)
    assert set(terms) == {"logit_kd", "group_kd"} and terms["group_kd"] > 0

    valid = outputs.labels[:, 1:] != IGNORE_INDEX

    def by_hand(groups_of_frames: tuple[int, ...]) -> torch.Tensor:
        total = torch.zeros(())
        for t, group in enumerate(groups_of_frames):
            logits = group_logits(teacher.decoder.pred, outputs.teacher.features[:, t], 2, group, (H, W))
            target = aggregate(torch.sigmoid(logits), outputs.selector)[0]
            total = total + (channel_kl(outputs.student.sub_logits[:, t], target, 1.0) * valid[:, t]).sum()
        return 0.5 * total / valid.sum()

    assert torch.allclose(terms["group_kd"], by_hand(outputs.student.phases), rtol=1e-5)
    assert not torch.allclose(terms["group_kd"], by_hand(tuple(1 - p for p in outputs.student.phases)), rtol=1e-3)
    terms["group_kd"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
    assert all(p.grad is None for p in teacher.parameters())  # the teacher is frozen
    assert list(distiller.parameters()) == []  # no adapters: nothing of the method's own is trained or saved


def test_a_tdnet_student_is_also_trained_on_its_sub_outputs_and_a_plain_one_is_not() -> None:
    _, _, _, outputs = _setup(frames=3)
    losses = segmentation_loss(outputs.student, outputs.labels)
    expected = SUB_OUTPUT_WEIGHT * logits_loss(outputs.student.sub_logits, outputs.labels)
    assert torch.allclose(losses["sub_seg"], expected) and torch.allclose(losses["total"], losses["seg"] + losses["sub_seg"])
    plain = build_model("mobilevos_r18_mv2_tiny")
    out, _ = DistillRunner(plain)(torch.rand(1, 3, 3, H, W), outputs.labels.eq(1).float().unsqueeze(2), torch.ones(1, 1))
    assert out.sub_logits is None and out.phases == (0, 0) and set(segmentation_loss(out, outputs.labels)) == {"seg", "total"}


def test_bad_options_and_networks_are_named() -> None:
    with pytest.raises(ConfigError, match="use --distiller none"):
        TDNetDistiller(logit_weight=0.0, group_weight=0.0)
    with pytest.raises(ConfigError, match=r"group_weight \(--group-weight\) must be >= 0; got -1.0"):
        TDNetDistiller(group_weight=-1.0)
    with pytest.raises(ConfigError, match="distils from a teacher"):
        TDNetDistiller().setup(Networks.of(build_model("tdnet_r18_mv2_tiny"), None, torch.device("cpu")))
    teacher = build_model("stcn_r50_r18_tiny")
    with pytest.raises(ConfigError, match=r"one path \(not a TDNet student\).*--group-weight 0"):
        TDNetDistiller().setup(Networks.of(build_model("mobilevos_r18_mv2_tiny"), teacher, torch.device("cpu")))
    TDNetDistiller(group_weight=0.0).setup(Networks.of(build_model("mobilevos_r18_mv2_tiny"), teacher, torch.device("cpu")))
