"""Distillation where the teacher has something to teach: every method against the no-KD student.

    .venv/bin/python benchmarks/distill_bench.py --quick                 # smoke run of the whole script (tiny, minutes)
    .venv/bin/python benchmarks/distill_bench.py                         # CPU scale (many hours on 2 cores)
    python3 benchmarks/distill_bench.py --device cuda --parallel 40      # the teacher and every run but the top-up at once on one GPU

The distill_ablation suite found no benefit from distillation and diagnosed why: with 3-frame
clips the teacher's unbounded memory holds nothing two slots do not, and its small teacher was
barely better than the student. This benchmark changes the experiment, not the losses:

- videos long enough for memory to matter, trained with 8-frame clips and frame gaps (defaults: the
  CPU regime, 20-frame videos and gaps up to 5; the 2026-11-30 table used 48-frame videos, gaps up
  to 10), so the teacher's memory of every 5th frame sees what the student's two slots (first +
  latest) cannot;
- one teacher, trained longer (``--teacher-steps``) once and reused; the table says by how much
  it beats the no-KD student (the bar: >= 0.08 J&F);
- rows: none, mobilevos (the paper's unit weights), mobilevos rescaled (KL x tau^2, repr x N),
  cirkd (all parts, and each part alone), lgd (no teacher), online (a ``--teacher-model`` trained
  from scratch beside the student), and the TDNet student (``--tdnet-student``, same widths, 2
  sub-networks) without KD and with its grouped KD, against the plain student's none row at the
  same budget. ``--seeds`` seeds for none and both mobilevos rows, ``--part-seeds`` for the
  others, and then the best of the others (highest mean paired gain; over every such row even under
  ``--rows``, the rows it leaves out read from the ledger) is topped up to ``--seeds``.
  ``--rows`` picks rows by name prefix; the optional rows, online's ablations (``online: no ...``,
  each costs an online run, ~2.5 student runs) and CIRKD's logit KD alone, run only when ``--rows``
  names them (the table then shows one whose every seed is in the ledger). MobileVOS + CIRKD together
  is not a row: a run takes one ``--distiller``, and summing two methods' terms would need weights
  nobody has tuned.

Scheduling: on a CPU the teacher trains first, alone, with ``--parallel`` threads (on 2 cores a
teacher beside a student at one thread each ran 2.8x slower, a student beside another far less);
on a GPU (or with ``--teacher-alone no``) it trains as one of the ``--parallel`` jobs, beside the
rows that need none (none, lgd, online, the TDNet student without KD). A free slot takes the next
job in seed order (every row's seed 0 before any row's seed 1) that can start, the distilled rows
once the teacher is done. A run stopped half-way leaves every row's first seeds rather than some rows with every
seed; ``--report-only`` prints and publishes that table (the finished runs, the teacher if it is
finished), training nothing.

Every run is ``mobileseg train``/``distill`` in a subprocess, so runs can share a GPU
(``--parallel``); a finished run is reused and a killed one resumed (``--resume``). Each finished
run's result also goes into a ledger kept in the repository (``results/distill_bench_runs.json``,
see :class:`Ledger`): a run of the benchmark on another machine (a fresh clone) reuses them and
trains only what is missing, the teacher included when a distilled run is still missing. Output:
J&F mean +- std per row, the paired difference against none per seed (same seed = same data order
and initialisation), its standard error over the val videos (:func:`val_se`) and on how many seeds
it is positive, the student's own segmentation loss at the end of training against none's (a
distillation term that keeps the student from fitting its task shows here), the share of the
teacher-none gap each row closes ((row - none) / (teacher - none)), seconds per training step (a
cost pass after the runs: every row's seed 0 for a few steps, timed alone one after another, so the
costs compare), ``results/distill_bench.json``, a plot of every seed
(``results/distill_bench.png``, the teacher and copy-first-mask as lines) and the table in
benchmarks/README.md. Two bars say whether the table means anything: the teacher beats the no-KD
student by >= 0.08 J&F (it has something to teach), and the no-KD student beats copy-first-mask
(the first frame's masks repeated on every frame, a row of the table) by >= 0.05 (students track).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from determinism import digest, weights  # noqa: E402
from report import RESULTS, fingerprint, publish  # noqa: E402

from mobileseg.utils.fsio import write_json_atomic  # noqa: E402
from mobileseg.utils.machine import cpu_name  # noqa: E402
from mobileseg.utils.timing import Stopwatch  # noqa: E402

ROWS: dict[str, tuple[str, list[str]]] = {
    "none (no KD)": ("none", []),
    "mobilevos (paper weights)": ("mobilevos", []),
    "mobilevos (rescaled)": ("mobilevos", ["--logit-weight", "0.01", "--repr-weight", "256"]),
    "cirkd (all parts)": ("cirkd", []),
    "cirkd: mini-batch relations only": ("cirkd", ["--pixel-weight", "0", "--region-weight", "0", "--logit-weight", "0"]),
    "cirkd: pixel memory only": ("cirkd", ["--batch-weight", "0", "--region-weight", "0", "--logit-weight", "0"]),
    "cirkd: region memory only": ("cirkd", ["--batch-weight", "0", "--pixel-weight", "0", "--logit-weight", "0"]),
    "cirkd: logit KD only": ("cirkd", ["--batch-weight", "0", "--pixel-weight", "0", "--region-weight", "0"]),
    "lgd (no teacher)": ("lgd", []),
    "online (all parts)": ("online", []),
    "online: no adaptive rate": ("online", ["--adaptive-rate", "false"]),
    "online: no fusion": ("online", ["--fusion", "false"]),
    "online: no smooth block": ("online", ["--smooth-block", "false"]),
    "online: no discriminator": ("online", ["--adversarial-weight", "0"]),
    "tdnet student, no KD": ("none", []),
    "tdnet student, tdnet KD": ("tdnet", []),
}
MAIN_ROWS = ("none (no KD)", "mobilevos (paper weights)", "mobilevos (rescaled)")  # --seeds; the best other row is topped up to it
# only when --rows names them (the table also shows one whose every seed is in the ledger)
OPTIONAL_ROWS = tuple(row for row in ROWS if row.startswith("online: ") or row == "cirkd: logit KD only")
TDNET_ROWS = ("tdnet student, no KD", "tdnet student, tdnet KD")  # --tdnet-student instead of --student
TEACHERLESS = ("none", "lgd", "online")  # no --teacher checkpoint (online trains its own, an --teacher-model from scratch)
BASELINE = "none (no KD)"
# the rows the top-up picks from: the plain student's distillation rows outside MAIN_ROWS; not the TDNet rows (their
# gain against none mixes another network in) nor the optional rows
TOP_UP_ROWS = tuple(row for row in ROWS if row not in (*MAIN_ROWS, *TDNET_ROWS, *OPTIONAL_ROWS) and ROWS[row][0] != "none")
TEACHER_MARGIN = 0.08  # how much the teacher must beat the no-KD student for the benchmark to mean anything
TRACKING_MARGIN = 0.05  # how much the no-KD student must beat copy-first-mask: below it, students do not track


def parser() -> argparse.ArgumentParser:
    """The options; benchmarks/lite_accuracy.py takes them too, so its runs share this budget."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/distill_bench"),
                        help="data and runs, in a folder per budget (reused; killed runs resume)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny models and data, few steps, one seed; README untouched")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of none, both mobilevos rows and the best other row")
    parser.add_argument("--part-seeds", type=int, default=3, help="seeds of the other rows")
    parser.add_argument("--student", default="mobilevos_r18_mv2_small")
    parser.add_argument("--tdnet-student", default="tdnet_r18_mv2_small", help="the student of the tdnet rows (same widths, 2 sub-networks)")
    parser.add_argument("--teacher-model", default="stcn_r50_r18_small", help="the frozen teacher, and the network online distillation trains beside the student")
    parser.add_argument("--rows", default="", help="comma-separated row-name prefixes to run (default: every row but the optional "
                        "ones, online's ablations and 'cirkd: logit KD only', which the table shows once their seeds are in the "
                        "ledger); none is always run")
    # The defaults are the CPU regime of benchmarks/README.md ("distill_bench", regime search): students
    # track (the no-KD one scored 0.47-0.50 at 800 steps against copy-first-mask's 0.189) and one student
    # run takes about 15 minutes on one core. The 2026-11-30 table used the flags its README command names.
    parser.add_argument("--teacher-steps", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--clip-frames", type=int, default=8)
    parser.add_argument("--max-skip", type=int, default=5)
    parser.add_argument("--crop", default="96x96")
    parser.add_argument("--crop-scale", default="native", choices=("cover", "native"), help="zoom of the training crops (train --crop-scale)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3, help="the students' learning rate")
    parser.add_argument("--teacher-lr", type=float, default=5e-4)
    parser.add_argument("--videos", type=int, default=64)
    parser.add_argument("--frames", type=int, default=20, help="frames per video (val videos are this long too)")
    parser.add_argument("--video-size", default="128x224", help="HxW of the generated SynthVOS videos")
    parser.add_argument("--distractors", default="0,0", help="distractor objects per video, min,max (SynthVOS)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--parallel", type=int, default=1, help="training runs at a time (each with 1 thread on a CPU when > 1)")
    parser.add_argument("--teacher-alone", choices=("auto", "yes", "no"), default="auto",
                        help="train the teacher alone first, with --parallel threads on a CPU, before any student run (yes), or "
                        "as one of the --parallel runs beside the rows that need no teacher (no); auto: alone on a CPU, where "
                        "a teacher beside a student ran 2.8x slower on 2 cores, beside them on a GPU")
    return parser


def quick(args: argparse.Namespace) -> None:
    """``--quick``: tiny models, data and budget (in place)."""
    args.student, args.teacher_model, args.teacher_steps, args.steps, args.seeds, args.part_seeds = (
        "mobilevos_r18_mv2_tiny", "stcn_r50_r18_tiny", 8, 4, 1, 1)
    args.tdnet_student = "tdnet_r18_mv2_tiny"
    args.crop, args.videos, args.frames, args.clip_frames, args.max_skip, args.video_size = "48x64", 6, 10, 4, 3, "64x96"
    args.work = args.work.with_name(args.work.name + "_quick")


def prepare(args: argparse.Namespace) -> tuple[Path, float]:
    """The budget's folder (``args.work`` becomes it), its SynthVOS data (generated once) and copy-first-mask's val J&F."""
    from mobileseg.data.synth import SynthConfig, generate_synthvos

    args.work = budget_folder(args)
    data = args.work / "data"
    size = tuple(int(v) for v in args.video_size.lower().split("x"))
    distractors = tuple(int(v) for v in args.distractors.split(","))
    if not (data / "synthvos.json").is_file():
        generate_synthvos(data, SynthConfig(videos=args.videos, frames=args.frames, height=size[0], width=size[1], objects=(1, 2),
                                            distractors=(distractors[0], distractors[-1]), seed=0), overwrite=True)
    return data, copy_first_mask(data)


def common(args: argparse.Namespace, data: Path, out: Path, steps: int, seed: int, threads: int, lr: float) -> list[str]:
    return ["--data", str(data), "--out", str(out), "--steps", str(steps), "--seed", str(seed), "--crop", args.crop,
            "--crop-scale", args.crop_scale, "--batch-size", str(args.batch_size), "--clip-frames", str(args.clip_frames),
            "--max-skip", str(args.max_skip), "--device", args.device, "--threads", str(threads), "--val-every", "0",
            "--save-every", "50", "--lr", str(lr)]


def finished(out: Path) -> bool:
    """Whether the training run in ``out`` finished (:func:`run` writes ``seconds.json`` last)."""
    return (out / "seconds.json").is_file()


def run(command: list[str], out: Path) -> float:
    """Run one training command unless it finished before (resuming a killed one); its training seconds."""
    done = out / "seconds.json"
    if finished(out):
        return float(json.loads(done.read_text())["seconds"])
    resume = ["--resume"] if (out / "last.pt").is_file() else []
    out.parent.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    with open(out.parent / f"{out.name}.log", "a") as log:
        code = subprocess.run([sys.executable, "-m", "mobileseg", *command, *resume], stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "MOBILESEG_PROGRESS": "never"}).returncode
    if code != 0:
        raise SystemExit(f"{' '.join(command[:1])} for {out} failed (exit {code}); see {out.parent / (out.name + '.log')}")
    seconds = watch.elapsed()
    done.write_text(json.dumps({"seconds": seconds, "resumed": bool(resume)}))
    return seconds


def logged(out: Path) -> dict[int, dict[str, float]]:
    """The run in ``out``'s log (``log.jsonl``) by step; a step logged twice (a resumed run redoes the steps after
    its last checkpoint) as logged last."""
    return {record["step"]: record for record in map(json.loads, (out / "log.jsonl").read_text().splitlines())}


def step_seconds(out: Path, batch_size: int, skip: int = 1) -> float:
    """Median seconds per training step of the run in ``out``, from its own log (``log.jsonl``: clips/s per
    logged interval), leaving out the first ``skip`` intervals (start-up) unless that leaves none (a run too short
    for more: ``--quick``). A step logged twice (a resumed run redoes the steps after its last checkpoint) counts
    once, as logged last."""
    intervals = {step: batch_size / record["clips_per_s"] for step, record in logged(out).items()}
    if not intervals:
        raise SystemExit(f"{out / 'log.jsonl'} has no logged interval to time the run by")
    steps = sorted(intervals)
    return statistics.median(intervals[step] for step in (steps[skip:] or steps))


def final_losses(out: Path, steps: int = 100) -> dict[str, float]:
    """The mean of each training loss the run in ``out`` logged over its last ``steps`` steps (``log.jsonl``; a
    step logged twice counts once, as logged last): where a row's student ends on the task's own loss (``seg``)
    beside its distillation terms."""
    records = logged(out)
    last = [{k: v for k, v in records[step].items() if k not in ("step", "lr", "clips_per_s")}
            for step in sorted(records) if step > max(records, default=0) - steps]
    return {name: statistics.mean(r[name] for r in last) for name in (last[-1] if last else {})}


def val_objects(out: Path) -> dict[str, float]:
    """Each val object's J&F, (J + F) / 2, of the run in ``out`` (from the ``val_jf.eval.json`` :func:`score`
    wrote), keyed ``<video>_<object>``: the table's val J&F is their mean."""
    objects = json.loads((out / "val_jf.eval.json").read_text())["objects"]
    return {name: round((o["J-Mean"] + o["F-Mean"]) / 2, 6) for name, o in objects.items()}


def val_se(pairs: list[tuple[dict[str, float], dict[str, float]]]) -> float:
    """The standard error, over val videos, of a row's mean paired difference: ``pairs`` holds each seed's
    per-object J&F (:func:`val_objects`) of the row and of none; per object the row minus none, averaged over
    the seeds; then the standard error of their mean with the videos as clusters (a video's objects share its
    frames, so they are not independent samples). How far the paired mean would move on other val videos of the
    same kind; the seed spread says how far it moves with another training seed on these."""
    objects = set.intersection(*(set(row) & set(none) for row, none in pairs)) if pairs else set()
    diff = {name: statistics.mean(row[name] - none[name] for row, none in pairs) for name in sorted(objects)}
    mean = statistics.mean(diff.values()) if diff else math.nan
    sums: dict[str, float] = {}  # per video (keys are <video>_<object>): its objects' deviations from the mean
    for name, d in diff.items():
        video = name.rsplit("_", 1)[0]
        sums[video] = sums.get(video, 0.0) + d - mean
    if len(sums) < 2:
        return math.nan
    return math.sqrt(len(sums) / (len(sums) - 1) * sum(x * x for x in sums.values())) / len(diff)


def score(best: Path, data: Path) -> float:
    """Val J&F of ``best`` (cached beside it), one joint state per video as in ``mobileseg eval``."""
    cached = best.with_name("val_jf.json")
    if cached.is_file() and json.loads(cached.read_text())["mtime_ns"] == best.stat().st_mtime_ns:
        return float(json.loads(cached.read_text())["jf"])
    out = subprocess.run([sys.executable, "-m", "mobileseg", "eval", "--data", str(data), "--checkpoint", str(best),
                          "--json", str(cached.with_suffix(".eval.json"))], capture_output=True, text=True,
                         env={**os.environ, "MOBILESEG_PROGRESS": "never", "OMP_NUM_THREADS": "1"})
    if out.returncode != 0:
        raise SystemExit(f"scoring {best} failed: {out.stderr[-2000:]}")
    jf = float(json.loads(cached.with_suffix(".eval.json").read_text())["summary"]["J&F-Mean"])
    cached.write_text(json.dumps({"jf": jf, "mtime_ns": best.stat().st_mtime_ns}))
    return jf


def slug(name: str) -> str:
    """A row or recipe name as a folder name: ``"cirkd: pixel memory only"`` -> ``cirkd_pixel_memory_only``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def run_folder(args: argparse.Namespace, row: str, seed: int, student: str | None = None) -> Path:
    """Where ``row``'s run of ``seed`` lives (one folder per row: rows of one method differ in options)."""
    return args.work / "students" / f"{slug(row) if student is None else f'{slug(row)}_{student}'}-s{seed}"


def teacher_command(args: argparse.Namespace, data: Path, out: Path, steps: int, threads: int) -> list[str]:
    """The ``mobileseg train`` command of the teacher (seed 0)."""
    return ["train", "--model", args.teacher_model, *common(args, data, out, steps, 0, threads, args.teacher_lr)]


def student_command(args: argparse.Namespace, data: Path, teacher: Path | None, row: str, seed: int, out: Path, steps: int,
                    threads: int, student: str | None = None) -> list[str]:
    """The ``mobileseg distill`` command of one run of ``row`` (``student`` in place of the row's student)."""
    distiller, options = ROWS[row]
    if student is None:
        student = args.tdnet_student if row in TDNET_ROWS else args.student
    if distiller == "online":
        options = [*options, "--online-teacher", args.teacher_model]
    return ["distill", "--student", student, "--distiller", distiller, *options, "--poly-epsilon", "1.0",
            *(["--teacher", str(teacher)] if distiller not in TEACHERLESS else []),
            *common(args, data, out, steps, seed, threads, args.lr)]


def student_job(args: argparse.Namespace, data: Path, teacher: Path | None, row: str, seed: int,
                student: str | None = None) -> dict[str, Any]:
    """One run of ``row`` (``student`` in place of the row's student: then its folder is named by it too). Its
    seconds per step are the median of its logged intervals, with the other runs of ``--parallel`` beside it."""
    out = run_folder(args, row, seed, student)
    run(student_command(args, data, teacher, row, seed, out, args.steps, 1 if args.parallel > 1 else 2, student), out)
    return {"row": row, "seed": seed, "jf": score(out / "best.pt", data), "seconds_per_step": step_seconds(out, args.batch_size),
            "losses": final_losses(out), "objects": val_objects(out)}


COST_STEPS = 40  # steps of each run of the cost pass: 4 logged intervals, the first (start-up) left out


def cost_steps(quick: bool) -> int:
    """Steps of each run of the cost pass: ``COST_STEPS``, 20 with ``--quick``."""
    return 20 if quick else COST_STEPS


TRAINER = (("models", "distill", "train", "data", "_compat"), ("torch",))  # what a step's cost depends on, besides the host
RESULT_CODE = (("models", "distill", "train", "data", "_compat", "eval"), ("torch",))  # what a run's weights and J&F depend on


def cost_pass(args: argparse.Namespace, data: Path, rows: list[str], ledger: Ledger) -> dict[str, float]:
    """Seconds per training step of the teacher and of each row, timed one run at a time, in one pass (2 threads on
    a CPU, seed 0, ``COST_STEPS`` steps, 20 with ``--quick``): the benchmark's runs ran ``--parallel`` at a time
    beside whatever else the host did, and perhaps on other machines, so their own times compare poorly. The
    distilled rows learn from the teacher the pass itself trained for its few steps (a step costs the same
    whatever the teacher's weights), so the pass needs no trained teacher. Kept in the ledger: a row is timed
    once, and every row again when the training code, torch or the machine changed."""
    made_by = fingerprint(*TRAINER, host=True)
    cost, _ = ledger.cost(made_by)
    steps, teacher = cost_steps(args.quick), args.work / "cost" / "teacher" / "best.pt"
    todo = [name for name in ["teacher", *rows] if name not in cost]
    if any(ROWS[name][0] not in TEACHERLESS for name in todo if name != "teacher") and not teacher.is_file() and "teacher" not in todo:
        todo.insert(0, "teacher")  # timed on an earlier machine; its checkpoint is needed again (and it is timed again)
    for name in todo:
        out = args.work / "cost" / slug(name)
        if out.exists():
            shutil.rmtree(out)  # a cost run killed half-way, or one timed by other code or on another host
        if name == "teacher":
            command = teacher_command(args, data, out, steps, 2)
        else:
            command = student_command(args, data, teacher if ROWS[name][0] not in TEACHERLESS else None, name, 0, out, steps, 2)
        print(f"cost pass: {name}", flush=True)
        run(command, out)
        cost[name] = step_seconds(out, args.batch_size)
        ledger.set_cost(made_by, cost)
    return cost


BUDGET_KEYS = ("videos", "frames", "video_size", "distractors", "crop", "crop_scale", "batch_size", "clip_frames", "max_skip", "lr",
               "steps", "student", "tdnet_student", "teacher_model", "teacher_steps", "teacher_lr", "device")


def budget(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """What a run's result depends on, and a short hash of it: the data and training settings, and the code that
    trains and scores (``RESULT_CODE``: a change to those sources, or another torch, starts every run over, in a
    new budget folder and under a new key of the ledger)."""
    settings = {**{key: getattr(args, key) for key in BUDGET_KEYS}, "code": fingerprint(*RESULT_CODE)}
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10], settings


def command_digest(command: list[str]) -> str:
    """A hash of a training command with its paths and thread count left out: what a ledger entry was made by,
    besides the budget (a row's options, the flags every run gets)."""
    kept = [part for i, part in enumerate(command) if not (i and command[i - 1] in ("--data", "--out", "--teacher", "--threads"))]
    return hashlib.sha1(" ".join(kept).encode()).hexdigest()[:10]


def budget_folder(args: argparse.Namespace) -> Path:
    """``--work``/<budget>: runs are reused and resumed only under the settings they were made with
    (the folder is named by a hash of them; ``budget.json`` inside lists them)."""
    digest, settings = budget(args)
    folder = args.work / f"budget-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "budget.json").write_text(json.dumps(settings, indent=1, sort_keys=True))
    return folder


class Ledger:
    """Every finished run's result, per budget, in a file kept in the repository (``--ledger``), so that a run
    of the benchmark goes on where the last one stopped, on this machine or another: the budget folder under
    ``--work`` holds checkpoints and is lost with the machine, the ledger is committed. Entries are keyed by the
    budget (settings and code, :func:`budget`) and by a hash of the run's command; each names the machine, the
    date, the thread count and, for a distilled row, the teacher it learned from (a hash of its weights).
    Deterministic training gives each kind of CPU (and thread count) its own weights, so a teacher trained again
    elsewhere is another teacher: the ledger keeps one entry per teacher, and the table says when its rows learned
    from more than one. ``write=False`` (``--report-only``) reads it and writes nothing."""

    def __init__(self, path: Path, args: argparse.Namespace, write: bool = True) -> None:
        self.path, self.write, self.lock, self.host = path, write, threading.Lock(), cpu_name()
        self.key, settings = budget(args)
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {"budgets": {}}
        other = [b for key, b in self.data["budgets"].items()
                 if key != self.key and {k: v for k, v in b["budget"].items() if k != "code"} == {k: v for k, v in settings.items() if k != "code"}]
        if other:
            print(f"{path}: {sum(len(b['runs']) for b in other)} finished run(s) of these settings were made by other code "
                  f"(mobileseg's {', '.join(RESULT_CODE[0])} sources or torch changed since): not reused", flush=True)
        self.budget = self.data["budgets"].setdefault(self.key, {"budget": settings, "teachers": [], "runs": [], "cost": {}})

    def run(self, row: str, seed: int, command: str) -> dict[str, Any] | None:
        """The result of ``row``'s run of ``seed`` made by ``command`` (:func:`command_digest`), if recorded."""
        return next((e for e in self.budget["runs"] if (e["row"], e["seed"], e["command"]) == (row, seed, command)), None)

    def teachers(self, command: str) -> list[dict[str, Any]]:
        """The teachers trained so far by ``command`` (one per kind of machine and thread count)."""
        return [e for e in self.budget["teachers"] if e["command"] == command]

    def add_run(self, result: dict[str, Any], command: str, threads: int) -> dict[str, Any]:
        """Record a finished run (unless recorded); its entry."""
        return self._add("runs", self.run(result["row"], result["seed"], command), {**result, "command": command, "threads": threads})

    def add_teacher(self, result: dict[str, Any], command: str, threads: int) -> dict[str, Any]:
        """Record a trained teacher (unless one with the same weights is recorded); its entry."""
        recorded = next((e for e in self.teachers(command) if e["sha"] == result["sha"]), None)
        return self._add("teachers", recorded, {**result, "command": command, "threads": threads})

    def fill(self, entry: dict[str, Any], **fields: Any) -> None:
        """Add ``fields`` to a recorded ``entry`` (one recorded before the script measured them)."""
        with self.lock:
            entry.update(fields)
            self.save()

    def _add(self, kind: str, recorded: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any]:
        if recorded is not None:
            return recorded
        entry = {**entry, "host": self.host, "date": time.strftime("%Y-%m-%d")}
        with self.lock:
            self.budget[kind].append(entry)
            self.save()
        return entry

    def cost(self, made_by: str | None = None) -> tuple[dict[str, float], str | None]:
        """The cost pass's seconds per step measured under ``made_by`` (training code and machine), as far as they
        were; without it, the most complete one measured anywhere. Also names the machine."""
        if made_by is not None:
            found = self.budget["cost"].get(made_by)
        else:
            found = max(self.budget["cost"].values(), key=lambda c: len(c["seconds"]), default=None)
        return (dict(found["seconds"]), found["host"]) if found else ({}, None)

    def set_cost(self, made_by: str, seconds: dict[str, float]) -> None:
        with self.lock:
            self.budget["cost"][made_by] = {"host": self.host, "seconds": seconds}
            self.save()

    def save(self) -> None:
        if self.write:
            write_json_atomic(self.path, self.data)


def copy_first_mask(data: Path) -> float:
    """Val J&F of repeating each object's first-frame mask on every frame (cached): the bar a tracker must clear."""
    cached = data.parent / "copy_first_mask.json"
    if cached.is_file():
        return float(json.loads(cached.read_text())["jf"])
    from mobileseg.data.davis import open_davis2017
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.sources import baseline_source

    source = baseline_source()
    run = predict_dataset(source.make, open_davis2017(data, split="val"), data.parent / "copy_first_mask", size=source.size,
                          multiple=source.multiple, desc=source.name, overwrite=True)
    assert run.report is not None
    jf = float(run.report.summary()["J&F-Mean"])
    cached.write_text(json.dumps({"jf": jf}))
    return jf


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    base = {r["seed"]: r["jf"] for r in runs if r["row"] == BASELINE}
    base_seg = {r["seed"]: r["losses"]["seg"] for r in runs if r["row"] == BASELINE and "losses" in r}
    base_objects = {r["seed"]: r["objects"] for r in runs if r["row"] == BASELINE and "objects" in r}
    rows = {}
    for row in ROWS:
        values = [r for r in runs if r["row"] == row]
        if not values:
            continue
        jf = [r["jf"] for r in values]
        paired = [r["jf"] - base[r["seed"]] for r in values if r["seed"] in base]
        seg = [r["losses"]["seg"] / base_seg[r["seed"]] for r in values if r["seed"] in base_seg and "seg" in r.get("losses", {})]
        pairs = [(r["objects"], base_objects[r["seed"]]) for r in values if r["seed"] in base_objects and "objects" in r]
        rows[row] = {"seeds": len(jf), "mean": statistics.mean(jf), "std": statistics.stdev(jf) if len(jf) > 1 else 0.0,
                     "paired_mean": statistics.mean(paired) if paired else float("nan"),
                     "paired_std": statistics.stdev(paired) if len(paired) > 1 else 0.0,
                     "paired_seeds": len(paired), "above_none": sum(d > 0 for d in paired),
                     # only when every paired seed has its per-object scores (else it would mix seeds unlike the mean)
                     "paired_val_se": val_se(pairs) if row != BASELINE and pairs and len(pairs) == len(paired) else float("nan"),
                     "seg_loss_ratio": statistics.mean(seg) if seg else float("nan"),
                     "run_seconds_per_step": statistics.mean(r["seconds_per_step"] for r in values)}
    return rows


def table(result: dict[str, Any]) -> str:
    def seconds(name: str) -> str:
        if name not in cost:
            return "—"
        ratio = f" ({cost[name] / cost[BASELINE]:.1f}×)" if BASELINE in cost and name != BASELINE else ""
        return f"{cost[name]:.2f}{ratio}"

    b, teacher, copy, cost = result["budget"], result["teacher"], result["copy_first_mask"], result["cost"]
    none = result["rows"][BASELINE]["mean"]
    gap = None if teacher["jf"] is None else teacher["jf"] - none
    partial = len(result["runs"]) < result.get("planned_runs", len(result["runs"]))
    hosts = Counter(entry["host"] for entry in result["runs"])
    if gap is None:
        teacher_text, teacher_row = "Teacher not trained yet", f"| teacher `{b['teacher_model']}` | 0 | — | — | — | — | — | — | {seconds('teacher')} |"
    else:
        several = "" if len(teacher["teachers"]) == 1 else (
            f" (the mean of the {len(teacher['teachers'])} teachers the distilled rows learned from, trained on "
            + ", ".join(f"{t['jf']:.3f} on {t['host']}" for t in teacher["teachers"]) + ")")
        teacher_text = (f"Teacher val J&F {teacher['jf']:.3f}{several}, {teacher['margin']:+.3f} against the no-KD student's mean "
                        f"({'meets' if teacher['margin'] >= TEACHER_MARGIN else 'misses'} the {TEACHER_MARGIN} bar)")
        teacher_row = (f"| teacher `{b['teacher_model']}` | {len(teacher['teachers'])} | {teacher['jf']:.3f} | {gap:+.3f} | "
                       f"— | — | {'100 %' if gap > 0 else '—'} | — | {seconds('teacher')} |")
    lines = [*([f"**Partial:** {len(result['runs'])} of the {result['planned_runs']} planned runs are finished "
                "(`--report-only`); rows with fewer seeds than planned are still running.", ""] if partial else []),
             f"Student `{b['student']}` ({b['steps']} steps), teacher `{b['teacher_model']}` ({b['teacher_steps']} steps); "
             f"{b['clip_frames']}-frame clips, gaps up to {b['max_skip']}, {b['crop']} crops ({b['crop_scale']}); {result['val_videos']} "
             f"val videos of {b['frames']} frames at {b['video_size']}. {teacher_text}; "
             f"the no-KD student {none - copy:+.3f} against copy-first-mask ({'meets' if none - copy >= TRACKING_MARGIN else 'misses'} the "
             f"{TRACKING_MARGIN} bar). Paired = row − none, same seed (± the spread over seeds); val SE: the standard error of the paired mean over "
             "the val videos (per object, row − none averaged over the seeds; a video's objects counted together): how far it would move "
             "on other val videos of the kind; above none: the seeds where the row beat none; gap closed = paired / (teacher − none mean); "
             "train seg loss: the student's own segmentation loss over its last 100 training steps, against none's of the same "
             "seed (mean ratio; distillation terms left out). "
             f"s/step: one training step ({b['batch_size']} clips), every row timed alone, one after another (the cost pass, "
             f"{cost_steps(b['quick'])} steps of seed 0 each, on {result.get('cost_host') or 'no machine yet'}; ×: against none); "
             "— where not timed yet. Runs made on "
             + ", ".join(f"{host} ({n})" for host, n in hosts.items()) + ".",
             "", "| row | seeds | val J&F | paired vs none | val SE | above none | gap closed | train seg loss (× none) | s/step (×) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|", f"| copy-first-mask | — | {copy:.3f} | {copy - none:+.3f} | — | — | — | — | — |",
             teacher_row]
    for row, s in result["rows"].items():
        paired = "—" if row == BASELINE or s["paired_mean"] != s["paired_mean"] else f"{s['paired_mean']:+.3f} ± {s['paired_std']:.3f}"
        # (row - none) over the seeds both have (the paired mean): with every seed run it is (row mean - none mean)
        closed = "—" if row == BASELINE or gap is None or gap <= 0 or s["paired_mean"] != s["paired_mean"] else f"{100 * s['paired_mean'] / gap:.0f} %"
        above = "—" if row == BASELINE or not s.get("paired_seeds") else f"{s['above_none']} of {s['paired_seeds']}"
        seg = "—" if row == BASELINE or s["seg_loss_ratio"] != s["seg_loss_ratio"] else f"{s['seg_loss_ratio']:.2f}"
        se = "—" if math.isnan(s.get("paired_val_se", math.nan)) else f"{s['paired_val_se']:.3f}"
        lines.append(f"| {row} | {s['seeds']} | {s['mean']:.3f} ± {s['std']:.3f} | {paired} | {se} | {above} | {closed} | {seg} | "
                     f"{seconds(row)} |")
    lines.append("")
    lines.append("![J&F per row, one point per seed](results/distill_bench.png)")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(result["rows"])
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.5))
    for i, row in enumerate(rows):
        values = [r["jf"] for r in result["runs"] if r["row"] == row]
        ax.scatter(values, [i] * len(values), color="tab:blue", alpha=0.7)
        ax.plot([result["rows"][row]["mean"]] * 2, [i - 0.3, i + 0.3], color="black")
    if result["teacher"]["jf"] is not None:
        ax.axvline(result["teacher"]["jf"], color="tab:red", linestyle="--", label="teacher")
    ax.axvline(result["copy_first_mask"], color="tab:gray", linestyle=":", label="copy-first-mask")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("val J&F (points: seeds; bars: means)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)  # above the axes: no point hidden
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plan(args: argparse.Namespace, chosen: list[str]) -> list[tuple[str, int]]:
    """The (row, seed) jobs, seed by seed (every row's seed 0 first), rows in table order within a seed."""
    order = list(ROWS)
    jobs = [(row, seed) for row in chosen for seed in range(args.seeds if row in MAIN_ROWS else args.part_seeds)]
    return sorted(jobs, key=lambda job: (job[1], order.index(job[0])))


def best_other(rows: dict[str, dict[str, float]]) -> str | None:
    """The row of ``TOP_UP_ROWS`` with the highest mean paired gain (it gets ``--seeds`` seeds too)."""
    gains = {row: s["paired_mean"] for row, s in rows.items() if row in TOP_UP_ROWS and s["paired_mean"] == s["paired_mean"]}
    return max(gains, key=lambda row: gains[row]) if gains else None


def schedule(slots: int, jobs: list[tuple[str, int]], teacher: Callable[[], Any], job: Callable[[str, int], Any],
             teacher_alone: bool = False) -> list[Any]:
    """Run ``teacher()`` and every ``job(row, seed)``, at most ``slots`` at once. A free slot takes the first job
    in ``jobs``' order that can start: a row distilled from the teacher only once the teacher is done, so the
    rows that need no teacher run beside it and the distilled rows start, seed by seed, as soon as they can.
    ``teacher_alone``: the teacher first, and no job beside it. Returns the jobs' results in ``jobs``' order (a
    failed teacher raises its error)."""
    waiting = list(jobs)
    results: dict[tuple[str, int], Any] = {}
    with ThreadPoolExecutor(max_workers=slots) as pool:  # each job is a subprocess: threads only wait
        teacher_future: Future[Any] = Future()
        if teacher_alone:  # done before any job starts: every slot takes a job at once
            teacher_future.set_result(teacher())
        else:
            teacher_future = pool.submit(teacher)
        running: dict[Future[Any], tuple[str, int]] = {}
        while waiting or running:
            ready = teacher_future.done()
            while waiting and len(running) + (0 if ready else 1) < slots:
                startable = next((j for j in waiting if ready or ROWS[j[0]][0] in TEACHERLESS), None)
                if startable is None:
                    break
                waiting.remove(startable)
                running[pool.submit(job, *startable)] = startable
            pending = [*running, *([] if ready else [teacher_future])]
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future is not teacher_future:
                    results[running.pop(future)] = future.result()
            if teacher_future.done():
                teacher_future.result()  # a failed teacher stops the run here
        teacher_future.result()
        return [results[j] for j in jobs]


def main() -> None:
    options = parser()
    options.add_argument("--report-only", action="store_true",
                         help="train and record nothing: the table of the runs finished so far (in the ledger or the budget folder)")
    options.add_argument("--ledger", type=Path, default=None, help="the finished runs' results, kept in the repository so that the "
                         "benchmark goes on where it stopped on another machine (default: results/distill_bench_runs.json; "
                         "distill_bench_runs_quick.json with --quick, not committed)")
    args = options.parse_args()
    if args.quick:
        quick(args)
    from mobileseg.data.davis import open_davis2017

    ledger = Ledger(args.ledger or RESULTS / ("distill_bench_runs_quick.json" if args.quick else "distill_bench_runs.json"), args,
                    write=not args.report_only)
    data, copy = prepare(args)
    teacher_out = args.work / "teacher"
    threads = 1 if args.parallel > 1 else 2  # each training process's
    alone = args.teacher_alone == "yes" or (args.teacher_alone == "auto" and args.device == "cpu")
    teacher_threads = max(threads, args.parallel) if alone and args.device == "cpu" else threads

    def key(row: str, seed: int) -> str:
        """The ledger's key of a run's command (paths and threads left out)."""
        return command_digest(student_command(args, data, teacher_out, row, seed, Path("out"), args.steps, threads))

    prefixes = [p.strip() for p in args.rows.split(",") if p.strip()]
    # without --rows: every row but the optional ones, and those of them whose every seed is in the ledger (table only)
    chosen = [row for row in ROWS if row == BASELINE
              or (any(row.startswith(p) for p in prefixes) if prefixes else row not in OPTIONAL_ROWS
                  or all(ledger.run(row, seed, key(row, seed)) for seed in range(args.part_seeds)))]
    jobs = plan(args, chosen)
    teacher_key = command_digest(teacher_command(args, data, teacher_out, args.teacher_steps, threads))
    teacher: dict[str, Any] = {}  # this machine's teacher, once trained: its checkpoint and the hash of its weights

    def train_teacher(todo: list[tuple[str, int]]) -> None:
        """Train (or resume) the teacher if a distilled run of ``todo`` is not in the ledger, and record it; with
        ``--report-only``, only read a finished one."""
        missing = [job for job in todo if ROWS[job[0]][0] not in TEACHERLESS and ledger.run(*job, key(*job)) is None]
        if teacher or not (finished(teacher_out) or (missing and not args.report_only)):
            return
        run(teacher_command(args, data, teacher_out, args.teacher_steps, teacher_threads), teacher_out)
        best = teacher_out / "best.pt"
        teacher.update(best=best, sha=digest(weights(best)))  # a hash of the weights, not of the file
        ledger.add_teacher({"sha": teacher["sha"], "jf": score(best, data), "seconds_per_step": step_seconds(teacher_out, args.batch_size)},
                           teacher_key, teacher_threads)

    def job(row: str, seed: int) -> dict[str, Any] | None:
        recorded = ledger.run(row, seed, key(row, seed))
        if recorded is not None:
            folder = run_folder(args, row, seed)
            if "losses" not in recorded and finished(folder):  # recorded before losses were
                ledger.fill(recorded, losses=final_losses(folder))
            if "objects" not in recorded and (folder / "val_jf.eval.json").is_file():  # before per-object scores were
                ledger.fill(recorded, objects=val_objects(folder))
            return recorded
        distilled = ROWS[row][0] not in TEACHERLESS
        if args.report_only and not finished(run_folder(args, row, seed)):
            return None
        if distilled and not teacher:  # --report-only: the run finished here, its teacher's folder is gone or unfinished
            print(f"{row}, seed {seed}: finished in {run_folder(args, row, seed)} but {teacher_out} is not; left out", flush=True)
            return None
        result = student_job(args, data, teacher["best"] if distilled else None, row, seed)
        return ledger.add_run({**result, "teacher": teacher["sha"] if distilled else None}, key(row, seed), threads)

    runs = [r for r in schedule(args.parallel, jobs, lambda: train_teacher(jobs), job, alone) if r is not None]
    # the top-up's row is picked over every row of TOP_UP_ROWS whichever --rows ran: the others' runs from the ledger
    others = [(row, seed, ledger.run(row, seed, key(row, seed)))
              for row in TOP_UP_ROWS if row not in chosen for seed in range(args.part_seeds)]
    missing = sorted({row for row, _, recorded in others if recorded is None})
    best = None if missing else best_other(summarise(runs + [recorded for _, _, recorded in others if recorded]))
    top_up = args.seeds > args.part_seeds
    if missing and top_up:
        print(f"top-up not picked: it is picked over every row it could top up, and {', '.join(missing)} (not in "
              f"--rows) {'has' if len(missing) == 1 else 'have'} fewer than {args.part_seeds} finished seeds: run "
              f"{'it' if len(missing) == 1 else 'them'} (or every row) first", flush=True)
    elif best is not None and best not in chosen and top_up:
        print(f"top-up: the best other row is {best!r}, not in --rows: its seeds {args.part_seeds}.."
              f"{args.seeds - 1} run when --rows names it", flush=True)
    if best is not None and best in chosen and top_up:
        more = [(best, seed) for seed in range(args.part_seeds, args.seeds)]
        jobs += more
        runs += [r for r in schedule(args.parallel, more, lambda: train_teacher(more), job, alone) if r is not None]
    for entry in runs:
        print(json.dumps(entry), flush=True)
    if not any(r["row"] == BASELINE for r in runs):
        raise SystemExit(f"no run of the {BASELINE!r} row is finished in {args.work} or {ledger.path}: no table to write "
                         "(run without --report-only)")
    result: dict[str, Any] = {"budget": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                              "budget_key": ledger.key, "val_videos": len(open_davis2017(data, "val")), "runs": runs,
                              "rows": summarise(runs), "copy_first_mask": copy, "planned_runs": len(jobs), "best_other": best}
    used = {r["teacher"] for r in runs if r.get("teacher")}
    teachers = [t for t in ledger.teachers(teacher_key) if t["sha"] in used] or ledger.teachers(teacher_key)
    teacher_jf = statistics.mean(t["jf"] for t in teachers) if teachers else None
    result["teacher"] = {"model": args.teacher_model, "jf": teacher_jf, "teachers": teachers,
                         "margin": None if teacher_jf is None else teacher_jf - result["rows"][BASELINE]["mean"]}
    if len(runs) < len(jobs) or args.report_only:  # the runs unfinished, or --report-only (which trains nothing)
        result["cost"], result["cost_host"] = ledger.cost()
    else:
        result["cost"] = cost_pass(args, data, [row for row in ROWS if row in result["rows"]], ledger)
        result["cost_host"] = ledger.host
    plot(result, RESULTS / ("distill_bench_quick.png" if args.quick else "distill_bench.png"))
    publish("distill_bench", result, table(result), quick=args.quick)


if __name__ == "__main__":
    main()
