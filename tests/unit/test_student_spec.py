"""The student spec: what makes a network exportable is declared, and a student that lacks it is refused
when it is registered, not with an AttributeError in export."""

from __future__ import annotations

import pytest
import torch

from mobileseg.artifact.signature import signature_of
from mobileseg.models import MODELS, NetworkTracker, build_model
from mobileseg.models.registry import register_model
from mobileseg.models.spec import MemoryPolicy, StateTensor, Student, StudentSpec
from mobileseg.models.student import MobileVOSStudent


class NoSpec(Student):  # init and step, but no spec()
    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (frame,)

    def step(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (frame, *state)


class NotAStudent(torch.nn.Module):
    pass


def no_spec() -> NoSpec:
    return NoSpec()


def not_a_student() -> NotAStudent:
    return NotAStudent()


def unannotated():  # type: ignore[no-untyped-def]
    return MobileVOSStudent()


@pytest.mark.parametrize("builder, message", [
    (no_spec, "NoSpec does not implement spec"),
    (not_a_student, "must be annotated to return a subclass of mobileseg.models.spec.Student"),
    (unannotated, "must be annotated to return a subclass"),
])
def test_an_incomplete_student_is_refused_at_registration(builder: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        register_model("incomplete_student", role="student")(builder)  # type: ignore[arg-type]
    assert "incomplete_student" not in MODELS.names()


def test_a_teacher_is_not_exported() -> None:
    with pytest.raises(TypeError, match="STCNTeacher is not a mobileseg.models.spec.Student"):
        signature_of(build_model("stcn_r50_r18_tiny"), 32, 32)  # type: ignore[arg-type]


@pytest.mark.parametrize("state, phases, message", [
    ((), 1, "one or more distinct tensor names"),
    ((StateTensor("a", "", ""), StateTensor("a", "", "")), 1, "distinct"),
    ((StateTensor("a", "", ""),), 2, "need a 'phase' state tensor"),
])
def test_a_spec_that_cannot_be_exported_is_refused(state: tuple[StateTensor, ...], phases: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StudentSpec(state, MemoryPolicy(2, True), phases)


def test_the_contract_names_come_from_the_spec() -> None:
    model = build_model("tdnet_r18_mv2_tiny")
    spec = model.spec()  # type: ignore[operator]
    signature = signature_of(model, 64, 64)  # type: ignore[arg-type]
    assert signature.state == spec.names and signature.steps == ("step_0", "step_1")
    assert signature.describe("new_apm_key")[0] == spec.tensor("apm_key").layout
    tracker = NetworkTracker(model)
    state = tracker.init(torch.zeros(1, 3, 64, 64), torch.zeros(1, 1, 64, 64))
    named = tracker.named(state)
    assert list(named) == list(spec.names) and spec.phase_of(state) == 0
    with pytest.raises(TypeError, match="not a student"):
        NetworkTracker(build_model("stcn_r50_r18_tiny")).named(state)
