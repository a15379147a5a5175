"""The student and (optionally) the frozen teacher over the same clips, as one module for DDP."""

from __future__ import annotations

import torch
from torch import nn

from mobileseg.models.base import MemoryNetwork
from mobileseg.models.clip import ClipOutput, ClipRunner


class DistillRunner(nn.Module):
    """Student and (optionally) frozen teacher over the same clips: one forward for DDP.

    The teacher runs without gradients and in eval mode with its own (unbounded) memory policy;
    the student with its fixed slots. Returns ``(student output, z_s, teacher output, z_t)``.
    ``init_masks`` (box-started clips) start only the student's memory: the teacher keeps the true
    masks, so what it passes on is the object, which the student must learn to find from a box.
    ``keep_decoder_inputs``: the student's output (and the teacher's) also carries its :class:`DecoderInputs`.
    """

    def __init__(self, student: MemoryNetwork, teacher: MemoryNetwork | None = None, keep_decoder_inputs: bool = False) -> None:
        super().__init__()
        self.student = ClipRunner(student, keep_decoder_inputs)
        self.teacher = ClipRunner(teacher, keep_decoder_inputs) if teacher is not None else None

    def forward(self, frames: torch.Tensor, masks: torch.Tensor, selector: torch.Tensor,
                init_masks: torch.Tensor | None = None) -> tuple[ClipOutput, torch.Tensor, ClipOutput | None, torch.Tensor | None]:
        out = self.student(frames, masks, selector, init_masks)
        z_s = self.student.model.represent(out.features.flatten(0, 1)).unflatten(0, out.features.shape[:2])
        if self.teacher is None:
            return out, z_s, None, None
        with torch.no_grad():
            self.teacher.eval()
            teacher = self.teacher(frames, masks, selector)
            z_t = self.teacher.model.represent(teacher.features.flatten(0, 1)).unflatten(0, teacher.features.shape[:2])
        return out, z_s, teacher, z_t
