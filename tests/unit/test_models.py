"""Every registered network: shapes, gradients everywhere, no NaNs, state shapes, export.

Driven by the registry: register a model and it is tested here automatically.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mobileseg.models import MODELS, ROLES, NetworkTracker, build_model
from mobileseg.models.clip import ClipRunner, segmentation_loss

SIZE = (64, 96)
STUDENTS = [n for n in MODELS.names() if ROLES[n] == "student"]


def clip(batch: int = 2, frames: int = 3, objects: int = 2) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    masks = torch.zeros(batch, frames, objects, *SIZE)
    masks[:, :, 0, 10:30, 10:40] = 1
    masks[:, :, 1, 35:60, 50:90] = 1
    labels = (masks * torch.arange(1, objects + 1).view(1, 1, -1, 1, 1)).sum(2).long()
    return {"frames": torch.rand(batch, frames, 3, *SIZE), "masks": masks, "labels": labels,
            "selector": torch.tensor([[1.0, 1.0], [1.0, 0.0]])[:batch]}


@pytest.mark.parametrize("name", MODELS.names())
def test_clip_shapes_gradients_and_finite(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).train()
    data = clip()
    data["masks"][1, :, 1] = 0  # the second clip has one object (selector 0 for slot 2)
    output = ClipRunner(model)(data["frames"], data["masks"], data["selector"])
    assert output.class_logits.shape == (2, 2, 3, *SIZE)
    assert output.features.shape[:3] == (2, 2, 2) and output.features.shape[-2:] == (SIZE[0] // 4, SIZE[1] // 4)
    z = output.embeddings  # the representation of every object-frame, [B, T-1, K, D, H/4, W/4]
    assert torch.equal(z.flatten(0, 1), model.represent(output.features.flatten(0, 1)))
    assert z.shape[:3] == (2, 2, 2) and z.shape[3] == model.representation_dim and z.shape[-2:] == (SIZE[0] // 4, SIZE[1] // 4)
    read, feats = output.decoder_inputs  # what the decoder took for frames 1..T-1 (LGD, TDNet decode or distil them)
    assert read.shape[:3] == (2, 2, 2) and all(x.shape[:2] == (2, 2) for x in feats)
    loss = segmentation_loss(output, data["labels"])["total"] + z.pow(2).mean()
    assert torch.isfinite(loss)
    loss.backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{pname} receives no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", MODELS.names())
def test_tracker_state_over_ten_frames(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name).eval()
    tracker = NetworkTracker(model)
    frame, mask = torch.rand(1, 3, *SIZE), torch.zeros(1, 1, *SIZE)
    mask[..., 20:40, 30:60] = 1
    with torch.no_grad():
        state = tracker.init(frame, mask)
        first_shapes = [tuple(s.shape) for s in state]
        for t in range(1, 11):
            prob, state = tracker.step(torch.rand(1, 3, *SIZE), state)
            assert prob.shape == (1, 1, *SIZE) and torch.isfinite(prob).all()
            assert 0 <= prob.min() and prob.max() <= 1
            shapes = [tuple(s.shape) for s in state]
            if ROLES[name] == "student":
                assert shapes == first_shapes, f"student state changed shape at frame {t}"
            else:  # the teacher's memory is unbounded: first frame + every memory_every-th frame, and with
                # include_last (off by default, as in STCN's evaluation) the previous frame unless it was a memory frame
                assert shapes[0][1] == 1 + t // model.memory_every
                assert shapes[3][1] == (1 if model.include_last and t % model.memory_every else 0)


def test_student_memory_policy_pins_first_frame() -> None:
    model = build_model("mobilevos_r18_mv2_tiny", slots=3).eval()
    frames = [torch.rand(1, 3, *SIZE) for _ in range(4)]
    mask = torch.ones(1, 1, *SIZE)
    with torch.no_grad():
        key0, value0 = model.init(frames[0], mask)
        assert torch.equal(key0[:, 0], key0[:, 2])  # every slot holds the first frame at init
        state = (key0, value0)
        keys = []
        for frame in frames[1:]:
            _, *state = model.step(frame, *state)
            keys.append(model.encode_key(frame).key)
    mem_key = state[0]
    assert torch.allclose(mem_key[:, 0], key0[:, 0])  # slot 0: the first frame, pinned
    assert torch.allclose(mem_key[:, 1], keys[-2], atol=1e-6) and torch.allclose(mem_key[:, 2], keys[-1], atol=1e-6)


class _Init(nn.Module):
    def __init__(self, model: nn.Module, phase: int = 0) -> None:
        super().__init__()
        self.model, self.phase = model, phase

    def forward(self, frame: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.init(frame, mask)


class _Step(_Init):
    def forward(self, frame: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        return self.model.step_phase(self.phase, frame, *state)


@pytest.mark.parametrize("name", STUDENTS)
def test_student_entry_points_export(name: str) -> None:
    """init and every phase's step graph export with torch.export and match eager over a few frames."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    frame, mask = torch.rand(1, 3, *SIZE), (torch.rand(1, 1, *SIZE) > 0.5).float()
    init = torch.export.export(_Init(model).eval(), (frame, mask))
    state = model.init(frame, mask)
    assert len(state) == len(model.spec().names)
    programs = [init]
    with torch.no_grad():
        for exported, eager in zip(init.module()(frame, mask), state):
            assert torch.allclose(exported, eager, atol=1e-5)
        for phase in range(model.spec().phases):  # the phases in the order a video runs them
            step = torch.export.export(_Step(model, phase).eval(), (frame, *state))
            programs.append(step)
            eager = model.step(frame, *state)
            for exported, expected in zip(step.module()(frame, *state), eager):
                assert torch.allclose(exported, expected, atol=1e-5)
            state = eager[1:]
    for program in programs:  # Core ML takes tensors of rank <= 5 only
        ranks = [len(node.meta["val"].shape) for node in program.graph.nodes if isinstance(node.meta.get("val"), torch.Tensor)]
        assert max(ranks) <= 5


