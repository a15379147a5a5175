"""The lite decoders against the full one, at a CPU budget where students track.

    .venv/bin/python benchmarks/lite_accuracy.py --parallel 2   # 3 students x 3 seeds (~1.5 h on 2 cores)
    .venv/bin/python benchmarks/lite_accuracy.py --quick        # the whole script at toy sizes

The lite student (``mobilevos_r18_mv2_lite``: 1x1 query compression, separable fuser and decoder at
half the decoder widths) is the fastest file, but on a GPU budget it scored 5 J&F points below the
full student. A full-width student trains at about 1 step/s on this 2-core CPU, too slow for seeds
at a budget where students track, so this suite compares the half-width counterparts in
distill_bench's CPU regime (its defaults and its budget folder: same data, same commands, and the
full decoder's runs *are* distill_bench's "none (no KD)" runs, shared with it):

- ``mobilevos_r18_mv2_small``: the full decoder (the quickstart's student);
- ``mobilevos_r18_mv2_lite_small``: the lite decoder at half its widths, as the lite student is to the full one;
- ``mobilevos_r18_mv2_lite_wide_small``: the lite decoder with its separable blocks as wide as the full decoder.

Each is trained without distillation for ``--seeds`` seeds (same seed = same data order) and scored
on val; the table gives J&F mean ± std, the paired difference to the full decoder, copy-first-mask
as the bar, parameters and seconds per step. Writes ``results/lite_accuracy.json`` and the table in
benchmarks/README.md. A killed run resumes.
"""

from __future__ import annotations

import statistics
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_bench import BASELINE, finished, parser, prepare, quick, run_folder, student_job  # noqa: E402
from report import publish  # noqa: E402

STUDENTS = ("mobilevos_r18_mv2_small", "mobilevos_r18_mv2_lite_small", "mobilevos_r18_mv2_lite_wide_small")
QUICK_STUDENTS = ("mobilevos_r18_mv2_tiny", "mobilevos_r18_mv2_lite_tiny")


def job(args: Any, data: Path, student: str, seed: int) -> dict[str, Any] | None:
    """One run (trained unless finished), scored; with ``--report-only`` None for a run that is not finished."""
    # the full decoder is distill_bench's own student: its folder is the none row's, so both suites share the run
    own = None if student == args.student else student
    if args.report_only and not finished(run_folder(args, BASELINE, seed, own)):
        return None
    run = student_job(args, data, None, BASELINE, seed, student=own)
    return {"student": student, "seed": seed, "jf": run["jf"], "seconds_per_step": run["seconds_per_step"]}


def summarise(runs: list[dict[str, Any]], students: tuple[str, ...]) -> dict[str, dict[str, float]]:
    from mobileseg.models import build_model

    base = {r["seed"]: r["jf"] for r in runs if r["student"] == students[0]}
    rows = {}
    for student in students:
        values = [r for r in runs if r["student"] == student]
        jf = [r["jf"] for r in values]
        paired = [r["jf"] - base[r["seed"]] for r in values if r["seed"] in base]
        model = build_model(student)
        rows[student] = {"seeds": len(jf), "mean": statistics.mean(jf), "std": statistics.stdev(jf) if len(jf) > 1 else 0.0,
                         "paired_mean": statistics.mean(paired) if paired else float("nan"), "paired_std": statistics.stdev(paired) if len(paired) > 1 else 0.0,
                         "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                         "decoder_params_m": sum(p.numel() for p in model.decoder.parameters()) / 1e6,
                         "seconds_per_step": statistics.mean(r["seconds_per_step"] for r in values)}
    return rows


def table(result: dict[str, Any]) -> str:
    b, copy = result["budget"], result["copy_first_mask"]
    students = list(result["rows"])
    lines = [f"{b['steps']} steps each, no distillation, distill_bench's CPU regime: {b['clip_frames']}-frame clips, gaps up to "
             f"{b['max_skip']}, {b['crop']} crops, batch {b['batch_size']}, lr {b['lr']}; {result['val_videos']} val videos of "
             f"{b['frames']} frames at {b['video_size']}. Paired = row − `{students[0]}` (same seed); J&F on the 0–1 scale.",
             "", "| student | decoder | params M (decoder) | seeds | val J&F | paired vs full decoder | s/step |",
             "|---|---|--:|--:|--:|--:|--:|",
             f"| copy-first-mask | — | — | — | {copy:.3f} | {copy - result['rows'][students[0]]['mean']:+.3f} | — |"]
    decoders = {"mobilevos_r18_mv2_small": "full", "mobilevos_r18_mv2_lite_small": "lite (half widths)",
                "mobilevos_r18_mv2_lite_wide_small": "lite, full widths"}
    for student, s in result["rows"].items():
        paired = "—" if student == students[0] else f"{s['paired_mean']:+.3f} ± {s['paired_std']:.3f}"
        lines.append(f"| `{student}` | {decoders.get(student, '')} | {s['params_m']:.2f} ({s['decoder_params_m']:.2f}) | {s['seeds']} | "
                     f"{s['mean']:.3f} ± {s['std']:.3f} | {paired} | {s['seconds_per_step']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    options = parser()
    options.description = __doc__
    options.set_defaults(seeds=3)
    options.add_argument("--report-only", action="store_true", help="train nothing: the table of the runs finished so far")
    args = options.parse_args()
    students: tuple[str, ...] = STUDENTS
    if args.quick:
        quick(args)
        students = QUICK_STUDENTS
    from mobileseg.data.davis import open_davis2017

    data, copy = prepare(args)
    jobs = [(student, seed) for seed in range(args.seeds) for student in students]
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:  # each job is a subprocess: threads only wait
        runs = [run for run in pool.map(lambda j: job(args, data, *j), jobs) if run is not None]
    students = tuple(s for s in students if any(r["student"] == s for r in runs))
    result = {"budget": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "val_videos": len(open_davis2017(data, "val")), "copy_first_mask": copy, "runs": runs,
              "rows": summarise(runs, students)}
    publish("lite_accuracy", result, table(result), quick=args.quick)


if __name__ == "__main__":
    main()
