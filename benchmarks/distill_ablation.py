"""Does MobileVOS distillation help the two-slot student? An ablation on SynthVOS.

    .venv/bin/python benchmarks/distill_ablation.py            # the table in benchmarks/README.md (~80 min, 2 CPU cores)
    .venv/bin/python benchmarks/distill_ablation.py --quick    # a smoke run of the whole script (minutes)

One teacher is trained first (unbounded memory, the STCN layout); then students with identical
data, steps, schedule, Poly-1 loss and seeds, differing only in the distillation:
    none (the supervised baseline), mobilevos (omega 0.95, boundary sampling),
    omega in {0, 0.5, 1}, random instead of boundary sampling, and the same loss rescaled
    (logit KD times tau^2, representation loss times N; see distill_diagnostics.py for why).
Each row is trained with several seeds and scored on the whole val split (J&F, DAVIS protocol).
Runs are kept in --work and reused, so an interrupted ablation continues where it stopped.

On a GPU, scale it up with e.g. ``--device cuda --student mobilevos_r18_mv2 --teacher-model
stcn_r50_r18 --teacher-steps 20000 --steps 20000 --crop 384x384 --videos 400 --seeds 10``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from mobileseg.data.davis import open_davis2017  # noqa: E402
from mobileseg.data.synth import SynthConfig, generate_synthvos  # noqa: E402
from mobileseg.eval.predict import predict_dataset  # noqa: E402
from mobileseg.sources import checkpoint_source  # noqa: E402
from mobileseg.train.config import TrainConfig  # noqa: E402
from mobileseg.train.loop import prepare_run, train  # noqa: E402
from mobileseg.utils.timing import Stopwatch  # noqa: E402

ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "none (no KD)": ("none", {}),
    "mobilevos (omega 0.95, boundary)": ("mobilevos", {"omega": 0.95}),
    "omega 0 (contrastive only)": ("mobilevos", {"omega": 0.0}),
    "omega 0.5": ("mobilevos", {"omega": 0.5}),
    "omega 1 (pure KD)": ("mobilevos", {"omega": 1.0}),
    "omega 0.95, random sampling": ("mobilevos", {"omega": 0.95, "sampling": "random"}),
    # the loss-scale fix found by distill_diagnostics.py: KL times tau^2 (Hinton et al.) and the
    # representation loss without its 1/N, so neither term swamps nor vanishes next to Poly-1
    "mobilevos, rescaled (logit x tau^2, repr x N)": ("mobilevos", {"omega": 0.95, "logit_weight": 0.01, "repr_weight": 256.0}),
}
MAIN_ROWS = ("none (no KD)", "mobilevos (omega 0.95, boundary)", "mobilevos, rescaled (logit x tau^2, repr x N)")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/distill_ablation"), help="runs and data (reused)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny models, few steps, one seed")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the main rows")
    parser.add_argument("--ablation-seeds", type=int, default=2, help="seeds of the other rows")
    parser.add_argument("--student", default="mobilevos_r18_mv2_small")
    parser.add_argument("--teacher-model", default="stcn_r50_r18_small")
    parser.add_argument("--teacher-steps", type=int, default=1200)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--crop", default="128x128")
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    return parser.parse_args()


def config(args: argparse.Namespace, data: Path, out: Path, model: str, steps: int, seed: int, **extra: Any) -> TrainConfig:
    height, width = (int(v) for v in args.crop.split("x"))
    return TrainConfig(model=model, data=str(data), out=str(out), steps=steps, seed=seed, crop=(height, width), batch_size=4,
                       lr=1e-3, val_every=max(steps // 3, 1), val_videos=8, save_every=100, device=args.device, **extra)


def run(cfg: TrainConfig) -> None:
    """Train ``cfg`` unless its run already finished (a killed run is resumed); records its seconds."""
    status = prepare_run(cfg, "benchmark")
    if status == "finished":
        return
    watch = Stopwatch()
    train(cfg, resume=status == "resume")
    if status == "new":  # a resumed run's time would only be its second half
        (Path(cfg.out) / "seconds.json").write_text(json.dumps({"seconds": watch.elapsed()}))


def seconds_of(out: Path) -> float:
    path = out / "seconds.json"
    return float(json.loads(path.read_text())["seconds"]) if path.is_file() else float("nan")


def score(best: Path, val: Any) -> float:
    """Val J&F of ``best`` (kept next to it, so a rerun of the script does not score again)."""
    cached = best.with_name("val_jf.json")
    if cached.is_file() and json.loads(cached.read_text())["mtime_ns"] == best.stat().st_mtime_ns:
        return float(json.loads(cached.read_text())["jf"])
    source = checkpoint_source(best)
    jf = float(predict_dataset(source.make, val, multiple=16, desc=best.parent.name).report.summary()["J&F-Mean"])  # type: ignore[union-attr]
    cached.write_text(json.dumps({"jf": jf, "mtime_ns": best.stat().st_mtime_ns}))
    return jf


def main() -> None:
    args = arguments()
    if args.quick:
        args.student, args.teacher_model, args.teacher_steps, args.steps, args.seeds, args.ablation_seeds = (
            "mobilevos_r18_mv2_tiny", "stcn_r50_r18_tiny", 20, 10, 1, 1)
        args.crop, args.videos = "48x64", 6
    size = (64, 96) if args.quick else (192, 320)
    data = args.work / "data"
    synth = SynthConfig(videos=args.videos, frames=24 if not args.quick else 8, height=size[0], width=size[1], objects=(1, 2),
                        distractors=(1, 2), seed=0)
    if not (data / "synthvos.json").is_file():
        generate_synthvos(data, synth, overwrite=True)
    val = open_davis2017(data, "val")
    teacher_cfg = config(args, data, args.work / "teacher", args.teacher_model, args.teacher_steps, 0)
    run(teacher_cfg)
    teacher_best = Path(teacher_cfg.out) / "best.pt"
    result: dict[str, Any] = {"budget": vars(args) | {"work": str(args.work)}, "val_videos": len(val),
                              "teacher": {"model": args.teacher_model, "jf": score(teacher_best, val),
                                          "seconds": seconds_of(Path(teacher_cfg.out))}, "runs": []}
    for row, (distiller, options) in ROWS.items():
        seeds = args.seeds if row in MAIN_ROWS else args.ablation_seeds
        for seed in range(seeds):
            out = args.work / f"{row.split(' (')[0].replace(' ', '_').replace(',', '')}-{distiller}-s{seed}"
            cfg = config(args, data, out, args.student, args.steps, seed, poly_epsilon=1.0, distiller=distiller,
                         distill_options=options, teacher=str(teacher_best) if distiller != "none" else None)
            run(cfg)
            result["runs"].append({"row": row, "seed": seed, "jf": score(out / "best.pt", val), "seconds": seconds_of(out)})
            print(json.dumps(result["runs"][-1]), flush=True)
    result["rows"] = summarise(result["runs"])
    publish("distill_ablation", result, table(result), quick=args.quick)


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    rows = {}
    for row in dict.fromkeys(r["row"] for r in runs):
        values = [r["jf"] for r in runs if r["row"] == row]
        rows[row] = {"seeds": len(values), "mean": statistics.mean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "seconds": statistics.mean(r["seconds"] for r in runs if r["row"] == row)}
    return rows


def table(result: dict[str, Any]) -> str:
    budget = result["budget"]
    lines = [f"Student `{budget['student']}` ({budget['steps']} steps), teacher `{budget['teacher_model']}` "
             f"({budget['teacher_steps']} steps): teacher val J&F {result['teacher']['jf']:.3f}. J&F on {result['val_videos']} val videos, "
             "mean ± std over seeds.", "", "| row | seeds | val J&F | training s/run |", "|---|--:|--:|--:|"]
    for row, stats in result["rows"].items():
        lines.append(f"| {row} | {stats['seeds']} | {stats['mean']:.3f} ± {stats['std']:.3f} | {stats['seconds']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
