"""CIRKD: cross-image relational distillation (Yang et al., "Cross-Image Relational Knowledge
Distillation for Semantic Segmentation", CVPR 2022), adapted to video object segmentation.

Paper: C. Yang, H. Zhou, Z. An, X. Jiang, Y. Xu, Q. Zhang, CVPR 2022 (arXiv 2204.06986).
Official code checked against: winycg/CIRKD (its CVPR 2022 training script and its mini-batch,
memory and logit KD losses). Every deviation is listed under "Deviations" at the end.

Images and classes. As in :mod:`mobileseg.distill.mobilevos`, an "image" is one object slot of one
frame of one clip (each object has its own decoder pass). Its classes are c = 0 (background,
other objects included) and c = 1 (the object); void pixels belong to no class. n = the real
images of the step (padding slots are left out); h x w = the stride-4 grid of the embeddings
``z_s``/``z_t`` (``outputs.student.embeddings``, ``outputs.teacher.embeddings``).

Anchors. M = ``anchors`` pixels per image, uniformly at random from the step's generator (the
paper: every pixel). (a) uses all of them; (b) and (c) only those that are not void, as the
official code drops ignored pixels as anchors of the memory parts. With 16 object-frames at
M = 256, (a) holds 4096^2 relations per network; (b) and (c) at most n M x (P_p + P_r).

Embeddings, per pixel (rows): f_s = z_s / |z_s|, f_t = z_t / |z_t|, and p_s = g(z_s) / |g(z_s)|
with the trainable student projection head g: D_s -> D_t (1x1 conv - BN - ReLU - 1x1 conv,
written as Linear layers on pixel rows; only built for the memory parts; its batch norm sees every
anchor, void included, as the official head sees the whole map). KL(q || p) =
sum_k q_k (log q_k - log p_k). The teacher side is never differentiated (stop-gradient).

(a) Mini-batch pixel-to-pixel, for every ordered pair (i, j) of images (i = j included)::

        S_ij = f_i f_j^T / tau                        [M, M], for the student and the teacher
        L_batch = 1/n^2 sum_ij 1/M sum_a KL(softmax(S^t_ij[a, :]) || softmax(S^s_ij[a, :]))

(b) Memory pixel-to-pixel: per-class queues Q^pix_c [N_p, D_t] of teacher pixel embeddings f_t.
    Each step K^pix stacks up to P_p // 2 + 1 entries drawn from each class queue (about P_p in
    all, the official code's ``pixel_contrast_size // num_class + 1``). Over the A non-void anchors::

        L_pix = 1/A sum_a KL(softmax(f_t[a] K^T / tau) || softmax(p_s[a] K^T / tau))

(c) Memory pixel-to-region: per-class queues Q^reg_c [N_r, D_t] of region embeddings
    r_ic = normalise(mean of f_t over the pixels of class c in image i); L_reg is (b) with
    K^reg, up to P_r // 2 + 1 entries per class.
(d) The paper's logit KD on the class logits ``[B, T-1, K+1, H, W]``, every pixel::

        L_kd = T^2 mean_pixels KL(softmax(l_t / T) || softmax(l_s / T))

    terms: batch_p2p = w_b L_batch, memory_p2p = w_p L_pix, memory_p2r = w_r L_reg, logit_kd = w_kd L_kd

Banks. Before the step's losses (the official code's order, so the step's own teacher pixels and
regions are among the entries its anchors are contrasted with), each real image pushes, per class
present, ``pixel_enqueue`` random pixels f_t into Q^pix_c and its region embedding into Q^reg_c
(void pixels into neither). The queues are FIFO ring buffers (registered buffers
``items [2, N, D_t]``, ``ptr [2]``, ``count [2]``) saved in last.pt and restored by ``--resume``:
2 (N_p + N_r) D_t floats, 44 MB at D_t = 256. They start empty and are sampled only where filled,
so at the first step the memory parts contrast with that step's entries alone. Under torchrun
every process pushes the entries of all processes (all_gather, as the official code), so the banks
stay identical; the mini-batch part (a) is one process's n object-frames, as in the official code.

Defaults (the official code on Cityscapes): tau 0.1; N_p 20000 and N_r 2000 per class; P_p 4096
and P_r 1024 in all (2049 and 513 per class here); ``pixel_enqueue`` 16; w_b 1, w_p 0.1, w_r 0.1;
w_kd 1 at T = 1. A weight of 0 switches its part off; the part's bank (and the head, when neither
memory part is on) is then not created.

Deviations (from the paper and winycg/CIRKD):

- Relations are distilled at M = 256 random anchors per image, not at every pixel. Reason: every
  pair of every pixel of n object-frames at stride 4 is (n h w)^2 relations, far beyond memory.
- Images are object-frames with 2 classes (background, the object), not frames with 19 classes;
  so (b) and (c) draw P // 2 + 1 entries per class (the official rule), 4098 + 1026 in all. Reason:
  VOS decodes each object on its own; its labels are that object against the rest.
- The distilled features are the stride-4 embeddings z (student: its embedding head; teacher: its
  decoder features), not the official code's stride-8 features before the classifier. Reason: they
  are the representation every mobileseg network exposes for distillation.
- The banks start empty and are sampled only where filled; the official code fills them with random
  unit vectors. Reason: random vectors are not teacher embeddings; contrasting with them distils
  noise. With the banks filled before the losses, the memory parts still work from the first step.
- Bank entries are drawn independently per class queue (up to P // 2 + 1 filled entries each); the
  official code draws one set of slots and takes it from every class queue. Reason: our queues fill
  at different rates from empty, so one set of slots does not fit both.
- A pixel push that passes the end of a queue wraps around (a plain FIFO); the official code then
  writes the push into the queue's last slots and restarts at slot 0. Reason: that rule overwrites
  some of the latest entries; a FIFO always drops the oldest.
- The logit KD covers every pixel of the full-resolution class logits; the official code's covers
  its stride-8 logits. Reason: full-resolution class logits are what mobileseg's networks output.
- The head's batch norm is per process; the official code uses SyncBN. Reason: SyncBN needs CUDA
  (runs also train on the CPU under gloo); the head's weights stay in sync through DDP all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, Networks, StepOutputs, object_labels, option
from mobileseg.distill.losses import boundary_logit_kd, gather_pixels, sample_pixels
from mobileseg.errors import ConfigError

CLASSES = 2  # background, object
TERMS = ("batch_p2p", "memory_p2p", "memory_p2r")


def per_class(total: int) -> int:
    """Bank entries drawn from each class queue for ``total`` entries in all: ``total // CLASSES + 1``
    (the official code's rule; 4096 in all -> 2049 per class)."""
    return total // CLASSES + 1


def pair_relations(features: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every pixel of every image with every pixel of every image.

    ``features [n, M, D]`` (rows normalised inside) -> ``S [n, M, n, M]``, ``S[i, a, j, b] = <f_ia, f_jb>``.
    """
    f = F.normalize(features, dim=-1)
    return torch.einsum("iad,jbd->iajb", f, f)


def row_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``KL(softmax(teacher row) || softmax(student row))``, softmax on the last axis.

    ``[..., P]`` -> scalar; the teacher is detached. Over ``[n, M, n, M]`` relations this is the mean
    over the n^2 pairs of the per-pair "batchmean" KL.
    """
    log_s = F.log_softmax(student_logits, dim=-1)
    log_t = F.log_softmax(teacher_logits.detach(), dim=-1)
    return (log_t.exp() * (log_t - log_s)).sum(dim=-1).mean()


def batch_relation_loss(f_s: torch.Tensor, f_t: torch.Tensor, tau: float) -> torch.Tensor:
    """(a): ``f_s [n, M, D_s]``, ``f_t [n, M, D_t]`` at the same pixels -> L_batch (widths may differ)."""
    return row_kl(pair_relations(f_s) / tau, pair_relations(f_t) / tau)


def memory_relation_loss(p_s: torch.Tensor, f_t: torch.Tensor, bank: torch.Tensor, tau: float) -> torch.Tensor:
    """(b)/(c): anchors ``p_s [A, D]`` (projected student), ``f_t [A, D]`` (teacher) against the
    sampled ``bank [P, D]`` (unit rows). An empty bank or no anchor gives a zero that keeps ``p_s`` in the graph."""
    if bank.shape[0] == 0 or p_s.shape[0] == 0:
        return p_s.sum() * 0
    keys = bank.detach().t()
    return row_kl(F.normalize(p_s, dim=-1) @ keys / tau, F.normalize(f_t, dim=-1) @ keys / tau)


def projection_head(student_dim: int, teacher_dim: int) -> nn.Sequential:
    """g: per-pixel ``[A, D_s] -> [A, D_t]`` (a 1x1 conv - BN - ReLU - 1x1 conv on pixel rows)."""
    return nn.Sequential(nn.Linear(student_dim, teacher_dim, bias=False), nn.BatchNorm1d(teacher_dim), nn.ReLU(inplace=True),
                         nn.Linear(teacher_dim, teacher_dim, bias=False))


class ClassQueues(nn.Module):
    """A fixed-size FIFO of D-dimensional entries per class, as buffers (saved in checkpoints).

    ``items [C, N, D]``; ``ptr [C]``: the slot the next entry goes to; ``count [C]``: filled slots
    (entries ``0..count-1`` are filled, since a queue starts empty at slot 0 and wraps around).
    """

    items: torch.Tensor
    ptr: torch.Tensor
    count: torch.Tensor

    def __init__(self, classes: int, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("items", torch.zeros(classes, size, dim))
        self.register_buffer("ptr", torch.zeros(classes, dtype=torch.long))
        self.register_buffer("count", torch.zeros(classes, dtype=torch.long))

    @torch.no_grad()
    def push(self, cls: int, vectors: torch.Tensor) -> None:
        """Append ``vectors [k, D]`` to class ``cls``, dropping the oldest entries when full (as k
        single pushes would: more than N at once keeps the newest N)."""
        total, size = vectors.shape[0], self.items.shape[1]
        if total == 0:
            return
        kept = vectors[-size:]
        start = int(self.ptr[cls]) + total - kept.shape[0]
        slots = (start + torch.arange(kept.shape[0], device=self.items.device)) % size
        self.items[cls, slots] = kept.to(self.items)
        self.ptr[cls] = (int(self.ptr[cls]) + total) % size
        self.count[cls] = min(int(self.count[cls]) + total, size)

    def sample(self, per_class: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``per_class`` filled entries of each class, without replacement:
        ``(entries [S, D], their classes [S])``; S = 0 while the queues are empty."""
        entries, classes = [], []
        for cls in range(self.items.shape[0]):
            filled = int(self.count[cls])
            index = torch.randperm(filled, generator=generator)[:per_class].to(self.items.device)
            entries.append(self.items[cls, index])
            classes.append(torch.full((index.numel(),), cls, dtype=torch.long, device=self.items.device))
        return torch.cat(entries), torch.cat(classes)


def _all_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` of every process concatenated on dim 0 in rank order (itself outside torchrun)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return tensor
    is_bool = tensor.dtype == torch.bool
    local = tensor.to(torch.uint8) if is_bool else tensor.contiguous()
    parts = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, local)
    gathered = torch.cat(parts)
    return gathered.bool() if is_bool else gathered


@dataclass(frozen=True)
class CIRKDOptions(DistillOptions):
    tau: float = option(0.1, "Temperature of the pixel-relation softmaxes.", above=0)
    anchors: int = option(256, "Random pixels per object-frame whose relations are distilled; void ones take part in the mini-batch "
                               "relations only (the paper: every pixel).", at_least=2)
    batch_weight: float = option(1.0, "Weight of the mini-batch pixel-to-pixel relations across every pair of object-frames (0 = off).",
                                 at_least=0)
    pixel_weight: float = option(0.1, "Weight of the pixel-to-pixel relations against the memory bank of teacher pixels (0 = off, no bank).",
                                 at_least=0)
    region_weight: float = option(0.1, "Weight of the pixel-to-region relations against the memory bank of teacher region means "
                                       "(0 = off, no bank).", at_least=0)
    pixel_queue: int = option(20000, "Teacher pixel embeddings kept per class (background, object).", at_least=1)
    region_queue: int = option(2000, "Teacher region embeddings kept per class.", at_least=1)
    pixel_samples: int = option(4096, "Pixel-bank entries drawn each step in all: pixel_samples // 2 + 1 from each class queue "
                                      "(the official code's rule).", at_least=1)
    region_samples: int = option(1024, "Region-bank entries drawn each step in all: region_samples // 2 + 1 from each class queue.",
                                 at_least=1)
    pixel_enqueue: int = option(16, "Teacher pixels each object-frame pushes per class each step.", at_least=1)
    logit_weight: float = option(1.0, "Weight of the KD on the class logits over every pixel, at --logit-tau (0 = off).", at_least=0)
    logit_tau: float = option(1.0, "Temperature of the logit KD (the loss is scaled by its square).", above=0)

    def check(self) -> None:
        weights = {"batch_weight": self.batch_weight, "pixel_weight": self.pixel_weight, "region_weight": self.region_weight,
                   "logit_weight": self.logit_weight}
        if not any(w > 0 for w in weights.values()):
            raise ConfigError(f"distiller cirkd: at least one weight must be > 0 (0 switches a part off), got {weights}; "
                              "with every part off use --distiller none")


@DISTILLERS.register("cirkd")
class CIRKDDistiller(Distiller):
    """CIRKD: cross-image pixel relations, in the batch and against memory banks of teacher pixels and regions, + logit KD.

    See the module docstring for the formulas, the paper, the defaults and where our scale differs.
    """

    Options = CIRKDOptions
    options: CIRKDOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.head: nn.Module | None = None
        self.pixel_bank: ClassQueues | None = None
        self.region_bank: ClassQueues | None = None

    def setup(self, networks: Networks) -> None:
        """The head ``D_s -> D_t`` and the banks of width ``D_t`` (only those of the parts that are on)."""
        o, student_dim, teacher_dim = self.options, networks.student_dim, networks.teacher_dim
        if teacher_dim is None:
            raise ConfigError("distiller cirkd needs a teacher (its representation width sizes the head and the banks)")
        if o.pixel_weight > 0 or o.region_weight > 0:
            self.head = projection_head(student_dim, teacher_dim)
        if o.pixel_weight > 0:
            self.pixel_bank = ClassQueues(CLASSES, o.pixel_queue, teacher_dim)
        if o.region_weight > 0:
            self.region_bank = ClassQueues(CLASSES, o.region_queue, teacher_dim)

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o = self.options
        if outputs.teacher is None:
            raise ValueError("cirkd needs the teacher's outputs (embeddings and logits); pass a teacher")
        if (o.pixel_weight > 0 or o.region_weight > 0) and self.head is None:
            raise ValueError("call setup(networks) before the first step (the trainer does)")
        labels, real = object_labels(outputs)  # [N, h, w] in {-1, 0, 1}, [N]
        z_s, z_t = outputs.student.embeddings.flatten(0, 2), outputs.teacher.embeddings.flatten(0, 2).detach()  # [N, D, h, w]
        # the banks first, then the losses (the official code's order): the step's own teacher pixels
        # and regions are among the entries its anchors are contrasted with
        self._enqueue(F.normalize(z_t.flatten(2).transpose(1, 2), dim=-1), labels.flatten(1), real, generator)
        terms = self._relations(z_s, z_t, labels, real, generator)
        if o.logit_weight > 0:
            student, teacher = outputs.student.class_logits.movedim(2, -1), outputs.teacher.class_logits.movedim(2, -1)
            terms["logit_kd"] = o.logit_weight * o.logit_tau ** 2 * boundary_logit_kd(student, teacher, o.logit_tau)
        return terms

    def _relations(self, z_s: torch.Tensor, z_t: torch.Tensor, labels: torch.Tensor, real: torch.Tensor,
                   generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """Terms (a)-(c) at M random anchors of each real image (zeros when the step has none); (b) and
        (c) leave void anchors out (``labels [N, h, w]``, -1 = void), as the official code does."""
        o = self.options
        weights = dict(zip(TERMS, (o.batch_weight, o.pixel_weight, o.region_weight)))
        if not bool(real.any()):
            zero = z_s.sum() * 0
            return {name: zero for name, weight in weights.items() if weight > 0}
        z_s, z_t, labels = z_s[real], z_t[real], labels[real]
        height, width = z_s.shape[-2:]
        anywhere = torch.zeros(z_s.shape[0], height, width, dtype=torch.bool, device=z_s.device)
        index = sample_pixels(anywhere, min(o.anchors, height * width), generator)  # [n, M]
        s, t = gather_pixels(z_s, index), gather_pixels(z_t, index)  # [n, M, D_s], [n, M, D_t]
        terms: dict[str, torch.Tensor] = {}
        if o.batch_weight > 0:
            terms["batch_p2p"] = o.batch_weight * batch_relation_loss(s, t, o.tau)
        if self.head is not None:
            labelled = (labels.flatten(1).gather(1, index) >= 0).flatten()  # [nM]: void anchors are no memory anchors
            # the head (its batch norm) sees every anchor, as the official head sees the whole map, void included
            p_s, f_t = self.head(s.flatten(0, 1))[labelled], t.flatten(0, 1)[labelled]  # [A, D_t]
            for name, bank, total, weight in (("memory_p2p", self.pixel_bank, o.pixel_samples, o.pixel_weight),
                                              ("memory_p2r", self.region_bank, o.region_samples, o.region_weight)):
                if bank is not None:
                    keys, _ = bank.sample(per_class(total), generator)
                    terms[name] = weight * memory_relation_loss(p_s, f_t, keys, o.tau)
        return terms

    @torch.no_grad()
    def _enqueue(self, f_t: torch.Tensor, labels: torch.Tensor, real: torch.Tensor, generator: torch.Generator | None) -> None:
        """Push teacher pixels and regions of the step: ``f_t [N, hw, D]`` unit rows, ``labels [N, hw]``.

        Every image (padding slots too, marked invalid) takes part, so under torchrun the gathered
        tensors have the same shape on every process.
        """
        labels = labels.masked_fill(~real[:, None], -1)
        for cls in range(CLASSES):
            member = labels == cls  # [N, hw]
            if self.pixel_bank is not None:
                take = min(self.options.pixel_enqueue, labels.shape[1])
                scores = torch.rand(labels.shape, generator=generator).to(f_t.device) + member.float()
                index = scores.topk(take, dim=1).indices  # members first, in random order
                picked = f_t.gather(1, index.unsqueeze(-1).expand(-1, -1, f_t.shape[-1]))  # [N, take, D]
                valid = member.gather(1, index)
                self.pixel_bank.push(cls, _all_ranks(picked)[_all_ranks(valid)])
            if self.region_bank is not None:
                area = member.sum(dim=1)  # [N]
                mean = torch.einsum("nx,nxd->nd", member.float(), f_t) / area.clamp(min=1).unsqueeze(1)
                self.region_bank.push(cls, _all_ranks(F.normalize(mean, dim=-1))[_all_ranks(area > 0)])
