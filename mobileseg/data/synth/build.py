"""Random SynthVOS scenes: pick textures, shapes, paths, camera and light from one generator."""

from __future__ import annotations

import numpy as np

from mobileseg.data.synth.scene import (
    TEXTURE_SIZE,
    Camera,
    Lighting,
    Motion,
    Scene,
    SceneObject,
    leaving_motion,
    random_motion,
    random_texture,
    swing,
)
from mobileseg.data.synth.shapes import random_shape, similar_shape
from mobileseg.data.synth.textures import make_texture, random_colours, sample_bilinear

BACKGROUND_MARGIN = 1.6  # background texture size relative to the frame (room for camera motion)
LEAVE_PROBABILITY = 0.35  # chance that a target (not the first) leaves the frame and comes back
MIN_VISIBLE_FRACTION = 0.004  # a target must cover at least this much of frame 0


def _rgb(values: np.ndarray) -> tuple[float, float, float]:
    red, green, blue = (float(x) for x in values)
    return red, green, blue


def _clutter(rng: np.random.Generator, background: np.ndarray, count: int) -> np.ndarray:
    """Paint ``count`` static textured blobs into the background (object-like clutter)."""
    bh, bw = background.shape[:2]
    for _ in range(count):
        shape = random_shape(rng)
        texture = make_texture(rng, TEXTURE_SIZE, TEXTURE_SIZE)
        radius = rng.uniform(0.04, 0.12) * min(bh, bw)
        cx, cy = rng.uniform(0, bw), rng.uniform(0, bh)
        reach = shape.extent * radius + 2
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, bw)
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, bh)
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        u, v = (xs - cx) / radius, (ys - cy) / radius
        coverage, shading = shape.coverage(u, v, 0.0, pixels_per_unit=radius)
        half = TEXTURE_SIZE / 2
        colour = sample_bilinear(texture, v * half + half, u * half + half, wrap=True) * shading[..., None]
        alpha = coverage[..., None] * 0.9
        background[y0:y1, x0:x1] = background[y0:y1, x0:x1] * (1 - alpha) + colour * alpha
    return background


def _camera(rng: np.random.Generator, height: int, width: int, frames: int) -> Camera:
    room = (BACKGROUND_MARGIN - 1.0) / 2 * min(height, width)
    return Camera(
        pan=(swing(rng, rng.uniform(0.1, 0.45) * room, frames),),
        drift=(rng.uniform(-0.5, 0.5) * room / frames, rng.uniform(-0.5, 0.5) * room / frames),
        zoom=float(rng.uniform(0.0, 0.08)),
        zoom_rate=2 * np.pi / (frames * rng.uniform(0.8, 2.0)),
        roll=float(rng.uniform(0.0, 0.05)),
    )


def _lighting(rng: np.random.Generator, height: int, width: int, frames: int) -> Lighting:
    spot = random_motion(rng, height, width, frames, radius=rng.uniform(0.3, 0.7) * max(height, width))
    return Lighting(
        gain=float(rng.uniform(0.05, 0.3)),
        rate=2 * np.pi / (frames * rng.uniform(0.5, 1.5)),
        tint=_rgb(rng.uniform(-0.08, 0.08, 3)),
        spot_path=spot,
        spot_strength=float(rng.uniform(0.1, 0.45)),
    )


def _targets(rng: np.random.Generator, height: int, width: int, frames: int, count: int) -> list[SceneObject]:
    targets = []
    for label in range(1, count + 1):
        radius = rng.uniform(0.09, 0.2) * min(height, width)
        leaves = label > 1 and rng.random() < LEAVE_PROBABILITY
        make_motion = leaving_motion if leaves else random_motion
        motion = make_motion(rng, height, width, frames, radius)
        targets.append(SceneObject(label, random_shape(rng), random_texture(rng), motion))
    return targets


def _distractor(rng: np.random.Generator, like: SceneObject, height: int, width: int, frames: int) -> SceneObject:
    """A non-annotated object that looks like ``like``: same texture family, similar shape, size."""
    if rng.random() < 0.5:
        texture = like.texture[:, ::-1].copy()  # the same material, mirrored
    else:
        texture = random_texture(rng, colours=None)
        texture = 0.5 * texture + 0.5 * like.texture  # a blend that keeps the target's colours
    radius = like.motion.radius * float(rng.uniform(0.75, 1.25))
    motion: Motion = random_motion(rng, height, width, frames, radius)
    return SceneObject(0, similar_shape(rng, like.shape), texture.astype(np.float32), motion)


def _first_frame_ok(scene: Scene, targets: int) -> bool:
    labels = scene.visible_labels(0)
    counts = np.bincount(labels.ravel(), minlength=targets + 1)
    return bool((counts[1 : targets + 1] >= MIN_VISIBLE_FRACTION * labels.size).all())


def random_scene(
    rng: np.random.Generator, height: int, width: int, frames: int, targets: int, distractors: int,
    max_tries: int = 50,
) -> Scene:
    """A random scene whose ``targets`` objects are all clearly visible in frame 0."""
    bh, bw = int(height * BACKGROUND_MARGIN), int(width * BACKGROUND_MARGIN)
    background = make_texture(rng, bh, bw, colours=random_colours(rng, int(rng.integers(3, 6))))
    background = _clutter(rng, background, int(rng.integers(2, 7)))
    camera, lighting = _camera(rng, height, width, frames), _lighting(rng, height, width, frames)
    noise = float(rng.uniform(0.005, 0.025))
    for _ in range(max_tries):
        objects = _targets(rng, height, width, frames, targets)
        for _ in range(distractors):
            like = objects[int(rng.integers(0, targets))]
            objects.append(_distractor(rng, like, height, width, frames))
        order = rng.permutation(len(objects))
        scene = Scene(height, width, background, camera, lighting, tuple(objects[i] for i in order), noise)
        if _first_frame_ok(scene, targets):
            return scene
    raise RuntimeError(f"no valid scene in {max_tries} tries for {targets} objects at {height}x{width}")
