"""A SynthVOS video: textured objects over a textured, camera-moved background, frame by frame.

What makes the tracking non-trivial, and where it comes from:
- procedural textures on objects and background (``textures``), irregular deforming outlines
  (``shapes``);
- motion: drifting, oscillating centres, spin, scale changes; some targets swing out of the
  frame and come back (``leaving_motion``); the background pans, zooms and rolls;
- look-alike distractors (same texture, similar shape, not annotated) and static clutter painted
  into the background;
- occlusion by depth order (targets and distractors cover each other);
- lighting: a global gain and tint that drift, and a moving light spot; sensor noise.

Coordinates: ``x`` right, ``y`` down, pixels of the output frame; ``t`` is the frame index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobileseg.data.synth.shapes import Shape
from mobileseg.data.synth.textures import make_texture, sample_bilinear

TEXTURE_SIZE = 96  # texture pixels across one object (u, v in [-1, 1] maps to 2 * 48 px)


@dataclass(frozen=True)
class Motion:
    """Smooth path of an object: centre, rotation and radius (pixels) as functions of ``t``."""

    start: tuple[float, float]
    velocity: tuple[float, float]
    swings: tuple[tuple[float, float, float, float], ...]  # (amp_x, amp_y, omega, phase)
    angle: float
    spin: float
    radius: float
    zoom: float  # relative radius oscillation
    zoom_rate: float

    def at(self, t: float) -> tuple[float, float, float, float]:
        x = self.start[0] + self.velocity[0] * t
        y = self.start[1] + self.velocity[1] * t
        for amp_x, amp_y, omega, phase in self.swings:
            offset = np.sin(omega * t + phase) - np.sin(phase)  # zero at t = 0
            x += amp_x * offset
            y += amp_y * offset
        radius = self.radius * (1.0 + self.zoom * np.sin(self.zoom_rate * t))
        return float(x), float(y), self.angle + self.spin * t, float(radius)


@dataclass(frozen=True)
class SceneObject:
    label: int  # object id in the mask; 0 for distractors
    shape: Shape
    texture: np.ndarray  # float32 [TEXTURE_SIZE, TEXTURE_SIZE, 3]
    motion: Motion


@dataclass(frozen=True)
class Camera:
    """Background view: the output frame samples a larger texture through a moving affine map."""

    pan: tuple[tuple[float, float, float, float], ...]  # (amp_x, amp_y, omega, phase) in px
    drift: tuple[float, float]  # px per frame
    zoom: float
    zoom_rate: float
    roll: float  # radians, amplitude

    def at(self, t: float) -> tuple[float, float, float, float]:
        dx, dy = self.drift[0] * t, self.drift[1] * t
        for amp_x, amp_y, omega, phase in self.pan:
            dx += amp_x * np.sin(omega * t + phase)
            dy += amp_y * np.sin(omega * t + phase)
        scale = 1.0 + self.zoom * np.sin(self.zoom_rate * t)
        return dx, dy, float(scale), self.roll * float(np.sin(0.5 * self.zoom_rate * t + 1.0))


@dataclass(frozen=True)
class Lighting:
    gain: float  # amplitude of the global brightness change
    rate: float
    tint: tuple[float, float, float]  # per-channel drift amplitude
    spot_path: Motion  # the light spot's centre; its radius is the spot's size
    spot_strength: float

    def field(self, t: float, height: int, width: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        """``float32 [H, W, 3]`` multiplicative light at frame ``t``."""
        phase = np.sin(self.rate * t)
        global_gain = 1.0 + self.gain * phase
        tint = 1.0 + np.asarray(self.tint, dtype=np.float32) * np.sin(0.7 * self.rate * t + 0.5)
        cx, cy, _, size = self.spot_path.at(t)
        spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * size**2))
        light = global_gain * (1.0 - 0.5 * self.spot_strength + self.spot_strength * spot)
        return light[..., None].astype(np.float32) * tint


@dataclass(frozen=True)
class Scene:
    height: int
    width: int
    background: np.ndarray  # float32 [bh, bw, 3], larger than the frame
    camera: Camera
    lighting: Lighting
    objects: tuple[SceneObject, ...]  # back to front
    noise: float  # sensor noise std in [0, 1] units

    def _background(self, t: float, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
        dx, dy, scale, roll = self.camera.at(t)
        bh, bw = self.background.shape[:2]
        cx, cy = xs - self.width / 2, ys - self.height / 2
        cos, sin = np.cos(roll) * scale, np.sin(roll) * scale
        bx = bw / 2 + dx + cos * cx - sin * cy
        by = bh / 2 + dy + sin * cx + cos * cy
        return sample_bilinear(self.background, by, bx, wrap=False)

    def _paint(self, obj: SceneObject, t: float, image: np.ndarray, labels: np.ndarray) -> None:
        cx, cy, angle, radius = obj.motion.at(t)
        reach = obj.shape.extent * radius + 2
        x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 1, self.width)
        y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 1, self.height)
        if x0 >= x1 or y0 >= y1:
            return  # entirely outside the frame
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        dx, dy = xs - cx, ys - cy
        cos, sin = np.cos(-angle), np.sin(-angle)
        u = (cos * dx - sin * dy) / radius
        v = (sin * dx + cos * dy) / radius
        coverage, shading = obj.shape.coverage(u, v, t, pixels_per_unit=radius)
        half = TEXTURE_SIZE / 2
        colour = sample_bilinear(obj.texture, v * half + half, u * half + half, wrap=True) * shading[..., None]
        alpha = coverage[..., None]
        region = image[y0:y1, x0:x1]
        image[y0:y1, x0:x1] = region * (1 - alpha) + colour * alpha
        labels[y0:y1, x0:x1][coverage >= 0.5] = obj.label

    def render(self, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: ``uint8 [H, W, 3]`` RGB and ``uint8 [H, W]`` object ids."""
        ys, xs = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        image = self._background(t, ys, xs)
        labels = np.zeros((self.height, self.width), dtype=np.uint8)
        for obj in self.objects:
            self._paint(obj, t, image, labels)
        image = image * self.lighting.field(t, self.height, self.width, ys, xs)
        image = image + rng.normal(0.0, self.noise, image.shape).astype(np.float32)
        return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8), labels

    def visible_labels(self, t: int) -> np.ndarray:
        """Object ids at frame ``t`` without rendering colours (used to validate a scene)."""
        labels = np.zeros((self.height, self.width), dtype=np.uint8)
        scratch = np.zeros((self.height, self.width, 3), dtype=np.float32)
        for obj in self.objects:
            self._paint(obj, t, scratch, labels)
        return labels


