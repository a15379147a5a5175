"""MobileVOS distillation (Miles et al., "MobileVOS: Real-Time Video Object Segmentation.
Contrastive Learning meets Knowledge Distillation", CVPR 2023).

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
its labels are {background, that object}. Defaults: omega 0.95, tau 0.1 (a public
re-implementation; the paper's value is not published), 256 samples, dilation 1, weights 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mobileseg.distill.base import DISTILLERS, Distiller, StepOutputs, object_labels
from mobileseg.distill.losses import boundary_logit_kd, boundary_map, gather_pixels, representation_loss, sample_pixels

SAMPLINGS = ("boundary", "random")


@DISTILLERS.register("mobilevos")
class MobileVOSDistiller(Distiller):
    """MobileVOS: label-coupled representation distillation + KL on the logits, at boundary pixels.

    See the module docstring for the formula, the paper and the defaults.
    """

    needs_teacher = True

    def __init__(self, *, omega: float = 0.95, tau: float = 0.1, samples: int = 256, dilation: int = 1,
                 sampling: str = "boundary", repr_weight: float = 1.0, logit_weight: float = 1.0) -> None:
        if not 0.0 <= omega <= 1.0:
            raise ValueError(f"omega must be in [0, 1], got {omega}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if samples < 2 or tau <= 0 or dilation < 0:
            raise ValueError(f"need samples >= 2, tau > 0, dilation >= 0; got {samples}, {tau}, {dilation}")
        super().__init__()
        self.omega, self.tau, self.samples, self.dilation, self.sampling = omega, tau, samples, dilation, sampling
        self.repr_weight, self.logit_weight = repr_weight, logit_weight
        self.needs_teacher = omega > 0 or logit_weight > 0

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        labels, real = object_labels(outputs)
        binary = (labels == 1).long()  # void counts as background here
        if not bool(real.any()):
            zero = outputs.z_s.sum() * 0
            return {"repr": zero, "logit_kd": zero}
        binary = binary[real]
        candidates = boundary_map(binary, self.dilation) if self.sampling == "boundary" else torch.zeros_like(binary, dtype=torch.bool)
        index = sample_pixels(candidates, min(self.samples, binary[0].numel()), generator)  # [n, M]
        z_s = gather_pixels(outputs.z_s.flatten(0, 2)[real], index)
        y = F.one_hot(binary.flatten(1).gather(1, index), num_classes=2).float()
        z_t = gather_pixels(outputs.z_t.flatten(0, 2)[real], index) if outputs.z_t is not None and self.omega > 0 else None
        terms = {"repr": self.repr_weight * representation_loss(z_s, z_t, y, self.omega)}
        if self.logit_weight > 0 and outputs.teacher is not None:
            terms["logit_kd"] = self.logit_weight * boundary_logit_kd(
                self._logits(outputs.student.class_logits, real, index, outputs),
                self._logits(outputs.teacher.class_logits, real, index, outputs), self.tau)
        return terms

    @staticmethod
    def _logits(class_logits: torch.Tensor, real: torch.Tensor, index: torch.Tensor, outputs: StepOutputs) -> torch.Tensor:
        """Class logits pooled to stride 4, one copy per object image, at the sampled pixels ``[n, M, K+1]``."""
        objects = outputs.z_s.shape[2]
        pooled = F.adaptive_avg_pool2d(class_logits.flatten(0, 1), outputs.z_s.shape[-2:])  # [B*(T-1), K+1, h, w]
        per_object = pooled.unsqueeze(1).expand(-1, objects, -1, -1, -1).flatten(0, 1)[real]
        return gather_pixels(per_object, index)

