"""Online distillation for lightweight VOS (after Hou et al., "Online knowledge distillation for
lightweight video object segmentation", Knowledge-Based Systems 2024): a teacher trained from
scratch beside the student, no pretrained teacher.

Paper: Hou et al., "Online knowledge distillation for lightweight video object segmentation",
Knowledge-Based Systems, 2024. Official code checked against: none (we know of no published
code); only the paper's abstract is public: it names four components and no formulas. The formulas below
are ours, chosen to be simple and testable; each component can be switched off. Every deviation is
listed under "Deviations" at the end.

Names. B clips, T-1 segmented frames, K object slots, N = B(T-1)K object-frames; student
representation ``z_s [B, T-1, K, Ds, h, w]`` (h, w = H/4, W/4), teacher representation
``z_t [B, T-1, K, Dt, h, w]``; class logits ``[B, T-1, K+1, H, W]``. sg = stop-gradient,
n(x) = x / ||x|| over channels, per pixel.

0. The teacher, ``online_teacher`` (a registered network, default ``stcn_r50_r18_small``: STCN with
   an unbounded memory; the trainer builds it from scratch and hands it to the distiller, whose
   teacher mode is ``online``), runs over the same clips with gradient, in train mode, and learns
   from the labels alone::

        teacher_seg = w_t L_task(teacher logits)      (the student's own Poly-1 loss of the step)

   No distillation term reaches the teacher (sg on everything it passes on): a student that is
   worse than its teacher must not drag it down, the first half of "inverse learning".

1. Adaptive rate (``adaptive_rate``), the second half: where the teacher is no better than the
   student, its outputs must not be imitated. With per-pixel cross-entropies against the ground
   truth, l_s and l_t, the two imitation terms, ``logit_kd`` and ``feature_kd`` (item 3), are
   weighted per pixel by::

        r = clamp((l_s - l_t) / (l_s + 1e-6), 0, 1)      (sg; 0 on void pixels)

   the share of the student's loss at that pixel which the teacher has already removed. They are
   averaged over all labelled pixels (``logit_kd``) or all cells (``feature_kd``), not over r, so
   r scales the gradient like a per-pixel learning rate: 0 while the teacher is as bad as the
   student (early in training, both from scratch, or where the teacher errs), rising towards 1
   where the teacher is right and the student is wrong. Off: r = 1 on labelled pixels, 0 on void (plain online KD). ``feature_kd``
   uses r averaged over each stride-4 cell. r weights nothing else: not ``teacher_seg`` (no
   distillation), and not the adversarial terms ``adv_disc`` and ``adv_student`` (item 4), which
   are plain means over every stride-4 cell of the real object-frames.

2. Space-Time Feature Fusion (``fusion``): the student's feature of frame t gets the appearance
   and the position of each object from the memory frame before it (frame t-1, whose prediction
   the student's latest slot holds; for t = 1 the given frame 0, whose features the loss does not
   have, so its appearance prior is zero)::

        m_prev = sg(p_{t-1}) pooled to h x w   (the predicted object probability; frame 0: the mask)
        m_0    = the frame-0 mask pooled to h x w (the pinned slot's position prior)
        a_prev = sum_x m_prev(x) z_{t-1}(x) / sum_x m_prev(x)      (appearance prototype, Ds)
        F(z_t) = z_t + W [z_t * a_prev, m_prev, m_0]               (W: 1x1 conv, zero-initialised)

   Off: F(z) = z. Training-only: F feeds the matching below, the exported student is unchanged.

3. Smooth Block (``smooth_block``): the adapter that brings the student's feature to the
   teacher's width before matching, ``S(x) = P x + Q relu(DW3x3(P x))`` (P: 1x1 conv Ds -> Dt;
   DW3x3: depthwise; Q: 1x1, zero-initialised). The 3x3 branch lets a student pixel borrow from
   its neighbours, absorbing structural differences between the two networks (receptive fields,
   where each puts a boundary) that a per-pixel map would have to fit exactly. Off: S(x) = P x::

        feature_kd = w_f mean_{object-frames, pixels} r * || n(S(F(z_s))) - sg(n(z_t)) ||^2
        logit_kd   = w_l tau^2 mean_{labelled pixels} r * KL(softmax(sg(l_t)/tau) || softmax(l_s/tau))

4. Discriminator (``adversarial_weight`` w_a; 0 = off): a per-pixel MLP D (1x1 convs Dt -> 64 ->
   1, LeakyReLU 0.2) tells teacher features from adapted student features, and the student is
   trained to fool it (the non-saturating GAN loss, one optimiser step for both)::

        adv_disc    = w_a/2 [BCE(D(sg(n(z_t))), 1) + BCE(D(sg(n(S(F(z_s))))), 0)]   (trains D only)
        adv_student = w_a BCE(D'(n(S(F(z_s)))), 1)             (D' = D with sg on its weights)

State. The teacher, fusion, Smooth Block and discriminator are the distiller's parameters: they
join the optimiser, are saved in last.pt under train["distiller"] (the teacher under
``teacher.model.*``) and restored by --resume; best.pt and exports hold the student alone. Their
gradients are clipped to ``--grad-clip`` apart from the student's, so a large teacher gradient
never shrinks the student's step.
Defaults: w_t = w_f = w_l = 1, tau = 1, w_a = 0.1.

Deviations (from the paper; there is no official code):

- Every formula above is ours: the abstract gives only the names of the components (inverse
  learning with an adaptive rate, Space-Time Feature Fusion, Smooth Block, a discriminator).
  Reason: nothing more is public; each component is simple, tested and can be switched off, so
  its share can be measured.
- "Inverse learning" is read as: no distillation term reaches the teacher (stop-gradient on all it
  passes on), plus the adaptive rate. Reason: our reading of the abstract; a student must not drag
  down the teacher it learns from.
- The adaptive rate weights the imitation terms (``logit_kd``, ``feature_kd``) only, not the
  adversarial ones. Reason: the discriminator must see every pixel to learn the two feature
  distributions, and ``adv_student`` pulls the student towards the teacher's distribution, not
  towards the teacher's value at that pixel.
- The teacher is a registered mobileseg network (default ``stcn_r50_r18_small``, STCN with an
  unbounded memory) trained from scratch. Reason: the paper's teacher network is not published.
- Teacher, student and discriminator share one optimiser step (the discriminator through a
  stop-gradient on its weights in ``adv_student``) and one optimiser, the student's settings; their
  gradients are clipped separately. Reason: one optimiser and one step per batch for every method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from mobileseg.data.clips import IGNORE_INDEX
from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, Networks, StepOutputs, TeacherMode, option
from mobileseg.distill.losses import channel_kl
from mobileseg.errors import ConfigError
from mobileseg.models import MODELS
from mobileseg.models.clip import ClipRunner, pixel_losses

DISC_WIDTH = 64


def adaptive_rates(student_loss: torch.Tensor, teacher_loss: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel rate ``clamp((l_s - l_t) / (l_s + 1e-6), 0, 1)``, 0 on void: same shape as the losses."""
    rates = ((student_loss - teacher_loss) / (student_loss + 1e-6)).clamp(0.0, 1.0)
    return (rates * (labels != IGNORE_INDEX)).detach()