def test_student_size_budget() -> None:
    from mobileseg.models import count_parameters

    assert count_parameters(build_model("mobilevos_r18_mv2")) <= 10_000_000
    assert count_parameters(build_model("stcn_r50_r18")) > 40_000_000  # STCN-class


@pytest.mark.parametrize("frames", [1, 6, 7])
def test_fast_forward_gives_the_state_size_of_a_real_run(frames: int) -> None:
    """`bench --start-frame`: a teacher's state grown to frame N has exactly the shapes of a real run
    of N-1 steps; a student's fixed state is returned as it is."""
    torch.manual_seed(0)
    video = torch.rand(frames, 1, 3, *SIZE)
    mask = torch.zeros(1, 1, *SIZE)
    mask[..., 10:30, 10:40] = 1
    for name in ("stcn_r50_r18_tiny", "mobilevos_r18_mv2_tiny"):
        tracker = NetworkTracker(build_model(name))
        with torch.no_grad():
            start = tracker.init(video[0], mask)
            state = start
            for frame in video[1:]:
                _, state = tracker.step(frame, state)
            grown = tracker.fast_forward(start, frames)
            assert [tuple(t.shape) for t in grown] == [tuple(t.shape) for t in state], name
            if ROLES[name] == "teacher":
                assert int(grown[2]) == int(state[2]) == frames - 1
            else:
                assert grown is start
            tracker.step(video[-1], grown)  # the grown state is a valid input


def test_profile_parts_add_up_and_the_lite_student_halves_the_flops() -> None:
    from mobileseg.models.profile import profile_step

    torch.manual_seed(0)
    rows = {name: profile_step(build_model(name), 128, 224, repeats=1) for name in ("mobilevos_r18_mv2", "mobilevos_r18_mv2_lite")}
    for parts in rows.values():
        total = parts[-1]
        assert total.name == "step total" and sum(p.gflops for p in parts[:-1]) == pytest.approx(total.gflops)
        assert sum(p.params for p in parts[:-1]) == total.params and all(p.ms >= 0 for p in parts[:-2])
    full, lite = (parts[-1].gflops for parts in rows.values())
    assert lite <= 0.5 * full

    def decoder(parts: list) -> float:
        return sum(p.gflops for p in parts if p.name.startswith("decoder"))

    assert decoder(rows["mobilevos_r18_mv2_lite"]) <= 0.1 * decoder(rows["mobilevos_r18_mv2"])
