"""``mobileseg quickstart``: every stage on a small generated dataset, one table.

The pipeline: generate SynthVOS -> train a small teacher (unbounded memory) -> train a small
two-slot student twice with the same data, steps and seed: without distillation and distilled
from the teacher (MobileVOS) -> export the distilled student to every target whose toolchain is
installed, each verified over a whole video (two at a time, in worker processes; a target that
fails its check becomes a "failed: <reason>" row and the rest goes on) -> segment the val split with the copy-first-mask
baseline, the teacher, both students and each exported file in its runtime -> score with J&F ->
one table (model, params, J&F, file size), the same every run on one machine (training is
deterministic) -> time the teacher, the student and each exported file with ``mobileseg bench``'s
harness early and late in a long video (frames 10 and 500). A second run reuses finished
training runs and each verified export, and resumes killed runs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mobileseg.artifact.contract import load_contract, sha256
from mobileseg.bench.host import HostRequest, time_model
from mobileseg.data.davis import open_davis2017
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.data.synth.generate import MARKER as DATA_MARKER
from mobileseg.errors import MobilesegError
from mobileseg.eval.predict import aligned_size, predict_dataset
from mobileseg.export.pipeline import ExportRequest, export_checkpoint, resolve_targets
from mobileseg.sources import artifact_source, baseline_source, checkpoint_source
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import prepare_run, train
from mobileseg.utils.fsio import write_bytes_atomic, write_json_atomic
from mobileseg.utils.owned import MARKER as OUTPUT_MARKER
from mobileseg.utils.owned import claim_output, foreign_entries, mark_output, read_marker
from mobileseg.utils.table import format_table
from mobileseg.utils.timing import Stopwatch

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from mobileseg.export.formats import ExportFormat

log = logging.getLogger(__name__)

PER_OBJECT_ROLE = "student (KD), 1 object/state"
TABLE_COLUMNS = ("model", "role", "params", "J&F", "J", "F", "MB", "note")  # identical run to run on one machine
TIMING_FRAMES = (10, 500)  # the teacher's memory grows along a video; the student's two slots do not
TIMING_COLUMNS = ("model", "role", "format", *(f"ms @ frame {f}" for f in TIMING_FRAMES))  # measured: varies run to run
TIMING_CAPTION = ("ms per frame (p50 of 5 steps) on this host, timed like `mobileseg bench` at frames 10 and 500 of a video: "
                  "the teacher's memory grows with the video, the student's two slots do not. Timings vary run to run.")
CAPTION = ("copy-first-mask repeats the first frame's masks on every frame: a network at or below it does not track. The "
           "students ({student_steps} steps from scratch) should beat it and the teacher (more capacity, unbounded memory, "
           "{teacher_steps} steps) should beat them. Each network is one training run with one seed; over seeds and thread "
           "counts the students moved by about 0.1 (benchmarks/README.md, 'quickstart_budget'), so a difference between the "
           "two students that small says nothing about distillation. The student rows track the objects of a video with one "
           "joint state, as in training; the '1 object/state' row tracks each object with its own state, as the exported "
           "files (--objects 1, the Android app's export) do, and is the row they reproduce.")


@dataclass(frozen=True)
class Budget:
    """How much the quickstart does: the data, the two networks and their training (every run with Poly-1)."""

    data: SynthConfig
    teacher: str
    student: str
    teacher_steps: int
    student_steps: int
    crop: tuple[int, int]
    batch_size: int
    teacher_lr: float
    student_lr: float
    val_every: int  # 0: no validation during training (the table scores every network on the val split anyway)
    val_videos: int | None
    crop_scale: str = "native"
    workers: int = 2  # exports and J&F rows run this many at a time in worker processes (1: one after the other, here)


BUDGETS = {
    # ~10 minutes on 2 CPU cores (measured phase by phase: README, top). Small frames without look-alike distractors,
    # and 96x96 crops at the frames' own scale: the students track within a few hundred steps; the teacher, which
    # learns more slowly per step from scratch, trains 800 at a lower learning rate (after 600 a seed's distilled
    # student passed it; benchmarks/README.md, "quickstart_budget", has the search)
    "standard": Budget(
        data=SynthConfig(videos=64, frames=20, height=128, width=224, objects=(1, 2), distractors=(0, 0), seed=0, val_fraction=0.25),
        teacher="stcn_r50_r18_small", student="mobilevos_r18_mv2_small", teacher_steps=800, student_steps=300,
        crop=(96, 96), batch_size=4, teacher_lr=5e-4, student_lr=1e-3, val_every=0, val_videos=None,
    ),
    # the same pipeline in about a minute: for tests
    "tiny": Budget(
        data=SynthConfig(videos=6, frames=6, height=64, width=96, objects=(1, 2), distractors=(0, 1), seed=0),
        teacher="stcn_r50_r18_tiny", student="mobilevos_r18_mv2_tiny", teacher_steps=4, student_steps=4,
        crop=(48, 64), batch_size=2, teacher_lr=1e-3, student_lr=1e-3, val_every=4, val_videos=1, crop_scale="cover",
    ),
}


# MobileVOS with the boundary KL times tau^2 (Hinton's convention; at the paper's unit weight its gradient is ~9x
# Poly-1's, benchmarks/distill_diagnostics.py) and the representation loss times 64 instead of the paper's 1/N: at x256
# (benchmarks/distill_ablation.py's choice) that term was 0.4-0.7 against Poly-1's 0.2-0.3 here and cost the student
# 0.07 J&F; x16 and x64 cost less (benchmarks/README.md, "quickstart_budget")
KD_OPTIONS = {"omega": 0.95, "tau": 0.1, "samples": 256, "logit_weight": 0.01, "repr_weight": 64.0}


def caption(budget: str) -> str:
    """The J&F table's caption, with ``budget``'s training steps."""
    plan = BUDGETS[budget]
    return CAPTION.format(student_steps=plan.student_steps, teacher_steps=plan.teacher_steps)


@dataclass(frozen=True)
class TargetOutcome:
    """One export target of the quickstart: its verified file, or why it failed."""

    target: str
    artifact: Path | None = None  # None when it failed
    failure: str | None = None  # the export's error message
    runnable: bool = True  # False: no runtime on this OS (Core ML), so no J&F row

    def row(self, model: str) -> dict[str, object]:
        """The table row of a failed target: the reason up to its first sentence, the whole message in summary.json."""
        reason = (self.failure or "").split(". ")[0]
        return {"model": f"{model} ({self.target})", "role": "exported student (KD)", "note": f"failed: {reason}",
                "error": self.failure}


@dataclass
class QuickstartResult:
    out: Path
    data: Path
    rows: list[dict[str, object]] = field(default_factory=list)
    timing_rows: list[dict[str, object]] = field(default_factory=list)
    runs: dict[str, Path] = field(default_factory=dict)
    exports: list[TargetOutcome] = field(default_factory=list)
    size: tuple[int, int] = (0, 0)  # the val videos' size, which the files were exported at
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per stage of this run (a reused stage takes ~0)

    @property
    def runnable_files(self) -> list[Path]:
        """The exported files that passed and run here (every target but Core ML on Linux)."""
        return [o.artifact for o in self.exports if o.artifact is not None and o.runnable]

    @property
    def failures(self) -> list[TargetOutcome]:
        return [o for o in self.exports if o.failure is not None]

    def failure_line(self) -> str | None:
        """One line naming the targets that failed, or None when every one passed."""
        if not self.failures:
            return None
        names = ", ".join(o.target for o in self.failures)
        return (f"the quickstart finished, but {len(self.failures)} of {len(self.exports)} export targets failed their check "
                f"({names}): see the table, the log above and {self.out / 'summary.json'} ('failed').")

    def table(self, markdown: bool = False) -> str:
        """J&F and sizes: the same every run on one machine (training is deterministic)."""
        return format_table(self.rows, TABLE_COLUMNS, markdown=markdown)

    def timings(self, markdown: bool = False) -> str:
        """p50 ms of one ``step`` at frames 10 and 500 (``mobileseg bench``'s harness): varies run to run."""
        return format_table(self.timing_rows, TIMING_COLUMNS, digits=1, markdown=markdown)


def _dataset(out: Path, config: SynthConfig) -> Path:
    """Generate the dataset, or reuse one generated earlier with the same settings."""
    data = out / "data" / "synthvos"
    marker = data / DATA_MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("config") == json.loads(json.dumps(asdict(config))):
        log.info("data: reusing SynthVOS at %s", data)
        return data
    log.info("data: generating SynthVOS (%d videos x %d frames, %dx%d) at %s",
             config.videos, config.frames, config.height, config.width, data)
    return generate_synthvos(data, config, overwrite=True)


def _config(run: Path, model: str, steps: int, lr: float, data: Path, budget: Budget, seed: int, threads: int | None,
            **extra: Any) -> TrainConfig:

    return TrainConfig(model=model, data=str(data), out=str(run), steps=steps, batch_size=budget.batch_size, lr=lr, crop=budget.crop,
                       crop_scale=budget.crop_scale, val_every=budget.val_every, val_videos=budget.val_videos, poly_epsilon=1.0,
                       seed=seed, threads=threads, save_every=100, **extra)


def _train_job(role: str, config: TrainConfig, level: int, worker: bool) -> Path:
    """:func:`_train`, in a worker process when ``worker``: its log lines prefixed with the role and no
    progress bar (two runs share the terminal)."""
    if not worker:
        return _train(role, config)
    os.environ["MOBILESEG_PROGRESS"] = "never"
    logging.basicConfig(format=f"{role}: %(message)s", level=level, force=True)
    try:
        return _train(role, config)
    finally:  # the worker goes on with exports and J&F rows, which this process reports itself
        logging.basicConfig(format="%(message)s", level=logging.WARNING, force=True)


def _train(role: str, config: TrainConfig) -> Path:
    """Train (or reuse / resume) one network; returns its best checkpoint."""

    status = prepare_run(config, "quickstart")
    if status == "finished":
        log.info("%s: reusing the finished run in %s", role, config.out)
        return Path(config.out) / "best.pt"
    log.info("%s: %s %s for %d steps", role, "resuming" if status == "resume" else "training", config.model, config.steps)
    return train(config, resume=status == "resume").best


@dataclass(frozen=True)
class RowJob:
    """One J&F row of the table, as plain data (it may be scored in a worker process)."""

    kind: str  # "baseline", "checkpoint" or "artifact"
    role: str
    path: Path | None = None
    tag: str = ""
    objects: int | None = None  # checkpoint: objects per state (None: all of a video's, jointly)
    threads: int = 2  # artifact: runtime threads


def _score(job: RowJob, data: Path, results: Path) -> dict[str, object]:
    """Track the val videos with ``job``'s tracker, write the masks under ``results`` and score them."""
    if job.kind == "baseline":
        source = baseline_source()
    else:
        assert job.path is not None  # checkpoint and artifact jobs name their file
        source = checkpoint_source(job.path, objects=job.objects) if job.kind == "checkpoint" else artifact_source(job.path, job.threads)
    folder = results / f"{source.name} {job.tag}".strip().replace(" ", "-").replace("(", "").replace(")", "")
    run = predict_dataset(source.make, open_davis2017(data, split="val"), folder, size=source.size, multiple=source.multiple, desc=source.name,
                          overwrite=True)  # inside the quickstart's own folder (claimed in run_quickstart)
    assert run.report is not None
    summary = run.report.summary()
    size = None if source.file_bytes is None else round(source.file_bytes / 1e6, 2)
    return {"model": source.name, "role": job.role, "params": source.params, "J&F": summary["J&F-Mean"],
            "J": summary["J-Mean"], "F": summary["F-Mean"], "MB": size}


def _timing_row(path: Path, role: str, size: tuple[int, int]) -> dict[str, object]:
    """p50 ms of ``step`` at each of TIMING_FRAMES, timed by ``mobileseg bench``'s harness in this process."""


    row: dict[str, object] = {"role": role}
    for frame in TIMING_FRAMES:
        entry = time_model(HostRequest(str(path), frames=5, warmup=1, threads=torch.get_num_threads(), size=size, start_frame=frame))
        row.update(model=entry["name"], format=entry["format"])
        row[f"ms @ frame {frame}"] = entry["entries"]["step"]["p50"]
    return row


def _reusable(folder: Path, fmt: ExportFormat, digest: str, size: tuple[int, int]) -> Path | None:
    """``fmt``'s exported file in ``folder`` when it comes from the checkpoint with sha256 ``digest`` at ``size`` and passed its check."""

    try:
        contract = load_contract(folder / f"student{fmt.suffix}")
    except MobilesegError:
        return None
    if contract.data["model"]["checkpoint_sha256"] == digest and contract.size == size and contract.data["parity"].get("passed"):
        return folder / f"student{fmt.suffix}"
    return None


def _export_target(student: Path, target: str, folder: Path, size: tuple[int, int], threads: int) -> dict[str, Any]:
    """Export ``student`` to one target, verified over a whole video; the outcome as plain data (it may run in a worker process)."""

    try:
        [result] = export_checkpoint(ExportRequest(checkpoint=student, targets=[target], out=folder, size=size, threads=threads,
                                                   overwrite=True))  # inside the quickstart's own folder
    except MobilesegError as exc:
        return {"target": target, "failure": str(exc)}
    check = result.parity.get("summary", "spec check passed")
    return {"target": target, "artifact": result.artifact,
            "line": f"{target}: {result.artifact} ({result.bytes / 1e6:.2f} MB) in {result.seconds:.1f} s; {check}"}


def _one_thread() -> None:
    """A worker process's initialiser: the workers share the cores (conversions are mostly one thread anyway)."""

    torch.set_num_threads(1)


def _map(pool: Executor | None, function: Callable[..., Any], jobs: list[tuple[Any, ...]]) -> list[Any]:
    """``function(*job)`` for every job, in ``pool``'s worker processes, or here without one; in order."""
    if pool is None:
        return [function(*job) for job in jobs]
    return list(pool.map(function, *zip(*jobs))) if jobs else []


def _submit(pool: Executor | None, function: Callable[..., Any], *args: Any) -> Future[Any]:
    """``function(*args)`` queued in ``pool``, or run here at once without one."""

    if pool is not None:
        return pool.submit(function, *args)
    done: Future[Any] = Future()
    done.set_result(function(*args))
    return done


@contextlib.contextmanager
def _workers(count: int) -> Iterator[Executor | None]:
    """``count`` worker processes (spawned: torch's thread pools do not survive a fork), or None for 1."""
    if count <= 1:
        yield None
        return

    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as pool:
        yield pool


# the slowest conversions first, so that two workers finish together (ExecuTorch and TFLite take ~50 s here, Core ML
# ~20 s, ONNX ~15 s); formats not named keep their registry order after these
EXPORT_ORDER = ("executorch", "tflite", "coreml", "onnx")


def _evaluate(result: QuickstartResult, plan: Budget, pool: Executor | None, runtime_threads: int) -> None:
    """Export the distilled student to every installed target at the val size and score every row of the
    table on the val split, in one queue (in ``pool``'s workers when given): the exports first, slowest
    first, then the checkpoints' rows, and each exported file's row as soon as its export passed. A
    target that fails its check is reported and the others go on; a verified file from an earlier run is reused."""

    val = open_davis2017(result.data, split="val")
    result.size = aligned_size(val[0].size(), 16)
    student, folder, results = result.runs["student (KD)"], result.out / "export", result.out / "results"
    formats = resolve_targets(["all"])
    digest = sha256(student)
    done: dict[str, dict[str, Any]] = {}
    for fmt in formats:
        reused = _reusable(folder, fmt, digest, result.size)
        if reused is not None:
            log.info("export: %s: reusing the verified %s", fmt.name, reused)
            done[fmt.name] = {"target": fmt.name, "artifact": reused}
    todo = sorted((fmt.name for fmt in formats if fmt.name not in done),
                  key=lambda name: EXPORT_ORDER.index(name) if name in EXPORT_ORDER else len(EXPORT_ORDER))
    if todo:
        log.info("export: the student to %s, each checked over a whole video", ", ".join(todo))
    exporting = {name: _submit(pool, _export_target, student, name, folder, result.size, runtime_threads) for name in todo}
    log.info("evaluating on %d val videos", len(val))
    # the exported files take one object per state (the app's export); the checkpoint tracked that way is what they reproduce
    jobs = [RowJob("baseline", "baseline"),
            *[RowJob("checkpoint", role, result.runs[role], tag=role) for role in ("teacher", "student (no KD)", "student (KD)")],
            RowJob("checkpoint", PER_OBJECT_ROLE, result.runs["student (KD)"], tag="student (KD)", objects=1)]
    scoring = [_submit(pool, _score, job, result.data, results) for job in jobs]
    runnable = {fmt.name: fmt.runtime is not None for fmt in formats}  # Core ML has no runtime on Linux
    file_rows: dict[str, Future[Any]] = {}

    def score_file(target: str) -> None:
        artifact = done[target].get("artifact")
        if artifact is not None and runnable[target]:
            job = RowJob("artifact", "exported student (KD)", artifact, threads=1 if pool else runtime_threads)
            file_rows[target] = _submit(pool, _score, job, result.data, results)

    for target in done:
        score_file(target)
    for target, future in exporting.items():
        outcome = future.result()
        if "failure" in outcome:
            log.error("export: %s failed: %s", target, outcome["failure"])
        else:
            log.info("export: %s", outcome["line"])
        done[target] = outcome
        score_file(target)
    result.exports = [TargetOutcome(fmt.name, done[fmt.name].get("artifact"), done[fmt.name].get("failure"), runnable[fmt.name])
                      for fmt in formats]
    result.rows = [future.result() for future in scoring]
    result.rows += [file_rows[fmt.name].result() for fmt in formats if fmt.name in file_rows]
    result.rows.extend(o.row(plan.student) for o in result.failures)


class _PhaseClock:
    """Records the seconds since the previous call (or since ``began``) under each stage's name."""

    def __init__(self, phases: dict[str, float], began: Stopwatch) -> None:
        self.phases, self.began, self.last = phases, began, 0.0

    def __call__(self, name: str) -> None:
        now = self.began.elapsed()
        self.phases[name] = round(now - self.last, 1)
        self.last = now


KIND = "quickstart"  # the marker kind of the quickstart's --out (mobileseg.utils.owned)
ENTRIES = frozenset({"data", "runs", "export", "results", "summary.json", "summary.md"})  # everything it writes there


def _claim(out: Path, overwrite: bool) -> Path:
    """The quickstart's folder: new, empty, its own, or (``overwrite``) the user's consent. A folder an
    earlier mobileseg's quickstart wrote (before folders were marked) holds only its entries and its summary."""

    if out.is_dir() and read_marker(out) is None:
        entries = set(foreign_entries(out))
        if entries and entries <= ENTRIES and "summary.json" in entries and "data" in entries:
            log.info("%s: a quickstart folder written before %s markers; reusing it", out, OUTPUT_MARKER)
            return mark_output(out, KIND)
    return claim_output(out, KIND, overwrite=overwrite)


def run_quickstart(out: str | os.PathLike[str], budget: str = "standard", seed: int = 0, threads: int | None = None,
                   workers: int | None = None, overwrite: bool = False) -> QuickstartResult:
    """Run the pipeline into ``out`` with one of BUDGETS; returns the table rows and where things are.

    ``seed`` seeds the training runs (the data is always the same); ``threads``: the teacher's
    training threads, the runtimes' and the timings' (None: torch's default; the students train on
    one thread each); ``workers``: processes for the students, exports and J&F rows (None: the budget's).
    """
    began = Stopwatch()
    plan = BUDGETS[budget]
    out = _claim(Path(out), overwrite)
    data = _dataset(out, plan.data)
    result = QuickstartResult(out=out, data=data)
    phase = _PhaseClock(result.phases, began)
    phase("data")
    runs = out / "runs"
    common: dict[str, Any] = dict(data=data, budget=plan, seed=seed)
    # the students train on one thread each, side by side in two worker processes (small convolutions gain little
    # from a second thread: two runs at once get ~1.4x the work done); the teacher before them on every thread
    student: dict[str, Any] = dict(model=plan.student, steps=plan.student_steps, lr=plan.student_lr, threads=1, **common)
    with _workers(plan.workers if workers is None else workers) as pool:
        result.runs["teacher"] = _train("teacher", _config(runs / "teacher", plan.teacher, plan.teacher_steps, plan.teacher_lr,
                                                           threads=threads, **common))
        phase("teacher")
        # the two students differ only in the distillation (same data, steps, Poly-1 loss, seed and threads)
        jobs = [("student (no KD)", _config(runs / "student-nokd", distiller="none", **student)),
                ("student (KD)", _config(runs / "student-kd", distiller="mobilevos", teacher=str(result.runs["teacher"]),
                                         distill_options=KD_OPTIONS, **student))]
        level = logging.getLogger().getEffectiveLevel()
        for (role, _), best in zip(jobs, _map(pool, _train_job, [(role, config, level, pool is not None) for role, config in jobs])):
            result.runs[role] = best
        phase("students")
        _evaluate(result, plan, pool, threads or 2)
    phase("export and evaluation")
    log.info("timing the teacher and the student at frames %s of a video (mobileseg bench's harness)", " and ".join(map(str, TIMING_FRAMES)))
    for role, path in [("teacher", result.runs["teacher"]), ("student (KD)", result.runs["student (KD)"]),
                       *[("exported student (KD)", a) for a in result.runnable_files]]:
        result.timing_rows.append(_timing_row(path, role, result.size))
    phase("timing")
    result.seconds = began.elapsed()
    write_json_atomic(out / "summary.json", {"budget": budget, "data": str(data), "runs": {k: str(v) for k, v in result.runs.items()},
                                             "rows": result.rows, "timings": result.timing_rows, "seconds": result.seconds,
                                             "phase_seconds": result.phases, "seed": seed, "threads": threads,
                                             "workers": plan.workers if workers is None else workers,
                                             "failed": {o.target: o.failure for o in result.failures}})
    write_bytes_atomic(out / "summary.md", f"{result.table(markdown=True)}\n\n{caption(budget)}\n\n{TIMING_CAPTION}\n\n"
                                           f"{result.timings(markdown=True)}\n".encode())
    return result
