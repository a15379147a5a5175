"""SynthVOS: determinism, exact masks, DAVIS layout, and the properties that make it hard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from mobileseg.data.davis import open_davis2017
from mobileseg.data.io import load_mask
from mobileseg.data.synth import SynthConfig, generate_synthvos, render_video
from mobileseg.data.synth.build import random_scene
from mobileseg.data.synth.scene import leaving_motion
from mobileseg.errors import ConfigError

TINY = SynthConfig(videos=3, frames=6, height=64, width=96, objects=(1, 3), distractors=(1, 2), seed=7)


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_settings_give_identical_files(tmp_path: Path) -> None:
    first = digest(generate_synthvos(tmp_path / "a", TINY))
    second = digest(generate_synthvos(tmp_path / "b", TINY))
    assert first == second
    assert len(first) == 3 * 6 * 2 + 3  # frames + masks + two lists + synthvos.json


def test_another_seed_gives_other_videos(tmp_path: Path) -> None:
    other = SynthConfig(**{**TINY.__dict__, "seed": 8})
    frames_a, _ = render_video(0, TINY)
    frames_b, _ = render_video(0, other)
    assert not np.array_equal(frames_a[0], frames_b[0])


def test_video_does_not_depend_on_dataset_size() -> None:
    bigger = SynthConfig(**{**TINY.__dict__, "videos": 10})
    for a, b in zip(render_video(1, TINY)[1], render_video(1, bigger)[1]):
        assert np.array_equal(a, b)


def test_masks_decode_to_the_ids_written(tmp_path: Path) -> None:
    root = generate_synthvos(tmp_path / "d", TINY)
    dataset = open_davis2017(root, "train")
    val = open_davis2017(root, "val")
    assert len(dataset) + len(val) == 3 and len(val) == 1
    for index, sequence in enumerate([*dataset, *val]):
        _, masks = render_video(index, TINY)
        for t, written in enumerate(masks):
            assert np.array_equal(load_mask(sequence.masks[t]), written)
        # every target is visible in the first frame, ids are 1..K with nothing else
        assert set(np.unique(masks[0])) == {0, *sequence.object_ids}
        assert TINY.objects[0] <= len(sequence.object_ids) <= TINY.objects[1]


def test_objects_move_and_are_textured() -> None:
    config = SynthConfig(videos=1, frames=12, height=96, width=160, objects=(2, 2), seed=3)
    frames, masks = render_video(0, config)
    for object_id in (1, 2):
        centres = [np.argwhere(m == object_id).mean(axis=0) for m in masks if (m == object_id).any()]
        travelled = np.linalg.norm(np.diff(centres, axis=0), axis=1).sum()
        assert travelled > 3.0, f"object {object_id} barely moves ({travelled:.1f} px)"
        pixels = frames[0][masks[0] == object_id].astype(float)
        assert pixels.std(axis=0).mean() > 5.0, "object colour is flat"
    background = frames[0][masks[0] == 0].astype(float)
    assert background.std(axis=0).mean() > 5.0


def test_background_moves_with_the_camera() -> None:
    config = SynthConfig(videos=1, frames=10, height=96, width=160, objects=(1, 1), distractors=(0, 0), seed=11)
    frames, masks = render_video(0, config)
    still = (masks[0] == 0) & (masks[-1] == 0)
    change = np.abs(frames[0].astype(float) - frames[-1].astype(float))[still].mean()
    assert change > 4.0


def test_scene_has_lookalike_distractors_that_are_not_annotated() -> None:
    rng = np.random.default_rng(0)
    scene = random_scene(rng, 96, 160, 10, targets=2, distractors=3)
    labels = sorted(obj.label for obj in scene.objects)
    assert labels == [0, 0, 0, 1, 2]
    targets = [obj for obj in scene.objects if obj.label]
    for distractor in (obj for obj in scene.objects if obj.label == 0):
        # looks like a target: its mean colour is close to one of the targets'
        gaps = [np.abs(distractor.texture.mean((0, 1)) - t.texture.mean((0, 1))).max() for t in targets]
        assert min(gaps) < 0.25


def test_leaving_object_exits_and_comes_back() -> None:
    rng = np.random.default_rng(5)
    height, width, frames = 96, 160, 30
    motion = leaving_motion(rng, height, width, frames, radius=15.0)
    xs = [motion.at(t)[0] for t in range(frames)]
    inside = [-15 < x < width + 15 for x in xs]
    assert inside[0] and not all(inside)
    first_out = inside.index(False)
    assert any(inside[first_out:]), "the object never re-enters"


def test_refuses_to_overwrite_without_flag_and_foreign_folders(tmp_path: Path) -> None:
    root = generate_synthvos(tmp_path / "d", TINY)
    with pytest.raises(ConfigError, match="--overwrite"):
        generate_synthvos(root, TINY)
    generate_synthvos(root, TINY, overwrite=True)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a SynthVOS dataset"):
        generate_synthvos(foreign, TINY, overwrite=True)
    assert (foreign / "precious.txt").read_text() == "keep me"
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize(
    "change, message",
    [({"frames": 2}, "frames"), ({"objects": (3, 1)}, "objects"), ({"height": 8}, "size"), ({"val_fraction": 1.0}, "val")],
)
def test_bad_settings_are_refused(change: dict, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_synthvos(tmp_path / "x", SynthConfig(**{**TINY.__dict__, **change}))
