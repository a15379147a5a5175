"""Is training bit-reproducible, and what does ``--deterministic`` cost?

    .venv/bin/python benchmarks/determinism.py            # ~15 min on 2 CPU cores
    .venv/bin/python benchmarks/determinism.py --quick    # smoke run of the whole script

1. Reproducibility under load: the same ``mobileseg train`` command (the quickstart's small
   student, 128x128 crops, 2 threads) runs ``--runs`` times in fresh processes, each beside a
   CPU-burning process, with ``--deterministic`` and with ``--no-deterministic``; the table counts
   how many distinct final weights came out and the largest difference from the first run.
2. Cost: the same command on a quiet machine, the two modes alternating, clips/s from each run's
   log (the first logged interval, which holds the start-up, is left out).

Writes benchmarks/results/determinism.json and the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, publish  # noqa: E402

from mobileseg.checkpoint import load_checkpoint  # noqa: E402
from mobileseg.data.synth import SynthConfig, generate_synthvos  # noqa: E402
from mobileseg.utils.machine import cpu_name  # noqa: E402

MODES = {"deterministic": "--deterministic", "not deterministic": "--no-deterministic"}
BURNER = "while True: pass"


def command(data: Path, out: Path, steps: int, mode: str, model: str, crop: str) -> list[str]:
    return [sys.executable, "-m", "mobileseg", "train", "--model", model, "--data", str(data), "--out", str(out),
            "--steps", str(steps), "--batch-size", "4", "--crop", crop, "--val-every", "0", "--bn-batches", "0",
            "--warmup", "5", "--lr", "1e-3", "--threads", "2", MODES[mode]]


def run(cmd: list[str], loaded: bool) -> None:
    burner = subprocess.Popen([sys.executable, "-c", BURNER]) if loaded else None
    try:
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "MOBILESEG_PROGRESS": "never"})
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model_state"]


def digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(state[key].numpy().tobytes())
    return h.hexdigest()[:12]


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def clips_per_second(run_dir: Path) -> float:
    rows = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    speeds = [r["clips_per_s"] for r in rows if "clips_per_s" in r][1:]
    return statistics.mean(speeds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=8, help="runs per mode under load")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cost-runs", type=int, default=3, help="quiet runs per mode for the cost")
    parser.add_argument("--cost-steps", type=int, default=60)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cost-only", action="store_true", help="measure the cost again on a quiet host; keep the "
                        "reproducibility results of the last run (results/determinism.json)")
    args = parser.parse_args()
    model, crop = "mobilevos_r18_mv2_small", "128x128"
    if args.quick:
        args.runs, args.steps, args.cost_runs, args.cost_steps = 2, 6, 1, 20
    work = Path(tempfile.mkdtemp(prefix="determinism-"))
    data = generate_synthvos(work / "data", SynthConfig(videos=12, frames=12, height=192, width=320, objects=(1, 2), seed=0))
    rows, result = [], {"host": {"cpu": cpu_name(), "threads": 2, "torch": str(torch.__version__)}, "model": model,
                        "crop": crop, "steps": args.steps, "modes": {}}
    previous = RESULTS / ("determinism_quick.json" if args.quick else "determinism.json")
    if args.cost_only:
        result = json.loads(previous.read_text())
        args.runs, args.steps = result["modes"]["deterministic"]["runs"], result["steps"]
    for mode in MODES if not args.cost_only else ():
        finals = []
        for i in range(args.runs):
            out = work / f"{mode.replace(' ', '-')}-{i}"
            run(command(data, out, args.steps, mode, model, crop), loaded=True)
            finals.append(weights(out / "last.pt"))
            print(f"{mode} run {i}: {digest(finals[-1])}", flush=True)
        distinct = sorted({digest(f) for f in finals})
        worst = max(max_difference(finals[0], f) for f in finals)
        result["modes"][mode] = {"runs": args.runs, "distinct_weights": len(distinct), "digests": [digest(f) for f in finals],
                                 "max_abs_difference": worst}
    speeds: dict[str, list[float]] = {mode: [] for mode in MODES}
    for i in range(args.cost_runs):
        for mode in MODES:  # alternating, so drifts of the host hit both modes alike
            out = work / f"cost-{mode.replace(' ', '-')}-{i}"
            run(command(data, out, args.cost_steps, mode, model, crop), loaded=False)
            speeds[mode].append(clips_per_second(out))
    for mode in MODES:
        info = result["modes"][mode]
        info["clips_per_s"] = speeds[mode]
        rows.append(f"| {mode} | {info['runs']} | {info['distinct_weights']} | {info['max_abs_difference']:.3g} | "
                    f"{statistics.median(speeds[mode]):.2f} |")
    ratio = statistics.median(speeds["deterministic"]) / statistics.median(speeds["not deterministic"])
    result["speed_ratio_deterministic"] = ratio
    table = (f"`{model}`, {args.steps} steps of 4 clips at {crop}, 2 threads, on {result['host']['cpu']}; each run in a fresh "
             "process beside a CPU-burning process. Speed: quiet host, median of "
             f"{args.cost_runs} alternating runs of {args.cost_steps} steps.\n\n"
             "| mode | runs under load | distinct final weights | max abs difference from run 1 | clips/s (quiet) |\n"
             "|---|--:|--:|--:|--:|\n" + "\n".join(rows) +
             f"\n\nSpeed of `--deterministic` relative to `--no-deterministic`: {ratio:.3f}.")
    publish("determinism", result, table, quick=args.quick)


if __name__ == "__main__":
    main()
