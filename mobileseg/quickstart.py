"""``mobileseg quickstart``: every stage on a small generated dataset, one table.

The pipeline: generate SynthVOS -> train a small teacher (unbounded memory) -> train a small
two-slot student twice with the same data, steps and seed: without distillation and distilled
from the teacher (MobileVOS) -> export the distilled student to every target whose toolchain is
installed, each verified over a whole video -> segment the val split with the copy-first-mask
baseline, the teacher, both students and each exported file in its runtime -> score with J&F ->
one table (model, params, J&F, file size), the same every run on one machine (training is
deterministic) -> time the teacher, the student and each exported file with ``mobileseg bench``'s
harness early and late in a long video (frames 10 and 500). A second run reuses finished
training runs and exports and resumes killed runs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mobileseg.data.davis import open_davis2017
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.data.synth.generate import MARKER
from mobileseg.eval.predict import aligned_size, predict_dataset
from mobileseg.eval.sources import TrackerSource, artifact_source, baseline_source, checkpoint_source
from mobileseg.utils.fsio import write_json_atomic
from mobileseg.utils.table import format_table

if TYPE_CHECKING:
    from mobileseg.train.config import TrainConfig

log = logging.getLogger(__name__)

PER_OBJECT_ROLE = "student (KD), 1 object/state"
TABLE_COLUMNS = ("model", "role", "params", "J&F", "J", "F", "MB")  # identical run to run on one machine
TIMING_FRAMES = (10, 500)  # the teacher's memory grows along a video; the student's two slots do not
TIMING_COLUMNS = ("model", "role", "format", *(f"ms @ frame {f}" for f in TIMING_FRAMES))  # measured: varies run to run
TIMING_CAPTION = ("ms per frame (p50 of 5 steps) on this host, timed like `mobileseg bench` at frames 10 and 500 of a video: "
                  "the teacher's memory grows with the video, the student's two slots do not. Timings vary run to run.")
CAPTION = ("Each network is one training run with one seed. In the 5-seed ablation (benchmarks/README.md) the val J&F of "
           "one student recipe spread by +-0.078 between seeds, so a difference between the two students smaller than "
           "that is no evidence that distillation helps or hurts. The student rows track the objects of a video with one "
           "joint state, as in training; the '1 object/state' row tracks each object with its own state, as the exported files "
           "(--objects 1, the Android app's export) do, and is the row they reproduce.")


@dataclass(frozen=True)
class Budget:
    """How much the quickstart does: the data, the two networks and their training."""

    data: SynthConfig
    teacher: str
    student: str
    teacher_steps: int
    student_steps: int
    crop: tuple[int, int]
    batch_size: int
    lr: float
    val_every: int
    val_videos: int | None
    crop_scale: str = "cover"
    student_crop: tuple[int, int] | None = None  # the students' crop when it differs from the teacher's


BUDGETS = {
    # ~8 minutes on 2 CPU cores (measured phase by phase: README, "The quickstart's budget")
    "standard": Budget(
        data=SynthConfig(videos=48, frames=20, height=192, width=320, objects=(1, 2), distractors=(1, 2), seed=0, val_fraction=1 / 6),
        teacher="stcn_r50_r18_small", student="mobilevos_r18_mv2_small", teacher_steps=400, student_steps=300,
        crop=(128, 128), batch_size=4, lr=1e-3, val_every=400, val_videos=8, student_crop=(112, 112),
    ),
    # the same pipeline in about a minute: for tests
    "tiny": Budget(
        data=SynthConfig(videos=6, frames=6, height=64, width=96, objects=(1, 2), distractors=(0, 1), seed=0),
        teacher="stcn_r50_r18_tiny", student="mobilevos_r18_mv2_tiny", teacher_steps=4, student_steps=4,
        crop=(48, 64), batch_size=2, lr=1e-3, val_every=4, val_videos=1,
    ),
}


# MobileVOS with the loss scale that benchmarks/distill_ablation.py found to work at small budgets:
# the boundary KL times tau^2 and the representation loss without its 1/N (at the paper's unit
# weights the KL's gradient is ~9x Poly-1's and the student trains worse than without KD)
KD_OPTIONS = {"omega": 0.95, "tau": 0.1, "samples": 256, "logit_weight": 0.01, "repr_weight": 256.0}


@dataclass
class QuickstartResult:
    out: Path
    data: Path
    rows: list[dict[str, object]] = field(default_factory=list)
    timing_rows: list[dict[str, object]] = field(default_factory=list)
    runs: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    def table(self, markdown: bool = False) -> str:
        """J&F and sizes: the same every run on one machine (training is deterministic)."""
        return format_table(self.rows, TABLE_COLUMNS, markdown=markdown)

    def timings(self, markdown: bool = False) -> str:
        """p50 ms of one ``step`` at frames 10 and 500 (``mobileseg bench``'s harness): varies run to run."""
        return format_table(self.timing_rows, TIMING_COLUMNS, digits=1, markdown=markdown)


def _dataset(out: Path, config: SynthConfig) -> Path:
    """Generate the dataset, or reuse one generated earlier with the same settings."""
    data = out / "data" / "synthvos"
    marker = data / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("config") == json.loads(json.dumps(asdict(config))):
        log.info("data: reusing SynthVOS at %s", data)
        return data
    log.info("data: generating SynthVOS (%d videos x %d frames, %dx%d) at %s",
             config.videos, config.frames, config.height, config.width, data)
    return generate_synthvos(data, config, overwrite=True)


def _config(run: Path, model: str, steps: int, data: Path, budget: Budget, crop: tuple[int, int] | None = None,
            **extra: Any) -> "TrainConfig":
    from mobileseg.train.config import TrainConfig

    return TrainConfig(model=model, data=str(data), out=str(run), steps=steps, batch_size=budget.batch_size, lr=budget.lr,
                       crop=crop or budget.crop, crop_scale=budget.crop_scale, val_every=budget.val_every, val_videos=budget.val_videos,
                       save_every=50, **extra)


def _train(role: str, config: "TrainConfig") -> Path:
    """Train (or reuse / resume) one network; returns its best checkpoint."""
    from mobileseg.train.loop import prepare_run, train

    status = prepare_run(config)
    if status == "finished":
        log.info("%s: reusing the finished run in %s", role, config.out)
        return Path(config.out) / "best.pt"
    log.info("%s: %s %s for %d steps", role, "resuming" if status == "resume" else "training", config.model, config.steps)
    return train(config, resume=status == "resume").best


def _row(source: TrackerSource, role: str, val, results: Path, tag: str = "") -> dict[str, object]:  # type: ignore[no-untyped-def]
    folder = results / f"{source.name} {tag}".strip().replace(" ", "-").replace("(", "").replace(")", "")
    run = predict_dataset(source.make, val, folder, size=source.size, multiple=source.multiple, desc=source.name)
    assert run.report is not None
    summary = run.report.summary()
    size = None if source.file_bytes is None else round(source.file_bytes / 1e6, 2)
    return {"model": source.name, "role": role, "params": source.params, "J&F": summary["J&F-Mean"],
            "J": summary["J-Mean"], "F": summary["F-Mean"], "MB": size}


def _timing_row(path: Path, role: str, size: tuple[int, int]) -> dict[str, object]:
    """p50 ms of ``step`` at each of TIMING_FRAMES, timed by ``mobileseg bench``'s harness in this process."""
    import torch

    from mobileseg.bench.host import HostRequest, time_model

    row: dict[str, object] = {"role": role}
    for frame in TIMING_FRAMES:
        entry = time_model(HostRequest(str(path), frames=5, warmup=1, threads=torch.get_num_threads(), size=size, start_frame=frame))
        row.update(model=entry["name"], format=entry["format"])
        row[f"ms @ frame {frame}"] = entry["entries"]["step"]["p50"]
    return row


def _reusable(folder: Path, student: Path, size: tuple[int, int]) -> list[Path] | None:
    """The exported files in ``folder`` when they all come from ``student`` at ``size`` and passed."""
    from mobileseg.export import FORMATS
    from mobileseg.errors import MobilesegError
    from mobileseg.export.contract import load_contract, sha256

    wanted = [FORMATS.get(name) for name in FORMATS.names() if not FORMATS.get(name).missing()]
    try:
        contracts = [load_contract(folder / f"student{fmt.suffix}") for fmt in wanted]
    except MobilesegError:
        return None
    digest = sha256(student)
    if all(c.data["model"]["checkpoint_sha256"] == digest and c.size == size and c.data["parity"].get("passed") for c in contracts):
        return [folder / f"student{fmt.suffix}" for fmt, c in zip(wanted, contracts) if c.data["parity"]["kind"] == "video"]
    return None


def _export(out: Path, student: Path, size: tuple[int, int]) -> list[Path]:
    """Export the student to every installed target at the val size; returns the runnable files."""
    from mobileseg.export.pipeline import ExportRequest, export_checkpoint

    folder = out / "export"
    reused = _reusable(folder, student, size)
    if reused is not None:
        log.info("export: reusing the verified files in %s", folder)
        return reused
    log.info("export: the student to every installed target, each checked over a whole video")
    results = export_checkpoint(ExportRequest(checkpoint=student, targets=["all"], out=folder, size=size))
    return [r.artifact for r in results if r.parity.get("kind") == "video"]


def run_quickstart(out: str | os.PathLike[str], budget: str = "standard") -> QuickstartResult:
    """Run the pipeline into ``out`` with one of BUDGETS; returns the table rows and where things are."""
    began = time.perf_counter()
    plan = BUDGETS[budget]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = _dataset(out, plan.data)
    result = QuickstartResult(out=out, data=data)
    runs = out / "runs"
    result.runs["teacher"] = _train("teacher", _config(runs / "teacher", plan.teacher, plan.teacher_steps, data, plan))
    # the two students differ only in the distillation (same data, steps, Poly-1 loss and seed)
    student = dict(model=plan.student, steps=plan.student_steps, data=data, budget=plan, poly_epsilon=1.0, crop=plan.student_crop or plan.crop)
    result.runs["student (no KD)"] = _train("student (no KD)", _config(runs / "student-nokd", distiller="none", **student))  # type: ignore[arg-type]
    result.runs["student (KD)"] = _train("student (KD)", _config(runs / "student-kd", distiller="mobilevos", teacher=str(result.runs["teacher"]),
                                                                   distill_options=KD_OPTIONS, **student))  # type: ignore[arg-type]
    val = open_davis2017(data, split="val")
    artifacts = _export(out, result.runs["student (KD)"], aligned_size(val[0].size(), 16))
    log.info("evaluating on %d val videos", len(val))
    results = out / "results"
    result.rows.append(_row(baseline_source(), "baseline", val, results))
    for role in ("teacher", "student (no KD)", "student (KD)"):
        result.rows.append(_row(checkpoint_source(result.runs[role]), role, val, results, tag=role))
    # the exported files take one object per state (the app's export); the checkpoint tracked that way is what they reproduce
    result.rows.append(_row(checkpoint_source(result.runs["student (KD)"], objects=1), PER_OBJECT_ROLE, val, results, tag="student (KD)"))
    for artifact in artifacts:
        result.rows.append(_row(artifact_source(artifact), "exported student (KD)", val, results))
    size = aligned_size(val[0].size(), 16)
    log.info("timing the teacher and the student at frames %s of a video (mobileseg bench's harness)", " and ".join(map(str, TIMING_FRAMES)))
    for role, path in [("teacher", result.runs["teacher"]), ("student (KD)", result.runs["student (KD)"]),
                       *[("exported student (KD)", a) for a in artifacts]]:
        result.timing_rows.append(_timing_row(path, role, size))
    result.seconds = time.perf_counter() - began
    write_json_atomic(out / "summary.json", {"budget": budget, "data": str(data), "runs": {k: str(v) for k, v in result.runs.items()},
                                             "rows": result.rows, "timings": result.timing_rows, "seconds": result.seconds})
    (out / "summary.md").write_text(f"{result.table(markdown=True)}\n\n{CAPTION}\n\n{TIMING_CAPTION}\n\n{result.timings(markdown=True)}\n")
    return result
