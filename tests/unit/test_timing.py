"""The one timer: accumulated tracker time per frame, medians after a warm-up, wall time; on a fake clock.

No test reads the real clock: ``mobileseg.utils.timing.perf_counter`` is replaced by a counter that
moves only when a test (or a fake tracker) says so, so every expected number is exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from mobileseg.data.datasets import open_dataset
from mobileseg.eval.predict import predict_dataset, track_frames
from mobileseg.eval.segment import segment_video
from mobileseg.sources import TrackerSource
from mobileseg.tracker import CopyFirstMaskTracker, State
from mobileseg.utils import timing
from mobileseg.utils.timing import Stopwatch, Timer, median_ms
from tests.fakedata import frame_pixels, mask_pixels, write_davis2017


class FakeClock:
    """A ``perf_counter`` that moves only by :meth:`advance`."""

    def __init__(self) -> None:
        self.now = 1000.0  # any origin: only differences count

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timing, "perf_counter", fake)
    return fake


def test_a_stopwatch_reads_the_time_since_it_was_made(clock: FakeClock) -> None:
    clock.advance(7.0)  # before the stopwatch: not counted
    watch = Stopwatch()
    clock.advance(0.25)
    assert watch.elapsed() == pytest.approx(0.25)
    assert watch.elapsed_ms() == pytest.approx(250.0)
    clock.advance(0.5)
    assert watch.elapsed() == pytest.approx(0.75)  # still running


def test_a_timer_adds_only_the_time_inside_its_blocks(clock: FakeClock) -> None:
    timer = Timer()
    with timer.measure():
        clock.advance(0.010)
    clock.advance(5.0)  # between blocks: not counted
    with timer.measure():
        clock.advance(0.020)
    timer.frames += 2
    assert timer.seconds == pytest.approx(0.030)
    assert timer.total_ms == pytest.approx(30.0)
    assert timer.ms_per_frame() == pytest.approx(15.0)


def test_a_block_that_raises_still_counts(clock: FakeClock) -> None:
    timer = Timer()
    with pytest.raises(RuntimeError):
        with timer.measure():
            clock.advance(0.004)
            raise RuntimeError("tracker failed")
    assert timer.seconds == pytest.approx(0.004)


def test_time_measured_elsewhere_adds_with_its_frames() -> None:
    timer = Timer()
    timer.add(0.3, frames=4)
    timer.add(0.1, frames=4)
    timer.add(0.2)  # time without frames (a second call on a frame already counted)
    assert (timer.frames, timer.seconds) == (8, pytest.approx(0.6))
    assert timer.ms_per_frame() == pytest.approx(75.0)


def test_no_frames_is_zero_ms_per_frame_not_a_division_by_zero() -> None:
    assert Timer().ms_per_frame() == 0.0
    timer = Timer()
    timer.add(0.5)
    assert timer.ms_per_frame() == pytest.approx(500.0)  # as before: seconds over max(frames, 1)


def test_median_ms_leaves_the_warm_up_out_and_takes_the_median(clock: FakeClock) -> None:
    costs = iter([9.0, 0.001, 0.003, 0.100])  # a slow first call, then three timed ones (one slowed down)
    calls = []

    def run() -> None:
        calls.append(1)
        clock.advance(next(costs))

    assert median_ms(run, repeats=3) == pytest.approx(3.0)  # the median, not the mean (34.7) and not the warm-up
    assert len(calls) == 4  # one warm-up + repeats


def test_median_ms_without_warm_up_times_every_call(clock: FakeClock) -> None:
    costs = iter([9.0, 0.001, 0.003])
    assert median_ms(lambda: clock.advance(next(costs)), repeats=3, warmup=0) == pytest.approx(3.0)
    costs = iter([0.5, 0.5, 0.001, 0.002])
    assert median_ms(lambda: clock.advance(next(costs)), repeats=2, warmup=2) == pytest.approx(1.5)


class SlowTracker(CopyFirstMaskTracker):
    """The copy baseline, taking ``INIT`` seconds per ``init`` and ``STEP`` per ``step`` on the fake clock."""

    INIT, STEP = 0.005, 0.002

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> State:
        self.clock.advance(self.INIT)
        return super().init(frame, mask)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        self.clock.advance(self.STEP)
        return super().step(frame, state)


def test_tracker_time_is_every_call_of_a_frame_over_the_frames(clock: FakeClock) -> None:
    """Two groups (objects starting on frames 0 and 1): a frame's time holds both trackers' calls."""
    frames = [frame_pixels(t) for t in range(3)]
    given = {0: mask_pixels([1]), 1: mask_pixels([1, 2])}
    timer = Timer()
    labels = list(track_frames(lambda: SlowTracker(clock), frames, given, {1: 0, 2: 1}, timer=timer))
    assert len(labels) == timer.frames == 3
    # frame 0: init of object 1; frame 1: its step + init of object 2; frame 2: two steps
    assert timer.seconds == pytest.approx(0.005 + (0.002 + 0.005) + 2 * 0.002)
    assert timer.ms_per_frame() == pytest.approx(16.0 / 3)


def test_a_dataset_run_reports_its_trackers_ms_per_frame(clock: FakeClock, tmp_path: Path) -> None:
    root = write_davis2017(tmp_path / "davis", names=("a", "b"), n_frames=4, objects=(1, 2))
    run = predict_dataset(lambda: SlowTracker(clock), open_dataset(str(root), split="val"), score=False)
    assert run.frames == 8
    assert run.tracker_ms_per_frame == pytest.approx(2 * (5 + 3 * 2) / 8)  # one joint init and 3 steps per video


def test_run_reports_tracker_ms_per_frame_and_its_wall_time(clock: FakeClock, tmp_path: Path) -> None:
    source = TrackerSource("slow", lambda: SlowTracker(clock), params=0, multiple=1)

    def decoded() -> Iterator[np.ndarray]:  # reading a frame takes 0.1 s: wall time, not tracker time
        for t in range(4):
            clock.advance(0.1)
            yield frame_pixels(t)

    result = segment_video(source, decoded(), mask_pixels([1, 2]), tmp_path / "out")
    assert result.frames == 4
    assert result.tracker_ms_per_frame == pytest.approx((5 + 3 * 2) / 4)
    assert result.seconds == pytest.approx(4 * 0.1 + 0.011)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == [f"{t:05d}.png" for t in range(4)]


PACKAGE = Path(__file__).resolve().parents[2] / "mobileseg"
CLOCKS = re.compile(r"\b(perf_counter|monotonic|process_time)\b|\btime\.time\(")
# durations still read off the clock in place; the list only shrinks
HAND_TIMED: set[str] = set()


def test_durations_come_from_the_timing_module() -> None:
    readers = {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if CLOCKS.search(path.read_text())}
    assert readers - HAND_TIMED == {"utils/timing.py"}, "read the clock through mobileseg.utils.timing (Stopwatch, Timer, median_ms)"
