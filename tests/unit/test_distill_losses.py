"""The MobileVOS loss family, each part alone, on cases that can fail."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mobileseg.distill import DISTILLERS, StepOutputs
from mobileseg.distill.base import object_labels
from mobileseg.distill.losses import (
    boundary_logit_kd,
    boundary_map,
    correlation,
    gather_pixels,
    representation_loss,
    sample_pixels,
)
from mobileseg.errors import ConfigError
from mobileseg.models.clip import ClipOutput, pixel_losses, poly1_cross_entropy


def crisp(n: int = 60, classes: int = 3, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixels of ``classes`` kinds with orthogonal prototype representations (0/1 relations)."""
    labels = torch.arange(n) % classes
    return torch.eye(dim)[labels], F.one_hot(labels, classes).float()


def test_representation_loss_is_minimal_when_student_equals_a_crisp_teacher() -> None:
    z_t, y = crisp()
    equal = representation_loss(z_t.clone(), z_t, y, omega=1.0)
    assert equal.abs() < 1e-7  # the lower bound: L >= 0
    torch.manual_seed(0)
    for scale in (0.05, 0.3, 1.0):
        moved = representation_loss(z_t + scale * torch.randn_like(z_t), z_t, y, omega=1.0)
        assert moved > equal + 1e-5
    assert representation_loss(torch.randn(60, 8), z_t, y, omega=1.0) > 1e-3


def test_representation_loss_prefers_the_teacher_for_a_generic_teacher() -> None:
    torch.manual_seed(1)
    z_t = torch.randn(40, 16)
    y = F.one_hot(torch.arange(40) % 2, 2).float()
    equal = representation_loss(z_t.clone(), z_t, y, omega=1.0)
    others = [representation_loss(torch.randn(40, 16), z_t, y, omega=1.0) for _ in range(5)]
    assert all(equal < other for other in others)


def test_omega_zero_does_not_depend_on_the_teacher() -> None:
    torch.manual_seed(2)
    z_s, y = torch.randn(30, 8), F.one_hot(torch.arange(30) % 3, 3).float()
    a = representation_loss(z_s, torch.randn(30, 5), y, omega=0.0)
    b = representation_loss(z_s, torch.randn(30, 12), y, omega=0.0)
    c = representation_loss(z_s, None, y, omega=0.0)
    assert a == b == c
    with pytest.raises(ValueError, match="teacher"):
        representation_loss(z_s, None, y, omega=0.5)


def test_representation_loss_pinned_and_batched() -> None:
    torch.manual_seed(0)
    z_s, z_t = torch.randn(2, 16, 6), torch.randn(2, 16, 4)
    y = F.one_hot(torch.randint(0, 2, (2, 16)), 2).float()
    batched = representation_loss(z_s, z_t, y, omega=0.95)
    singles = [representation_loss(z_s[i], z_t[i], y[i], omega=0.95) for i in range(2)]
    assert torch.allclose(batched, torch.stack(singles).mean())
    # hand check of the formula on the first set
    c_s, c_t = correlation(z_s[0]), correlation(z_t[0])
    target = 0.95 * c_t + 0.05 * (y[0] @ y[0].t())
    expected = (math.log2(float(c_s.pow(2).sum())) - math.log2(float((c_s * target).pow(2).sum()))) / 16
    assert abs(float(singles[0]) - expected) < 1e-6
    assert float(batched) == pytest.approx(0.0762465, abs=1e-6)  # pinned: torch.manual_seed(0) inputs above


def test_gradients_reach_only_the_sampled_pixels() -> None:
    torch.manual_seed(3)
    z_map = torch.randn(1, 8, 6, 6, requires_grad=True)
    index = torch.tensor([[0, 7, 14, 21, 35]])
    z = gather_pixels(z_map, index)  # [1, 5, 8]
    y = F.one_hot(torch.tensor([[0, 1, 0, 1, 1]]), 2).float()
    representation_loss(z, torch.randn(1, 5, 4), y, omega=0.5).backward()
    touched = z_map.grad.abs().sum(dim=1).flatten().nonzero().flatten().tolist()
    assert touched == [0, 7, 14, 21, 35]


