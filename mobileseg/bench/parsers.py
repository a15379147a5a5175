"""Parsers of the on-device tools' output (formats in shared/TOOLS.md; tested on those exact lines).

- TFLite / LiteRT ``benchmark_model``: ``count=… first=… curr=… min=… max=… avg=… std=…`` (µs; newer
  builds append ``p5=… median=… p95=…``), ``Inference timings in us: Init: …, First inference: …,
  Warmup (avg): …, Inference (avg): …``, ``Memory footprint delta from the start of the tool (MB):
  init=… overall=…`` (older: ``Peak memory footprint (MB): …``) and ``Replacing N out of M node(s)
  with delegate (NAME) node, yielding P partitions``.
- ExecuTorch ``executor_runner``: ``Iteration i of n: X ms`` per run and ``Model executed
  successfully n time(s) in X ms.``, behind ExecuTorch's log prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from mobileseg.bench.stats import LatencyStats
from mobileseg.errors import MobilesegError


class ToolOutputError(MobilesegError):
    """An on-device tool failed or printed nothing we can read."""


@dataclass
class ToolRun:
    """What one run of an on-device tool reported, in milliseconds and MB."""

    stats: LatencyStats
    init_ms: float | None = None
    first_ms: float | None = None
    warmup_ms: float | None = None
    memory_mb: dict[str, float] = field(default_factory=dict)  # init / overall
    delegate: dict[str, Any] = field(default_factory=dict)  # name, nodes, of_nodes, partitions

    def to_dict(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "init_ms": self.init_ms, "first_ms": self.first_ms, "warmup_ms": self.warmup_ms,
                "memory_mb": self.memory_mb, "delegate": self.delegate}


_COUNT = re.compile(r"count=(\d+)\s+first=(\d+)\s+curr=(\d+)\s+min=(\d+)\s+max=(\d+)\s+avg=([\d.]+)\s+std=(\d+)(?P<rest>.*)")
_EXTRA = re.compile(r"(p5|median|p95)=([\d.]+)")
_TIMINGS = re.compile(r"Inference timings in us: Init: ([\d.]+), First inference: ([\d.]+), Warmup \(avg\): ([\d.e+]+), Inference \(avg\): ([\d.]+)")
_MEMORY = re.compile(r"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): init=([\d.]+) overall=([\d.]+)")
_DELEGATE = re.compile(r"Replacing (\d+) out of (\d+) node\(s\) with delegate \((\w+)\) node, yielding (\d+) partitions")
_SIGNATURES = "Signature not specified or incorrect for graph with multiple signatures"
_SIGNATURE_KEY = re.compile(r"#> Signature key: (\S+)")


def parse_benchmark_model(text: str) -> ToolRun:
    """The measured runs of ``benchmark_model`` (the last ``count=`` line: the first is the warm-up)."""
    if _SIGNATURES in text:
        keys = _SIGNATURE_KEY.findall(text)
        raise ToolOutputError(f"benchmark_model needs --signature_to_run_for with a graph of several signatures "
                              f"(it lists {', '.join(keys) or 'none'}); mobileseg passes it, so this runner may be too old to know the flag.")
    counts = [m for m in (_COUNT.search(line) for line in text.splitlines()) if m]
    if not counts:
        raise ToolOutputError("benchmark_model printed no 'count=... avg=...' line; its output ends with:\n" + _tail(text))
    last = counts[-1]
    count, _first, _curr, low, high, avg, std = (float(g) for g in last.groups()[:7])
    extra = dict(_EXTRA.findall(last.group("rest")))
    stats = LatencyStats(count=int(count), mean=avg / 1000, min=low / 1000, max=high / 1000, std=std / 1000,
                         p50=float(extra["median"]) / 1000 if "median" in extra else None)
    run = ToolRun(stats)
    timings = _TIMINGS.search(text)
    if timings:
        run.init_ms, run.first_ms, run.warmup_ms = (float(timings.group(i)) / 1000 for i in (1, 2, 3))
    memory = _MEMORY.search(text)
    if memory:
        run.memory_mb = {"init": float(memory.group(1)), "overall": float(memory.group(2))}
    delegates = _DELEGATE.findall(text)
    if delegates:
        nodes, total, name, partitions = delegates[-1]
        run.delegate = {"name": name, "nodes": int(nodes), "of_nodes": int(total), "partitions": int(partitions)}
    return run


_ITERATION = re.compile(r"Iteration (\d+) of (\d+): ([\d.]+) ms")
_EXECUTED = re.compile(r"Model executed successfully (\d+) time\(s\) in ([\d.]+) ms")


def parse_executor_runner(text: str, skip: int = 0) -> ToolRun:
    """Per-iteration times of ``executor_runner`` (``--num_executions N``) without the first ``skip``
    (the warm-up; kept when nothing would remain), or the summary line alone."""
    times = [float(m.group(3)) for m in _ITERATION.finditer(text)]
    if times:
        return ToolRun(LatencyStats.of(times[skip:] if len(times) > skip else times))
    executed = _EXECUTED.search(text)
    if executed:
        count, total = int(executed.group(1)), float(executed.group(2))
        return ToolRun(LatencyStats(count=count, mean=total / max(count, 1)))
    raise ToolOutputError("executor_runner printed neither 'Iteration i of n: X ms' nor 'Model executed successfully'; "
                          "its output ends with:\n" + _tail(text))


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(nothing)"
