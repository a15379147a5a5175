"""Per-frame latency on this machine: each model's own tracker over a generated video, its state fed back.

Every model is timed in a fresh Python process (``python -m mobileseg.bench.host REQUEST``), one
after the other in one command: the peak resident memory is then the model's own, and runtimes
with a process-wide thread pool (ExecuTorch) get the thread count asked for. A process times
``init`` once on the first frame and ``step`` on every later frame: ``warmup`` frames untimed,
then ``frames`` timed ones (from ``start_frame`` on: a teacher's memory is first grown to the size
it has there, see ``STCNTeacher.fast_forward``; a student's state has one size at every frame). The video is a generated SynthVOS clip of 16 frames at the model's
input size played forwards and backwards for as long as needed (content does not change the cost
of these dense networks; memory size does, and it grows for a teacher exactly as in a real
video). Times are wall-clock milliseconds of the tracker call, including the conversion between
torch tensors and the runtime's arrays that every caller of the Python runtimes pays.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from mobileseg.bench.stats import LatencyStats
from mobileseg.bench.targets import open_target
from mobileseg.data.datasets import open_dataset
from mobileseg.errors import MobilesegError
from mobileseg.eval.predict import predict_dataset
from mobileseg.export.parity import parity_video
from mobileseg.utils.machine import cpu_name
from mobileseg.utils.progress import progress
from mobileseg.utils.timing import Stopwatch

CLIP_FRAMES = 16


class BenchError(MobilesegError):
    """A benchmark could not run (a model failed to load, a worker process died, ...)."""


@dataclass(frozen=True)
class HostRequest:
    model: str
    frames: int = 100
    warmup: int = 5
    threads: int = 2
    every: int | None = None  # record the curve: median ms of each window of this many frames
    size: tuple[int, int] = (480, 864)  # for checkpoints; an exported file has its own
    start_frame: int = 1  # the first frame after init; a teacher's memory is grown to its size there
    data: str | None = None  # a dataset: also report J&F on its val split
    split: str = "val"


def frame_index(i: int, length: int = CLIP_FRAMES) -> int:
    """Frame ``i`` of an endless forwards-backwards replay of a ``length``-frame clip."""
    period = 2 * (length - 1)
    i %= period
    return i if i < length else period - i


def curve(indices: list[int], samples: list[float], every: int) -> list[dict[str, float]]:
    """Median ms of each window ``[k, k + every)`` of frame indices, at its first index ``k``."""

    windows: dict[int, list[float]] = {}
    for index, ms in zip(indices, samples):
        windows.setdefault(index - (index - indices[0]) % every, []).append(ms)
    return [{"frame": k, "ms": statistics.median(v)} for k, v in sorted(windows.items())]


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB.

    Linux: ``VmHWM`` of /proc/self/status, which starts afresh at exec (``ru_maxrss`` does not:
    it keeps the peak of the process that forked us, so every worker would report its parent's).
    Elsewhere ``ru_maxrss`` (macOS reports bytes).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def time_model(request: HostRequest) -> dict[str, Any]:
    """Time one model in this process; the result is one ``models`` entry of the report (README schema)."""


    torch.set_num_threads(request.threads)
    target = open_target(request.model, request.threads, request.size)
    video, first = parity_video(*target.size, objects=1, frames=CLIP_FRAMES)
    tracker = target.source.make()
    with torch.inference_mode():
        watch = Stopwatch()
        state = tracker.init(video[0], first)
        init_ms = watch.elapsed_ms()
        start = request.start_frame
        if start > 1 and hasattr(tracker, "fast_forward"):
            state = tracker.fast_forward(state, start)
        indices, samples = [], []
        total = request.warmup + request.frames
        for i in progress(range(start, start + total), desc=f"bench {target.name} ({target.format})", total=total, unit="frame"):
            frame = video[frame_index(i)]
            watch = Stopwatch()
            _, state = tracker.step(frame, state)
            elapsed = watch.elapsed_ms()
            if i >= start + request.warmup:
                indices.append(i)
                samples.append(elapsed)
    entry: dict[str, Any] = {
        "model": str(request.model), "name": target.name, "format": target.format, "role": target.role, "size": list(target.size),
        "file_mb": round(target.file_bytes / 1e6, 3), "params": target.params, "threads": request.threads,
        "entries": {"init": LatencyStats.of([init_ms]).to_dict(), "step": LatencyStats.of(samples).to_dict()},
        "first_timed_frame": indices[0], "last_frame": indices[-1],
        "curve": curve(indices, samples, request.every) if request.every else None,
        "peak_rss_mb": round(peak_rss_mb(), 1), "jf": None,  # peak while timing, before any J&F run
    }
    if request.data is not None:
        entry["jf"] = _jf(target, request.data, request.split)
    return entry


def _jf(target: Any, data: str, split: str) -> float:

    dataset = open_dataset(data, split=split)
    size = target.size if target.format != "pytorch" else None
    run = predict_dataset(target.source.make, dataset, size=size, multiple=16, desc=f"J&F {target.name} ({target.format})")
    assert run.report is not None
    return float(run.report.summary()["J&F-Mean"])


def host_info(threads: int) -> dict[str, Any]:


    return {"kind": "host", "machine": platform.machine(), "cpu": cpu_name(), "cores": os.cpu_count(), "threads": threads,
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(), "torch": str(torch.__version__)}


def bench_host(requests: list[HostRequest]) -> list[dict[str, Any]]:
    """Time each request in its own process, one after the other; BenchError names a model that failed."""
    results = []
    for request in requests:
        with tempfile.TemporaryDirectory(prefix="mobileseg-bench-") as tmp:
            spec, out = Path(tmp) / "request.json", Path(tmp) / "result.json"
            spec.write_text(json.dumps(asdict(request)))
            done = subprocess.run([sys.executable, "-m", "mobileseg.bench.host", str(spec), str(out)])  # progress on our stderr
            result = json.loads(out.read_text()) if out.is_file() else {"error": f"the timing process ended with status {done.returncode}"}
            if "error" in result:
                raise BenchError(f"--model {request.model}: {result['error']}")
            results.append(result)
    return results


def _worker(spec: str, out: str) -> int:
    """Entry of the per-model process: read a request, time it, write the result as JSON."""

    logging.basicConfig(format="%(message)s", level=logging.WARNING)
    values = json.loads(Path(spec).read_text())
    values["size"] = tuple(values["size"])
    try:
        result = time_model(HostRequest(**values))
    except MobilesegError as exc:
        result = {"error": str(exc)}
    Path(out).write_text(json.dumps(result))
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1], sys.argv[2]))
