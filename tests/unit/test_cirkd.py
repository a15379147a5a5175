"""CIRKD (cross-image relational distillation): relations, KL, memory banks, stop-gradient, state."""

from __future__ import annotations

import copy
import datetime
import io
import math
import os
import socket
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from mobileseg.distill import DISTILLERS, Distiller, Networks, StepOutputs, describe, option_defaults, option_specs
from mobileseg.distill.cirkd import (
    CIRKDDistiller,
    ClassQueues,
    batch_relation_loss,
    memory_relation_loss,
    pair_relations,
    per_class,
    row_kl,
)
from mobileseg.errors import ConfigError
from mobileseg.models.clip import ClipOutput


def value(tensor: torch.Tensor) -> float:
    return float(tensor.detach())


SMALL = dict(anchors=8, pixel_queue=40, region_queue=6, pixel_samples=16, region_samples=3, pixel_enqueue=3)


def test_pair_relations_are_cosines_across_every_pair_of_images() -> None:
    features = torch.tensor([[[2.0, 0.0], [0.0, 3.0]], [[1.0, 1.0], [1.0, -1.0]]])  # n=2 images, M=2 pixels, D=2
    s = pair_relations(features)
    assert s.shape == (2, 2, 2, 2)
    r = 1 / math.sqrt(2)
    assert torch.allclose(s[0, :, 0, :], torch.eye(2))  # within image 0
    assert torch.allclose(s[0, :, 1, :], torch.tensor([[r, r], [r, -r]]))  # image 0 against image 1
    assert torch.allclose(s[1, :, 0, :], s[0, :, 1, :].t())
    assert torch.allclose(s[1, :, 1, :], torch.eye(2), atol=1e-6)


