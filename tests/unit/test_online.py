"""Online distillation: the adaptive rate, where gradients go (teacher, student, discriminator), the
fusion's causality and the adapters' initial identity."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from mobileseg.distill import DISTILLERS, Networks, StepOutputs
from mobileseg.distill.online import OnlineDistiller, SmoothBlock, SpaceTimeFusion, adaptive_rates
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.clip import ClipRunner, logits_loss

B, T, K, H, W = 2, 3, 2, 48, 64
TINY = dict(online_teacher="stcn_r50_r18_tiny")

pytestmark = pytest.mark.usefixtures("one_thread")


def _clips(seed: int = 0) -> dict[str, torch.Tensor]:
    """Two clips of three 48x64 frames: clip 0 has two objects, clip 1 one (slot 2 is padding)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(B, T, H, W, dtype=torch.long)
    labels[:, :, 4:20, 6:30] = 1
    labels[0, :, 24:44, 34:60] = 2
    labels[:, :, 0, :] = -100  # a void row
    masks = torch.stack([labels == k for k in (1, 2)], dim=2).float()
    return {"frames": torch.rand(B, T, 3, H, W, generator=g), "labels": labels, "masks": masks,
            "selector": torch.tensor([[1.0, 1.0], [1.0, 0.0]])}


def _setup(seed: int = 0, **options: object) -> tuple[nn.Module, OnlineDistiller]:
    """The student and the distiller set up as the trainer does: it builds the online teacher and hands it over."""
    torch.manual_seed(seed)
    student = build_model("mobilevos_r18_mv2_tiny")
    distiller = DISTILLERS.get("online")(**{**TINY, **options})
    assert distiller.teacher_mode == "online" and distiller.online_network == TINY["online_teacher"]
    distiller.setup(Networks.of(student, build_model(distiller.online_network), torch.device("cpu")))
    return student, distiller  # type: ignore[return-value]


def _outputs(student: nn.Module, data: dict[str, torch.Tensor], **extra: object) -> StepOutputs:
    out = ClipRunner(student)(data["frames"], data["masks"], data["selector"])  # type: ignore[arg-type]
    return StepOutputs(out, None, data["labels"], data["selector"], task_loss=lambda logits: logits_loss(logits, data["labels"], 1.0),
                       batch=data, **extra)  # type: ignore[arg-type]


def _step(student: nn.Module, distiller: OnlineDistiller) -> dict[str, torch.Tensor]:
    return distiller(_outputs(student, _clips(), step=0, steps=10))


def _touched(module: nn.Module) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters())


def test_the_rate_is_the_share_of_the_student_loss_the_teacher_removed() -> None:
    student = torch.tensor([1.0, 1.0, 1.0, 0.5, 2.0])
    teacher = torch.tensor([0.0, 0.5, 1.0, 1.0, 0.1])
    labels = torch.tensor([1, 0, 1, 0, -100])
    rates = adaptive_rates(student, teacher, labels)
    assert torch.allclose(rates, torch.tensor([1.0, 0.5, 0.0, 0.0, 0.0]), atol=1e-5)  # void: 0; teacher worse: 0
    better = adaptive_rates(torch.full((5,), 1.0), torch.linspace(1.0, 0.0, 5), torch.zeros(5, dtype=torch.long))
    assert torch.all(better[1:] > better[:-1])  # the better the teacher gets, the faster the student learns from it


def test_one_step_trains_teacher_and_student_and_no_distillation_term_reaches_the_teacher() -> None:
    student, distiller = _setup()
    terms = _step(student, distiller)
    assert set(terms) == {"teacher_seg", "logit_kd", "feature_kd", "adv_disc", "adv_student"}
    sum(terms.values()).backward()
    assert _touched(distiller.teacher) and _touched(student) and _touched(distiller.smooth) and _touched(distiller.discriminator)

    student, distiller = _setup()
    terms = _step(student, distiller)
    (terms["logit_kd"] + terms["feature_kd"] + terms["adv_student"]).backward()
    assert not _touched(distiller.teacher)  # the student never drags the teacher
    assert not _touched(distiller.discriminator)  # the student's adversarial loss does not train D
    assert _touched(student)

    student, distiller = _setup()
    terms = _step(student, distiller)
    terms["adv_disc"].backward()
    assert _touched(distiller.discriminator) and not _touched(student) and not _touched(distiller.teacher)
    assert not _touched(distiller.smooth)


def test_with_the_rate_the_terms_vanish_where_the_teacher_is_no_better() -> None:
    """A teacher with the student's exact outputs is no better anywhere: every rate and so every KD term is 0."""
    student, distiller = _setup(adversarial_weight=0.0)
    outputs = _outputs(student, _clips())
    distiller.teacher = ClipRunner(student)  # type: ignore[arg-type]  # the teacher is the student itself
    distiller.smooth = SmoothBlock(16, 16, smooth=False)
    with torch.no_grad():
        adaptive = distiller(outputs)
        distiller.options = replace(distiller.options, adaptive_rate=False)
        plain = distiller(outputs)
    assert adaptive["logit_kd"] == 0 and adaptive["feature_kd"] == 0
    assert plain["logit_kd"].abs() < 1e-5  # same logits: KL 0 anyway
    assert plain["feature_kd"] > 0  # a random 1x1 adapter: the features differ, and without the rate they are matched


