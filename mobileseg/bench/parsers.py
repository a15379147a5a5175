"""Parsers of the on-device tools' output, for every line shape their sources print.

TFLite / LiteRT ``benchmark_model`` (``tflite/tools/benchmark/benchmark_model.cc``, the statistics
from ``tsl::Stat::OutputToStream`` in ``xla/tsl/util/stats_calculator.h``):

- ``count=N first=F curr=C min=A max=B avg=M std=S``: integer microseconds except ``avg``, a double
  written with the stream's default 6 significant digits, so a run of >= 1 s prints
  ``avg=2.95034e+06``; LiteRT appends `` p5=… median=… p95=…``. One run prints the short form
  ``count=1 curr=C``, identical runs ``count=N curr=C(all same)``, none ``count=0``. The line comes
  twice (warm-up, then the timed runs); LiteRT prefixes ``INFO: `` and logcat its own prefix.
- ``Inference timings in us: Init: …, First inference: …, Warmup (avg): …, Inference (avg): …``
  (the averages are doubles too), ``Memory footprint delta from the start of the tool (MB):
  init=… overall=…`` (older: ``Peak memory footprint (MB): …``) and, with
  ``--report_peak_memory_footprint``, ``Overall peak memory footprint (MB) via periodic monitoring: …``.
- The runtime's ``Replacing N out of M node(s) with delegate (NAME) node, yielding P partitions``,
  ending ``.``, `` for the whole graph.``, `` for subgraph K.`` or `` for subgraph K (NAME).``
  by version (``core/subgraph.cc``); a file with signatures prints one per subgraph.
- A graph with several signatures and a missing or wrong ``--signature_to_run_for``: ``Signature
  not specified or incorrect for graph with multiple signatures. Pass one of …`` (TensorFlow-era
  builds) or ``Signature not specified or incorrect. Pass one of …`` (LiteRT >= 2.1.5), each
  followed by `` #> Signature key: KEY`` lines.

ExecuTorch ``executor_runner`` (``examples/portable/executor_runner/executor_runner.cpp``):
``Iteration i of n: X ms`` per run (v1.3.0 on) and ``Model executed successfully n time(s) in X ms.``,
behind the posix PAL's prefix (``I 00:00:00.123456 executorch:executor_runner.cpp:705] ``) on
stderr, or logcat's (``12-05 20:50:19.123  1234  1234 I ExecuTorch: ``) with the Android PAL.
"""

from __future__ import annotations

import math
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


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"  # C++ ostream's default format of a double or an int64
_COUNT = re.compile(r"\bcount=(\d+)(?P<rest>.*)")
_FIELD = re.compile(rf"\b(first|curr|min|max|avg|std|p5|median|p95)=({_NUMBER})")
_TIMINGS = re.compile(rf"Inference timings in us: Init: ({_NUMBER}), First inference: ({_NUMBER}), Warmup \(avg\): ({_NUMBER}), "
                      rf"Inference \(avg\): ({_NUMBER})")
_MEMORY = re.compile(rf"(?:Memory footprint delta from the start of the tool|Peak memory footprint) \(MB\): init=({_NUMBER}) "
                     rf"overall=({_NUMBER})")
_PEAK = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: ({_NUMBER})")
_DELEGATE = re.compile(r"Replacing (\d+) (?:out of (\d+) )?node\(s\) with delegate \(([^)]+)\) node, yielding (\d+) partitions"
                       r"(?: for (?:the whole graph|subgraph (\d+)(?: \(([^)]*)\))?))?")
_SIGNATURES = re.compile(r"Signature not specified or incorrect[^\n]*--signature_to_run_for")
_NO_SIGNATURES = "Signature key is specified, but the model does not have any signatures"
_SIGNATURE_KEY = re.compile(r"#> Signature key: (\S+)")


def parse_stat_line(line: str) -> LatencyStats | None:
    """The statistics of one ``count=…`` line in microseconds -> milliseconds (None if ``line`` has none)."""
    match = _COUNT.search(line)
    if match is None:
        return None
    count = int(match.group(1))
    fields = {name: float(value) / 1000 for name, value in _FIELD.findall(match.group("rest"))}
    if count == 0:
        return LatencyStats(count=0, mean=math.nan)
    if "avg" not in fields:  # the short form: one run, or runs that all took the same time
        if "curr" not in fields:
            return None
        same = fields["curr"]
        return LatencyStats(count=count, mean=same, min=same, max=same, std=0.0, p50=fields.get("median", same))
    return LatencyStats(count=count, mean=fields["avg"], min=fields.get("min"), max=fields.get("max"), std=fields.get("std"),
                        p50=fields.get("median"))


def parse_benchmark_model(text: str, subgraph: int | None = None) -> ToolRun:
    """The measured runs of ``benchmark_model`` (the last ``count=`` line: the first is the warm-up).

    ``subgraph``: the signature's subgraph, to pick its delegate line when the build names one.
    """
    if _SIGNATURES.search(text):
        keys = _SIGNATURE_KEY.findall(text)
        raise ToolOutputError(f"benchmark_model needs a --signature_to_run_for it knows (this graph lists {', '.join(keys) or 'none'}); "
                              "mobileseg passes the contract's entry names, so the file may not be the one exported with this contract.")
    if _NO_SIGNATURES in text:
        raise ToolOutputError("benchmark_model says the model has no signatures; export it again with mobileseg (init and step are signatures).")
    counts = [stats for stats in (parse_stat_line(line) for line in text.splitlines()) if stats is not None]
    if not counts or counts[-1].count == 0:
        raise ToolOutputError("benchmark_model printed no 'count=... ' statistics of a timed run; its output ends with:\n" + _tail(text))
    run = ToolRun(counts[-1])
    timings = _TIMINGS.search(text)
    if timings:
        run.init_ms, run.first_ms, run.warmup_ms = (float(timings.group(i)) / 1000 for i in (1, 2, 3))
    memory = _MEMORY.search(text)
    if memory:
        run.memory_mb = {"init": float(memory.group(1)), "overall": float(memory.group(2))}
    peak = _PEAK.search(text)
    if peak:
        run.memory_mb["peak"] = float(peak.group(1))
    delegates = _DELEGATE.findall(text)
    chosen = [d for d in delegates if subgraph is not None and d[4] == str(subgraph)] or delegates
    if chosen:
        nodes, total, name, partitions, index, _ = chosen[-1]
        run.delegate = {"name": name, "nodes": int(nodes), "of_nodes": int(total) if total else None, "partitions": int(partitions)}
        if index:
            run.delegate["subgraph"] = int(index)
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
