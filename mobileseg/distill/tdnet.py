"""Grouped distillation for the TDNet student, from a frozen teacher.

Paper: Hu et al., "Temporally Distributed Networks for Fast Video Semantic Segmentation", CVPR 2020,
§3.3. Checked against the official code, ``feinanshan/TDNet`` (``Training/ptsemseg/models/td4_psp``:
``td4_psp.py`` for the student's losses, ``pspnet_4p.py`` for the grouped teacher).

The paper splits the teacher's last feature into m channel groups, one per student sub-network;
the teacher decodes every group on its own with its head, and each sub-network's own output
learns its group's prediction while the fused output learns the teacher's whole one::

    L = CE(out) + 0.5 CE(out_sub) + alpha KL(out || T) + beta KL(out_sub || T_i)

(official code: alpha = 1, beta = 0.5, T = 1; ``out_sub`` = the head on the sub-network's own
feature, before attention propagation; ``T_i`` = the teacher's head on ``m g_i``, its group i of
the pre-head feature, whose m groups sum to the whole). Ours, on mobileseg's networks (B clips,
frames t = 1..T-1; sub-network i(t) segments frame t, sg = stop-gradient)::

    logit_kd = alpha tau^2 mean_{labelled pixels} KL(softmax(sg(l_T)/tau) || softmax(l_S/tau))
    group_kd = beta tau^2 mean_{frames, labelled pixels} KL(softmax(sg(g_T,i(t))/tau) || softmax(s_t/tau))

- ``l_S``, ``l_T``: the class logits (background + objects, soft-aggregated) of the fused student
  and of the teacher with its unbounded memory;
- ``s_t``: the student's sub-output for frame t (``ClipOutput.sub_logits``): the frame decoded from
  its sub-network's own stride-16 value V_t in place of the fused V'_t (key, readout from the same
  memory, decoder), as TDNet's ``head(V_i)``. Its own segmentation loss, weight 0.5 as in the
  official code, is part of every TDNet student's training (``sub_seg``, with or without KD);
- ``g_T,i``: the teacher's class logits decoded from channel group i of its decoder's last
  features (the input of its final 3x3 prediction conv, split into m near-equal contiguous
  groups with ``torch.tensor_split``), scaled by m: ``pred(m x_i) = m W_i * x_i + b``, so the mean
  of the m group logits is the teacher's own logit, as the official teacher's ``head(m g_i)``.

Deviations (each with its reason):

- Where the groups are cut: the official teacher (PSPNet) splits its 2048-channel backbone feature
  and its pyramid pooling into m groups and has a grouped 3x3 conv per group before a shared head;
  ours splits the input of the STCN decoder's last (linear) layer, the one place where a VOS
  decoder is a sum of per-channel parts, so no grouped modules are added to a frozen teacher.
- The sub-output reads memory with its own key: a VOS frame is decoded from the memory readout, so
  "the head on V_i" becomes key, readout and decoder from V_i (the memory is the frame's).
- The KL terms average over labelled pixels (void left out) like every distiller here; the official
  code averages over all pixels.
- No auxiliary head (the official 0.1 CE on the stride-8 feature): the student has no such head.
- APM (``mobileseg.models.tdnet``): past frames are average-pooled by ``apm_stride`` (official:
  every third pixel, a stride-3 max-pool of kernel 1); Q, K, V are one 1x1 conv each (official: Q
  and K two 1x1 convs with BN between); one φ shared by every attention of the chain (official: one
  per pair of sub-networks, m(m-1) modules); no dropout; no LayerNorm before the head (the official
  one normalises over a fixed 97x193 feature map and so fixes the input size; ours is decoded by the
  MobileVOS decoder at any size). Kept as they are: the exported step graphs and their state depend
  on them, and no measurement here says the official forms track better.

Before this version (up to 2026-12-06) the grouped term matched a channel softmax of each
sub-network's stride-8 skip, through a 1x1 adapter, to contiguous channel slices of the teacher's
ResNet-50 stride-8 feature: slices with no group meaning, and no term on the fused stride-16
feature. It was never measured to help (distill_bench at 150 steps: +0.006 ± 0.043 J&F), and is gone.

Defaults (the paper's code): alpha = 1 (``--logit-weight``), beta = 0.5 (``--group-weight``),
tau = 1 (``--logit-tau``). The method has no parameters of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, Networks, StepOutputs, option
from mobileseg.distill.losses import channel_kl
from mobileseg.errors import ConfigError
from mobileseg.models.memory import aggregate
from mobileseg.models.spec import Student


@dataclass(frozen=True)
class TDNetOptions(DistillOptions):
    logit_weight: float = option(1.0, "Weight (the paper's alpha) of the KD of the fused output over every labelled pixel, at "
                                      "--logit-tau (0 = off).", at_least=0)
    group_weight: float = option(0.5, "Weight (beta) of the grouped KD: each frame's sub-output (its sub-network alone) against the "
                                      "teacher decoded from that sub-network's group of its channels (0 = off).", at_least=0)
    logit_tau: float = option(1.0, "Temperature of both KD terms (the losses are scaled by its square).", above=0)

    def check(self) -> None:
        if self.logit_weight == 0 and self.group_weight == 0:
            raise ConfigError("distiller tdnet: both weights (logit_weight, group_weight) are 0: nothing is distilled; "
                              "use --distiller none for the baseline")


def group_logits(pred: nn.Conv2d, features: torch.Tensor, groups: int, index: int, size: tuple[int, int]) -> torch.Tensor:
    """Per-object logits ``[B, K, H, W]`` decoded from channel group ``index`` (of ``groups``) of a decoder's last features
    ``features [B, K, Cd, h, w]`` alone, scaled by ``groups``: ``pred(groups * x_index)``, upsampled as the network does."""
    batch, objects, channels = features.shape[:3]
    group = torch.arange(channels).tensor_split(groups)[index]
    low, high = int(group[0]), int(group[-1]) + 1
    x = features[:, :, low:high].flatten(0, 1) * groups
    logits = F.conv2d(x, pred.weight[:, low:high], pred.bias, pred.stride, pred.padding, pred.dilation)
    logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    return logits.view(batch, objects, *size)


@DISTILLERS.register("tdnet")
class TDNetDistiller(Distiller):
    """TDNet grouped KD: each sub-output learns the teacher's group of that sub-network, the fused output the whole teacher.

    See the module docstring for the formula, the deviations from the paper and its code, and the defaults.
    """

    Options = TDNetOptions
    options: TDNetOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.phases = 1
        self._teacher_group: Callable[..., torch.Tensor] | None = None  # not a submodule: the teacher's weights stay its own

    def setup(self, networks: Networks) -> None:
        """Keep the teacher's final prediction conv (to decode its groups) and the student's number of sub-networks."""
        if networks.teacher is None:
            raise ConfigError("distiller tdnet distils from a teacher: give --teacher")
        student = networks.student
        self.phases = student.spec().phases if isinstance(student, Student) else 1
        if self.options.group_weight > 0 and self.phases < 2:
            raise ConfigError(f"distiller tdnet: the grouped KD matches each sub-network's own output, and {type(student).__name__} "
                              "has one path (not a TDNet student); use a tdnet_* student, or --group-weight 0 for the logit KD alone")
        pred = getattr(networks.teacher.decoder, "pred", None)
        if not isinstance(pred, nn.Conv2d) or pred.groups != 1 or pred.out_channels != 1:
            raise ConfigError(f"distiller tdnet: the teacher's decoder ({type(networks.teacher.decoder).__name__}) has no final "
                              "one-channel prediction conv `pred` whose input channels can be grouped")
        if pred.in_channels < self.phases:
            raise ConfigError(f"distiller tdnet: the teacher's decoder has {pred.in_channels} channels before its prediction, fewer than "
                              f"the student's {self.phases} sub-networks; use a wider teacher or a student with fewer sub-networks")
        self._teacher_group = partial(group_logits, pred)

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        if outputs.teacher is None:
            raise RuntimeError("TDNetDistiller needs the teacher's output")
        valid = (outputs.labels[:, 1:] != IGNORE_INDEX).flatten(0, 1)  # [B(T-1), H, W]
        terms: dict[str, torch.Tensor] = {}
        if o.logit_weight > 0:
            kl = channel_kl(outputs.student.class_logits.flatten(0, 1), outputs.teacher.class_logits.detach().flatten(0, 1), o.logit_tau)
            terms["logit_kd"] = o.logit_weight * (kl * valid).sum() / valid.sum().clamp(min=1)
        if o.group_weight > 0:
            terms["group_kd"] = o.group_weight * self.grouped(outputs, valid.unflatten(0, outputs.labels[:, 1:].shape[:2]))
        return terms

    def grouped(self, outputs: StepOutputs, valid: torch.Tensor) -> torch.Tensor:
        """``mean_{frames, labelled pixels} tau^2 KL(teacher group i(t) || student sub-output t)``; ``valid [B, T-1, H, W]``."""
        student, teacher = outputs.student, outputs.teacher
        if student.sub_logits is None or len(student.phases) != student.sub_logits.shape[1] or self._teacher_group is None:
            raise RuntimeError("distiller tdnet: the student's output has no sub-outputs (is it a TDNet student, and was setup called?)")
        assert teacher is not None
        size = tuple(student.sub_logits.shape[-2:])
        total = student.sub_logits.new_zeros(())
        with torch.no_grad():
            targets = [aggregate(torch.sigmoid(self._teacher_group(teacher.features[:, t].detach(), self.phases, phase, size)),
                                 outputs.selector)[0] for t, phase in enumerate(student.phases)]
        for t, target in enumerate(targets):
            kl = channel_kl(student.sub_logits[:, t], target, self.options.logit_tau)
            total = total + (kl * valid[:, t]).sum()
        return total / valid.sum().clamp(min=1)