def test_the_rate_weights_the_imitation_terms_only_not_the_adversarial_ones() -> None:
    """As the module docstring says: r scales logit_kd and feature_kd; adv_disc and adv_student are plain means."""
    student, distiller = _setup()
    outputs = _outputs(student, _clips())
    distiller.teacher = ClipRunner(student)  # type: ignore[arg-type]  # no better anywhere: every rate is 0
    distiller.smooth = SmoothBlock(16, 16, smooth=False)  # to the "teacher's" width, 16
    distiller.discriminator = nn.Sequential(nn.Conv2d(16, 8, 1), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 1))
    with torch.no_grad():
        adaptive = distiller(outputs)
        distiller.options = replace(distiller.options, adaptive_rate=False)
        plain = distiller(outputs)
    assert adaptive["logit_kd"] == 0 and adaptive["feature_kd"] == 0 and plain["feature_kd"] > 0
    for name in ("adv_disc", "adv_student"):
        assert adaptive[name] > 0 and torch.equal(adaptive[name], plain[name]), name


def test_adversarial_losses_have_the_right_signs() -> None:
    torch.manual_seed(0)
    _, distiller = _setup()
    disc = distiller.discriminator
    teacher = nn.functional.normalize(torch.randn(3, 32, 4, 4) + 1.0, dim=1)
    student = nn.functional.normalize(torch.randn(3, 32, 4, 4) - 1.0, dim=1).requires_grad_()
    before_real, before_fake = disc(teacher).mean().item(), disc(student).mean().item()
    terms = distiller._adversarial(student, teacher)
    terms["adv_disc"].backward()
    assert student.grad is None  # the discriminator's loss does not move the student
    with torch.no_grad():
        for p in disc.parameters():
            p -= 1.0 * p.grad
    assert disc(teacher).mean().item() > before_real and disc(student).mean().item() < before_fake  # D learns to tell them apart

    disc.zero_grad()
    fooled_before = disc(student).mean().item()
    distiller._adversarial(student, teacher)["adv_student"].backward()
    assert all(p.grad is None or not p.grad.any() for p in disc.parameters())
    with torch.no_grad():
        moved = student - 1.0 * student.grad
    assert disc(moved).mean().item() > fooled_before  # the student moves to where D says "teacher"


def test_fusion_starts_as_identity_and_takes_its_priors_from_the_past() -> None:
    torch.manual_seed(0)
    fusion = SpaceTimeFusion(8)
    z = torch.randn(1, 3, 2, 8, 4, 4)
    previous, first = torch.rand(1, 3, 2, 4, 4), torch.rand(1, 3, 2, 4, 4)
    assert torch.equal(fusion(z, previous, first), z)  # zero-initialised: the student's feature untouched at first
    nn.init.normal_(fusion.mix.weight)
    base = fusion(z, previous, first)
    later = z.clone()
    later[:, 2] += 1.0  # the last frame changes
    changed = fusion(later, previous, first)
    assert torch.equal(changed[:, :2], base[:, :2])  # earlier frames never see later ones
    earlier = z.clone()
    earlier[:, 0] += 1.0  # frame 1's features are frame 2's appearance prior
    assert not torch.allclose(fusion(earlier, previous, first)[:, 1], base[:, 1])


def test_smooth_block_starts_as_its_projection_and_components_can_be_switched_off() -> None:
    block = SmoothBlock(4, 6)
    x = torch.randn(2, 4, 5, 5)
    assert torch.equal(block(x), block.project(x))
    _, bare = _setup(fusion=False, smooth_block=False, adversarial_weight=0.0)
    assert bare.fusion is None and bare.discriminator is None and bare.smooth.smooth is None
    assert {k.split(".")[0] for k in bare.state_dict()} == {"teacher", "smooth"}
    _, full = _setup()
    assert {k.split(".")[0] for k in full.state_dict()} == {"teacher", "fusion", "smooth", "discriminator"}
    assert any(k.startswith("teacher.model.") for k in full.state_dict())


def test_bad_options_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown model 'stcn_nope'"):
        OnlineDistiller(online_teacher="stcn_nope")
    with pytest.raises(ConfigError, match=r"feature_weight \(--feature-weight\) must be >= 0; got -1.0"):
        OnlineDistiller(feature_weight=-1.0)
    with pytest.raises(ConfigError, match="trains a teacher beside the student"):
        OnlineDistiller(**TINY).setup(Networks.of(build_model("mobilevos_r18_mv2_tiny"), None, torch.device("cpu")))
