"""LGD: label-guided self-distillation without a pretrained teacher (Zhang et al., "LGD: Label-Guided
Self-Distillation for Object Detection", AAAI 2022), adapted to video object segmentation.

Paper: P. Zhang, Z. Kang, T. Yang, X. Zhang, N. Zheng, J. Sun, AAAI 2022 (arXiv 2109.11496).
Official code checked against: megvii-research/LGD (its released configs, training loop,
distillation loss and optimisers). Every deviation is listed under "Deviations" at the end.

An implicit "teacher" is built from the ground truth and the student's own features, trained with
the student and dropped afterwards: the exported student is the plain student.

Names. B clips, T-1 segmented frames (1..T-1), K object slots, N = B(T-1)K object-frames (each
object slot of each frame is decoded on its own, as everywhere in mobileseg). The distilled
student feature is the memory readout F_s = ``read [B, T-1, K, Cv, h, w]`` (h, w = H/16, W/16):
what the student's decoder receives for object k, next to the frame's query features. The teacher
produces F_t of the same shape, and the student's own decoder (``segment``) decodes it.

1. Label encoder. One token per object slot per frame, plus one context token per frame. Its
   descriptor (d = 4 + 1 + 9 + m^2)::

        e = [x1, y1, x2, y2]/[W, H, W, H]  (the box of the ground-truth mask, zeros when absent)
            ++ [present]                  (1 if the object has pixels in this frame)
            ++ onehot(k, 9)               (the slot's identity; index 8 = the context token)
            ++ m x m mask                 (the mask inside its box, bilinear samples; m = mask_size,
                                           left out when 0)
        context token: box [0, 0, 1, 1] (the whole frame), present 1, identity 8, an all-ones mask

   encoded by a PointNet over the tokens of one clip (layer norm instead of batch norm, as in the
   paper)::

        u_i = MLP(e_i)  (d -> 64);  g = max_{j in clip} MLP(u_j)  (64 -> 128 -> 1024)
        l_i = LN(W [u_i ++ g])  (1088 -> D)

2. Inter-object relation adapter. Appearance embeddings: the student's readout through a
   3x3 conv - LN - ReLU (Cv -> D), mask-pooled over each object's region (weights w below);
   the context token pools the whole frame, averaged over the clip's real objects::

        a_i = sum_p w_ip P(F_s)_p / sum_p w_ip
        o_i = MultiHeadAttention(query a_i, keys = values = {l_j : j in the clip of i, j real})

   The set of keys is one clip (tokens are batched per clip, padding slots are masked): clips
   never see each other, as images never do in the paper.

3. Intra-object knowledge mapper. For object-frame n (object k of frame t), paint its attended
   vector into its region on a zero map at the readout's resolution, add the frame's context::

        M_n = ReLU(conv3x3(w_n (x) U o_n) + V c_t);   F_t,n = R(M_n)
        R = conv3x3 - LN - ReLU - conv3x3 - LN - ReLU - conv3x3 (D -> Cv) - LN

   w_n ``[h, w]`` is the share of each readout cell covered by the object (``paint_region="mask"``)
   or by its box (``"box"``, the paper's detection setting): zero outside the region.

4. Losses, terms ``teacher_seg`` and ``feature_kd``::

        teacher_seg = w_t L_task(aggregate(sigmoid(segment(F_t, query features))))
        feature_kd  = lambda MSE(IN(A(F_s')), IN(sg(F_t)))      over the real object-frames
        F_s' = sg(F_s) while step < detach_fraction * steps, else F_s

   L_task is the student's own segmentation loss of the step (Poly-1, bootstrapping as
   configured), on the teacher's class logits; IN = instance norm without affine; A = adapter,
   3 x conv3x3 (ReLU between), trained by the distillation term. The paper's rule, followed
   here: the teacher never receives gradient from the distillation term (stop-gradient on F_t
   always); in the early phase the student's feature is detached too, so the term only trains A
   while the teacher learns to be decodable; afterwards it also trains the student (readout,
   memory and encoders). With ``--steps`` changed on ``--resume`` the boundary moves with it, as the
   learning-rate schedule does.

Where gradients go. teacher_seg trains the label encoder, the relation adapter's attention, P,
the mapper, and the student's decoder, shared as in the paper (the decoder learns to decode the
teacher's features as well as the student's). feature_kd trains A and, after the early phase,
everything the readout depends on (the encoders, and the decoder through the earlier frames'
predictions written into the memory). The query features decoded with F_t are the
student's, detached: the teacher's task loss does not train the student's encoder through them.
With ``detach_appearance`` (default) it neither reaches the readout through the appearance
embeddings; without it, it does (the official configs use both). The decoder must have no
batch norm (the students' has none): the teacher's pass would mix its statistics in.

State. The label-guided modules are the distiller's parameters: they join the optimiser, are
saved in last.pt under train["distiller"] and restored by --resume; best.pt and exports hold the
student alone.

Defaults (the paper): D = 256, 8 heads, PointNet widths 64-128-1024, lambda = 1, w_t = 1 (the
paper adds the teacher's detection loss unweighted), detach_fraction 1/6: the official configs
(megvii-research/LGD) detach for the first 30k of 180k iterations (their 2x schedules; the 3x
Swin-T configs: 30k of 270k).

Deviations (from the paper and megvii-research/LGD):

- The teacher replaces the memory readout and shares the student's decoder; the paper's replaces
  the FPN features and shares the whole detection head. Reason: VOS, not detection: the readout is
  what the decoder gets per object, as the FPN features are what the detection head gets.
- Label descriptors carry each object's 7x7 mask and the teacher paints masks
  (``paint_region="mask"``); the paper paints boxes and uses masks only where labels have them.
  Reason: VOS ground truth is masks (``--mask-size 0 --paint-region box`` is the paper's setting).
- The relation attention spans one clip (every frame's objects and context tokens); the paper's
  spans one image. Reason: the frames of a clip show the same objects, each decoded on its own.
- The context token is always on; the official configs switch it on (RetinaNet, FCOS) or off
  (Faster / Mask R-CNN). Reason: one setting keeps runs comparable; it costs one token per frame.
- The early detached phase is a fraction of ``--steps`` (default 1/6), not an iteration count.
  Reason: our runs are far shorter than 180k iterations; the fraction keeps the official ratio.
- Left out: the PointNet's spatial transformers, the official code's final no-distillation phase
  (0 iterations in most released configs) and its freezing of the student's backbone for the first
  20k iterations. Reason: the descriptors are not point clouds to be aligned (their coordinates are
  already normalised to the frame); the two schedule tweaks belong to 180k-iteration detection runs
  from ImageNet weights, and our short runs keep a single early phase.
- The PointNet's layer norms have a learnable per-channel scale and shift (the official code's have
  none). Reason: ``nn.LayerNorm``'s default; it starts as the identity, i.e. as the official form.
- One optimiser (the student's settings) for student and distiller; the official code has one for
  student and adapter and one for the teacher, with the same settings in every released config. The
  student's and the distiller's gradients are clipped separately, each to ``--grad-clip`` (global
  norm); the official code clips every parameter's gradient by value (detectron2's default).
  Reason: one optimiser and one clip rule for every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mobileseg.distill.base import DISTILLERS, Distiller, DistillOptions, Networks, StepOutputs, TeacherMode, option
from mobileseg.errors import ConfigError
from mobileseg.models.base import KeyFeatures, MemoryNetwork, Segmentation
from mobileseg.models.memory import aggregate

IDENTITIES = 8  # object slots a clip may have (TrainConfig allows max_objects 1..8); one-hot index 8: context
POINT_WIDTHS = (64, 128, 1024)  # the PointNet's shared MLP (the paper's)
PAINT_REGIONS = ("mask", "box")


# --- ground truth -> regions and descriptors (pure tensor math) ------------------------------------
def object_masks(labels: torch.Tensor, objects: int) -> torch.Tensor:
    """``labels [N, H, W]`` (0 background, 1..K objects, negative = void) -> ``bool [N, K, H, W]``."""
    ids = torch.arange(1, objects + 1, device=labels.device).view(1, objects, 1, 1)
    return labels.unsqueeze(1) == ids


def pixel_boxes(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes of ``masks [N, K, H, W]`` (bool) in pixels: ``(boxes [N, K, 4] long (x1, y1, x2, y2), x2/y2
    exclusive; zeros where absent, present [N, K] bool)``."""
    height, width = masks.shape[-2:]
    rows, cols = masks.any(dim=-1), masks.any(dim=-2)  # [N, K, H], [N, K, W]
    present = rows.any(dim=-1)
    y1, x1 = rows.float().argmax(dim=-1), cols.float().argmax(dim=-1)  # first True
    y2 = height - rows.flip(-1).float().argmax(dim=-1)
    x2 = width - cols.flip(-1).float().argmax(dim=-1)
    return torch.stack([x1, y1, x2, y2], dim=-1) * present.unsqueeze(-1), present