def normalized(x: torch.Tensor) -> torch.Tensor:
    """``x [N, C, h, w]`` with unit length over C at every pixel."""
    return F.normalize(x, dim=1, eps=1e-6)


class SmoothBlock(nn.Module):
    """``S(x) = P x + Q relu(DW3x3(P x))`` (residual smoothing, Q zero-initialised); ``smooth=False``: ``P x``."""

    def __init__(self, in_dim: int, out_dim: int, smooth: bool = True) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_dim, out_dim, 1)
        self.smooth = nn.Sequential(nn.Conv2d(out_dim, out_dim, 3, padding=1, groups=out_dim), nn.ReLU(),
                                    nn.Conv2d(out_dim, out_dim, 1)) if smooth else None
        if self.smooth is not None:
            last = self.smooth[-1]
            assert isinstance(last, nn.Conv2d)
            nn.init.zeros_(last.weight)
            assert last.bias is not None
            nn.init.zeros_(last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(x)
        return y if self.smooth is None else y + self.smooth(y)


class SpaceTimeFusion(nn.Module):
    """``F(z_t) = z_t + W [z_t * a_prev, m_prev, m_0]`` (W zero-initialised): see the module docstring."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mix = nn.Conv2d(dim + 2, dim, 1)
        nn.init.zeros_(self.mix.weight)
        assert self.mix.bias is not None
        nn.init.zeros_(self.mix.bias)

    def forward(self, z: torch.Tensor, previous: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        """``z [B, T-1, K, D, h, w]``; ``previous`` (m_prev, frames 0..T-2) and ``first`` (m_0) ``[B, T-1, K, h, w]``."""
        prototypes = (z[:, :-1] * previous[:, 1:, :, None]).sum((-2, -1))  # from frames 1..T-2 for frames 2..T-1
        prototypes = prototypes / previous[:, 1:, :, None].sum((-2, -1)).clamp(min=1e-6)
        prototypes = torch.cat([torch.zeros_like(prototypes[:, :1]), prototypes], 1)  # frame 1: frame 0 has no z
        x = torch.cat([z * prototypes[..., None, None], previous.unsqueeze(3), first.unsqueeze(3)], dim=3)
        return z + self.mix(x.flatten(0, 2)).view_as(z)


@dataclass(frozen=True)
class OnlineOptions(DistillOptions):
    online_teacher: str = option("stcn_r50_r18_small", "Registered network trained from scratch as the teacher, beside the student.")
    adaptive_rate: bool = option(True, "true: the logit and feature KD terms are weighted per pixel by how much of the student's loss "
                                       "the teacher has removed there (0 where the teacher is no better; the adversarial terms are not "
                                       "weighted); false: weight 1.")
    fusion: bool = option(True, "Space-Time Feature Fusion: the student's matched feature gets each object's appearance and "
                                "position from its memory frames (training only).")
    smooth_block: bool = option(True, "true: the adapter to the teacher's width has a residual depthwise 3x3 smoothing branch; "
                                      "false: a 1x1 conv only.")
    adversarial_weight: float = option(0.1, "Weight of the feature discriminator's loss and of the student's loss for fooling it "
                                            "(0 = no discriminator).", at_least=0)
    feature_weight: float = option(1.0, "Weight of the feature matching between the adapted student and the teacher (0 = off).",
                                   at_least=0)
    logit_weight: float = option(1.0, "Weight of the KD over every labelled pixel, at --logit-tau (0 = off).", at_least=0)
    logit_tau: float = option(1.0, "Temperature of the logit KD (the loss is scaled by its square).", above=0)
    teacher_seg_weight: float = option(1.0, "Weight of the segmentation loss of the teacher trained beside the student.", above=0)

    def check(self) -> None:
        MODELS.get(self.online_teacher)  # an unknown name fails now, naming the known ones


@DISTILLERS.register("online")
class OnlineDistiller(Distiller):
    """Online KD (Hou et al.): a teacher trained from scratch beside the student, adaptive rate, Smooth Block, fusion, discriminator.

    See the module docstring for the formulas (ours: the paper publishes none) and the defaults.
    """

    Options = OnlineOptions
    options: OnlineOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.teacher: ClipRunner | None = None
        self.fusion: SpaceTimeFusion | None = None
        self.smooth: SmoothBlock | None = None
        self.discriminator: nn.Sequential | None = None

    @property
    def teacher_mode(self) -> TeacherMode:
        return "online"

    @property
    def online_network(self) -> str:
        return self.options.online_teacher

    def setup(self, networks: Networks) -> None:
        """Own the teacher the trainer built (its width is ``teacher_dim``); build the fusion, adapter and discriminator."""
        if networks.teacher is None or networks.teacher_dim is None:
            raise ConfigError("distiller online trains a teacher beside the student: the trainer passes the network it built")
        o, student_dim, dim = self.options, networks.student_dim, networks.teacher_dim
        self.teacher = ClipRunner(networks.teacher)
        self.fusion = SpaceTimeFusion(student_dim) if o.fusion else None
        self.smooth = SmoothBlock(student_dim, dim, o.smooth_block)
        if o.adversarial_weight > 0:
            self.discriminator = nn.Sequential(nn.Conv2d(dim, DISC_WIDTH, 1), nn.LeakyReLU(0.2), nn.Conv2d(DISC_WIDTH, 1, 1))

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        if self.teacher is None or self.smooth is None or outputs.batch is None or outputs.task_loss is None:
            raise RuntimeError("OnlineDistiller: call setup() first, and pass the step's batch and task loss in StepOutputs")
        batch = outputs.batch
        teacher = self.teacher(batch["frames"], batch["masks"], batch["selector"])  # true masks, as a frozen teacher gets
        z_t = teacher.embeddings
        terms = {"teacher_seg": o.teacher_seg_weight * outputs.task_loss(teacher.class_logits)}

        labels = outputs.labels[:, 1:]  # [B, T-1, H, W]
        if o.adaptive_rate:
            rates = adaptive_rates(self._pixel_loss(outputs.student.class_logits, labels),
                                   self._pixel_loss(teacher.class_logits, labels), labels)
        else:
            rates = (labels != IGNORE_INDEX).float()
        labelled = (labels != IGNORE_INDEX).sum().clamp(min=1)
        if o.logit_weight > 0:
            kl = channel_kl(outputs.student.class_logits.flatten(0, 1), teacher.class_logits.detach().flatten(0, 1), o.logit_tau)
            terms["logit_kd"] = o.logit_weight * (kl.view_as(rates) * rates).sum() / labelled

        real = outputs.selector[:, None, :].expand(labels.shape[0], labels.shape[1], -1).flatten() > 0  # [N]
        student = self._adapted(outputs, batch["masks"])[real]  # [n, Dt, h, w]
        target_features = normalized(z_t.flatten(0, 2)[real]).detach()
        cell_rates = F.adaptive_avg_pool2d(rates, z_t.shape[-2:])  # [B, T-1, h, w]
        cell_rates = cell_rates.unsqueeze(2).expand(-1, -1, z_t.shape[2], -1, -1).flatten(0, 2)[real]  # [n, h, w]
        if o.feature_weight > 0:
            error = (student - target_features).pow(2).sum(1)  # [n, h, w]
            terms["feature_kd"] = o.feature_weight * (error * cell_rates).mean() if len(error) else student.sum() * 0
        if self.discriminator is not None:
            terms.update(self._adversarial(student, target_features))
        return terms

    def _adapted(self, outputs: StepOutputs, masks: torch.Tensor) -> torch.Tensor:
        """``n(S(F(z_s)))`` for every object-frame ``[N, Dt, h, w]``."""
        assert self.smooth is not None
        z = outputs.student.embeddings
        if self.fusion is not None:
            size = (z.shape[-2], z.shape[-1])
            probs = F.softmax(outputs.student.class_logits.detach(), dim=2)[:, :, 1:]  # [B, T-1, K, H, W]
            pooled = F.adaptive_avg_pool2d(torch.cat([masks[:, :1].float(), probs[:, :-1]], 1).flatten(0, 1), size)
            previous = pooled.view(*z.shape[:3], *size)  # frame t's memory frame t-1: frame 0 for t = 1
            first = F.adaptive_avg_pool2d(masks[:, 0].float(), size).unsqueeze(1).expand_as(previous)
            z = self.fusion(z, previous, first)
        return normalized(self.smooth(z.flatten(0, 2)))

    def _adversarial(self, student: torch.Tensor, teacher: torch.Tensor) -> dict[str, torch.Tensor]:
        """``adv_disc`` (trains D alone) and ``adv_student`` (trains the student side alone); ``[n, Dt, h, w]`` each."""
        assert self.discriminator is not None
        if not len(student):
            zero = student.sum() * 0
            return {"adv_disc": zero, "adv_student": zero}
        real_logits, fake_logits = self.discriminator(teacher), self.discriminator(student.detach())
        disc = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        fooled = functional_call(self.discriminator, frozen, (student,))
        fool = F.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
        weight = self.options.adversarial_weight
        return {"adv_disc": weight * disc, "adv_student": weight * fool}

    @staticmethod
    def _pixel_loss(class_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-pixel cross-entropy ``[B, T-1, H, W]`` of ``class_logits [B, T-1, K+1, H, W]`` (0 on void)."""
        return pixel_losses(class_logits.detach().flatten(0, 1), labels.flatten(0, 1)).view_as(labels)
