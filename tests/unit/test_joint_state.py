"""Inference tracks the objects that start together with one joint state, as training does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mobileseg.errors import ConfigError
from mobileseg.eval.predict import Group, plan_groups, track_frames
from mobileseg.models import NetworkTracker, build_model
from mobileseg.tracker import CopyFirstMaskTracker, State

SIZE = (32, 48)


def plan(first_frame: dict[int, int], capacity: int | None) -> list[tuple[int, list[int], int]]:
    return [(g.start, g.ids, g.padding) for g in plan_groups(first_frame, capacity)]


def test_groups_by_start_frame_and_capacity() -> None:
    starts = {1: 0, 2: 0, 3: 2, 4: 0}
    assert plan(starts, None) == [(0, [1, 2, 4], 0), (2, [3], 0)]
    assert plan(starts, 1) == [(0, [1], 0), (0, [2], 0), (0, [4], 0), (2, [3], 0)]
    assert plan(starts, 2) == [(0, [1, 2], 0), (0, [4], 1), (2, [3], 1)]
    assert plan({}, None) == []
    with pytest.raises(ConfigError, match="at least one object"):
        plan_groups(starts, 0)
    assert isinstance(plan_groups(starts, None)[0], Group)


class Recorder(CopyFirstMaskTracker):
    """The copy baseline with a chosen object count per state; records the masks ``init`` gets."""

    def __init__(self, objects: int | None, log: list[torch.Tensor]) -> None:
        self.objects, self.log = objects, log

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        self.log.append(mask.clone())
        return super().init(frame, mask)


def video(frames: int = 4) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    first = np.zeros(SIZE, np.uint8)
    first[2:12, 4:20] = 1
    first[16:30, 24:44] = 2
    return [rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8) for _ in range(frames)], first


@pytest.mark.parametrize(("objects", "inits", "shape"), [(None, 1, 2), (1, 2, 1), (3, 1, 3)])
def test_states_take_the_objects_a_tracker_allows(objects: int | None, inits: int, shape: int) -> None:
    frames, first = video()
    log: list[torch.Tensor] = []
    labels = list(track_frames(lambda: Recorder(objects, log), frames, {0: first}, {1: 0, 2: 0}))
    assert len(log) == inits and all(m.shape == (shape, 1, *SIZE) for m in log)
    given = torch.cat(log)[:, 0]
    assert torch.equal(given[0], torch.from_numpy(first == 1).float())
    assert torch.equal(given[1], torch.from_numpy(first == 2).float())
    assert not given[2:].any()  # padding objects are empty masks ...
    assert all(np.array_equal(lab, first) for lab in labels)  # ... and never become labels


def test_a_network_sees_the_other_objects_and_its_own_background() -> None:
    torch.manual_seed(0)
    model = build_model("mobilevos_r18_mv2_tiny").eval()
    seen: list[torch.Tensor] = []
    original = model.encode_value
    model.encode_value = lambda frame, f16, masks: seen.append(masks.clone()) or original(frame, f16, masks)  # type: ignore[method-assign]
    frames, first = video(3)
    labels = list(track_frames(lambda: NetworkTracker(model), frames, {0: first}, {1: 0, 2: 0}))
    assert seen[0].shape == (1, 2, *SIZE)  # one joint state: both objects, each with the other's mask
    assert seen[0][0, 0].sum() > 0 and seen[0][0, 1].sum() > 0
    # labels are the network's own argmax over background (1 - sum of its normalised probs) and objects
    from mobileseg.data.tensors import frame_tensor, mask_tensor

    with torch.inference_mode():
        state = NetworkTracker(model).init(frame_tensor(frames[0]), torch.cat([mask_tensor(first == k) for k in (1, 2)]))
        prob, _ = NetworkTracker(model).step(frame_tensor(frames[1]), state)
    p = prob[:, 0].numpy()
    expected = np.argmax(np.concatenate([1 - p.sum(0, keepdims=True), p]), axis=0)
    assert np.array_equal(labels[1], expected)
    seen.clear()
    list(track_frames(lambda: NetworkTracker(model, objects=1), frames, {0: first}, {1: 0, 2: 0}))
    assert [m.shape[1] for m in seen] == [1] * len(seen) and len(seen) == 2 * len(frames)  # one state per object