def swing(rng: np.random.Generator, amplitude: float, frames: float) -> tuple[float, float, float, float]:
    angle = rng.uniform(0, 2 * np.pi)
    omega = 2 * np.pi / (frames * rng.uniform(0.5, 2.0))
    return (amplitude * np.cos(angle), amplitude * np.sin(angle), omega, rng.uniform(0, 2 * np.pi))


def random_motion(rng: np.random.Generator, height: int, width: int, frames: int, radius: float) -> Motion:
    """An object path that mostly stays in view: drift + two swings + spin + zoom."""
    size = min(height, width)
    start = (rng.uniform(0.15, 0.85) * width, rng.uniform(0.15, 0.85) * height)
    speed = rng.uniform(0.0, 0.012) * size
    heading = rng.uniform(0, 2 * np.pi)
    return Motion(
        start=start,
        velocity=(speed * np.cos(heading), speed * np.sin(heading)),
        swings=(swing(rng, rng.uniform(0.05, 0.25) * size, frames), swing(rng, rng.uniform(0.0, 0.1) * size, frames / 3)),
        angle=rng.uniform(0, 2 * np.pi),
        spin=rng.normal(0.0, 0.05),
        radius=radius,
        zoom=rng.uniform(0.05, 0.3),
        zoom_rate=2 * np.pi / (frames * rng.uniform(0.5, 1.5)),
    )


def leaving_motion(rng: np.random.Generator, height: int, width: int, frames: int, radius: float) -> Motion:
    """A path that leaves the frame through the nearest side edge and comes back in."""
    base = random_motion(rng, height, width, frames, radius)
    x0 = base.start[0]
    direction = 1.0 if x0 > width / 2 else -1.0
    exit_distance = (width - x0 if direction > 0 else x0) + 2.5 * radius
    # With phase -pi/2 the swing term is 1 - cos(omega t): out to ``reach`` at mid-period, back
    # at the end of it, always on the same side; the period is shorter than the video.
    omega = 2 * np.pi / (frames * rng.uniform(0.7, 0.95))
    reach = direction * exit_distance * rng.uniform(1.05, 1.3)
    excursion = (reach / 2, 0.0, omega, -np.pi / 2)
    return Motion(base.start, (0.0, 0.0), (excursion,), base.angle, base.spin, radius, base.zoom, base.zoom_rate)


def random_texture(rng: np.random.Generator, colours: np.ndarray | None = None) -> np.ndarray:
    return make_texture(rng, TEXTURE_SIZE, TEXTURE_SIZE, colours=colours)
