"""MobileVOS distillation (Miles et al., "MobileVOS: Real-Time Video Object Segmentation.
Contrastive Learning meets Knowledge Distillation", CVPR 2023).

Paper: R. Miles, M. K. Yucel, B. Manganelli, A. Saa-Garriga, CVPR 2023. Official code: none has
been published; checked against the public re-implementation edwardguil/mobilevos (its losses,
boundary map and student training script). Every deviation is listed under "Deviations" at the end.

    L = L_CE (Poly-1, in the training loop) + w_repr * L_repr + w_logit * L_logit

- L_repr: label-coupled representation distillation with the order-2 Renyi (log2) form,
  ``C = omega C_t + (1 - omega) Y Y^T`` (:func:`~mobileseg.distill.losses.representation_loss`),
  on L2-normalised per-pixel representations at stride 4 (the student's linear embedding head;
  the teacher's decoder features before its last conv).
- Boundary-aware sampling: only ``samples`` pixels per image enter the losses, taken from the
  boundary (non-zero 3x3 Sobel gradient) of the downsampled ground-truth mask, grown by
  ``dilation``, topped up at random when the boundary is smaller; ``sampling="random"`` ignores
  the boundary (the ablation).
- L_logit: ``KL(p_t^tau || p_s^tau)`` on the class logits at the same boundary pixels only.

An "image" is one object slot of one frame of one clip (objects have their own decoder pass);
its labels are {background, that object}. Defaults: omega 0.95, tau 0.1 (edwardguil/mobilevos;
the paper's value is not published), 256 samples, dilation 1, weights 1.

Deviations (from the paper and edwardguil/mobilevos):

- Each object-frame is its own set: L_repr is computed over its M samples and averaged over the
  object-frames; the re-implementation stacks the samples of every image of the batch into one
  relation matrix. Reason: objects are decoded one at a time with labels {background, that
  object}, so "object" pixels of two different objects would count as one class across images.
- Multi-object frames become one binary image per object; the re-implementation takes the whole
  multi-object label map. Reason: the same per-object decoding.
- Void pixels count as background in Y and in the boundary map. Reason: every sampled pixel needs
  a label in Y Y^T; dropping them would give images different sample counts.
- Representations are sampled at stride 4 as they are; the re-implementation average-pools them
  by 2 first. Reason: pooling blurs the boundary that the sampling looks for.
- ``dilation`` d grows the boundary by d pixels (default 1); the re-implementation grows it only
  for d > 1, so its default 1 means no growth (our ``--dilation 0``). Reason: the option does what
  its name says.
- The Sobel filter pads by replication; the re-implementation pads with zeros, so an object
  touching the frame border gets a boundary there. Reason: the frame border is no object boundary.
- L_logit is taken at the M sampled pixels of the class logits pooled to stride 4; the
  re-implementation takes it at every (undilated) boundary pixel of the full-resolution ground
  truth, with probabilities clamped to [1e-5, 1 - 1e-5]. Reason: one sample serves both losses at
  the representation's resolution; exact log-softmax needs no clamp.
- Every segmented frame of a clip (1..T-1) is distilled; the re-implementation distils one random
  frame per clip. Reason: the training runner segments every frame anyway (each one feeds the memory).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, StepOutputs, TeacherMode, object_labels, option
from mobileseg.distill.losses import boundary_logit_kd, boundary_map, gather_pixels, representation_loss, sample_pixels

SAMPLINGS = ("boundary", "random")


@dataclass(frozen=True)
class MobileVOSOptions(DistillOptions):
    omega: float = option(0.95, "Target C = omega * C_teacher + (1 - omega) * Y Y^T: 1 = pure distillation, "
                                "0 = supervised pixel-wise contrastive learning.", within=(0, 1))
    tau: float = option(0.1, "Temperature of the boundary logit KL.", above=0)
    samples: int = option(256, "Pixels per object-frame that enter the distillation losses.", at_least=2)
    dilation: int = option(1, "Grow the boundary by this many pixels (stride-4 map) before sampling.", at_least=0)
    sampling: str = option("boundary", "boundary: pixels on the object boundary, topped up at random; random: anywhere (ablation).",
                           choices=SAMPLINGS)
    repr_weight: float = option(1.0, "Weight of the representation loss (the paper's formula has a 1/N; from scratch at small "
                                     "budgets --repr-weight 256 = N worked better, see benchmarks/README.md).", at_least=0)
    logit_weight: float = option(1.0, "Weight of the logit distillation at boundary pixels (at tau 0.1 its gradient is ~9x the "
                                      "Poly-1 loss's; --logit-weight 0.01 = tau^2, Hinton's scaling, worked better from scratch, "
                                      "see benchmarks/README.md).", at_least=0)


@DISTILLERS.register("mobilevos")
class MobileVOSDistiller(Distiller):
    """MobileVOS: label-coupled representation distillation + KL on the logits, at boundary pixels.

    See the module docstring for the formula, the paper and the defaults. Pure contrastive
    learning (omega 0 and logit_weight 0) uses no teacher.
    """

    Options = MobileVOSOptions
    options: MobileVOSOptions

    @property
    def teacher_mode(self) -> TeacherMode:
        return "checkpoint" if self.options.omega > 0 or self.options.logit_weight > 0 else "none"

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        labels, real = object_labels(outputs)
        binary = (labels == 1).long()  # void counts as background here
        if not bool(real.any()):
            zero = outputs.student.embeddings.sum() * 0
            return {"repr": zero, "logit_kd": zero}
        binary = binary[real]
        candidates = boundary_map(binary, o.dilation) if o.sampling == "boundary" else torch.zeros_like(binary, dtype=torch.bool)
        index = sample_pixels(candidates, min(o.samples, binary[0].numel()), generator)  # [n, M]
        z_s = gather_pixels(outputs.student.embeddings.flatten(0, 2)[real], index)
        y = F.one_hot(binary.flatten(1).gather(1, index), num_classes=2).float()
        teacher = outputs.teacher
        z_t = gather_pixels(teacher.embeddings.flatten(0, 2)[real], index) if teacher is not None and o.omega > 0 else None
        terms = {"repr": o.repr_weight * representation_loss(z_s, z_t, y, o.omega)}
        if o.logit_weight > 0 and teacher is not None:
            terms["logit_kd"] = o.logit_weight * boundary_logit_kd(
                self._logits(outputs.student.class_logits, real, index, outputs),
                self._logits(teacher.class_logits, real, index, outputs), o.tau)
        return terms

    @staticmethod
    def _logits(class_logits: torch.Tensor, real: torch.Tensor, index: torch.Tensor, outputs: StepOutputs) -> torch.Tensor:
        """Class logits pooled to stride 4, one copy per object image, at the sampled pixels ``[n, M, K+1]``."""
        z = outputs.student.embeddings
        objects = z.shape[2]
        pooled = F.adaptive_avg_pool2d(class_logits.flatten(0, 1), (z.shape[-2], z.shape[-1]))  # [B*(T-1), K+1, h, w]
        per_object = pooled.unsqueeze(1).expand(-1, objects, -1, -1, -1).flatten(0, 1)[real]
        return gather_pixels(per_object, index)
