"""The TDNet student's per-frame latency next to the plain student's, measured in one run.

    .venv/bin/python benchmarks/tdnet.py               # 480x864, eager PyTorch and ONNX Runtime (~15 min on 2 CPU cores)
    .venv/bin/python benchmarks/tdnet.py --quick       # the whole script at toy sizes

TDNet's point is speed: each frame runs one of m sub-networks (1/m of the query encoder's
channels) instead of the whole encoder. This suite times ``mobilevos_r18_mv2`` (the plain student),
``tdnet_r18_mv2`` (m = 2) and ``tdnet_r18_mv2_m4`` (m = 4), seeded random weights (the cost does not
depend on them), through ``mobileseg bench``'s harness (one process per row, all rows in one run):
eager PyTorch from the checkpoint, and the fp32 export in each ``--runtimes`` runtime (each TDNet
step entry point runs its own sub-network; the harness times every frame, so the median covers
all phases). Ratios are TDNet / plain within one runtime. Accuracy at an equal training budget
is a row of ``distill_bench.py`` (``tdnet student``), not here.

Writes benchmarks/results/tdnet.json and the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import checkpoint  # noqa: E402
from report import publish  # noqa: E402

from mobileseg.bench.host import HostRequest, bench_host, host_info  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402
from mobileseg.models import build_model, count_parameters  # noqa: E402

MODELS = ("mobilevos_r18_mv2", "tdnet_r18_mv2", "tdnet_r18_mv2_m4")
QUICK_MODELS = ("mobilevos_r18_mv2_tiny", "tdnet_r18_mv2_tiny")
PLAIN = 0  # index of the plain student in the model list
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "executorch": ".pte"}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/tdnet"), help="checkpoints and exports (reused)")
    parser.add_argument("--quick", action="store_true", help="tiny models at 64x96, few frames; README untouched")
    parser.add_argument("--runtimes", default="onnx", help="comma-separated export targets to time besides eager PyTorch")
    parser.add_argument("--frames", type=int, default=40, help="timed frames per row (after warm-up)")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args()


def export(path: Path, target: str, out: Path, size: tuple[int, int]) -> Path:
    """``path`` exported fp32 to ``target`` at ``size`` (reused when already there)."""
    artifact = out / f"student{SUFFIX[target]}"
    if not (out / f"{artifact.name}.json").is_file():
        export_checkpoint(ExportRequest(checkpoint=path, targets=[target], out=out, size=size, parity_frames=10,
                                        overwrite=True))  # the benchmark's own work folder (written before folders were marked)
    return artifact


def main() -> None:
    args = arguments()
    models = QUICK_MODELS if args.quick else MODELS
    size = (64, 96) if args.quick else (480, 864)
    frames = 8 if args.quick else args.frames
    work = args.work.with_name(args.work.name + "_quick") if args.quick else args.work
    work.mkdir(parents=True, exist_ok=True)
    runtimes = [r for r in args.runtimes.split(",") if r]
    unknown = sorted(set(runtimes) - set(SUFFIX))
    if unknown:
        raise SystemExit(f"--runtimes {args.runtimes}: {', '.join(unknown)} not timed here (choose from {', '.join(SUFFIX)})")
    checkpoints = {name: checkpoint(work, name) for name in models}
    labels: list[dict[str, Any]] = []
    requests: list[HostRequest] = []
    for runtime in ["pytorch", *runtimes]:
        for name, path in checkpoints.items():
            model = path if runtime == "pytorch" else export(path, runtime, work / f"export-{name}-{runtime}", size)
            labels.append({"model": name, "runtime": runtime})
            requests.append(HostRequest(str(model), frames=frames, warmup=3, threads=args.threads, size=size))
    results = bench_host(requests)
    rows = []
    for label, result in zip(labels, results):
        base = next(r for lab, r in zip(labels, results) if lab["runtime"] == label["runtime"] and lab["model"] == models[PLAIN])
        ms, plain_ms = float(result["entries"]["step"]["p50"]), float(base["entries"]["step"]["p50"])
        rows.append({**label, "params": count_parameters(build_model(label["model"])), "ms_p50": ms, "vs_plain": ms / plain_ms,
                     "ms_p90": float(result["entries"]["step"]["p90"])})
    result_json = {"size": list(size), "threads": args.threads, "frames": frames, "host": host_info(args.threads), "rows": rows}
    publish("tdnet", result_json, table(result_json), quick=args.quick)


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['size'][0]}x{result['size'][1]}, {result['threads']} threads, {result['frames']} frames per row after warm-up, "
             "seeded random weights; ratio = model / plain student in the same runtime, all rows in one run.", "",
             "| model | runtime | params (M) | step p50 (ms) | p90 (ms) | vs plain |", "|---|---|--:|--:|--:|--:|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['params'] / 1e6:.2f} | {r['ms_p50']:.1f} | {r['ms_p90']:.1f} | {r['vs_plain']:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
