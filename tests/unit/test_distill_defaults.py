"""`mobileseg distill`'s default clips give the teacher more memory than the student, and a run whose
clips do not is warned about."""

from __future__ import annotations

import logging

import click
import pytest
import torch

from mobileseg.cli import COMMANDS, cli
from mobileseg.models import build_model
from mobileseg.models.base import Memory, MemoryNetwork
from mobileseg.models.clip import ClipRunner
from mobileseg.train.config import DISTILL_CLIP_FRAMES, DISTILL_MAX_SKIP, TrainConfig
from mobileseg.train.objective import warn_if_no_memory_gap


def _default(name: str) -> object:
    command = cli.get_command(click.Context(cli), "distill")
    assert command is not None and "distill" in COMMANDS
    return next(p.default for p in command.get_params(click.Context(command)) if p.name == name)


def _frames_read(model: MemoryNetwork, frames: int) -> list[int]:
    """How many memory frames ``model`` reads at each frame of one training clip of ``frames`` frames."""
    read: list[int] = []
    original = model.read_memory

    def counting(key: torch.Tensor, memory: Memory) -> torch.Tensor:
        read.append(memory.keys.shape[1])
        return original(key, memory)

    model.read_memory = counting  # type: ignore[method-assign]
    clip = torch.rand(1, frames, 3, 48, 64)
    masks = torch.zeros(1, frames, 1, 48, 64)
    masks[..., 10:30, 20:40] = 1
    with torch.no_grad():
        ClipRunner(model.eval())(clip, masks, torch.ones(1, 1))
    return read


def test_on_distills_default_clip_the_teacher_reads_more_frames_than_the_student() -> None:
    assert _default("clip_frames") == DISTILL_CLIP_FRAMES and _default("max_skip") == DISTILL_MAX_SKIP
    student = _frames_read(build_model("mobilevos_r18_mv2_tiny"), DISTILL_CLIP_FRAMES)
    teacher = _frames_read(build_model("stcn_r50_r18_tiny"), DISTILL_CLIP_FRAMES)
    assert student == [2] * (DISTILL_CLIP_FRAMES - 1)  # its two slots, full from init
    assert teacher == list(range(1, DISTILL_CLIP_FRAMES))  # every earlier frame
    assert max(teacher) > max(student)
    # train's 3-frame clips: at the last frame both read the same two frames
    assert max(_frames_read(build_model("stcn_r50_r18_tiny"), 3)) == max(_frames_read(build_model("mobilevos_r18_mv2_tiny"), 3))


@pytest.mark.parametrize("frames, warned", [(3, True), (4, False), (DISTILL_CLIP_FRAMES, False)])
def test_clips_too_short_for_the_teachers_memory_are_warned_about(frames: int, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    config = TrainConfig(model="mobilevos_r18_mv2_tiny", data="d", out="o", distiller="mobilevos", teacher="t.pt", clip_frames=frames)
    with caplog.at_level(logging.WARNING, logger="mobileseg.train.objective"):
        assert warn_if_no_memory_gap(config, build_model("mobilevos_r18_mv2_tiny")) is warned
    if warned:
        assert "clips of 3 frames give the teacher no more memory than the student" in caplog.text
        assert "--clip-frames 4 or more" in caplog.text and f"distill's default is {DISTILL_CLIP_FRAMES}" in caplog.text
    else:
        assert not caplog.text
    three_slots = build_model("mobilevos_r18_mv2_tiny", slots=3)
    assert warn_if_no_memory_gap(TrainConfig(model="mobilevos_r18_mv2_tiny", data="d", out="o", clip_frames=4), three_slots)