def box_regions(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``bool [N, K, H, W]``: the pixels inside each box ``[N, K, 4]`` (pixels, x2/y2 exclusive)."""
    ys = torch.arange(height, device=boxes.device).view(1, 1, height, 1)
    xs = torch.arange(width, device=boxes.device).view(1, 1, 1, width)
    x1, y1, x2, y2 = (boxes[..., i, None, None] for i in range(4))
    return (ys >= y1) & (ys < y2) & (xs >= x1) & (xs < x2)


def box_crops(masks: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each mask inside its box as a ``size x size`` grid of bilinear samples: ``[N, K, size*size]`` in
    [0, 1] (zeros for absent objects, whose boxes are empty)."""
    batch, objects, height, width = masks.shape
    steps = (torch.arange(size, device=masks.device, dtype=torch.float32) + 0.5) / size  # cell centres in [0, 1]
    b = boxes.float().flatten(0, 1)  # [NK, 4]
    xs = b[:, 0:1] + steps * (b[:, 2:3] - b[:, 0:1])  # [NK, size], pixels
    ys = b[:, 1:2] + steps * (b[:, 3:4] - b[:, 1:2])
    grid = torch.stack([(2 * xs / width - 1)[:, None, :].expand(-1, size, -1),
                        (2 * ys / height - 1)[:, :, None].expand(-1, -1, size)], dim=-1)  # [NK, size, size, 2] (x, y)
    crops = F.grid_sample(masks.flatten(0, 1).unsqueeze(1).float(), grid, mode="bilinear", align_corners=False)
    return crops.view(batch, objects, size * size) * (boxes[..., 2] > boxes[..., 0]).unsqueeze(-1)


def descriptors(masks: torch.Tensor, mask_size: int) -> torch.Tensor:
    """The label descriptors of the K objects and the context of each frame: ``masks [N, K, H, W]`` ->
    ``[N, K+1, 4 + 1 + 9 + mask_size^2]`` (see the module docstring; token K is the context)."""
    frames, objects, height, width = masks.shape
    if objects > IDENTITIES:
        raise ValueError(f"lgd encodes at most {IDENTITIES} object slots per clip, got {objects}; lower --max-objects")
    boxes, present = pixel_boxes(masks)
    scale = torch.tensor([width, height, width, height], device=masks.device, dtype=torch.float32)
    identity = torch.eye(IDENTITIES + 1, device=masks.device)
    parts = [boxes.float() / scale, present.float().unsqueeze(-1), identity[:objects].expand(frames, -1, -1)]
    context = [torch.tensor([0.0, 0.0, 1.0, 1.0], device=masks.device), torch.ones(1, device=masks.device), identity[IDENTITIES]]
    if mask_size > 0:
        parts.append(box_crops(masks, boxes, mask_size))
        context.append(torch.ones(mask_size * mask_size, device=masks.device))
    tokens = torch.cat(parts, dim=-1)  # [N, K, d]
    return torch.cat([tokens, torch.cat(context).expand(frames, 1, -1)], dim=1)


def occupancy(regions: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Share of each cell of an ``h x w`` grid covered by each region: ``bool [N, K, H, W]`` -> ``[N, K, h, w]``."""
    return F.adaptive_avg_pool2d(regions.float(), size)


def paint(vectors: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Each vector painted into its region: ``vectors [N, D]``, ``weights [N, h, w]`` -> ``[N, D, h, w]``,
    ``vectors[n] * weights[n, y, x]`` (zero outside the region)."""
    return vectors[:, :, None, None] * weights[:, None]


def mask_pool(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weighted mean of ``features [N, C, h, w]`` over ``weights [N, h, w]``: ``[N, C]`` (zero for an empty region)."""
    total = torch.einsum("nchw,nhw->nc", features, weights)
    return total / weights.sum(dim=(1, 2)).clamp(min=1e-6).unsqueeze(1)


def instance_normalised_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``MSE(IN(student), IN(teacher))`` over ``[n, C, h, w]`` (instance norm without affine)."""
    return F.mse_loss(F.instance_norm(student), F.instance_norm(teacher))


# --- the label-guided modules -----------------------------------------------------------------
def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in pairwise(widths):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _conv_ln(a: int, b: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(a, b, 3, padding=1), nn.GroupNorm(1, b)]  # GroupNorm(1): layer norm of a map
    return layers + [nn.ReLU(inplace=True)] if relu else layers


class LabelEncoder(nn.Module):
    """PointNet over the tokens of each clip: ``[B, S, d]`` descriptors, ``valid [B, S]`` -> ``[B, S, D]``."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        local, *rest = POINT_WIDTHS
        self.local = _mlp(in_dim, local)
        self.point = _mlp(local, *rest)
        self.out = nn.Sequential(nn.Linear(local + rest[-1], out_dim), nn.LayerNorm(out_dim))

    def forward(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        local = self.local(tokens)
        pooled = self.point(local).masked_fill(~valid.unsqueeze(-1), float("-inf")).amax(dim=1, keepdim=True)  # per clip
        return self.out(torch.cat([local, pooled.expand(-1, tokens.shape[1], -1)], dim=-1))


class KnowledgeMapper(nn.Module):
    """Attended object vectors ``[N, D]`` + context ``[N, D]`` + regions ``[N, h, w]`` -> ``F_t [N, Cv, h, w]``."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.object_proj, self.context_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.local = nn.Conv2d(dim, dim, 3, padding=1)
        self.refine = nn.Sequential(*_conv_ln(dim, dim), *_conv_ln(dim, dim), *_conv_ln(dim, out_dim, relu=False))

    def forward(self, objects: torch.Tensor, context: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        painted = paint(self.object_proj(objects), weights)
        return self.refine(F.relu(self.local(painted) + self.context_proj(context)[:, :, None, None]))


@torch.no_grad()
def readout_width(network: MemoryNetwork) -> int:
    """Cv, the width of ``network``'s memory values and readouts: one 32x32 frame through
    ``encode_key``/``encode_value`` in eval mode (no statistics change), modes restored after."""
    modes = [(m, m.training) for m in network.modules()]
    network.eval()
    try:
        device = next(network.parameters()).device
        frame = torch.zeros(1, 3, 32, 32, device=device)
        values = network.encode_value(frame, network.encode_key(frame).f16, torch.zeros(1, 1, 32, 32, device=device))
    finally:
        for module, training in modes:
            module.training = training
    return int(values.shape[2])


@dataclass(frozen=True)
class LGDOptions(DistillOptions):
    label_dim: int = option(256, "Width of the label, appearance and attended object embeddings (a multiple of --heads).", at_least=1)
    heads: int = option(8, "Heads of the inter-object relation attention (appearance queries, label keys and values).", at_least=1)
    mask_size: int = option(7, "Each object's mask inside its box as an m x m grid in its label descriptor (0 = box, presence and "
                               "identity only).", at_least=0)
    paint_region: str = option("mask", "Where each object's attended embedding is painted on the teacher's map: its mask, or its box "
                                       "(the paper's detection setting).", choices=PAINT_REGIONS)
    distill_weight: float = option(1.0, "Weight (lambda) of the MSE between the instance-normalised adapted student readout and "
                                         "teacher features (0 = off).", at_least=0)
    teacher_seg_weight: float = option(1.0, "Weight of the segmentation loss of the label-guided teacher, decoded by the student's "
                                             "(shared) decoder.", above=0)
    detach_fraction: float = option(1 / 6, "Early phase as a fraction of --steps: the distillation term trains only its adapter, not "
                                           "the student (1/6: 30k of 180k iterations in the official configs, megvii-research/LGD).",
                                    within=(0, 1))
    detach_appearance: bool = option(True, "true: the teacher's segmentation loss does not reach the student's readout through the "
                                           "appearance embeddings; false: it does.")

    def check(self) -> None:
        if self.label_dim % self.heads:
            raise ConfigError(f"distiller lgd: label_dim must be a multiple of heads, got label_dim {self.label_dim} and heads "
                              f"{self.heads}; change --label-dim or --heads")


class Decoded(NamedTuple):
    class_logits: torch.Tensor  # [B, T-1, K+1, H, W], as the runner makes them
    features: torch.Tensor  # [B, T-1, K, Cd, H/4, W/4]


@DISTILLERS.register("lgd")
class LGDDistiller(Distiller):
    """LGD: a label-guided teacher built from the ground truth and the student's features, no pretrained teacher.

    See the module docstring for the formulas, the paper, the defaults and where our setting differs.
    """

    Options = LGDOptions
    options: LGDOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # the student's ``segment``: a bound method, so neither a submodule nor in the state dict
        self._segment: Callable[[torch.Tensor, KeyFeatures], Segmentation] | None = None

    @property
    def teacher_mode(self) -> TeacherMode:
        return "none"  # the label-guided teacher is the distiller's own modules

    def setup(self, networks: Networks) -> None:
        """Keep the student's decoder entry point and build the label-guided modules for its readout width."""
        student = networks.student
        norms = [name for name, m in student.decoder.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if norms:
            raise ConfigError(f"lgd decodes its teacher features with the student's decoder, whose batch norms ({', '.join(norms)}) "
                              f"would then mix the teacher's statistics into the student's; use a student without them")
        width, dim = readout_width(student), self.options.label_dim
        self._segment = student.segment
        self.label_encoder = LabelEncoder(4 + 1 + IDENTITIES + 1 + self.options.mask_size ** 2, dim)
        self.appearance = nn.Sequential(*_conv_ln(width, dim))
        self.relation = nn.MultiheadAttention(dim, self.options.heads, batch_first=True)
        self.mapper = KnowledgeMapper(dim, width)
        self.adapter = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                                     nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True),
                                     nn.Conv2d(width, width, 3, padding=1))

    def teacher_features(self, read: torch.Tensor, labels: torch.Tensor, selector: torch.Tensor) -> torch.Tensor:
        """F_t ``[B, T-1, K, Cv, h, w]`` from the student's readout ``read`` (same shape), the labels of
        frames 1..T-1 ``[B, T-1, H, W]`` and ``selector [B, K]``."""
        batch, frames, objects, _, height, width = read.shape
        masks = object_masks(labels.flatten(0, 1), objects)  # [B(T-1), K, H, W]
        regions = masks if self.options.paint_region == "mask" else box_regions(pixel_boxes(masks)[0], *masks.shape[-2:])
        weights = occupancy(regions, (height, width))  # [B(T-1), K, h, w]
        tokens = descriptors(masks, self.options.mask_size).view(batch, frames * (objects + 1), -1)
        real = (selector > 0)[:, None, :].expand(batch, frames, objects)
        valid = torch.cat([real, real.new_ones(batch, frames, 1)], dim=2).flatten(1)  # [B, S]
        label_embeddings = self.label_encoder(tokens, valid)  # [B, S, D]

        source = read.detach() if self.options.detach_appearance else read
        projected = self.appearance(source.flatten(0, 2))  # [N, D, h, w]
        per_object = mask_pool(projected, weights.flatten(0, 1)).view(batch * frames, objects, -1)
        slots = real.flatten(0, 1).float().unsqueeze(-1)  # [B(T-1), K, 1]
        whole = projected.mean(dim=(2, 3)).view(batch * frames, objects, -1)
        context = (whole * slots).sum(dim=1) / slots.sum(dim=1).clamp(min=1)  # [B(T-1), D]
        queries = torch.cat([per_object, context.unsqueeze(1)], dim=1).view(batch, frames * (objects + 1), -1)
        attended, _ = self.relation(queries, label_embeddings, label_embeddings, key_padding_mask=~valid, need_weights=False)

        attended = attended.reshape(batch * frames, objects + 1, -1)
        frame_context = attended[:, objects:].expand(-1, objects, -1).flatten(0, 1)
        maps = self.mapper(attended[:, :objects].flatten(0, 1), frame_context, weights.flatten(0, 1))
        return maps.view(batch, frames, objects, *maps.shape[1:])

    def decode(self, maps: torch.Tensor, feats: KeyFeatures, selector: torch.Tensor) -> Decoded:
        """The student's decoder on ``maps [B, T-1, K, Cv, h, w]`` in place of its readout, with the frames'
        query features ``feats`` (detached) -> class logits ``[B, T-1, K+1, H, W]`` as the runner makes them."""
        if self._segment is None:
            raise ValueError("call setup(networks) before the first step (the trainer does)")
        batch, frames, objects = maps.shape[:3]
        query = KeyFeatures(*(x.detach().flatten(0, 1) for x in feats))
        seg: Segmentation = self._segment(maps.flatten(0, 1), query)
        slots = selector[:, None, :].expand(batch, frames, objects).flatten(0, 1)
        class_logits, _ = aggregate(torch.sigmoid(seg.logits), slots)
        return Decoded(class_logits.unflatten(0, (batch, frames)), seg.features.unflatten(0, (batch, frames)))

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        o, inputs = self.options, outputs.student.decoder_inputs
        if outputs.task_loss is None:
            raise ValueError("lgd needs the step's task loss in its StepOutputs (the training objective fills it)")
        read = inputs.read  # [B, T-1, K, Cv, h, w]
        maps = self.teacher_features(read, outputs.labels[:, 1:], outputs.selector)
        decoded = self.decode(maps, inputs.feats, outputs.selector)
        terms = {"teacher_seg": o.teacher_seg_weight * outputs.task_loss(decoded.class_logits)}
        if o.distill_weight > 0:
            real = (outputs.selector > 0)[:, None, :].expand(read.shape[:3]).flatten()
            if not bool(real.any()):
                terms["feature_kd"] = self.adapter(read.flatten(0, 2)).sum() * 0
                return terms
            student = read.flatten(0, 2)[real]
            if outputs.step < o.detach_fraction * outputs.steps:
                student = student.detach()  # early phase: the term trains the adapter alone
            teacher = maps.flatten(0, 2)[real].detach()  # the teacher never learns from this term
            terms["feature_kd"] = o.distill_weight * instance_normalised_mse(self.adapter(student), teacher)
        return terms
