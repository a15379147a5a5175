"""LGD (label-guided self-distillation): descriptors, painting, per-clip attention, where gradients go."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobileseg.distill import DISTILLERS, Networks, StepOutputs
from mobileseg.distill.lgd import (
    IDENTITIES,
    LGDDistiller,
    box_regions,
    descriptors,
    mask_pool,
    object_masks,
    occupancy,
    paint,
    pixel_boxes,
    readout_width,
)
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.clip import ClipRunner, logits_loss

B, T, K, H, W = 2, 3, 2, 48, 64
SMALL = dict(label_dim=16, heads=4, mask_size=3)

pytestmark = pytest.mark.usefixtures("one_thread")


def _clips(seed: int = 0) -> dict[str, torch.Tensor]:
    """Two clips of three 48x64 frames: clip 0 has two objects, clip 1 one (slot 2 is padding)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(B, T, H, W, dtype=torch.long)
    labels[:, :, 4:20, 6:30] = 1
    labels[0, :, 24:44, 34:60] = 2
    labels[0, 2, 24:44, 34:60] = 0  # object 2 leaves the last frame
    labels[:, :, 0, :] = -100  # a void row
    masks = torch.stack([labels == k for k in (1, 2)], dim=2).float()
    return {"frames": torch.rand(B, T, 3, H, W, generator=g), "labels": labels, "masks": masks,
            "selector": torch.tensor([[1.0, 1.0], [1.0, 0.0]])}


def _setup(seed: int = 0, **options: object) -> tuple[nn.Module, LGDDistiller]:
    torch.manual_seed(seed)
    student = build_model("mobilevos_r18_mv2_tiny")
    distiller = DISTILLERS.get("lgd")(**{**SMALL, **options})
    assert distiller.teacher_mode == "none"
    distiller.setup(Networks.of(student, None, torch.device("cpu")))
    return student, distiller  # type: ignore[return-value]


def _step(student: nn.Module, distiller: LGDDistiller, step: int, steps: int = 10) -> dict[str, torch.Tensor]:
    data = _clips()
    out = ClipRunner(student)(data["frames"], data["masks"], data["selector"])  # type: ignore[arg-type]
    outputs = StepOutputs(out, None, data["labels"], data["selector"], step=step, steps=steps,
                          task_loss=lambda logits: logits_loss(logits, data["labels"], 1.0))
    return distiller(outputs)


def _touched(module: nn.Module) -> bool:
    return any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in module.parameters())


def test_boxes_regions_and_descriptors_follow_the_ground_truth() -> None:
    labels = torch.zeros(1, 8, 10, dtype=torch.long)
    labels[0, 2:5, 3:7] = 1  # a 3x4 rectangle
    labels[0, 0, 0] = -100
    masks = object_masks(labels, 2)
    boxes, present = pixel_boxes(masks)
    assert boxes.tolist() == [[[3, 2, 7, 5], [0, 0, 0, 0]]] and present.tolist() == [[True, False]]
    assert torch.equal(box_regions(boxes, 8, 10), masks)  # a rectangle fills its box
    tokens = descriptors(masks, 2)  # [1, K+1, 4 + 1 + 9 + 4]
    assert tokens.shape == (1, 3, 4 + 1 + IDENTITIES + 1 + 4)
    obj, absent, context = tokens[0]
    assert torch.allclose(obj[:4], torch.tensor([0.3, 0.25, 0.7, 0.625])) and obj[4] == 1
    assert obj[5:14].tolist() == [1.0] + [0.0] * 8 and obj[14:].tolist() == [1.0] * 4  # identity 0; its box is all mask
    assert absent[:5].tolist() == [0.0] * 5 and absent[6] == 1 and absent[14:].tolist() == [0.0] * 4
    assert context[:5].tolist() == [0.0, 0.0, 1.0, 1.0, 1.0] and context[13] == 1 and context[14:].tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="at most 8 object slots"):
        descriptors(torch.zeros(1, IDENTITIES + 1, 4, 4, dtype=torch.bool), 0)