def test_boundary_sampler_takes_only_boundary_pixels_when_enough_exist() -> None:
    labels = torch.zeros(1, 16, 16, dtype=torch.long)
    labels[0, 4:12, 4:12] = 1
    edges = boundary_map(labels)
    assert edges[0, 8, 8] == 0 and edges[0, 0, 0] == 0 and edges[0, 4, 8] == 1
    count = int(edges.sum())
    generator = torch.Generator().manual_seed(0)
    index = sample_pixels(edges, count // 2, generator)
    assert bool(edges.flatten(1).gather(1, index).all())
    # fewer boundary pixels than asked: every boundary pixel is taken, the rest topped up at random
    index = sample_pixels(edges, count + 10, generator)
    picked = edges.flatten(1).gather(1, index)
    assert int(picked.sum()) == count and index.unique().numel() == count + 10
    assert int(boundary_map(labels, dilation=1).sum()) > count  # dilation grows the band


def test_logit_kd_matches_a_hand_computation() -> None:
    student, teacher = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
    # tau 0.5: p_t = softmax(2, 0), p_s = softmax(0, 2); KL = (0.8808 - 0.1192) * ln(e^2) = 1.5232
    p = math.exp(2) / (math.exp(2) + 1)
    expected = p * math.log(p / (1 - p)) + (1 - p) * math.log((1 - p) / p)
    assert float(boundary_logit_kd(student, teacher, tau=0.5)) == pytest.approx(expected, abs=1e-6)
    assert float(boundary_logit_kd(teacher, teacher, tau=0.1)) == pytest.approx(0.0, abs=1e-7)


def test_poly1_matches_a_hand_computation() -> None:
    logits = torch.tensor([[[[2.0]], [[0.0]]]])  # N=1, C=2, 1x1
    labels = torch.tensor([[[0]]])
    p = math.exp(2) / (math.exp(2) + 1)
    assert float(poly1_cross_entropy(logits, labels, epsilon=1.0)) == pytest.approx(-math.log(p) + (1 - p), abs=1e-6)
    assert float(poly1_cross_entropy(logits, labels, epsilon=0.0)) == pytest.approx(-math.log(p), abs=1e-6)
    void = torch.tensor([[[-100]]])
    assert float(pixel_losses(logits, void, 1.0).sum()) == 0.0


def _outputs(teacher: bool = True) -> StepOutputs:
    torch.manual_seed(4)
    batch, frames, objects, height, width = 2, 2, 2, 32, 32
    labels = torch.zeros(batch, frames + 1, height, width, dtype=torch.long)
    labels[:, :, 8:20, 8:20] = 1
    labels[:, :, 22:30, 4:14] = 2
    logits = torch.randn(batch, frames, objects + 1, height, width, requires_grad=True)
    features = torch.randn(batch, frames, objects, 8, height // 4, width // 4)
    z_s = torch.randn(batch, frames, objects, 6, height // 4, width // 4, requires_grad=True)
    t_logits = torch.randn(batch, frames, objects + 1, height, width)
    z_t = torch.randn(batch, frames, objects, 5, height // 4, width // 4)
    t_out = ClipOutput(t_logits, features, z_t, None) if teacher else None  # type: ignore[arg-type]
    return StepOutputs(ClipOutput(logits, features, z_s, None), t_out, labels, torch.tensor([[1.0, 1.0], [1.0, 0.0]]))  # type: ignore[arg-type]


@pytest.mark.parametrize("sampling", ["boundary", "random"])
def test_mobilevos_distiller_terms(sampling: str) -> None:
    distiller = DISTILLERS.get("mobilevos")(samples=16, sampling=sampling)
    outputs = _outputs()
    terms = distiller(outputs, torch.Generator().manual_seed(0))
    assert set(terms) == {"repr", "logit_kd"} and all(torch.isfinite(v) for v in terms.values())
    sum(terms.values()).backward()
    z_s = outputs.student.embeddings
    assert z_s.grad is not None and outputs.student.class_logits.grad is not None
    assert z_s.grad[1, :, 1].abs().sum() == 0  # the padding object slot of clip 2 gets nothing
    assert DISTILLERS.get("none")()(outputs) == {}
    with pytest.raises(ConfigError, match=r"option sampling \(--sampling\) must be one of boundary, random; got 'everywhere'"):
        DISTILLERS.get("mobilevos")(sampling="everywhere")
    with pytest.raises(ConfigError, match=r"option omega \(--omega\) must be in \[0, 1\]; got 1.5. Give a value in \[0, 1\]"):
        DISTILLERS.get("mobilevos")(omega=1.5)


def test_mobilevos_without_teacher_terms_uses_no_teacher() -> None:
    mobilevos = DISTILLERS.get("mobilevos")
    assert mobilevos().teacher_mode == "checkpoint" and mobilevos(omega=0.0).teacher_mode == "checkpoint"  # the logit KD needs it
    contrastive = mobilevos(omega=0.0, logit_weight=0.0)
    assert contrastive.teacher_mode == "none"
    terms = contrastive(_outputs(teacher=False), torch.Generator().manual_seed(0))
    assert set(terms) == {"repr"} and torch.isfinite(terms["repr"])


def test_mobilevos_terms_are_pinned_with_void_pixels() -> None:
    # pinned before distillers became modules (the values of the earlier stateless callable): unchanged
    outputs = _outputs()
    outputs.labels[:, :, :3, :] = -100  # void rows count as background for mobilevos
    terms = DISTILLERS.get("mobilevos")(samples=16)(outputs, torch.Generator().manual_seed(0))
    assert float(terms["repr"].detach()) == pytest.approx(0.0786704570055008, abs=1e-6)
    assert float(terms["logit_kd"].detach()) == pytest.approx(1.5084233283996582, abs=1e-6)
    assert isinstance(DISTILLERS.get("mobilevos")(), torch.nn.Module) and DISTILLERS.get("mobilevos")().state_dict() == {}


def test_object_labels_split_objects_and_mark_void_and_padding() -> None:
    outputs = _outputs()
    outputs.labels[0, 1, :4, :] = -100  # the top stride-4 row of clip 1, frame 1 is void
    labels, real = object_labels(outputs)
    assert labels.shape == (2 * 2 * 2, 8, 8) and real.tolist() == [True] * 4 + [True, False] * 2  # clip 2 has one object
    first = labels[0]  # clip 1, frame 1, object 1: the square 8:20 -> rows/cols 2..4 at stride 4
    assert first[2:5, 2:5].eq(1).all() and int(first.eq(1).sum()) == 9
    assert first[0].eq(-1).all() and int(first.eq(-1).sum()) == 8
    assert labels[1][6:8, 1:4].eq(1).all()  # object 2 in its own slot