def test_row_kl_matches_a_hand_computation_and_ignores_the_teacher_gradient() -> None:
    student = torch.tensor([[0.0, 2.0], [1.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[2.0, 0.0], [1.0, 1.0]], requires_grad=True)
    p = math.exp(2) / (1 + math.exp(2))
    row0 = p * math.log(p / (1 - p)) + (1 - p) * math.log((1 - p) / p)  # KL(softmax(2,0) || softmax(0,2))
    loss = row_kl(student, teacher)
    assert value(loss) == pytest.approx(row0 / 2, abs=1e-6)  # row 1: equal rows, KL 0
    loss.backward()
    assert student.grad is not None and teacher.grad is None


def test_batch_relation_loss_by_hand_and_as_the_mean_over_pairs() -> None:
    tau = 0.5
    # one image, two pixels: student pixels orthogonal, teacher pixels equal -> teacher rows uniform
    f_s, f_t = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    p = math.exp(1 / tau) / (math.exp(1 / tau) + 1)  # student row: softmax(1/tau, 0)
    expected = 0.5 * math.log(0.5 / p) + 0.5 * math.log(0.5 / (1 - p))
    assert float(batch_relation_loss(f_s, f_t, tau)) == pytest.approx(expected, abs=1e-6)
    assert float(batch_relation_loss(f_t, f_t, tau)) == pytest.approx(0.0, abs=1e-7)
    # n images: the mean over the n^2 ordered pairs of the per-pair row-mean ("batchmean") KL
    torch.manual_seed(0)
    f_s, f_t = torch.randn(3, 5, 4), torch.randn(3, 5, 6)
    s, t = F.normalize(f_s, dim=-1), F.normalize(f_t, dim=-1)
    pairs = [F.kl_div(F.log_softmax(s[i] @ s[j].t() / tau, 1), F.softmax(t[i] @ t[j].t() / tau, 1), reduction="batchmean")
             for i in range(3) for j in range(3)]
    assert float(batch_relation_loss(f_s, f_t, tau)) == pytest.approx(float(sum(pairs) / 9), abs=1e-5)


def test_memory_relation_loss_by_hand_and_with_an_empty_bank() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p_s, f_t = torch.tensor([[0.0, 5.0]], requires_grad=True), torch.tensor([[3.0, 0.0]])
    tau = 1.0  # student logits (0, 1), teacher logits (1, 0)
    q = math.exp(1) / (1 + math.exp(1))
    expected = q * math.log(q / (1 - q)) + (1 - q) * math.log((1 - q) / q)
    assert value(memory_relation_loss(p_s, f_t, bank, tau)) == pytest.approx(expected, abs=1e-6)
    empty = memory_relation_loss(p_s, f_t, bank[:0], tau)
    assert value(empty) == 0.0 and empty.requires_grad


def test_queues_wrap_around_fifo() -> None:
    queues = ClassQueues(classes=2, size=4, dim=1)
    queues.push(1, torch.tensor([[1.0], [2.0], [3.0]]))
    assert queues.ptr.tolist() == [0, 3] and queues.count.tolist() == [0, 3]
    queues.push(1, torch.tensor([[4.0], [5.0], [6.0]]))  # 5 and 6 replace the oldest (1 and 2)
    assert queues.items[1, :, 0].tolist() == [5.0, 6.0, 3.0, 4.0]
    assert queues.ptr.tolist() == [0, 2] and queues.count.tolist() == [0, 4]
    assert queues.items[0].abs().sum() == 0  # the other class is untouched
    # more than the capacity at once ends exactly as one push at a time
    at_once, one_by_one = ClassQueues(1, 4, 1), ClassQueues(1, 4, 1)
    values = torch.arange(11.0).unsqueeze(1)
    at_once.push(0, values[:2])
    one_by_one.push(0, values[:2])
    at_once.push(0, values[2:])
    for v in values[2:]:
        one_by_one.push(0, v.unsqueeze(0))
    assert torch.equal(at_once.items, one_by_one.items) and torch.equal(at_once.ptr, one_by_one.ptr)
    assert sorted(at_once.items[0, :, 0].tolist()) == [7.0, 8.0, 9.0, 10.0]
    at_once.push(0, values[:0])  # nothing to push
    assert at_once.count.tolist() == [4]


def test_queues_sample_per_class_from_filled_entries_only() -> None:
    queues = ClassQueues(classes=2, size=10, dim=2)
    queues.push(0, torch.tensor([[0.0, float(i)] for i in range(3)]))  # class 0 entries have x = 0
    queues.push(1, torch.tensor([[1.0, float(i)] for i in range(8)]))  # class 1 entries have x = 1
    entries, classes = queues.sample(5, torch.Generator().manual_seed(0))
    assert classes.tolist() == [0] * 3 + [1] * 5  # all 3 filled of class 0, 5 of the 8 of class 1
    assert torch.equal(entries[:, 0], classes.float())  # every entry comes from its class's queue
    assert entries[3:, 1].unique().numel() == 5  # without replacement
    again, _ = queues.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(entries, again)  # drawn from the generator only
    empty, none = ClassQueues(2, 10, 2).sample(5)
    assert empty.shape == (0, 2) and none.numel() == 0


def _outputs(void: bool = True, seed: int = 5) -> StepOutputs:
    """2 clips, 2 frames, 2 slots (clip 2 has one object): z_t is e0 on background, e1 on objects,
    e2 on void pixels and everywhere in the padding slot, so the banks show what was pushed."""
    torch.manual_seed(seed)
    batch, frames, objects, height, width = 2, 2, 2, 32, 32
    labels = torch.zeros(batch, frames + 1, height, width, dtype=torch.long)
    labels[:, :, 8:20, 8:20] = 1
    labels[0, :, 22:30, 4:14] = 2
    if void:
        labels[:, :, :4, :] = -100
    small = labels[:, 1:, ::4, ::4]  # what nearest downsampling to stride 4 keeps
    z_t = torch.zeros(batch, frames, objects, 3, height // 4, width // 4)
    for k in range(objects):
        cls = torch.where(small < 0, 2, (small == k + 1).long())  # void -> e2
        z_t[:, :, k] = F.one_hot(cls, 3).permute(0, 1, 4, 2, 3).float()
    z_t[1, :, 1] = torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1)  # the padding slot
    z_t.requires_grad_(True)
    logits = torch.randn(batch, frames, objects + 1, height, width, requires_grad=True)
    t_logits = torch.randn(batch, frames, objects + 1, height, width, requires_grad=True)
    z_s = torch.randn(batch, frames, objects, 4, height // 4, width // 4, requires_grad=True)
    selector = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    return StepOutputs(ClipOutput(logits, None, z_s, None), ClipOutput(t_logits, None, z_t, None), labels, selector)  # type: ignore[arg-type]


def widths(student_dim: int, teacher_dim: int | None) -> Networks:
    """What setup needs of the networks here: their widths alone (cirkd sizes its head and banks from them)."""
    return Networks(None, None, student_dim, teacher_dim, torch.device("cpu"))  # type: ignore[arg-type]


def _built(**options: object) -> CIRKDDistiller:
    distiller = DISTILLERS.get("cirkd")(**{**SMALL, **options})
    assert isinstance(distiller, CIRKDDistiller)
    distiller.setup(widths(student_dim=4, teacher_dim=3))
    return distiller.train()


def test_banks_take_teacher_pixels_and_regions_per_class_without_void_or_padding() -> None:
    distiller, outputs = _built(), _outputs()
    distiller(outputs, torch.Generator().manual_seed(0))
    assert distiller.pixel_bank is not None and distiller.region_bank is not None
    real_images = 6  # clip 1: 2 objects x 2 frames; clip 2: 1 object x 2 frames
    assert distiller.pixel_bank.count.tolist() == [real_images * 3, real_images * 3]  # pixel_enqueue 3 per class
    assert distiller.region_bank.count.tolist() == [6, 6]  # one region per class per image (queue of 6)
    for bank in (distiller.pixel_bank, distiller.region_bank):
        for cls in (0, 1):
            filled = bank.items[cls, : int(bank.count[cls])]
            assert torch.allclose(filled, F.one_hot(torch.tensor(cls), 3).float().expand_as(filled)), (bank, cls)
    # a second step fills the region queue past its size: it wraps around
    distiller(outputs, torch.Generator().manual_seed(1))
    assert distiller.region_bank.count.tolist() == [6, 6] and distiller.region_bank.ptr.tolist() == [0, 0]
    assert distiller.pixel_bank.count.tolist() == [36, 36] and distiller.pixel_bank.ptr.tolist() == [36, 36]


def test_gradients_reach_the_student_and_the_head_never_the_teacher() -> None:
    distiller, outputs = _built(), _outputs(void=False)
    first = distiller(outputs, torch.Generator().manual_seed(0))
    assert set(first) == {"batch_p2p", "memory_p2p", "memory_p2r", "logit_kd"}
    assert value(first["memory_p2p"]) > 0 and value(first["memory_p2r"]) > 0  # empty banks, filled before the losses
    terms = distiller(outputs, torch.Generator().manual_seed(1))
    assert all(torch.isfinite(v) and value(v) > 0 for v in terms.values()), terms
    sum(terms.values()).backward()
    z_s, teacher = outputs.student.embeddings, outputs.teacher
    assert z_s.grad is not None and z_s.grad.abs().sum() > 0
    assert z_s.grad[1, :, 1].abs().sum() == 0  # the padding slot gets nothing
    assert outputs.student.class_logits.grad is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in distiller.head.parameters())  # type: ignore[union-attr]
    assert teacher is not None and teacher.embeddings.grad is None and teacher.class_logits.grad is None
    assert not any(b.requires_grad for b in distiller.buffers())


def test_the_step_fills_the_banks_before_its_losses_and_draws_about_p_entries_in_all() -> None:
    """The official code's order and sizes: enqueue, then contrast with ``P // classes + 1`` entries per class."""
    assert per_class(4096) == 2049 and per_class(1024) == 513  # the defaults: 4098 and 1026 entries in all
    distiller, seen = _built(), []
    for bank in (distiller.pixel_bank, distiller.region_bank):
        assert bank is not None
        original = bank.sample

        def spy(count: int, generator: torch.Generator | None = None, bank: ClassQueues = bank,
                original: object = original) -> tuple[torch.Tensor, torch.Tensor]:
            seen.append((count, bank.count.tolist()))
            return original(count, generator)  # type: ignore[operator]

        bank.sample = spy  # type: ignore[method-assign,assignment]
    distiller(_outputs(), torch.Generator().manual_seed(0))
    # SMALL: pixel_samples 16 -> 9 per class; region_samples 3 -> 2 per class. At the first step's
    # losses the fresh banks already hold the step's entries: 6 images x 3 pixels, 6 regions per class
    assert seen == [(9, [18, 18]), (2, [6, 6])]


def test_void_pixels_are_no_anchors_of_the_memory_parts() -> None:
    """Changing z_s and z_t on void pixels changes the mini-batch relations, never the memory terms
    (batch norm in eval mode, so the head's statistics do not couple the anchors)."""
    outputs = _outputs()
    void = (outputs.labels[:, 1:, ::4, ::4] < 0)[:, :, None, None]  # [B, T-1, 1, 1, h, w]
    assert bool(void.any()) and not bool(void.all())
    student, teacher = outputs.student, outputs.teacher
    assert teacher is not None
    noise = torch.randn_like(student.embeddings), torch.randn_like(teacher.embeddings)
    moved = replace(outputs, student=student._replace(embeddings=torch.where(void, noise[0], student.embeddings)),
                    teacher=teacher._replace(embeddings=torch.where(void, noise[1], teacher.embeddings)))
    fresh = _built(anchors=32).eval()
    before = copy.deepcopy(fresh)(outputs, torch.Generator().manual_seed(0))
    after = copy.deepcopy(fresh)(moved, torch.Generator().manual_seed(0))
    assert value(after["batch_p2p"]) != pytest.approx(value(before["batch_p2p"]))  # void anchors take part here
    for name in ("memory_p2p", "memory_p2r"):
        assert value(before[name]) > 0 and value(after[name]) == pytest.approx(value(before[name]), abs=1e-6), name
    # nothing but void: the memory terms are zeros in the graph, never NaN
    labels = outputs.labels.clone()
    labels[:, 1:] = -100
    terms = _built()(replace(outputs, labels=labels), torch.Generator().manual_seed(0))
    assert value(terms["memory_p2p"]) == 0.0 and value(terms["memory_p2r"]) == 0.0 and terms["memory_p2p"].requires_grad
    assert math.isfinite(value(terms["batch_p2p"]))


def test_each_part_switches_off_alone() -> None:
    outputs = _outputs()
    only_batch = _built(pixel_weight=0.0, region_weight=0.0, logit_weight=0.0)
    assert set(only_batch(outputs)) == {"batch_p2p"} and only_batch.state_dict() == {}  # no head, no bank
    only_pixels = _built(batch_weight=0.0, region_weight=0.0, logit_weight=0.0)
    assert set(only_pixels(outputs)) == {"memory_p2p"}
    assert {k.split(".")[0] for k in only_pixels.state_dict()} == {"head", "pixel_bank"}
    only_regions = _built(batch_weight=0.0, pixel_weight=0.0, logit_weight=0.0)
    assert set(only_regions(outputs)) == {"memory_p2r"} and only_regions.pixel_bank is None
    only_logits = _built(batch_weight=0.0, pixel_weight=0.0, region_weight=0.0)
    assert set(only_logits(outputs)) == {"logit_kd"}


def test_logit_kd_is_the_tau_squared_scaled_kl_over_every_pixel() -> None:
    outputs = _outputs()
    distiller = _built(batch_weight=0.0, pixel_weight=0.0, region_weight=0.0, logit_tau=2.0)
    s = F.log_softmax(outputs.student.class_logits / 2, dim=2)
    t = F.softmax(outputs.teacher.class_logits / 2, dim=2)  # type: ignore[union-attr]
    expected = 4 * (t * (t.log() - s)).sum(dim=2).mean()
    assert value(distiller(outputs)["logit_kd"]) == pytest.approx(value(expected), rel=1e-5)


def test_state_round_trips_through_a_weights_only_checkpoint() -> None:
    distiller = _built()
    distiller(_outputs(), torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    torch.save({k: v.cpu() for k, v in distiller.state_dict().items()}, buffer)
    buffer.seek(0)
    fresh = _built()
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for key, value in distiller.state_dict().items():
        assert torch.equal(value, fresh.state_dict()[key]), key


@pytest.mark.parametrize(("options", "match"), [
    (dict(tau=0.0), r"option tau \(--tau\) must be > 0; got 0.0"), (dict(anchors=1), r"option anchors \(--anchors\) must be >= 2; got 1"),
    (dict(pixel_queue=0), "pixel_queue"), (dict(batch_weight=0.0, pixel_weight=0.0, region_weight=0.0, logit_weight=0.0), "--distiller none"),
    (dict(region_weight=-1.0), r"region_weight \(--region-weight\) must be >= 0; got -1.0"),
    (dict(anchors=2.5), "anchors .* takes an int; got 2.5"), (dict(omega=0.5), "distiller cirkd has no option omega"),
])
def test_bad_options_are_named(options: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CIRKDDistiller(**options)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="teacher"):
        CIRKDDistiller().setup(widths(4, None))


@pytest.mark.parametrize("name", DISTILLERS.names())
def test_every_distiller_is_a_described_module_with_typed_options(name: str) -> None:
    method = DISTILLERS.get(name)
    assert issubclass(method, Distiller) and describe(method)
    distiller = method()
    assert isinstance(distiller, torch.nn.Module) and distiller.teacher_mode in ("checkpoint", "online", "none")
    for option, default in option_defaults(method).items():
        assert default is not None, option  # every option has a real default (the CLI shows it)
    for spec in option_specs(method):
        assert spec.help and isinstance(spec.default, spec.type) and spec.allowed.admits(spec.default), spec
    if name in ("none", "mobilevos"):  # parameterless methods: nothing to train, nothing to checkpoint
        distiller.setup(widths(4, 3))
        assert distiller.state_dict() == {} and not list(distiller.parameters())


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One process of the two-process check below: the distiller in DDP, as the training loop wraps it."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        _ddp_steps(rank, out)
    finally:
        dist.destroy_process_group()


def _ddp_steps(rank: int, out: str) -> None:
    """Two DDP steps; the wrapper dies when this returns, before the group is destroyed: freed
    after it, the wrapper can deadlock gloo's destructor (why: ``mobileseg.train.distributed.teardown``;
    in this test it hung 2 runs in 16 under load, and CI once)."""
    torch.manual_seed(0)  # DDP broadcasts rank 0's weights anyway
    distiller = _built(pixel_queue=100)
    wrapped = DistributedDataParallel(distiller, device_ids=None, find_unused_parameters=True, forward_sync_buffers=False)
    optimizer = torch.optim.SGD(distiller.parameters(), lr=0.5)
    for step in range(2):
        terms = wrapped(_outputs(seed=10 + rank), torch.Generator().manual_seed(100 * step + rank))
        sum(terms.values()).backward()
        optimizer.step()
        optimizer.zero_grad()
    torch.save(distiller.state_dict(), Path(out) / f"rank{rank}.pt")


def _spawn(worker: object, args: tuple[object, ...], processes: int, deadline: float = 300.0) -> None:
    """``mp.spawn`` with a deadline: a hung process group fails this test in minutes, naming the
    ranks still running, and leaves no process behind (a plain ``join`` would wait forever, and
    the interpreter would wait for its non-daemon children at exit)."""
    context = mp.start_processes(worker, args=args, nprocs=processes, join=False, start_method="spawn")
    began = time.monotonic()
    try:
        while not context.join(timeout=1):
            if time.monotonic() - began > deadline:
                alive = [rank for rank, process in enumerate(context.processes) if process.is_alive()]
                pytest.fail(f"ranks {alive} of {processes} still running after {deadline:.0f} s: the process group hung")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
                process.join()


def test_under_ddp_banks_hold_every_process_entries_and_the_head_stays_in_sync(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    _spawn(_ddp_worker, (2, port, str(tmp_path)), processes=2)
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    single = _built(pixel_queue=100)
    single(_outputs(), torch.Generator().manual_seed(0))
    assert single.pixel_bank is not None
    assert states[0]["pixel_bank.count"].tolist() == (2 * 2 * single.pixel_bank.count).tolist()  # 2 ranks x 2 steps
    for key, value in states[0].items():
        if "running_" not in key:  # batch-norm statistics are per process (the official code uses SyncBN)
            assert torch.equal(value, states[1][key]), key
    assert not torch.equal(states[0]["head.1.running_mean"], states[1]["head.1.running_mean"])  # different data per rank
