"""Student vs teacher: parameters, GFLOPs per frame and eager per-frame latency on this host.

    .venv/bin/python benchmarks/models.py            # full size, 480x864 (a few minutes on 2 cores)
    .venv/bin/python benchmarks/models.py --quick    # 240x432, fewer repeats

The teacher's memory grows (first frame + every 5th frame + the previous frame), so its cost is measured at frames
10, 100 and 500 of a video by giving ``step`` a memory of the size it has at that frame
(random keys and values of the right shape: the cost depends on the shape only). The student's
memory is two fixed slots, so its cost is the same at every frame; it is measured at the same
frames to show it. Both run side by side in one process; ratios are student / teacher.
Writes benchmarks/results/models.json and the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from mobileseg.models import build_model, count_parameters  # noqa: E402
from mobileseg.utils.timing import median_ms  # noqa: E402

FRAMES = (10, 100, 500)


def teacher_state(model: torch.nn.Module, frame: torch.Tensor, at: int) -> tuple[torch.Tensor, ...]:
    """The teacher's state at frame ``at``: 1 + at // memory_every permanent entries (+ the last frame with include_last)."""
    mem_key, mem_value, *_ = model.init(frame, torch.ones(1, 1, *frame.shape[-2:]))
    entries = 1 + at // model.memory_every
    keys = torch.randn(1, entries, *mem_key.shape[2:])
    values = torch.randn(mem_value.shape[0], entries, *mem_value.shape[2:])
    last = slice(0, 1) if model.include_last else slice(0, 0)
    last_key, last_value = keys[:, last].clone(), values[:, last].clone()
    index = at if (at + 1) % model.memory_every else at + 1  # the timed step writes the temporary entry only
    return keys, values, torch.tensor(index), last_key, last_value


def time_step(model: torch.nn.Module, frame: torch.Tensor, state: tuple[torch.Tensor, ...], repeats: int) -> float:
    """Median milliseconds of one ``step`` (after one warm-up call)."""
    return median_ms(lambda: model.step(frame, *state), repeats, warmup=1)


def gflops(model: torch.nn.Module, frame: torch.Tensor, state: tuple[torch.Tensor, ...]) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        model.step(frame, *state)
    return counter.get_total_flops() / 1e9


@torch.inference_mode()
def measure(size: tuple[int, int], repeats: int) -> dict[str, object]:
    torch.manual_seed(0)
    frame = torch.rand(1, 3, *size)
    student = build_model("mobilevos_r18_mv2").eval()
    teacher = build_model("stcn_r50_r18").eval()
    rows = []
    for at in FRAMES:
        s_state = student.init(frame, torch.ones(1, 1, *size))
        t_state = teacher_state(teacher, frame, at)
        row = {
            "frame": at,
            "teacher_memory_entries": int(t_state[0].shape[1] + t_state[3].shape[1]),
            "student_ms": time_step(student, frame, s_state, repeats),
            "teacher_ms": time_step(teacher, frame, t_state, max(1, repeats // (1 + at // 100))),
            "student_gflops": gflops(student, frame, s_state),
            "teacher_gflops": gflops(teacher, frame, t_state),
        }
        row["latency_ratio"] = row["student_ms"] / row["teacher_ms"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {
        "size": list(size),
        "host": {"machine": platform.machine(), "processor": platform.processor() or "unknown", "threads": torch.get_num_threads(),
                 "torch": torch.__version__},
        "student": {"model": "mobilevos_r18_mv2", "params": count_parameters(student)},
        "teacher": {"model": "stcn_r50_r18", "params": count_parameters(teacher), "memory_every": teacher.memory_every},
        "rows": rows,
    }


def table(result: dict[str, object]) -> str:
    s, t = result["student"], result["teacher"]  # type: ignore[index]
    size = "x".join(str(v) for v in result["size"])  # type: ignore[index]
    lines = [
        f"Eager PyTorch on this host ({result['host']['threads']} threads), one object, {size} input.",  # type: ignore[index]
        f"Student `{s['model']}`: {s['params'] / 1e6:.2f} M parameters; teacher `{t['model']}`: {t['params'] / 1e6:.2f} M "
        f"(student/teacher = {s['params'] / t['params']:.3f}).",
        "",
        "| frame | teacher memory entries | student ms | teacher ms | student/teacher latency | student GFLOPs | teacher GFLOPs |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result["rows"]:  # type: ignore[union-attr]
        lines.append(f"| {row['frame']} | {row['teacher_memory_entries']} | {row['student_ms']:.0f} | {row['teacher_ms']:.0f} | "
                     f"{row['latency_ratio']:.3f} | {row['student_gflops']:.1f} | {row['teacher_gflops']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="240x432 and fewer repeats (a smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = (240, 432) if args.quick else (480, 864)
    result = measure(size, 2 if args.quick else args.repeats)
    print(f"wrote {publish('models', result, table(result), quick=args.quick)}")


if __name__ == "__main__":
    main()