def test_painting_puts_each_object_embedding_only_inside_its_region() -> None:
    labels = torch.zeros(2, 32, 48, dtype=torch.long)
    labels[0, 0:16, 0:8] = 1  # object 1: half of cell (0, 0) of the 2x3 grid at stride 16
    labels[0, 16:32, 32:48] = 2  # object 2: all of cell (1, 2)
    weights = occupancy(object_masks(labels, 2), (2, 3))  # [2, K, 2, 3]
    assert weights[0, 0].tolist() == [[0.5, 0, 0], [0, 0, 0]] and weights[0, 1].tolist() == [[0, 0, 0], [0, 0, 1.0]]
    assert weights[1].sum() == 0  # no object in image 1
    vectors = torch.randn(4, 5)
    painted = paint(vectors, weights.flatten(0, 1))  # [4, 5, 2, 3]
    inside = weights.flatten(0, 1) > 0
    assert painted.permute(0, 2, 3, 1)[~inside].abs().sum() == 0  # nothing outside a region
    assert torch.allclose(painted[0, :, 0, 0], 0.5 * vectors[0]) and torch.allclose(painted[1, :, 1, 2], vectors[1])
    # mask pooling is the region's weighted mean; an empty region pools to zero
    features = torch.arange(2 * 6, dtype=torch.float32).view(1, 2, 2, 3).expand(4, -1, -1, -1)
    pooled = mask_pool(features, weights.flatten(0, 1))
    assert pooled[0].tolist() == [0.0, 6.0] and pooled[1].tolist() == [5.0, 11.0] and pooled[2].abs().sum() == 0


def test_relation_attention_is_restricted_to_each_clip() -> None:
    _, distiller = _setup()
    data = _clips()
    read = torch.randn(B, T - 1, K, 16, 3, 4)
    labels = data["labels"][:, 1:]
    with torch.no_grad():
        base = distiller.teacher_features(read, labels, data["selector"])
        other_labels = labels.clone()
        other_labels[1] = 0
        other_labels[1, :, 30:46, 2:40] = 1  # clip 1's object moves and changes shape
        other_read = read.clone()
        other_read[1] = torch.randn_like(read[1])  # and the student reads something else there
        changed = distiller.teacher_features(other_read, other_labels, data["selector"])
        padded = read.clone()
        padded[1, :, 1] = torch.randn_like(read[1, :, 1])  # clip 1's padding slot
        padding = distiller.teacher_features(padded, labels, data["selector"])
    assert base.shape == read.shape
    assert torch.allclose(changed[0], base[0], atol=1e-6, rtol=0)  # clip 0 never sees clip 1
    assert not torch.allclose(changed[1], base[1], atol=1e-3)  # while clip 1 follows its own labels
    assert torch.allclose(padding[1, :, 0], base[1, :, 0], atol=1e-6, rtol=0)  # a padding slot is no key and no context


def test_decoding_the_students_own_readout_repeats_the_runner() -> None:
    student, distiller = _setup()
    data = _clips()
    with torch.no_grad():
        out = ClipRunner(student)(data["frames"], data["masks"], data["selector"])  # type: ignore[arg-type]
        inputs = out.decoder_inputs
        assert inputs.read.shape == (B, T - 1, K, 16, 3, 4)
        again = distiller.decode(inputs.read, inputs.feats, data["selector"])
    assert torch.allclose(again.class_logits, out.class_logits, atol=1e-5)
    assert torch.allclose(again.features, out.features, atol=1e-5)


@pytest.mark.parametrize("phase", ["early", "late"])
def test_distillation_term_never_reaches_the_teacher_and_reaches_the_student_only_after_the_early_phase(phase: str) -> None:
    student, distiller = _setup()
    assert distiller.options.detach_fraction == 1 / 6  # the official configs: 30k of 180k iterations
    terms = _step(student, distiller, step=1 if phase == "early" else 2, steps=10)  # 10/6 = 1.67
    terms["feature_kd"].backward()
    assert _touched(distiller.adapter)
    for part in (distiller.label_encoder, distiller.appearance, distiller.relation, distiller.mapper):
        assert not _touched(part)  # stop-gradient on the teacher features, in every phase
    # what the readout depends on; the decoder too, since frame 1's prediction is written into the memory frame 2 reads
    for part in (student.key_encoder, student.value_encoder, student.fuser, student.key_proj, student.decoder):
        assert _touched(part) == (phase == "late"), type(part).__name__


