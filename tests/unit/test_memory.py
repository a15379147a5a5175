"""Memory math: readout weights, slot updates, soft aggregation."""

from __future__ import annotations

import torch

from mobileseg.models.base import Memory
from mobileseg.models.memory import affinity, aggregate, fill_slots, others_mask, push_slot, readout


def test_affinity_is_a_distribution_that_prefers_the_nearest_key() -> None:
    torch.manual_seed(0)
    query = torch.randn(1, 8, 2, 3)
    memory = torch.randn(1, 2, 8, 2, 3)
    memory[0, 1, :, 1, 2] = query[0, :, 0, 0] * 1.0  # one memory position equals query pixel (0, 0)
    weights = affinity(memory * 4, query * 4)  # sharper
    assert weights.shape == (1, 6, 2 * 6)  # [B, query pixels, memory positions]
    assert torch.allclose(weights.sum(dim=2), torch.ones(1, 6), atol=1e-6)
    assert int(weights[0, 0].argmax()) == 1 * 6 + 1 * 3 + 2


def test_readout_is_the_weighted_sum_of_values() -> None:
    torch.manual_seed(0)
    values = torch.randn(2, 3, 4, 2, 2)  # B*K (B=1, K=2), T, Cv, h, w
    weights = torch.zeros(1, 4, 12)
    weights[0, :, 5] = 1.0  # every query pixel reads memory frame 1, pixel (0, 1)
    out = readout(weights, values)
    assert out.shape == (1, 2, 4, 2, 2)
    assert torch.allclose(out[0, 1, :, 1, 1], values[1, 1, :, 0, 1])
    assert torch.allclose(out[0, 0, :, 0, 0], values[0, 1, :, 0, 1])


def test_push_slot_pinned_fifo_and_pure_fifo() -> None:
    memory = torch.arange(3.0).view(1, 3, 1)  # slots hold 0, 1, 2
    new = torch.tensor([[9.0]])
    assert push_slot(memory, new, dim=1, pin_first=True).flatten().tolist() == [0, 2, 9]
    assert push_slot(memory, new, dim=1, pin_first=False).flatten().tolist() == [1, 2, 9]
    two = torch.tensor([[[0.0], [1.0]]])
    assert push_slot(two, new, dim=1, pin_first=True).flatten().tolist() == [0, 9]
    assert fill_slots(new, dim=1, slots=2).flatten().tolist() == [9, 9]


def test_aggregate_single_object_sharpens_and_selector_zeroes_padding() -> None:
    prob = torch.tensor([[[[0.2, 0.9]]]])  # B=1, K=1
    logits, agg = aggregate(prob)
    # K = 1: logits are -/+ logit(p), so the softmax gives sigmoid(2 logit(p)) (as in STCN)
    assert torch.allclose(agg, torch.sigmoid(2 * torch.logit(prob)), atol=1e-5)
    assert logits.shape == (1, 2, 1, 2)
    two = torch.tensor([[[[0.8]], [[0.7]]]])
    _, agg2 = aggregate(two, selector=torch.tensor([[1.0, 0.0]]))
    assert agg2[0, 1].item() < 1e-6  # the padding object vanishes; the real one is as if alone
    assert abs(agg2[0, 0].item() - torch.sigmoid(2 * torch.logit(torch.tensor(0.8))).item()) < 1e-5


def test_others_mask() -> None:
    masks = torch.tensor([[[[1.0]], [[0.0]], [[1.0]]]])
    assert others_mask(masks).flatten().tolist() == [1.0, 2.0, 1.0]


def test_top_k_readout_is_stcns_softmax_over_the_k_best_positions() -> None:
    torch.manual_seed(0)
    mem_key, query = torch.randn(1, 3, 8, 4, 5), torch.randn(1, 8, 4, 5)
    full = affinity(mem_key, query)
    top = affinity(mem_key, query, top_k=20)
    assert top.shape == full.shape == (1, 20, 60)
    assert torch.allclose(top.sum(-1), torch.ones(1, 20)) and ((top > 0).sum(-1) == 20).all()
    # STCN's softmax_w_top: the k largest logits, renormalised; the others 0
    kept = full.topk(20, dim=-1).indices
    expected = torch.zeros_like(full).scatter_(-1, kept, full.gather(-1, kept) / full.gather(-1, kept).sum(-1, keepdim=True))
    assert torch.allclose(top, expected, atol=1e-6)
    assert torch.equal(affinity(mem_key, query, top_k=60), full) and torch.equal(affinity(mem_key, query, top_k=None), full)


def test_the_teacher_reads_every_position_in_training_and_the_top_k_in_eval() -> None:
    from mobileseg.models import build_model

    torch.manual_seed(0)
    teacher = build_model("stcn_r50_r18_tiny", top_k=2)
    assert build_model("stcn_r50_r18_tiny").top_k == 20 and not build_model("stcn_r50_r18_tiny").include_last  # STCN's evaluation
    key, memory = torch.randn(1, 16, 2, 2), Memory(torch.randn(1, 3, 16, 2, 2), torch.randn(1, 3, 8, 2, 2))
    trained = teacher.train().read_memory(key, memory)
    inferred = teacher.eval().read_memory(key, memory)
    assert torch.allclose(trained, readout(affinity(memory.keys, key), memory.values))
    assert torch.allclose(inferred, readout(affinity(memory.keys, key, top_k=2), memory.values))
    assert not torch.allclose(trained, inferred)
