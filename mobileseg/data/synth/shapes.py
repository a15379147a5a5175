"""Irregular, deforming object shapes for SynthVOS.

A shape is a union of 1-3 *lobes*. A lobe is a star-shaped blob in object units (object radius
about 1): a point at polar coordinates (r, theta) around the lobe centre is inside when
``r < radius * (1 + sum_k a_k(t) sin(k theta + phi_k))``. The harmonic amplitudes ``a_k`` breathe
over time, so the outline deforms; unions of offset lobes give non-convex, non-star shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HARMONICS = np.arange(2, 7, dtype=np.float32)  # k = 2..6


@dataclass(frozen=True)
class Lobe:
    offset: tuple[float, float]  # lobe centre in object units (u, v)
    radius: float
    amplitudes: np.ndarray  # float32 [len(HARMONICS)]; sum <= 0.5 keeps the radius positive
    phases: np.ndarray  # float32 [len(HARMONICS)]
    breathing: np.ndarray  # float32 [len(HARMONICS)]: relative amplitude change over time
    tempo: float  # radians per frame of the breathing

    def outline(self, theta: np.ndarray, t: float) -> np.ndarray:
        """Outline radius at angles ``theta`` (any shape) and frame ``t``."""
        amplitudes = self.amplitudes * (1.0 + self.breathing * np.sin(self.tempo * t + self.phases))
        waves = np.sin(theta[..., None] * HARMONICS + self.phases)
        return self.radius * (1.0 + (waves * amplitudes).sum(axis=-1))


@dataclass(frozen=True)
class Shape:
    lobes: tuple[Lobe, ...]

    @property
    def extent(self) -> float:
        """Radius (object units) of a circle around the origin that contains the shape."""
        return max(
            float(np.hypot(*lobe.offset)) + lobe.radius * (1.0 + float(np.abs(lobe.amplitudes).sum()) * 2)
            for lobe in self.lobes
        )

    def coverage(self, u: np.ndarray, v: np.ndarray, t: float, pixels_per_unit: float) -> tuple[np.ndarray, np.ndarray]:
        """Anti-aliased coverage in [0, 1] and a shading term in [0.65, 1] at object coords (u, v).

        The coverage ramps over one pixel at the outline; the shading darkens towards the rim so
        objects look rounded rather than flat.
        """
        coverage = np.zeros(u.shape, dtype=np.float32)
        depth = np.zeros(u.shape, dtype=np.float32)
        for lobe in self.lobes:
            du, dv = u - lobe.offset[0], v - lobe.offset[1]
            r = np.hypot(du, dv)
            outline = lobe.outline(np.arctan2(dv, du), t)
            coverage = np.maximum(coverage, np.clip((outline - r) * pixels_per_unit + 0.5, 0.0, 1.0))
            depth = np.maximum(depth, np.clip(1.0 - r / np.maximum(outline, 1e-3), 0.0, 1.0))
        shading = 0.65 + 0.35 * np.sqrt(depth)
        return coverage, shading


def random_lobe(rng: np.random.Generator, offset: tuple[float, float], radius: float) -> Lobe:
    weights = rng.dirichlet(np.ones(len(HARMONICS))) * rng.uniform(0.15, 0.45)
    return Lobe(
        offset=offset,
        radius=radius,
        amplitudes=weights.astype(np.float32),
        phases=rng.uniform(0, 2 * np.pi, len(HARMONICS)).astype(np.float32),
        breathing=rng.uniform(0.1, 0.6, len(HARMONICS)).astype(np.float32),
        tempo=float(rng.uniform(0.05, 0.25)),
    )


def random_shape(rng: np.random.Generator) -> Shape:
    """A random shape of 1-3 lobes, normalised so its extent is about 1."""
    count = int(rng.choice([1, 1, 2, 3]))
    lobes = [random_lobe(rng, (0.0, 0.0), 0.7)]
    for _ in range(count - 1):
        angle = rng.uniform(0, 2 * np.pi)
        distance = rng.uniform(0.3, 0.55)
        lobes.append(random_lobe(rng, (distance * np.cos(angle), distance * np.sin(angle)), rng.uniform(0.35, 0.55)))
    return Shape(tuple(lobes))


def similar_shape(rng: np.random.Generator, shape: Shape) -> Shape:
    """A shape of the same family: same lobes, perturbed harmonics (for look-alike distractors)."""
    lobes = []
    for lobe in shape.lobes:
        jitter = rng.normal(1.0, 0.25, len(HARMONICS)).clip(0.5, 1.5).astype(np.float32)
        lobes.append(
            Lobe(
                offset=lobe.offset,
                radius=lobe.radius * float(rng.uniform(0.85, 1.15)),
                amplitudes=(lobe.amplitudes * jitter).astype(np.float32),
                phases=(lobe.phases + rng.normal(0, 0.4, len(HARMONICS))).astype(np.float32),
                breathing=lobe.breathing,
                tempo=lobe.tempo,
            )
        )
    return Shape(tuple(lobes))
