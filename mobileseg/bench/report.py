"""The bench report: one JSON schema for the host and for phones, a comparison table and a plot.

JSON (``schema: mobileseg.bench/1``; README, "Benchmarking", documents every field)::

    {"schema": "mobileseg.bench/1", "created": ISO time,
     "device": {"kind": "host" | "adb", ...what identifies the machine or phone...},
     "settings": {"frames", "warmup", "threads", "every", ...},
     "models": [{"model": path, "name", "format", "role", "size": [H, W], "file_mb", "params",
                 "entries": {"init": STATS, "step": STATS}, "peak_rss_mb", "curve", "jf", ...}]}

STATS is :class:`mobileseg.bench.stats.LatencyStats` as a dict (ms; None where a tool did not
report the figure) plus ``fps``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from mobileseg.errors import ConfigError, OutputError
from mobileseg.utils.fsio import atomic_path, check_writable_folder, write_json_atomic
from mobileseg.utils.owned import check_report_file
from mobileseg.utils.table import format_table

SCHEMA = "mobileseg.bench/1"
COLUMNS = ("model", "format", "MB", "init ms", "ms/frame p50", "p90", "FPS", "peak MB", "J&F")


def make_report(device: dict[str, Any], settings: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    created = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    return {"schema": SCHEMA, "created": created, "device": device, "settings": settings, "models": models}


def rows(report: dict[str, Any]) -> list[dict[str, object]]:
    out = []
    for m in report["models"]:
        step, init = m["entries"]["step"], m["entries"].get("init") or {}
        p50 = step.get("p50") if step.get("p50") is not None else step["mean"]
        out.append({"model": m["name"], "format": m["format"], "MB": m.get("file_mb"), "init ms": init.get("mean"),
                    "ms/frame p50": p50, "p90": step.get("p90"), "FPS": 1000.0 / p50 if p50 else None,
                    "peak MB": m.get("peak_rss_mb") or (m.get("memory_mb") or {}).get("overall"), "J&F": m.get("jf")})
    return out


def table(report: dict[str, Any], markdown: bool = False) -> str:
    """One row per model: format, file size, init, ms/frame p50 and p90, FPS, peak memory, J&F."""
    return format_table(rows(report), COLUMNS, digits=1, markdown=markdown)


def check_report_path(path: str | os.PathLike[str]) -> None:
    """OutputError, before any timing, when ``--json`` cannot be written or names a file that is not a bench report
    (replacing a user's file of that name would lose it)."""
    check_report_file(path, "--json", "a `mobileseg bench` report", lambda data: data.get("schema") == SCHEMA)


def write_report(report: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    write_json_atomic(path, report)
    return Path(path)


def require_matplotlib() -> Any:
    """matplotlib's pyplot on the file-only backend, or ConfigError naming the extra."""
    try:
        import matplotlib  # optional toolchain ([plot] extra): only --plot needs it

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # optional toolchain, after choosing the file-only backend
    except ImportError:
        raise ConfigError("--plot needs matplotlib: pip install 'mobileseg[plot]' (or make install).") from None
    return plt


PLOT_MARK = "mobileseg bench"  # written into every plot's metadata, so that a later --plot recognises its own file


def check_plot_path(path: str | os.PathLike[str]) -> None:
    """OutputError, before any timing, when ``--plot`` cannot be written or names an existing file this command did not draw."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"--plot {path} is a folder; give a file name such as latency.png.")
    check_writable_folder(path.absolute().parent, f"--plot {path}: its folder")
    if path.exists() and PLOT_MARK.encode() not in path.read_bytes():
        raise OutputError(f"--plot {path} exists and was not drawn by `mobileseg bench`; it is left as it is. Give another --plot "
                          "file name (or move that file away).")


def plot(report: dict[str, Any], path: str | os.PathLike[str], title: str | None = None) -> Path:
    """ms/frame against the frame index for every model that has a curve (``--every``)."""
    plt = require_matplotlib()
    curves = [m for m in report["models"] if m.get("curve")]
    if not curves:
        raise ConfigError("--plot needs --every N (the latency at every N-th frame); nothing to draw.")
    figure, axis = plt.subplots(figsize=(8, 4.5), dpi=110)
    for m in curves:
        axis.plot([p["frame"] for p in m["curve"]], [p["ms"] for p in m["curve"]], marker="o", markersize=3,
                  label=f"{m['name']} ({m['format']}, {m['size'][0]}x{m['size'][1]})")
    axis.set_xlabel("frame index in the video")
    axis.set_ylabel("ms per frame (median of each window)")
    axis.set_ylim(bottom=0)
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    device = report["device"]
    axis.set_title(title or f"{device.get('cpu') or device.get('model', '')}, {report['settings'].get('threads')} threads", fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        kind = Path(path).suffix.lstrip(".").lower() or "png"
        figure.savefig(tmp, format=kind, metadata={"Software" if kind == "png" else "Creator": PLOT_MARK})
    plt.close(figure)
    return Path(path)
