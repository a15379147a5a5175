"""Pure tensor math of the MobileVOS loss family (Miles et al., CVPR 2023), each part usable alone.

Names: N sampled pixels, D channels, C classes (background + objects).
    z_s ``[N, Ds]``, z_t ``[N, Dt]``: per-pixel representations (normalised inside);
    y ``[N, C]``: one-hot labels of the same pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def correlation(z: torch.Tensor) -> torch.Tensor:
    """``C = Z Z^T`` of the L2-normalised rows of ``z [..., N, D]``: cosine similarities ``[..., N, N]``."""
    z = F.normalize(z, dim=-1)
    return z @ z.transpose(-1, -2)


def representation_loss(z_s: torch.Tensor, z_t: torch.Tensor | None, y: torch.Tensor, omega: float) -> torch.Tensor:
    """Label-coupled representation distillation, the order-2 Renyi (``log2``) form of MobileVOS.

    ``C = omega * C_t + (1 - omega) * Y Y^T`` and
    ``L = [log2 sum_ij (C_s)_ij^2 - log2 sum_ij (C_s * C)_ij^2] / N``.

    With trace-normalised Gram matrices ``A = C / N`` and the matrix Renyi entropy of order 2,
    ``H_2(A) = -log2 ||A||_F^2``, this is ``-(H_2(C_s) - H_2(C_s * C))`` up to constants: minimising
    it maximises the order-2 mutual information between the student's and the target's pixel
    relations. ``L >= 0`` (|C| <= 1), and ``L = 0`` exactly when the student relates no pair of
    pixels the target keeps apart, e.g. when its relations equal crisp (0/1) target relations.
    ``omega = 1`` is pure distillation, ``omega = 0`` supervised pixel-wise contrastive learning
    (the teacher is then not used; ``z_t`` may be None).

    Batched: ``z_s [B, N, Ds]``, ``z_t [B, N, Dt]``, ``y [B, N, C]`` give the mean over the B sets.
    """
    if not 0.0 <= omega <= 1.0:
        raise ValueError(f"omega must be in [0, 1], got {omega}")
    c_s = correlation(z_s)
    target = y @ y.transpose(-1, -2)
    if omega > 0:
        if z_t is None:
            raise ValueError("omega > 0 needs the teacher representations z_t")
        target = omega * correlation(z_t.detach()) + (1 - omega) * target
    n = z_s.shape[-2]
    loss = torch.log2(c_s.pow(2).sum(dim=(-1, -2))) - torch.log2((c_s * target).pow(2).sum(dim=(-1, -2)))
    return loss.mean() / n


def boundary_map(labels: torch.Tensor, dilation: int = 0) -> torch.Tensor:
    """``bool [B, h, w]``: pixels where the 3x3 Sobel gradient of ``labels [B, h, w]`` is non-zero,
    grown by ``dilation`` pixels (a (2d+1) square). Labels are object ids; any change is an edge."""
    x = labels.float().unsqueeze(1)
    kernel = torch.stack([SOBEL_X, SOBEL_X.t()]).unsqueeze(1).to(x)
    gradient = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel)
    edges = gradient.abs().sum(dim=1, keepdim=True) > 0
    if dilation > 0:
        edges = F.max_pool2d(edges.float(), 2 * dilation + 1, stride=1, padding=dilation) > 0
    return edges.squeeze(1)


def sample_pixels(candidates: torch.Tensor, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` flat pixel indices per image of ``candidates [B, h, w]`` (bool): candidates first,
    in random order, topped up with random other pixels when there are fewer. ``[B, count]``."""
    batch, height, width = candidates.shape
    if count > height * width:
        raise ValueError(f"cannot sample {count} pixels from a {height}x{width} map")
    # drawn on the CPU (the step's generator is a CPU generator), then moved: same numbers on every device
    scores = torch.rand(batch, height * width, generator=generator).to(candidates.device)
    scores = scores + candidates.flatten(1).float()  # candidates score in [1, 2), the rest in [0, 1)
    return scores.topk(count, dim=1).indices


def boundary_logit_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, tau: float) -> torch.Tensor:
    """``KL(p_t^tau || p_s^tau)`` averaged over pixels: logits ``[..., C]`` at the sampled pixels,
    classes on the last axis, softmax with temperature ``tau`` (< 1 sharpens, > 1 softens)."""
    if tau <= 0:
        raise ValueError(f"tau must be positive, got {tau}")
    log_p_s = F.log_softmax(student_logits / tau, dim=-1)
    log_p_t = F.log_softmax(teacher_logits.detach() / tau, dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1).mean()


def gather_pixels(maps: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Values of ``maps [B, D, h, w]`` at flat ``index [B, M]``: ``[B, M, D]``."""
    channels = maps.shape[1]
    picked = maps.flatten(2).gather(2, index.unsqueeze(1).expand(-1, channels, -1))  # [B, D, M]
    return picked.transpose(1, 2)


def channel_kl(student: torch.Tensor, teacher: torch.Tensor, tau: float) -> torch.Tensor:
    """Per-pixel ``tau^2 KL(softmax(teacher/tau) || softmax(student/tau))`` over dim 1: ``[N, C, h, w]`` -> ``[N, h, w]``."""
    target = F.softmax(teacher / tau, dim=1)
    return tau**2 * (target * (target.clamp(min=1e-8).log() - F.log_softmax(student / tau, dim=1))).sum(1)
