"""The headline latency table: the full-size student in every runtime against the teacher, 480x864.

    .venv/bin/python benchmarks/latency.py            # ~30 min on 2 CPU cores
    .venv/bin/python benchmarks/latency.py --quick    # the whole script at toy sizes

All timings come from ``mobileseg bench``'s harness (``mobileseg.bench.host``), one process per
model, one after the other in this one run:

- the student (``mobilevos_r18_mv2``, random weights: latency does not depend on them) exported
  to TFLite, ExecuTorch and ONNX, and in eager PyTorch, with 1 and 2 threads, at frame 10;
- the teacher (``stcn_r50_r18``) in eager PyTorch at frames 10 and 500 (its memory grown to the
  size it has there: ``STCNTeacher.fast_forward``), and at more frames for the plot;
- the student in TFLite over 1000 real frames, its latency every 50 frames (frame-1000 / frame-10);
- FLOPs per frame from ``torch.utils.flop_counter`` on the eager ``step``; achieved GFLOP/s =
  FLOPs / p50 time.

Writes benchmarks/results/latency.json, benchmarks/results/latency.png and the table in
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import RESULTS, publish  # noqa: E402

from mobileseg.artifact.contract import load_contract, sha256  # noqa: E402
from mobileseg.bench.host import HostRequest, bench_host, host_info  # noqa: E402
from mobileseg.bench.report import make_report, plot  # noqa: E402
from mobileseg.checkpoint import save_checkpoint  # noqa: E402
from mobileseg.export.parity import parity_video  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402
from mobileseg.models import NetworkTracker, build_model  # noqa: E402
from mobileseg.models.registry import ROLES  # noqa: E402

FORMATS = {"tflite": ".tflite", "executorch": ".pte", "onnx": ".onnx"}


def checkpoint(work: Path, name: str) -> Path:
    """A checkpoint of ``name`` with seeded random weights (written once, then reused)."""
    path = work / f"{name}.pt"
    if not path.is_file():
        torch.manual_seed(0)
        model = build_model(name)
        save_checkpoint(path, {"model": name, "role": ROLES[name], "model_kwargs": {}, "model_state": model.state_dict()})
    return path


def exported(student: Path, out: Path, size: tuple[int, int]) -> dict[str, Path]:
    """The student in every runtime at ``size`` (files reused when their contract names this checkpoint)."""
    files, missing = {}, []
    for target, suffix in FORMATS.items():
        path = out / f"student{suffix}"
        try:
            contract = load_contract(path)
            fresh = contract.data["model"]["checkpoint_sha256"] == sha256(student) and contract.size == size
        except Exception:  # noqa: BLE001 - any unreadable or missing contract: export again
            fresh = False
        if fresh:
            files[target] = path
        else:
            missing.append(target)
    if missing:
        # overwrite: the benchmark's own work folder (written before folders were marked)
        for result in export_checkpoint(ExportRequest(checkpoint=student, targets=missing, out=out, size=size, parity_frames=10, overwrite=True)):
            files[result.target] = result.artifact
    return files


@torch.no_grad()
def gflops(name: str, size: tuple[int, int], frame: int) -> float:
    """FLOPs of one eager ``step`` at ``frame`` (the teacher's memory grown to that frame), in G."""
    torch.manual_seed(0)
    tracker = NetworkTracker(build_model(name))
    video, first = parity_video(*size, objects=1, frames=2)
    state = tracker.fast_forward(tracker.init(video[0], first), frame)
    counter = FlopCounterMode(display=False)
    with counter:
        tracker.step(video[1], state)
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/latency"), help="checkpoints and exports (git-ignored)")
    parser.add_argument("--quick", action="store_true", help="toy sizes: a smoke run of the whole script")
    args = parser.parse_args()
    quick = args.quick
    size = (64, 96) if quick else (480, 864)
    student_name, teacher_name = ("mobilevos_r18_mv2_tiny", "stcn_r50_r18_tiny") if quick else ("mobilevos_r18_mv2", "stcn_r50_r18")
    frames, long_run, every = (4, 40, 10) if quick else (20, 1000, 50)
    teacher_frames = (10, 100, 250, 500) if quick else (10, 100, 250, 500, 750, 1000)
    work = args.work / ("quick" if quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    student, teacher = checkpoint(work, student_name), checkpoint(work, teacher_name)
    files = exported(student, work / "export", size)

    requests: list[tuple[str, HostRequest]] = []
    for threads in (1, 2):
        for path in files.values():
            requests.append(("student", HostRequest(str(path), frames=frames, warmup=3, threads=threads, start_frame=10)))
        requests.append(("student", HostRequest(str(student), frames=frames, warmup=3, threads=threads, size=size, start_frame=10)))
    for frame in teacher_frames:
        requests.append(("teacher", HostRequest(str(teacher), frames=2 if frame > 10 else 5, warmup=1, threads=2, size=size, start_frame=frame)))
    requests.append(("long", HostRequest(str(files["tflite"]), frames=long_run, warmup=3, threads=2, every=every, start_frame=1)))
    results = bench_host([r for _, r in requests])
    for (kind, request), result in zip(requests, results):
        result["kind"], result["start_frame"] = kind, request.start_frame

    flops = {("student", 10): gflops(student_name, size, 10)}
    for frame in (10, 500):
        flops[("teacher", frame)] = gflops(teacher_name, size, frame)
    result = summarise(results, flops, size, student_name, teacher_name)
    table = render(result)
    report = make_report(host_info(2), {"size": list(size)}, [r for r in results if r["kind"] == "long"])
    report["models"].append(teacher_curve(results))
    picture = (work / "latency.png") if quick else RESULTS / "latency.png"  # a smoke run leaves the committed plot alone
    plot(report, picture, title=f"{student_name} vs {teacher_name}, {size[0]}x{size[1]}, 2 threads, {host_info(2)['cpu']}")
    result["plot"] = str(picture)
    publish("latency", result, table + "\n\n![ms per frame along a video](results/latency.png)", quick=quick)


def teacher_curve(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The teacher's runs at growing frames as one curve for the plot (p50 of each run at its frame)."""
    runs = [r for r in results if r["kind"] == "teacher"]
    first = runs[0]
    return {**first, "name": f"{first['name']} (memory grown to each frame)",
            "curve": [{"frame": r["start_frame"], "ms": r["entries"]["step"]["p50"]} for r in runs]}


def summarise(results: list[dict[str, Any]], flops: dict[tuple[str, int], float], size: tuple[int, int],
              student: str, teacher: str) -> dict[str, Any]:
    def p50(r: dict[str, Any]) -> float:
        return float(r["entries"]["step"]["p50"])

    teacher_at = {r["start_frame"]: p50(r) for r in results if r["kind"] == "teacher"}
    rows = []
    for r in results:
        if r["kind"] == "student":
            ms = p50(r)
            rows.append({"model": student, "runtime": r["format"], "threads": r["threads"], "frame": 10, "ms_p50": ms,
                         "fps": 1000 / ms, "gflop_per_s": flops[("student", 10)] / ms * 1000, "peak_rss_mb": r["peak_rss_mb"],
                         "file_mb": r["file_mb"], "vs_teacher_frame_10": ms / teacher_at[10], "vs_teacher_frame_500": ms / teacher_at[500]})
    for frame in (10, 500):
        ms = teacher_at[frame]
        entry = next(r for r in results if r["kind"] == "teacher" and r["start_frame"] == frame)
        rows.append({"model": teacher, "runtime": "pytorch", "threads": 2, "frame": frame, "ms_p50": ms, "fps": 1000 / ms,
                     "gflop_per_s": flops[("teacher", frame)] / ms * 1000, "peak_rss_mb": entry["peak_rss_mb"], "file_mb": entry["file_mb"],
                     "vs_teacher_frame_10": ms / teacher_at[10], "vs_teacher_frame_500": ms / teacher_at[500]})
    long = next(r for r in results if r["kind"] == "long")
    curve = long["curve"]
    return {"host": host_info(2), "size": list(size), "rows": rows, "gflops": {f"{k[0]}@{k[1]}": v for k, v in flops.items()},
            "teacher_ms_by_frame": teacher_at, "student_tflite_curve": curve,
            "student_last_over_first": curve[-1]["ms"] / curve[0]["ms"], "student_frames": long["last_frame"] - long["first_timed_frame"] + 1,
            "student_every": curve[1]["frame"] - curve[0]["frame"], "runs": results}


def render(result: dict[str, Any]) -> str:
    host = result["host"]
    lines = [f"{result['size'][0]}x{result['size'][1]}, one object, on {host['cpu']} ({host['cores']} cores); "
             "p50 of the timed frames; each row its own process, all rows in one run. GFLOP/s = FLOPs of one step "
             "(torch.utils.flop_counter) / p50. The teacher's memory is grown to the frame's size.",
             "", "| model | runtime | threads | frame | ms/frame p50 | FPS | GFLOP/s | peak MB | file MB | / teacher@10 | / teacher@500 |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in result["rows"]:
        lines.append(f"| {r['model']} | {r['runtime']} | {r['threads']} | {r['frame']} | {r['ms_p50']:.0f} | {r['fps']:.2f} | "
                     f"{r['gflop_per_s']:.0f} | {r['peak_rss_mb']:.0f} | {r['file_mb']:.1f} | {r['vs_teacher_frame_10']:.3f} | "
                     f"{r['vs_teacher_frame_500']:.3f} |")
    curve = result["student_tflite_curve"]
    lines += ["", f"Student in TFLite along one run of {result['student_frames']} frames (2 threads, sampled every {result['student_every']}): {curve[0]['ms']:.0f} ms/frame at frame "
                  f"{curve[0]['frame']}, {curve[-1]['ms']:.0f} at frame {curve[-1]['frame']} (ratio {result['student_last_over_first']:.2f}); "
                  f"the teacher: {result['teacher_ms_by_frame'][10]:.0f} ms at frame 10, {result['teacher_ms_by_frame'][500]:.0f} at frame 500."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
