"""Grouped distillation for the TDNet student (Hu et al., "Temporally Distributed Networks for Fast
Video Semantic Segmentation", CVPR 2020, §3.3), from a frozen teacher.

The paper splits the teacher's features into m channel groups, one per student sub-network, so
that each shallow sub-network learns its share of the deep feature and the fused feature learns
the whole::

    L = CE(full) + alpha KL(pi_S(V') || pi_T(sum_i f_i)) + beta sum_i KL(pi_S(V_i) || pi_T(f_i))

(their code: alpha = 1, beta = 0.5, T = 1). Ours, on mobileseg's networks (B clips, frames
1..T-1, sub-network i = (t-1) mod m runs frame t, as in the tracker; sg = stop-gradient)::

    logit_kd = alpha tau^2 mean_{labelled pixels} KL(softmax(sg(l_T)/tau) || softmax(l_S/tau))
    group_kd = beta tau^2 mean_{frames t, pixels} KL(softmax(sg(g_T,i(t))/tau) || softmax(A_i(s_t)/tau))

- the full term acts on the class logits (background + objects) of the fused student, which is
  what pi_S(V') is once decoded; the teacher's are its own, with its unbounded memory;
- the grouped term is per pixel over channels, on the stride-8 features: s_t is the stride-8 skip
  of the sub-network that ran frame t (its own feature, before any fusion), g_T,i(t) its group of
  the teacher's stride-8 key-encoder channels (``torch.tensor_split`` into m near-equal groups),
  A_i a 1x1 conv to that group's width. Where the paper decodes every group with the segmentation
  head (m extra teacher decodes per frame), we match the features themselves: same grouping, no
  extra passes. A plain student (one phase) gets one group: plain feature KD on its stride-8 skip.

Defaults (the paper's code): alpha = 1 (``--logit-weight``), beta = 0.5 (``--group-weight``),
tau = 1 (``--logit-tau``). The adapters are the distiller's parameters (optimiser, last.pt,
--resume); exports hold the student alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.distill.base import DISTILLERS, Distiller, StepOutputs
from mobileseg.distill.losses import channel_kl

if TYPE_CHECKING:
    from mobileseg.models.base import MemoryNetwork


@DISTILLERS.register("tdnet")
class TDNetDistiller(Distiller):
    """TDNet grouped KD: each sub-network learns its group of the teacher's channels, the fused output the teacher's logits.

    See the module docstring for the formula, where we depart from the paper, and the defaults.
    """

    needs_teacher = True
    needs_student = True  # its sub-network count and skip width, and the runner keeps the decoder inputs

    def __init__(self, *, logit_weight: float = 1.0, group_weight: float = 0.5, logit_tau: float = 1.0) -> None:
        if min(logit_weight, group_weight) < 0 or logit_tau <= 0:
            raise ValueError(f"weights must be >= 0 and --logit-tau > 0; got logit {logit_weight}, group {group_weight}, tau {logit_tau}")
        if logit_weight == 0 and group_weight == 0:
            raise ValueError("both weights are 0: nothing is distilled; use --distiller none for the baseline")
        super().__init__()
        self.logit_weight, self.group_weight, self.logit_tau = logit_weight, group_weight, logit_tau
        self.phases, self.student_width, self.teacher_width = 1, 0, 0
        self.adapters = nn.ModuleList()

    def attach(self, student: MemoryNetwork) -> None:
        self.phases = int(getattr(student, "phases", 1))
        self.student_width = int(student.key_encoder.channels[1])

    def attach_teacher(self, teacher: MemoryNetwork) -> None:
        self.teacher_width = int(teacher.key_encoder.channels[1])

    def build(self, student_dim: int, teacher_dim: int | None) -> None:
        if teacher_dim is None or not self.student_width or not self.teacher_width:
            raise ValueError("tdnet distils from a teacher: attach the student and the teacher before build")
        if self.teacher_width < self.phases:
            raise ValueError(f"the teacher's stride-8 feature has {self.teacher_width} channels, fewer than the student's {self.phases} sub-networks")
        widths = [len(group) for group in torch.arange(self.teacher_width).tensor_split(self.phases)]
        self.adapters = nn.ModuleList(nn.Conv2d(self.student_width, width, 1) for width in widths)

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if outputs.teacher is None or outputs.student.decoder_inputs is None or outputs.teacher.decoder_inputs is None:
            raise RuntimeError("TDNetDistiller needs the teacher's output and both networks' decoder inputs")
        terms: dict[str, torch.Tensor] = {}
        if self.logit_weight > 0:
            labels = outputs.labels[:, 1:]
            kl = channel_kl(outputs.student.class_logits.flatten(0, 1), outputs.teacher.class_logits.detach().flatten(0, 1), self.logit_tau)
            valid = (labels != IGNORE_INDEX).flatten(0, 1)
            terms["logit_kd"] = self.logit_weight * (kl * valid).sum() / valid.sum().clamp(min=1)
        if self.group_weight > 0:
            student = outputs.student.decoder_inputs.feats.f8  # [B, T-1, Cs, h, w]: the sub-network's own skip
            groups = outputs.teacher.decoder_inputs.feats.f8.detach().tensor_split(self.phases, dim=2)
            losses = []
            for frame in range(student.shape[1]):
                phase = frame % self.phases  # frame t = frame + 1 ran sub-network (t - 1) mod m
                losses.append(channel_kl(self.adapters[phase](student[:, frame]), groups[phase][:, frame], self.logit_tau).mean())
            terms["group_kd"] = self.group_weight * torch.stack(losses).mean()
        return terms
