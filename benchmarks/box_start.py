"""Box-started tracking: does training with box prompts (``--box-init-prob``) close the mask-box gap?

    .venv/bin/python benchmarks/box_start.py            # the table in benchmarks/README.md
    .venv/bin/python benchmarks/box_start.py --quick    # a smoke run of the whole script at toy sizes

The Android app starts tracking from a box the user drags, so the tracker's ``init`` gets a filled
rectangle instead of the object's mask. The student ``mobilevos_r18_mv2`` is trained at the
budget of the accuracy part of ``benchmarks/fast.py`` (same SynthVOS data, steps, batch, crop and
threads; the constants below mirror it) with ``box_init_prob`` 0 and 0.5, for each seed; every
checkpoint is scored on SynthVOS val twice, started from each object's first-frame mask
(``eval --first mask``) and from its bounding box (``eval --first box``). The table gives, per
row, J&F from the mask, J&F from the box and the gap mask - box (paired per seed), as mean ± std
over seeds; the JSON has every seed.

Runs and scores are kept in ``--work`` and reused: a finished run is not trained again, a killed
one is resumed (``train.loop.prepare_run``). ``--quick`` writes ``results/box_start_quick.json``
(git-ignored) and leaves the README alone. Set ``MOBILESEG_PROGRESS=never`` for log files: each
training then logs every tenth of its steps, and this script prints one line per finished run.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from mobileseg.bench.host import host_info  # noqa: E402
from mobileseg.data.datasets import open_dataset  # noqa: E402
from mobileseg.data.sequence import VideoDataset  # noqa: E402
from mobileseg.data.synth import SynthConfig, generate_synthvos  # noqa: E402
from mobileseg.eval.predict import predict_dataset  # noqa: E402
from mobileseg.sources import checkpoint_source  # noqa: E402
from mobileseg.train.config import TrainConfig  # noqa: E402
from mobileseg.train.loop import prepare_run, train  # noqa: E402
from mobileseg.utils.timing import Stopwatch  # noqa: E402

STUDENT = "mobilevos_r18_mv2"
PROBS = (0.0, 0.5)
STARTS = ("mask", "box")
# the budget of fast.py's accuracy part (accuracy_rows), full and --quick; keep the two in step
BUDGET = {
    False: {"size": (192, 320), "videos": 48, "frames": 20, "steps": 300, "crop": (112, 112)},
    True: {"size": (64, 96), "videos": 12, "frames": 10, "steps": 6, "crop": (48, 64)},
}
BATCH, BN_BATCHES, THREADS, VAL_FRACTION = 4, 4, 2, 1 / 6


def dataset(work: Path, quick: bool) -> Path:
    """SynthVOS as fast.py generates it (seed 0), written once into ``work``."""
    budget, data = BUDGET[quick], work / "synthvos"
    if not (data / "synthvos.json").is_file():
        generate_synthvos(data, SynthConfig(videos=budget["videos"], frames=budget["frames"], height=budget["size"][0],
                                            width=budget["size"][1], val_fraction=VAL_FRACTION, seed=0), overwrite=True)
    return data


def run_config(work: Path, data: Path, quick: bool, prob: float, seed: int) -> TrainConfig:
    budget = BUDGET[quick]
    return TrainConfig(model=STUDENT, data=str(data), out=str(work / "runs" / f"{STUDENT}-p{prob:g}-s{seed}"), steps=budget["steps"],
                       batch_size=BATCH, crop=budget["crop"], val_every=0, bn_batches=BN_BATCHES, seed=seed, threads=THREADS,
                       box_init_prob=prob)


def trained(config: TrainConfig) -> tuple[Path, str, float]:
    """``best.pt`` of ``config`` (trained, resumed or reused), what was done, and the training seconds of this call."""
    status = prepare_run(config, "benchmark")
    watch = Stopwatch()
    if status != "finished":
        train(config, resume=status == "resume")
    return Path(config.out) / "best.pt", {"finished": "reused", "resume": "resumed", "new": "trained"}[status], watch.elapsed()


def score(best: Path, val: VideoDataset, first: str) -> float:
    """Val J&F (0-100) of ``best`` started from ``first``; kept next to it until the checkpoint changes."""
    cached = best.with_name(f"val_jf_{first}.json")
    stamp = best.stat().st_mtime_ns
    if cached.is_file() and json.loads(cached.read_text()).get("mtime_ns") == stamp:
        return float(json.loads(cached.read_text())["jf"])
    source = checkpoint_source(best)
    run = predict_dataset(source.make, val, multiple=16, desc=f"{best.parent.name} from {first}", first=first)
    jf = 100 * float(run.report.summary()["J&F-Mean"])  # type: ignore[union-attr]
    cached.write_text(json.dumps({"jf": jf, "first": first, "mtime_ns": stamp}))
    return jf


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def summarise(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for prob in dict.fromkeys(r["box_init_prob"] for r in runs):
        mine = [r for r in runs if r["box_init_prob"] == prob]
        rows.append({"box_init_prob": prob, "seeds": len(mine), **{key: spread([r[key] for r in mine]) for key in ("jf_mask", "jf_box", "gap")}})
    return rows


def table(result: dict[str, Any]) -> str:
    budget = result["budget"]
    intro = (f"`{STUDENT}`, {budget['steps']} steps of {BATCH} clips, {budget['crop'][0]}x{budget['crop'][1]} crops (the budget of "
             f"fast.py's accuracy part), SynthVOS {budget['size'][0]}x{budget['size'][1]}, {result['val_videos']} val videos; "
             f"{result['host']['cpu']}, {THREADS} threads. J&F on a 0-100 scale, mean ± std over seeds; gap = J&F from the mask "
             "minus J&F from the box, paired per seed.")
    lines = [intro, "",
             "| box-init-prob | J&F from mask | J&F from box | gap (mask - box) | seeds |", "|--:|--:|--:|--:|--:|"]
    for row in result["rows"]:
        cells = [f"{row[key]['mean']:.1f} ± {row[key]['std']:.1f}" for key in ("jf_mask", "jf_box", "gap")]
        lines.append(f"| {row['box_init_prob']:g} | " + " | ".join(cells) + f" | {row['seeds']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/box_start"), help="data, runs and scores (reused; git-ignored under runs/)")
    parser.add_argument("--seeds", type=int, default=None, help="training seeds 0..N-1 per row (default 3; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="toy sizes and steps: a smoke run of the whole script")
    args = parser.parse_args()
    seeds = args.seeds if args.seeds is not None else (2 if args.quick else 3)
    if seeds < 1:
        parser.error(f"--seeds must be >= 1, got {seeds}")
    logging.basicConfig(format="%(message)s", level=logging.INFO)  # training's step lines when bars are off
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    data = dataset(work, args.quick)
    val = open_dataset(data, "val")
    runs = []
    jobs = [(prob, seed) for prob in PROBS for seed in range(seeds)]
    for number, (prob, seed) in enumerate(jobs, 1):
        best, done, seconds = trained(run_config(work, data, args.quick, prob, seed))
        jf = {first: score(best, val, first) for first in STARTS}
        runs.append({"box_init_prob": prob, "seed": seed, "jf_mask": jf["mask"], "jf_box": jf["box"], "gap": jf["mask"] - jf["box"],
                     "checkpoint": str(best)})
        print(f"[{number}/{len(jobs)}] box-init-prob {prob:g} seed {seed}: {done}{f' in {seconds:.0f} s' if done != 'reused' else ''}; "
              f"J&F from mask {jf['mask']:.1f}, from box {jf['box']:.1f}", flush=True)
    budget = BUDGET[args.quick]
    result = {"host": host_info(THREADS), "student": STUDENT, "val_videos": len(val), "seeds": seeds,
              "budget": {**budget, "batch_size": BATCH, "bn_batches": BN_BATCHES, "threads": THREADS, "quick": args.quick},
              "runs": runs, "rows": summarise(runs)}
    publish("box_start", result, table(result), quick=args.quick)


if __name__ == "__main__":
    main()