@pytest.mark.parametrize("detach_appearance", [True, False])
def test_teacher_task_loss_trains_the_teacher_and_the_shared_decoder(detach_appearance: bool) -> None:
    student, distiller = _setup(detach_appearance=detach_appearance)
    terms = _step(student, distiller, step=9)
    terms["teacher_seg"].backward()
    for part in (distiller.label_encoder, distiller.appearance, distiller.relation, distiller.mapper):
        assert _touched(part)
    assert _touched(student.decoder) and not _touched(distiller.adapter)
    # the query features decoded with F_t are detached; through the appearance embeddings the loss
    # reaches the readout (and what it depends on) only without detach_appearance
    for part in (student.key_encoder, student.key_comp, student.key_proj, student.value_encoder, student.fuser):
        assert _touched(part) == (not detach_appearance), type(part).__name__


def test_the_distiller_owns_only_the_label_guided_modules() -> None:
    student, distiller = _setup()
    keys = set(distiller.state_dict())
    assert keys and {k.split(".")[0] for k in keys} == {"label_encoder", "appearance", "relation", "mapper", "adapter"}
    assert not {id(p) for p in distiller.parameters()} & {id(p) for p in student.parameters()}
    assert distiller.mapper.refine[-1].num_channels == 16  # F_t has the readout's width Cv (the tiny student's 16)
    terms = _step(student, distiller, step=0)
    assert set(terms) == {"teacher_seg", "feature_kd"} and all(torch.isfinite(v) for v in terms.values())
    _, off = _setup(distill_weight=0.0)
    assert set(_step(student, off, step=5)) == {"teacher_seg"}  # lambda 0: the teacher still trains, nothing is distilled


def test_readout_width_probe_leaves_the_student_as_it_was() -> None:
    student = build_model("mobilevos_r18_mv2_tiny")
    student.train()
    student.value_encoder.eval()
    before = {k: v.clone() for k, v in student.state_dict().items()}
    assert readout_width(student) == 16
    assert student.training and not student.value_encoder.training and student.key_encoder.training
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in before.items())  # batch-norm statistics untouched


@pytest.mark.parametrize(("options", "match"), [
    (dict(label_dim=30, heads=8), "multiple of heads"), (dict(mask_size=-1), "mask_size"),
    (dict(paint_region="everywhere"), r"paint_region \(--paint-region\) must be one of mask, box"),
    (dict(teacher_seg_weight=0.0), r"teacher_seg_weight \(--teacher-seg-weight\) must be > 0; got 0.0"),
    (dict(distill_weight=-1.0), r"distill_weight \(--distill-weight\) must be >= 0"),
    (dict(detach_fraction=1.5), r"detach_fraction \(--detach-fraction\) must be in \[0, 1\]; got 1.5"),
    (dict(detach_appearance="no"), r"detach_appearance \(--detach-appearance\) takes true or false; got 'no'"),
])
def test_bad_options_are_named(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        LGDDistiller(**options)  # type: ignore[arg-type]


def test_missing_inputs_and_batch_norm_decoders_are_refused() -> None:
    student, distiller = _setup()
    data = _clips()
    out = ClipRunner(student)(data["frames"], data["masks"], data["selector"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="task loss"):
        distiller(StepOutputs(out, None, data["labels"], data["selector"]))
    with pytest.raises(ValueError, match="setup"):
        LGDDistiller().decode(torch.zeros(1, 1, 1, 16, 3, 4), None, torch.ones(1, 1))  # type: ignore[arg-type]
    student.decoder.norm = nn.BatchNorm2d(4)
    with pytest.raises(ConfigError, match=r"batch norms \(norm\)"):
        LGDDistiller().setup(Networks.of(student, None, torch.device("cpu")))  # type: ignore[arg-type]
