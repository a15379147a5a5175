"""Procedural textures for SynthVOS: fractal value noise turned into coloured patterns.

All functions take an explicit ``numpy.random.Generator`` so a video is a pure function of its
seed. Images are ``float32 [H, W, 3]`` RGB in [0, 1]; noise maps are ``float32 [H, W]`` in [0, 1].
"""

from __future__ import annotations

import colorsys

import numpy as np
from PIL import Image

PATTERNS = ("noise", "marble", "spots", "checker", "stripes")


def _resize(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of a float map (Pillow 'F' mode: deterministic and fast)."""
    image = Image.fromarray(values.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC), dtype=np.float32)


def fractal_noise(
    rng: np.random.Generator, height: int, width: int, cells: int = 4, octaves: int = 5,
    persistence: float = 0.55,
) -> np.ndarray:
    """Sum of ``octaves`` value-noise layers, each twice as fine; rescaled to [0, 1]."""
    total = np.zeros((height, width), dtype=np.float32)
    amplitude = 1.0
    aspect = width / max(height, 1)
    for octave in range(octaves):
        rows = cells * 2**octave + 2
        cols = max(2, int(round(rows * aspect)))
        grid = rng.random((rows, cols), dtype=np.float32)
        total += amplitude * _resize(grid, height, width)
        amplitude *= persistence
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def random_colours(rng: np.random.Generator, count: int, hue: float | None = None) -> np.ndarray:
    """``float32 [count, 3]`` colours around one hue (random when None), varied in value."""
    base = rng.random() if hue is None else hue
    colours = []
    for _ in range(count):
        h = (base + rng.normal(0, 0.08)) % 1.0
        s = float(np.clip(rng.uniform(0.35, 0.95), 0, 1))
        v = float(rng.uniform(0.25, 1.0))
        colours.append(colorsys.hsv_to_rgb(h, s, v))
    return np.asarray(colours, dtype=np.float32)


def colourise(values: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Map ``values`` in [0, 1] through a piecewise-linear gradient over ``colours`` [K, 3]."""
    stops = np.linspace(0.0, 1.0, len(colours), dtype=np.float32)
    channels = [np.interp(values, stops, colours[:, c]).astype(np.float32) for c in range(3)]
    return np.stack(channels, axis=-1)


def _pattern_field(rng: np.random.Generator, pattern: str, height: int, width: int) -> np.ndarray:
    """A scalar field in [0, 1] with the structure of ``pattern``."""
    warp = fractal_noise(rng, height, width, cells=3, octaves=4)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    along = (xs * np.cos(angle) + ys * np.sin(angle)) / max(height, width)
    frequency = rng.uniform(4, 12)
    if pattern == "noise":
        return fractal_noise(rng, height, width, cells=int(rng.integers(2, 7)))
    if pattern == "marble":
        return 0.5 + 0.5 * np.sin(2 * np.pi * frequency * along + 6.0 * warp)
    if pattern == "stripes":
        return (np.sin(2 * np.pi * frequency * along + 2.0 * warp) > 0).astype(np.float32) * 0.8 + 0.2 * warp
    if pattern == "spots":
        blobs = fractal_noise(rng, height, width, cells=int(rng.integers(4, 9)), octaves=3)
        return np.clip((blobs - 0.55) * 8.0, 0, 1) * 0.85 + 0.15 * warp
    if pattern == "checker":
        across = (-xs * np.sin(angle) + ys * np.cos(angle)) / max(height, width)
        cell = frequency / 2
        wobble = 0.08 * (warp - 0.5)
        parity = (np.floor((along + wobble) * cell) + np.floor((across + wobble) * cell)) % 2
        return parity.astype(np.float32) * 0.75 + 0.25 * warp
    raise ValueError(f"unknown pattern {pattern!r}; known: {PATTERNS}")


def make_texture(
    rng: np.random.Generator, height: int, width: int, pattern: str | None = None,
    colours: np.ndarray | None = None,
) -> np.ndarray:
    """A textured RGB image ``float32 [H, W, 3]`` in [0, 1] (never a flat colour)."""
    pattern = pattern or str(rng.choice(PATTERNS))
    colours = colours if colours is not None else random_colours(rng, int(rng.integers(2, 5)))
    field = _pattern_field(rng, pattern, height, width)
    image = colourise(field, colours)
    grain = fractal_noise(rng, height, width, cells=16, octaves=2)
    image *= (0.85 + 0.3 * grain)[..., None]
    return np.clip(image, 0.0, 1.0)


def sample_bilinear(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, wrap: bool) -> np.ndarray:
    """Sample ``image [h, w, C]`` at float pixel coordinates; returns ``[*ys.shape, C]``.

    ``wrap=True`` tiles the image (object textures), otherwise coordinates are clamped.
    """
    height, width = image.shape[:2]
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    fy = (ys - y0).astype(np.float32)[..., None]
    fx = (xs - x0).astype(np.float32)[..., None]
    if wrap:
        y0, x0 = y0 % height, x0 % width
        y1, x1 = (y0 + 1) % height, (x0 + 1) % width
    else:
        y0, x0 = np.clip(y0, 0, height - 1), np.clip(x0, 0, width - 1)
        y1, x1 = np.clip(y0 + 1, 0, height - 1), np.clip(x0 + 1, 0, width - 1)
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return top * (1 - fy) + bottom * fy
