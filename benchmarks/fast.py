"""The fast student: full vs lite, fp32 and quantised, in every runtime, against the teacher at frame 10.

    .venv/bin/python benchmarks/fast.py                    # everything (~1.5 h on 2 CPU cores)
    .venv/bin/python benchmarks/fast.py --part latency     # profile + latency only (~20 min; ~40 min when the files are exported again)
    .venv/bin/python benchmarks/fast.py --quick            # the whole script at toy sizes

1. **Profile**: params, GFLOPs and eager ms of each part of ``step`` (``mobileseg.models.profile``)
   for ``mobilevos_r18_mv2`` and ``mobilevos_r18_mv2_lite`` at 480x864, 2 threads.
2. **Latency**: both students (seeded random weights: the cost does not depend on them) exported
   at 480x864 to every (runtime, precision) pair the registry offers; each file timed by ``mobileseg
   bench``'s harness (one process per row, all rows in one run) at 1 and 2 threads, beside the
   teacher (``stcn_r50_r18``, eager) at frame 10; ratio = student / teacher. Quantised files here
   record their agreement with fp32 only (J&F of random weights means nothing).
3. **Accuracy**: both students trained with the same budget on SynthVOS for 3 seeds; J&F on its
   val split of each fp32 checkpoint, and of the lite student's quantised files through their
   runtimes (the export's own J&F gate, ``--data``) at the dataset's size.

Writes benchmarks/results/fast.json and the table in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from latency import checkpoint  # noqa: E402
from report import RESULTS, fingerprint, publish  # noqa: E402

from mobileseg.bench.host import HostRequest, bench_host, host_info  # noqa: E402
from mobileseg.export import FORMATS  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402
from mobileseg.export.quantize import stem_for  # noqa: E402
from mobileseg.models import build_model  # noqa: E402
from mobileseg.models.profile import profile_step  # noqa: E402

STUDENTS = ("mobilevos_r18_mv2", "mobilevos_r18_mv2_lite", "mobilevos_r18_mv2_lite_wide")
SHORT = {"mobilevos_r18_mv2": "full", "mobilevos_r18_mv2_lite": "lite", "mobilevos_r18_mv2_lite_wide": "lite wide"}
RUNTIMES = ("tflite", "executorch", "onnx")
SUFFIX = {"tflite": ".tflite", "executorch": ".pte", "onnx": ".onnx"}
ACCURACY_PAIRS = (("tflite", "fp16"), ("tflite", "int8"), ("onnx", "int8"), ("executorch", "int8"))


def pairs() -> list[tuple[str, str]]:
    return [(t, p) for t in RUNTIMES for p in ("fp32", *FORMATS.get(t).precisions)]


EXPORTER = (("export", "models", "artifact", "_compat"),  # what makes an exported file: these sources, these converters
            ("torch", "litert-torch", "litert-converter", "ai-edge-quantizer", "ai-edge-litert", "onnx", "onnxruntime", "onnxsim",
             "executorch"))


def export_all(student: Path, out: Path, size: tuple[int, int]) -> dict[tuple[str, str], Path]:
    """Every (runtime, precision) file of ``student``; reused when already written for this checkpoint by the
    exporter as it is now (``exporter.sha1`` in ``out``: a hash of ``EXPORTER``'s sources and converter versions)."""
    files = {}
    stamp, made_by = out / "exporter.sha1", fingerprint(*EXPORTER)
    fresh = stamp.is_file() and stamp.read_text() == made_by
    for target, precision in pairs():
        path = out / f"{stem_for('student', precision)}{SUFFIX[target]}"
        if not fresh or not (out / f"{path.name}.json").is_file():
            request = ExportRequest(checkpoint=student, targets=[target], out=out, size=size, parity_frames=10, precision=precision,
                                    calibration_frames=16, measure_jf=False, allow_accuracy_drop=True,
                                    overwrite=True)  # the benchmark's own work folder (written before folders were marked)
            path = export_checkpoint(request)[0].artifact
        files[(target, precision)] = path
    stamp.write_text(made_by)
    return files


def profile_rows(size: tuple[int, int]) -> list[dict[str, Any]]:
    torch.set_num_threads(2)
    rows = []
    for name in STUDENTS:
        torch.manual_seed(0)
        for part in profile_step(build_model(name), *size, repeats=5):
            rows.append({"model": name, "part": part.name, "params_m": part.params / 1e6, "gflops": part.gflops, "ms": part.ms})
    return rows


def latency_rows(work: Path, size: tuple[int, int], frames: int) -> tuple[list[dict[str, Any]], float]:
    students = {name: checkpoint(work, name) for name in STUDENTS}
    teacher = checkpoint(work, "stcn_r50_r18_tiny" if size[0] < 128 else "stcn_r50_r18")
    files = {name: export_all(path, work / f"export-{name}", size) for name, path in students.items()}
    requests: list[tuple[dict[str, Any], HostRequest]] = [({"model": "teacher"}, HostRequest(str(teacher), frames=5, warmup=1, threads=2,
                                                                                                size=size, start_frame=10))]
    for threads in (1, 2):
        for name, by_pair in files.items():
            for (target, precision), path in by_pair.items():
                requests.append(({"model": name, "runtime": target, "precision": precision},
                                 HostRequest(str(path), frames=frames, warmup=3, threads=threads, start_frame=10)))
    results = bench_host([r for _, r in requests])
    teacher_ms = float(results[0]["entries"]["step"]["p50"])
    rows = []
    for (label, request), result in zip(requests[1:], results[1:]):
        ms = float(result["entries"]["step"]["p50"])
        contract = json.loads((Path(request.model).parent / f"{Path(request.model).name}.json").read_text())
        parity = contract["parity"]
        rows.append({**label, "threads": request.threads, "ms_p50": ms, "vs_teacher_10": ms / teacher_ms, "file_mb": result["file_mb"],
                     "agreement_iou_mean": parity.get("iou_mean"), "agreement_max_abs_prob": parity.get("max_abs_prob")})
    return rows, teacher_ms


def xnnpack_rows(work: Path) -> list[dict[str, Any]]:
    """What XNNPACK takes of each TFLite file's step graph (mobileseg.runtime.xnnpack_plan)."""
    from mobileseg.runtime.xnnpack_plan import xnnpack_plan

    rows = []
    for name in STUDENTS:
        for precision in ("fp32", *FORMATS.get("tflite").precisions):
            path = work / f"export-{name}" / f"{stem_for('student', precision)}{SUFFIX['tflite']}"
            summary = xnnpack_plan(path, "step").summary()
            float_ops = sum(n for key, n in summary["ops_by_type"].items() if key.endswith(" FLOAT32") and not key.startswith("DEQUANTIZE"))
            rows.append({"model": name, "precision": precision, "float_ops": float_ops, **summary})
    return rows


def accuracy_rows(work: Path, quick: bool, seeds: int) -> list[dict[str, Any]]:
    from mobileseg.data.datasets import open_dataset
    from mobileseg.data.synth import SynthConfig, generate_synthvos
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.sources import checkpoint_source
    from mobileseg.train.config import TrainConfig
    from mobileseg.train.loop import prepare_run, train

    size = (64, 96) if quick else (192, 320)
    data = work / "synthvos"
    if not (data / "synthvos.json").is_file():
        generate_synthvos(data, SynthConfig(videos=12 if quick else 48, frames=10 if quick else 20, height=size[0], width=size[1],
                                            val_fraction=1 / 6, seed=0), overwrite=True)
    val = open_dataset(data, "val")
    rows = []
    for seed in range(seeds):
        for name in STUDENTS:
            config = TrainConfig(model=name, data=str(data), out=str(work / "runs" / f"{name}-s{seed}"), steps=6 if quick else 300,
                                 batch_size=4, crop=(48, 64) if quick else (112, 112), val_every=0, bn_batches=4, seed=seed, threads=2)
            decision = prepare_run(config, "benchmark")
            best = Path(config.out) / "best.pt" if decision == "finished" else train(config, resume=decision == "resume").best
            source = checkpoint_source(best)
            jf = 100 * float(predict_dataset(source.make, val, multiple=16).report.summary()["J&F-Mean"])  # type: ignore[union-attr]
            rows.append({"model": name, "seed": seed, "runtime": "pytorch", "precision": "fp32", "jf": jf})
            if name != STUDENTS[1]:
                continue
            for target, precision in ACCURACY_PAIRS:
                request = ExportRequest(checkpoint=Path(best), targets=[target], out=work / "runs" / f"{name}-s{seed}" / "export", size=size,
                                        precision=precision, data=data, allow_accuracy_drop=True, parity_frames=10,
                                        overwrite=True)  # the benchmark's own work folder
                figures = export_checkpoint(request)[0].parity
                rows.append({"model": name, "seed": seed, "runtime": target, "precision": precision, "jf": figures["jf"],
                             "jf_fp32_same_videos": figures["jf_fp32"], "jf_drop": figures["jf_drop"]})
    return rows


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def render(result: dict[str, Any]) -> str:
    host = result["host"]
    lines = [f"{result['size'][0]}x{result['size'][1]}, one object, {host['cpu']} ({host['cores']} cores). Every row of a table is "
             "from one run of this script.", "", "**Where a step goes** (eager PyTorch, 2 threads; ms of each part timed on its own "
             "with the inputs it got in a real step):", "",
             "| part | " + " | ".join(f"{SHORT[n]}: params M | {SHORT[n]}: GFLOPs | {SHORT[n]}: ms" for n in STUDENTS) + " |",
             "|---|" + "--:|--:|--:|" * len(STUDENTS)]
    by = {(r["model"], r["part"]): r for r in result["profile"]}
    for part in dict.fromkeys(r["part"] for r in result["profile"]):
        cells = []
        for name in STUDENTS:
            r = by.get((name, part))
            cells += [f"{r['params_m']:.2f}", f"{r['gflops']:.2f}", f"{r['ms']:.0f}"] if r else ["-", "-", "-"]
        lines.append(f"| {part} | " + " | ".join(cells) + " |")
    lines += ["", f"**Latency** (p50 of the timed frames at frame 10; teacher `stcn_r50_r18` at frame 10, eager, 2 threads: "
                  f"{result['teacher_ms_10']:.0f} ms; goal: ≤ 1/11 of it = {result['teacher_ms_10'] / 11:.0f} ms):", "",
              "| student | runtime | precision | threads | ms/frame | / teacher@10 | file MB | agreement IoU mean | max abs dprob |",
              "|---|---|---|--:|--:|--:|--:|--:|--:|"]
    for r in sorted(result["latency"], key=lambda r: (r["threads"], r["model"], r["runtime"], r["precision"])):
        iou = f"{r['agreement_iou_mean']:.4f}" if r["agreement_iou_mean"] is not None else "-"
        prob = f"{r['agreement_max_abs_prob']:.1e}" if r["agreement_max_abs_prob"] is not None else "-"
        lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['threads']} | {r['ms_p50']:.0f} | {r['vs_teacher_10']:.3f} | "
                     f"{r['file_mb']:.1f} | {iou} | {prob} |")
    ms = {(r["model"], r["runtime"], r["precision"], r["threads"]): r["ms_p50"] for r in result["latency"]}
    ratios = [f"{SHORT.get(n, n)} {ms[(n, 'tflite', 'int8', 2)] / ms[(n, 'tflite', 'fp32', 2)]:.2f}x" for n in STUDENTS
              if (n, "tflite", "int8", 2) in ms and (n, "tflite", "fp32", 2) in ms]
    lines += ["", f"TFLite int8 / TFLite fp32 at 2 threads (goal ≤ 0.5x): {', '.join(ratios)}."]
    if result.get("xnnpack"):
        lines += ["", "**What XNNPACK takes of each TFLite step graph** (`mobileseg.runtime.xnnpack_plan`: the file loaded as the "
                      "app loads it; ops computed in float32 exclude DEQUANTIZE; ops left run in TFLite's own kernels, between "
                      "XNNPACK's partitions):", "", "| student | precision | ops | float32 ops | XNNPACK partitions | ops left to TFLite |",
                  "|---|---|--:|--:|--:|---|"]
        for r in result["xnnpack"]:
            left = ", ".join(f"{n} {key}" for key, n in r["left_by_type"].items()) or "none"
            lines.append(f"| {r['model']} | {r['precision']} | {r['ops']} | {r['float_ops']} | {r['xnnpack_partitions']} | {left} |")
    best = min((r for r in result["latency"] if r["threads"] == 2), key=lambda r: r["ms_p50"])
    lines += ["", f"Fastest at 2 threads: {best['model']} in {best['runtime']} {best['precision']}, {best['ms_p50']:.0f} ms/frame = "
                  f"1/{1 / best['vs_teacher_10']:.1f} of the teacher at frame 10 (goal 1/11: "
                  f"{'reached' if best['vs_teacher_10'] <= 1 / 11 else 'not reached'})."]
    if result.get("accuracy"):
        lines += ["", f"**Accuracy** (SynthVOS val, J&F on a 0-100 scale, mean ± sd over {result['seeds']} seeds; both students trained "
                      "with the same budget; quantised rows run in their runtime):", "", "| student | runtime | precision | J&F | "
                      "drop vs its fp32 checkpoint |", "|---|---|---|--:|--:|"]
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for r in result["accuracy"]:
            groups.setdefault((r["model"], r["runtime"], r["precision"]), []).append(r)
        for (model, runtime, precision), rows in groups.items():
            drop = mean_sd([r["jf_drop"] for r in rows]) if "jf_drop" in rows[0] else "-"
            lines.append(f"| {model} | {runtime} | {precision} | {mean_sd([r['jf'] for r in rows])} | {drop} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("runs/fast"), help="checkpoints, exports, runs (git-ignored)")
    parser.add_argument("--part", choices=("all", "latency", "accuracy"), default="all")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="toy sizes: a smoke run of the whole script")
    args = parser.parse_args()
    size = (64, 96) if args.quick else (480, 864)
    work = args.work / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    previous = RESULTS / ("fast_quick.json" if args.quick else "fast.json")
    result: dict[str, Any] = json.loads(previous.read_text()) if previous.is_file() else {}
    result.update({"host": host_info(2), "size": list(size)})
    if args.part in ("all", "latency"):
        result["profile"] = profile_rows(size)
        result["latency"], result["teacher_ms_10"] = latency_rows(work, size, 5 if args.quick else 20)
        result["xnnpack"] = xnnpack_rows(work)
    if args.part in ("all", "accuracy"):
        result["accuracy"], result["seeds"] = accuracy_rows(work, args.quick, args.seeds), args.seeds
    if "latency" not in result:
        raise SystemExit("run --part latency first (the table needs it)")
    publish("fast", result, render(result), quick=args.quick)


if __name__ == "__main__":
    main()
