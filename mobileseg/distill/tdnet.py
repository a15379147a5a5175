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

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, Networks, StepOutputs, option
from mobileseg.distill.losses import channel_kl
from mobileseg.errors import ConfigError
from mobileseg.models.backbones import Trunk
from mobileseg.models.base import MemoryNetwork
from mobileseg.models.spec import Student


@dataclass(frozen=True)
class TDNetOptions(DistillOptions):
    logit_weight: float = option(1.0, "Weight (the paper's alpha) of the KD over every labelled pixel, at --logit-tau (0 = off).",
                                 at_least=0)
    group_weight: float = option(0.5, "Weight (beta) of the grouped KD: each sub-network's stride-8 feature against its group of "
                                      "the teacher's channels (0 = off).", at_least=0)
    logit_tau: float = option(1.0, "Temperature of the logit KD and of the grouped KD (the losses are scaled by its square).",
                              above=0)

    def check(self) -> None:
        if self.logit_weight == 0 and self.group_weight == 0:
            raise ConfigError("distiller tdnet: both weights (logit_weight, group_weight) are 0: nothing is distilled; "
                              "use --distiller none for the baseline")


@DISTILLERS.register("tdnet")
class TDNetDistiller(Distiller):
    """TDNet grouped KD: each sub-network learns its group of the teacher's channels, the fused output the teacher's logits.

    See the module docstring for the formula, where we depart from the paper, and the defaults.
    """

    Options = TDNetOptions
    options: TDNetOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.phases = 1
        self.adapters = nn.ModuleList()

    def setup(self, networks: Networks) -> None:
        """One 1x1 adapter per sub-network of the student, from its stride-8 width to its group of the teacher's."""
        if networks.teacher is None:
            raise ConfigError("distiller tdnet distils from a teacher: give --teacher")
        self.phases = networks.student.spec().phases if isinstance(networks.student, Student) else 1
        student_width = _stride8_width(networks.student)
        teacher_width = _stride8_width(networks.teacher)
        if teacher_width < self.phases:
            raise ConfigError(f"distiller tdnet: the teacher's stride-8 feature has {teacher_width} channels, fewer than the "
                              f"student's {self.phases} sub-networks; use a wider teacher or a student with fewer sub-networks")
        widths = [len(group) for group in torch.arange(teacher_width).tensor_split(self.phases)]
        self.adapters = nn.ModuleList(nn.Conv2d(student_width, width, 1) for width in widths)

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        if outputs.teacher is None:
            raise RuntimeError("TDNetDistiller needs the teacher's output")
        terms: dict[str, torch.Tensor] = {}
        if o.logit_weight > 0:
            labels = outputs.labels[:, 1:]
            kl = channel_kl(outputs.student.class_logits.flatten(0, 1), outputs.teacher.class_logits.detach().flatten(0, 1), o.logit_tau)
            valid = (labels != IGNORE_INDEX).flatten(0, 1)
            terms["logit_kd"] = o.logit_weight * (kl * valid).sum() / valid.sum().clamp(min=1)
        if o.group_weight > 0:
            student = outputs.student.decoder_inputs.feats.f8  # [B, T-1, Cs, h, w]: the sub-network's own skip
            groups = outputs.teacher.decoder_inputs.feats.f8.detach().tensor_split(self.phases, dim=2)
            losses = []
            for frame in range(student.shape[1]):
                phase = frame % self.phases  # frame t = frame + 1 ran sub-network (t - 1) mod m
                losses.append(channel_kl(self.adapters[phase](student[:, frame]), groups[phase][:, frame], o.logit_tau).mean())
            terms["group_kd"] = o.group_weight * torch.stack(losses).mean()
        return terms


def _stride8_width(network: MemoryNetwork) -> int:
    """The width of a network's stride-8 query feature (what the grouped KD splits)."""
    if not isinstance(network.key_encoder, Trunk):
        raise ConfigError(f"distiller tdnet: {type(network).__name__}'s query encoder does not say its widths (not a Trunk)")
    return int(network.key_encoder.channels[1])
