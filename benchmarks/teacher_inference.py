"""Teacher inference as STCN evaluates (top-k 20 readout, no temporary last-frame entry) against the
full-softmax readout and the temporary entry: J&F on SynthVOS val and ms per frame at frames 10 and 500.

The teacher is the quickstart's (``stcn_r50_r18_small``, 800 steps on its SynthVOS): run
``mobileseg quickstart`` first, or pass ``--teacher``/``--data``. Each setting is the same weights
with other tracker options (``model_kwargs``: ``top_k``, ``include_last``), written as a checkpoint
under ``--work``; J&F tracks the val videos jointly per start frame (as ``mobileseg eval``); the
timings are ``mobileseg bench``'s host harness (its memory grown to the frame's size), all settings
in one run, side by side.

    .venv/bin/python benchmarks/teacher_inference.py                  # after `mobileseg quickstart`

Writes ``benchmarks/results/teacher_inference.json`` and the table in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import publish  # noqa: E402
from mobileseg.bench.host import HostRequest, time_model  # noqa: E402
from mobileseg.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from mobileseg.data.datasets import open_dataset  # noqa: E402
from mobileseg.eval.predict import predict_dataset  # noqa: E402
from mobileseg.sources import checkpoint_source  # noqa: E402
from mobileseg.utils.machine import cpu_name  # noqa: E402

SETTINGS = {  # name -> the teacher's tracker options
    "STCN eval (default): top-20, no last": {"top_k": 20, "include_last": False},
    "top-20 + last frame": {"top_k": 20, "include_last": True},
    "full softmax, no last": {"top_k": None, "include_last": False},
    "full softmax + last frame (before)": {"top_k": None, "include_last": True},
}
FRAMES = (10, 500)


def variant(teacher: Path, options: dict[str, object], work: Path, index: int) -> Path:
    payload = load_checkpoint(teacher)
    payload["model_kwargs"] = {**payload.get("model_kwargs", {}), **options}
    return save_checkpoint(work / f"teacher-{index}.pt", payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", type=Path, default=Path("mobileseg-quickstart/runs/teacher/best.pt"))
    parser.add_argument("--data", type=Path, default=Path("mobileseg-quickstart/data/synthvos"))
    parser.add_argument("--work", type=Path, default=Path("runs/teacher_inference"))
    parser.add_argument("--size", default="480x864", help="timing size HxW")
    parser.add_argument("--frames", type=int, default=5, help="timed frames per point (after 2 warm-up frames)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    dataset = open_dataset(args.data, split="val")
    rows = []
    for index, (name, options) in enumerate(SETTINGS.items()):
        path = variant(args.teacher, options, args.work, index)
        run = predict_dataset(checkpoint_source(path).make, dataset, multiple=16, desc=name)
        assert run.report is not None
        summary = run.report.summary()
        row: dict[str, object] = {"setting": name, **options, "jf": summary["J&F-Mean"], "j": summary["J-Mean"], "f": summary["F-Mean"]}
        for frame in FRAMES:
            timed = time_model(HostRequest(str(path), frames=args.frames, warmup=2, threads=args.threads, size=size, start_frame=frame))  # type: ignore[arg-type]
            row[f"ms@{frame}"] = timed["entries"]["step"]["p50"]
        rows.append(row)
        print(row, flush=True)
    result = {"teacher": str(args.teacher), "data": str(args.data), "val_videos": len(dataset), "size": list(size),
              "threads": args.threads, "cpu": cpu_name(), "torch": str(torch.__version__), "rows": rows}
    lines = [f"Teacher `stcn_r50_r18_small` (the quickstart's, 800 steps), J&F on its SynthVOS val ({len(dataset)} videos of 20 "
             f"frames at 128x224); ms per frame (p50 of {args.frames}) at {size[0]}x{size[1]}, {args.threads} threads, {cpu_name()}; "
             "every row in one run.", "",
             "| teacher inference | J&F | J | F | ms @ frame 10 | ms @ frame 500 |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['setting']} | {r['jf']:.3f} | {r['j']:.3f} | {r['f']:.3f} | {r['ms@10']:.0f} | {r['ms@500']:.0f} |" for r in rows]
    publish("teacher_inference", result, "\n".join(lines))


if __name__ == "__main__":
    main()
