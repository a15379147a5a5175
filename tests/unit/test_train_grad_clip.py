"""Gradient clipping in the training loop: the student's gradients and a distiller's (an online teacher,
heads) are clipped apart, each to --grad-clip, so a large teacher gradient never shrinks the student's step."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import mobileseg.train.loop as loop
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.distill import DISTILLERS, Distiller, DistillOptions, StepOutputs, TeacherMode, option
from mobileseg.models import build_model
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import clip_gradients, train

pytestmark = pytest.mark.usefixtures("one_thread")
CLIP = 0.5


def _student_with_gradients(seed: int = 0) -> nn.Module:
    """The tiny student with a random gradient on every parameter, of global norm well above CLIP."""
    torch.manual_seed(seed)
    student = build_model("mobilevos_r18_mv2_tiny")
    for p in student.parameters():
        p.grad = torch.randn_like(p)
    return student


def _grads(module: nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in module.parameters() if p.grad is not None]


def _grads_of(parameters: list[nn.Parameter]) -> list[torch.Tensor]:
    return [p.grad for p in parameters if p.grad is not None]


def _norm(grads: list[torch.Tensor]) -> float:
    return float(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])))


def test_without_distiller_parameters_the_student_is_clipped_exactly_as_before() -> None:
    student, reference = _student_with_gradients(), _student_with_gradients()
    clip_gradients(student, DISTILLERS.get("none")(), CLIP)
    torch.nn.utils.clip_grad_norm_([*reference.parameters()], CLIP)  # the loop's rule before, for a parameterless distiller
    assert all(torch.equal(a, b) for a, b in zip(_grads(student), _grads(reference), strict=True))
    assert _norm(_grads(student)) == pytest.approx(CLIP, rel=1e-4)


def test_a_huge_distiller_gradient_leaves_the_students_clipped_gradient_as_without_it() -> None:
    student, alone = _student_with_gradients(), _student_with_gradients()
    distiller = nn.Linear(8, 8)  # stands for an online teacher or a head
    for p in distiller.parameters():
        p.grad = torch.full_like(p, 1e6)
    clip_gradients(alone, DISTILLERS.get("none")(), CLIP)
    clip_gradients(student, distiller, CLIP)
    assert all(torch.equal(a, b) for a, b in zip(_grads(student), _grads(alone), strict=True))  # untouched by the teacher's size
    assert _norm(_grads(distiller)) == pytest.approx(CLIP, rel=1e-4)  # the distiller clipped to --grad-clip on its own
    # clipped together (the old rule), the student's step would have shrunk by orders of magnitude
    joint_student, joint_distiller = _student_with_gradients(), nn.Linear(8, 8)
    for p in joint_distiller.parameters():
        p.grad = torch.full_like(p, 1e6)
    torch.nn.utils.clip_grad_norm_([*joint_student.parameters(), *joint_distiller.parameters()], CLIP)
    assert _norm(_grads(joint_student)) < 1e-3 * _norm(_grads(alone))


def test_small_gradients_are_left_alone_and_the_students_parameters_are_never_clipped_twice() -> None:
    student = _student_with_gradients()
    for p in student.parameters():
        assert p.grad is not None
        p.grad.mul_(1e-6)  # global norm far below CLIP
    before = _grads(student)

    class Holder(nn.Module):  # a (badly behaved) distiller that holds the student as a submodule
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.head = nn.Linear(2, 2)

    clip_gradients(student, Holder(), CLIP)  # the head has no gradient: nothing of the distiller to clip
    assert all(torch.equal(a, b) for a, b in zip(_grads(student), before, strict=True))


# --- the loop itself: one step of `train` with a distiller whose parameter gets a huge gradient -------------
@dataclass(frozen=True)
class LoudOptions(DistillOptions):
    scale: float = option(1e6, "How loud the distiller's own gradient is.", above=0)


class LoudDistiller(Distiller):
    """Loud: a distiller parameter with a huge gradient and no effect on the student (a test stand-in)."""

    Options = LoudOptions
    options: LoudOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.weight = nn.Parameter(torch.ones(4))

    @property
    def teacher_mode(self) -> TeacherMode:
        return "none"

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {"loud": self.options.scale * self.weight.pow(2).sum()}


@contextlib.contextmanager
def _registered(name: str, method: type[Distiller]) -> Iterator[None]:
    DISTILLERS.register(name)(method)
    try:
        yield
    finally:
        DISTILLERS.unregister(name)


def test_the_training_loop_clips_the_student_and_the_distiller_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[float, float, float]] = []
    real = loop.clip_gradients

    def spy(model: nn.Module, distiller: nn.Module, max_norm: float) -> None:
        alone = [nn.Parameter(p.detach().clone()) for p in model.parameters() if p.grad is not None]
        for copy, p in zip(alone, (p for p in model.parameters() if p.grad is not None), strict=True):
            copy.grad = p.grad.clone()  # type: ignore[union-attr]
        torch.nn.utils.clip_grad_norm_(alone, max_norm)  # what clipping the student alone gives
        real(model, distiller, max_norm)
        after = _grads(model)
        assert all(torch.equal(a, b) for a, b in zip(after, _grads_of(alone), strict=True))
        seen.append((max_norm, _norm(after), _norm(_grads(distiller))))

    monkeypatch.setattr(loop, "clip_gradients", spy)
    data = generate_synthvos(tmp_path / "synth", SynthConfig(videos=2, frames=3, height=48, width=64, objects=(1, 1), seed=1))
    with _registered("loud", LoudDistiller):
        train(TrainConfig(model="mobilevos_r18_mv2_tiny", data=str(data), out=str(tmp_path / "run"), distiller="loud", steps=1,
                          batch_size=1, clip_frames=3, crop=(48, 64), val_every=0, bn_batches=1, threads=1, grad_clip=CLIP))
    assert len(seen) == 1
    max_norm, student_norm, distiller_norm = seen[0]
    assert max_norm == CLIP and distiller_norm == pytest.approx(CLIP, rel=1e-4) and 0 < student_norm <= CLIP * (1 + 1e-4)
