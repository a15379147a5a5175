"""The one clock of every duration mobileseg measures: tracker time per frame, medians of repeated calls, wall time.

    timer = Timer()                       # time inside tracker calls, and the frames they covered
    with timer.measure():
        prob, state = tracker.step(frame, state)
    timer.frames += 1
    timer.ms_per_frame()

    watch = Stopwatch()                   # one call, or a whole run
    ...
    watch.elapsed_ms()

    median_ms(lambda: model.step(frame, *state), repeats=5)   # one warm-up call, then the median

Everything reads :func:`time.perf_counter` through this module's ``perf_counter`` name, so the
numbers of eval, run, bench and the benchmarks come from the same clock (and a test can replace it).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter


class Stopwatch:
    """Wall time since it was made: ``watch = Stopwatch(); ...; watch.elapsed()``."""

    def __init__(self) -> None:
        self.began = perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stopwatch was made."""
        return perf_counter() - self.began

    def elapsed_ms(self) -> float:
        """Milliseconds since the stopwatch was made."""
        return 1000 * (perf_counter() - self.began)


class Timer:
    """Accumulates the seconds spent inside timed blocks, and the frames they covered.

    Blocks are timed with ``with timer.measure():`` or added as measured (``timer.add(seconds)``);
    ``frames`` is counted by the caller, since one frame may hold several timed calls (one per state).
    """

    def __init__(self) -> None:
        self.seconds, self.frames = 0.0, 0

    @contextmanager
    def measure(self) -> Iterator[None]:
        """Add the time spent inside the ``with`` block."""
        watch = Stopwatch()
        try:
            yield
        finally:
            self.add(watch.elapsed())

    def add(self, seconds: float, frames: int = 0) -> None:
        """Add ``seconds`` measured elsewhere (another timer's total), covering ``frames`` more frames."""
        self.seconds += seconds
        self.frames += frames

    @property
    def total_ms(self) -> float:
        """All the accumulated time, in ms."""
        return 1000.0 * self.seconds

    def ms_per_frame(self) -> float:
        """Mean time of one frame, in ms (0 before any frame)."""
        return 1000.0 * self.seconds / max(self.frames, 1)


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median milliseconds of ``repeats`` calls of ``run``, after ``warmup`` untimed calls.

    The warm-up keeps one-time costs (allocations, caches, lazy initialisation) out of the
    numbers; the median keeps a call slowed by another process on the machine out of them.
    """
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        watch = Stopwatch()
        run()
        times.append(watch.elapsed_ms())
    return statistics.median(times)
