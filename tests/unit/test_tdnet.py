"""The TDNet student: round-robin sub-networks, the attention propagation FIFO, fixed state shapes."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from mobileseg.models import NetworkTracker, build_model
from mobileseg.models.clip import ClipRunner
from mobileseg.models.tdnet import TDNetStudent, attend

SIZE = (64, 96)

pytestmark = pytest.mark.usefixtures("one_thread")


def _counting(model: TDNetStudent) -> Counter[int]:
    """Calls of each sub-network, counted by forward hooks."""
    calls: Counter[int] = Counter()
    for i, subnet in enumerate(model.key_encoder.subnets):
        subnet.register_forward_hook(lambda *_, i=i: calls.update([i]))
    return calls


@pytest.mark.parametrize("subnets", [2, 4])
def test_each_sub_network_runs_only_on_its_own_frames_and_the_state_keeps_its_shapes(subnets: int) -> None:
    torch.manual_seed(0)
    model = build_model("tdnet_r18_mv2_tiny", subnets=subnets).eval()
    calls = _counting(model)
    tracker = NetworkTracker(model)
    mask = torch.zeros(2, 1, *SIZE)
    mask[0, :, 10:30, 10:40], mask[1, :, 35:60, 50:90] = 1, 1
    with torch.no_grad():
        state = tracker.init(torch.rand(1, 3, *SIZE), mask)
        assert calls == Counter(range(subnets))  # frame 0: every sub-network once
        shapes = [tuple(s.shape) for s in state]
        assert shapes[2][1] == subnets - 1 and shapes[-1] == (1,)  # a FIFO of m-1 frames, the phase
        for frame in range(1, 2 * subnets + 2):
            calls.clear()
            assert int(state[-1]) == (frame - 1) % subnets
            _, state = tracker.step(torch.rand(1, 3, *SIZE), state)
            assert calls == Counter([(frame - 1) % subnets])  # one sub-network, round-robin
            assert [tuple(s.shape) for s in state] == shapes

    calls.clear()
    frames = 2 * subnets + 1
    ClipRunner(model)(torch.rand(1, frames, 3, *SIZE), torch.zeros(1, frames, 1, *SIZE), torch.ones(1, 1))
    assert calls == Counter({i: 1 + sum((t - 1) % subnets == i for t in range(1, frames)) for i in range(subnets)})


@pytest.mark.parametrize("phase", [0, 1, 3, 6])
def test_training_clips_follow_the_trackers_schedule_from_any_start(phase: int) -> None:
    """The features encode_clip gives frame t are those the tracker's schedule computes when frame 1 runs entry phase mod m."""
    torch.manual_seed(0)
    model = build_model("tdnet_r18_mv2_tiny", subnets=4).eval()
    frames = torch.rand(1, 6, 3, *SIZE)
    with torch.no_grad():
        clip = model.encode_clip(frames, phase)
        assert clip.phases == tuple((phase + t - 1) % 4 for t in range(1, 6))
        feats, queue = model.encode_first(frames[:, 0], phase % 4)
        assert torch.allclose(clip.feats.key[0], feats.key[0], atol=1e-6)
        for t in range(1, 6):
            feats, queue = model.encode_next(frames[:, t], queue, clip.phases[t - 1])
            assert torch.allclose(clip.feats.key[t], feats.key[0], atol=1e-5) and torch.allclose(clip.feats.f4[t], feats.f4[0], atol=1e-5)
        # the sub-output's features: the frame's own sub-network value, same skips, no fusion
        assert clip.own is not None and torch.equal(clip.own.f4, clip.feats.f4) and not torch.allclose(clip.own.f16, clip.feats.f16)
        if phase == 0:  # the schedule's start is what the tracker's init leaves
            first, init_queue = model.encode_first(frames[:, 0])
            state = model.init(frames[:, 0], torch.ones(1, 1, *SIZE))
            assert all(torch.equal(a, b) for a, b in zip(init_queue, state[2:5]))


def test_frame_zero_sees_the_other_sub_networks_in_the_order_a_running_video_holds_them() -> None:
    """Started at entry p, frame 0's FIFO holds it as sub-networks p+1, ..., p+m-1 see it (oldest first): the order in
    which those sub-networks ran the last m-1 frames when sub-network p runs in a running video."""
    torch.manual_seed(0)
    model = build_model("tdnet_r18_mv2_tiny", subnets=4).eval()
    x = model.normalize(torch.rand(1, 3, *SIZE))
    encoder = model.key_encoder
    with torch.no_grad():
        for phase in range(4):
            _, (_, _, vs), own = encoder.first(x, phase)
            for j in range(3):
                index = (phase + 1 + j) % 4
                expected = encoder.apm.shrink(encoder.apm.project(index, encoder.subnets[index](x)[0])[2])
                assert torch.allclose(vs[:, j], expected, atol=1e-6)
            assert torch.allclose(own, encoder.apm.project(phase, encoder.subnets[phase](x)[0])[2], atol=1e-6)


def test_attention_propagation_reaches_the_oldest_frame_in_the_fifo() -> None:
    torch.manual_seed(0)
    model = build_model("tdnet_r18_mv2_tiny", subnets=4).eval()
    with torch.no_grad():
        _, (qs, ks, vs) = model.encode_first(torch.rand(1, 3, *SIZE))
        query, value = torch.randn(1, qs.shape[2], 4, 6), torch.randn(1, vs.shape[2], 4, 6)
        base = model.key_encoder.apm.fuse((qs, ks, vs), query, value)
        older = vs.clone()
        older[:, 0] += 1.0  # the oldest entry (3 frames back) changes
        assert not torch.allclose(model.key_encoder.apm.fuse((qs, ks, older), query, value), base)
        pushed = model.key_encoder.apm.push((qs, ks, vs), (torch.zeros_like(query), torch.zeros(1, ks.shape[2], 4, 6), value))
        assert torch.equal(pushed[2][:, :2], vs[:, 1:])  # FIFO: oldest out, the rest move up, the new one is last


def test_attend_is_softmax_attention() -> None:
    q, k, v = torch.randn(1, 3, 2, 2), torch.randn(1, 3, 1, 2), torch.randn(1, 5, 1, 2)
    weights = torch.softmax(q.flatten(2).transpose(1, 2) @ k.flatten(2) / 3**0.5, dim=-1)  # [1, 4, 2]
    expected = (weights @ v.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(1, 5, 2, 2)
    assert torch.allclose(attend(q, k, v), expected, atol=1e-6)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="subnets must be >= 2"):
        build_model("tdnet_r18_mv2_tiny", subnets=1)
    with pytest.raises(ValueError, match="ImageNet weights do not fit"):
        build_model("tdnet_r18_mv2_tiny", pretrained="imagenet")
    model = build_model("tdnet_r18_mv2_tiny").eval()
    state = model.init(torch.rand(1, 3, *SIZE), torch.ones(1, 1, *SIZE))
    with pytest.raises(ValueError, match="phase 5 is outside 0..1"):
        model.step(torch.rand(1, 3, *SIZE), *state[:-1], torch.tensor([5.0]))
