"""Summary statistics of per-call latencies, the same for the host and for phones."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values, linear between closest ranks."""
    if not sorted_ms:
        raise ValueError("percentile of no values")
    position = (len(sorted_ms) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return sorted_ms[low] + (sorted_ms[high] - sorted_ms[low]) * (position - low)


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per call: ``count`` calls, min / p50 / p90 / p99 / max / mean / std, and FPS = 1000 / mean.

    Fields a tool did not report (a phone runner prints no p90) are None.
    """

    count: int
    mean: float
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    max: float | None = None
    std: float | None = None

    @property
    def fps(self) -> float:
        return 1000.0 / self.mean if self.mean > 0 else math.inf

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(samples_ms)
        return cls(count=len(ordered), mean=statistics.fmean(ordered), min=ordered[0], p50=percentile(ordered, 50),
                   p90=percentile(ordered, 90), p99=percentile(ordered, 99), max=ordered[-1],
                   std=statistics.pstdev(ordered) if len(ordered) > 1 else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fps": self.fps}
