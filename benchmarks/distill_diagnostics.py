"""Why does (or doesn't) distillation move the student? Loss scales, gradient shares, teacher quality.

    .venv/bin/python benchmarks/distill_diagnostics.py                    # on the ablation's runs
    .venv/bin/python benchmarks/distill_diagnostics.py --work DIR --batches 16

Run after ``benchmarks/distill_ablation.py`` (it reuses that script's teacher, data and the
``none`` students). On the same training batches it measures, for a freshly initialised student
and for a trained no-KD student:

- the value of each loss term (Poly-1 ``seg``, ``repr``, ``logit_kd``) and the norm of its
  gradient on the student's shared weights (everything but the embedding head, which only the
  representation loss reaches): how much each term would steer training;
- the teacher's and the student's pixel error, overall and at boundary pixels of the ground
  truth (dilation 1), where the logit distillation acts: how much the teacher has to teach.

Writes ``benchmarks/results/distill_diagnostics.json`` and a table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from mobileseg.checkpoint import load_checkpoint, model_from_checkpoint  # noqa: E402
from mobileseg.data.clips import IGNORE_INDEX, ClipDataset  # noqa: E402
from mobileseg.data.davis import open_davis2017  # noqa: E402
from mobileseg.distill.losses import boundary_map  # noqa: E402
from mobileseg.models import build_model  # noqa: E402
from mobileseg.train.config import TrainConfig  # noqa: E402
from mobileseg.train.objective import Objective  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("runs/distill_ablation"), help="the ablation's --work folder")
    parser.add_argument("--batches", type=int, default=12, help="training batches to average over")
    return parser.parse_args()


def errors(class_logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Pixel error of ``class_logits [B, T-1, C, H, W]`` against ``labels [B, T, H, W]``: all, boundary."""
    target = labels[:, 1:].flatten(0, 1)
    wrong = class_logits.flatten(0, 1).argmax(1) != target
    valid = target != IGNORE_INDEX
    edge = boundary_map(target.clamp(min=0), dilation=1) & valid
    return float(wrong[valid].float().mean()), float(wrong[edge].float().mean())


def measure(student: torch.nn.Module, objective: Objective, teacher_runner: Any, batches: list[dict[str, torch.Tensor]]) -> dict[str, float]:
    runner = objective.runner(student, torch.device("cpu"))
    runner.teacher = teacher_runner
    shared = [p for name, p in student.named_parameters() if not name.startswith("embed.")]
    records: list[dict[str, float]] = []
    student.train()
    for step, batch in enumerate(batches):
        outputs = runner(batch["frames"], batch["masks"], batch["selector"])
        losses = objective(outputs, batch, step, 0)
        record = {name: float(value.detach()) for name, value in losses.items()}
        for name in ("seg", "repr", "logit_kd"):
            grads = torch.autograd.grad(losses[name], shared, retain_graph=True, allow_unused=True)
            record[f"grad_{name}"] = float(torch.sqrt(sum((g.pow(2).sum() for g in grads if g is not None), torch.zeros(()))))
        record["student_err"], record["student_edge_err"] = errors(outputs[0].class_logits.detach(), batch["labels"])
        record["teacher_err"], record["teacher_edge_err"] = errors(outputs[1].class_logits, batch["labels"])
        records.append(record)
    return {key: statistics.mean(r[key] for r in records) for key in records[0]}


def main() -> None:
    args = arguments()
    torch.manual_seed(0)
    teacher_best, student_run = args.work / "teacher" / "best.pt", args.work / "none-none-s0"
    for path in (teacher_best, student_run / "best.pt"):
        if not path.is_file():
            sys.exit(f"{path} is missing: run benchmarks/distill_ablation.py --work {args.work} first")
    stored = load_checkpoint(student_run / "best.pt")["train"]["config"]
    config = TrainConfig.from_dict(stored)
    config.distiller, config.teacher, config.distill_options = "mobilevos", str(teacher_best), {"omega": 0.95}
    objective = Objective(config)
    clips = ClipDataset(open_davis2017(config.data, config.train_split), config.clip_config(), seed=123)
    loader = torch.utils.data.DataLoader(clips, batch_size=config.batch_size)
    batches = [b for _, b in zip(range(args.batches), loader)]
    teacher_runner = objective.runner(build_model(config.model), torch.device("cpu")).teacher
    trained, _ = model_from_checkpoint(student_run / "best.pt")
    result: dict[str, Any] = {"teacher": str(teacher_best), "student": config.model, "batches": args.batches, "rows": {
        "student at initialisation": measure(build_model(config.model), objective, teacher_runner, batches),
        "student trained without KD": measure(trained, objective, teacher_runner, batches),
    }}
    publish("distill_diagnostics", result, table(result))


def table(result: dict[str, Any]) -> str:
    lines = [f"Mean over {result['batches']} training batches (omega 0.95, tau 0.1, 256 boundary samples, weights 1). "
             "`|g|`: gradient norm of the term on the student's shared weights; errors: pixel error of the argmax, "
             "all pixels / ground-truth boundary pixels.", "",
             "| student | seg | repr | logit_kd | \\|g\\| seg | \\|g\\| repr | \\|g\\| logit_kd | student err (all / edge) | teacher err (all / edge) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['seg']:.4f} | {r['repr']:.4f} | {r['logit_kd']:.4f} | {r['grad_seg']:.3g} | {r['grad_repr']:.3g} | "
                     f"{r['grad_logit_kd']:.3g} | {r['student_err']:.3f} / {r['student_edge_err']:.3f} | "
                     f"{r['teacher_err']:.3f} / {r['teacher_edge_err']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
