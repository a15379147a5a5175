"""The student and (optionally) the frozen teacher over the same clips, as one module for DDP."""

from __future__ import annotations

import torch
from torch import nn

from mobileseg.models.base import MemoryNetwork
from mobileseg.models.clip import ClipOutput, ClipRunner


class DistillRunner(nn.Module):
    """Student and (optionally) frozen teacher over the same clips: one forward for DDP.

    The teacher runs without gradients and in eval mode with its own (unbounded) memory policy;
    the student with its fixed slots. Returns ``(student output, teacher output or None)``, each a
    :class:`~mobileseg.models.clip.ClipOutput` (logits, decoder features, embeddings z, decoder inputs).
    ``init_masks`` (box-started clips) start only the student's memory: the teacher keeps the true
    masks, so what it passes on is the object, which the student must learn to find from a box.
    """

    def __init__(self, student: MemoryNetwork, teacher: MemoryNetwork | None = None) -> None:
        super().__init__()
        self.student = ClipRunner(student)
        self.teacher = ClipRunner(teacher) if teacher is not None else None

    def forward(self, frames: torch.Tensor, masks: torch.Tensor, selector: torch.Tensor,
                init_masks: torch.Tensor | None = None, phase: int = 0) -> tuple[ClipOutput, ClipOutput | None]:
        """``phase``: where a student with several step graphs starts its schedule (the loop passes the step number)."""
        out = self.student(frames, masks, selector, init_masks, phase)
        if self.teacher is None:
            return out, None
        with torch.no_grad():
            self.teacher.eval()
            teacher = self.teacher(frames, masks, selector)
        return out, teacher
