"""Where TFLite int8 loses J&F: the export's own accuracy gate, recipe by recipe, on trained students.

    .venv/bin/python benchmarks/tflite_int8.py            # distill_bench's CPU-regime students (trains nothing)
    .venv/bin/python benchmarks/tflite_int8.py --quick    # smoke run on lite_accuracy/distill_bench --quick runs

Each row exports one student (`distill_bench.py`'s "none (no KD)" runs, seeds ``--seeds``; at
``--quick`` its smoke-run students) to int8 at the val videos' size, calibrated on the train split
with the state fed back, and reads the gate's figures from the file's contract: J&F of the file
against the fp32 checkpoint on the val videos (one object per state, as the app tracks) and the
mean mask IoU with the fp32 tracker on the parity video. Recipes:

- ``before``: the recipe before the read-out fix: only the read-out's BATCH_MATMUL and SOFTMAX in
  float (``INT8_FLOAT_SCOPES`` empty), so the affinity logits are rounded to int8 before the softmax;
- ``after``: the shipped recipe (``mobileseg.export.tflite``): every op of ``MemoryReader`` in float;
- ``onnx``: ONNX int8 (onnxruntime QDQ) of the same weights and calibration, for reference;
- ``only <part> int8`` (seed 0 only, ``--parts``): everything in float but one part of the network,
  to say which part's int8 rounding holds the loss.

Exports live in ``--work`` (default ``runs/tflite_int8``) and are reused. Writes
``results/tflite_int8.json`` and the table in benchmarks/README.md.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distill_bench import BASELINE, prepare, quick, run_folder  # noqa: E402
from distill_bench import parser as bench_parser  # noqa: E402
from report import publish  # noqa: E402

import mobileseg.export.tflite as tflite_export  # noqa: E402
from mobileseg.artifact.contract import load_contract  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402

PARTS = ("key_encoder", "KeyProjection", "value_encoder", "FeatureFusionBlock", "StudentDecoder")


@contextlib.contextmanager
def float_scopes(scopes: tuple[str, ...]) -> Iterator[None]:
    """The TFLite int8 recipe with ``scopes`` as its float scopes (regexes over op output names)."""
    kept = tflite_export.INT8_FLOAT_SCOPES
    tflite_export.INT8_FLOAT_SCOPES = scopes
    try:
        yield
    finally:
        tflite_export.INT8_FLOAT_SCOPES = kept


def recipes(parts: bool) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (target, TFLite float scopes)."""
    chosen = {"before": ("tflite", ()), "after": ("tflite", tflite_export.INT8_FLOAT_SCOPES), "onnx": ("onnx", ())}
    if parts:  # a negative lookahead: every op whose outputs do not name the part stays float
        chosen.update({f"only {part} int8": ("tflite", (f"^(?!.*{part})",)) for part in PARTS})
    return chosen


def gate(checkpoint: Path, data: Path, size: tuple[int, int], out: Path, target: str, scopes: tuple[str, ...]) -> dict[str, Any]:
    """Export (unless done before) and the gate's figures from the contract."""
    suffix = {"tflite": ".tflite", "onnx": ".onnx"}[target]
    if not list(out.glob(f"*{suffix}.json")):
        with float_scopes(scopes):
            export_checkpoint(ExportRequest(checkpoint=checkpoint, targets=[target], out=out, size=size, precision="int8", data=data,
                                            calibration_data=data, allow_accuracy_drop=True, overwrite=True))
    parity = load_contract(next(out.glob(f"*{suffix}.json"))).data["parity"]
    return {"jf_fp32": parity["jf_fp32"], "jf_int8": parity["jf"], "drop": parity["jf_drop"], "iou_mean": parity["iou_mean"]}


def table(result: dict[str, Any]) -> str:
    rows, seeds = result["rows"], result["seeds"]
    lines = [f"Students `{result['student']}` (distill_bench's CPU regime, no KD, seeds {', '.join(map(str, seeds))}), int8 at "
             f"{result['size']} calibrated on the train split; the export's gate: J&F points lost on the val videos against the "
             "fp32 checkpoint (0-100 scale; the gate allows 1.0) and the mean mask IoU with the fp32 tracker on the parity video.",
             "", "| recipe | " + " | ".join(f"seed {s}: drop (IoU)" for s in seeds) + " | mean drop |",
             "|---|" + "--:|" * (len(seeds) + 1)]
    for name in result["recipes"]:
        cells, drops = [], []
        for seed in seeds:
            row = next((r for r in rows if r["recipe"] == name and r["seed"] == seed), None)
            cells.append("—" if row is None else f"{row['drop']:.2f} ({row['iou_mean']:.3f})")
            if row is not None:
                drops.append(row["drop"])
        mean = f"{statistics.mean(drops):.2f}" if len(drops) == len(seeds) else "—"
        lines.append(f"| {name} | {' | '.join(cells)} | {mean} |")
    return "\n".join(lines)


def main() -> None:
    options = bench_parser()
    options.description = __doc__
    options.set_defaults(seeds=3)
    options.add_argument("--out", type=Path, default=Path("runs/tflite_int8"), help="exports, one folder per (seed, recipe)")
    options.add_argument("--parts", type=int, default=1, help="seeds that also get the 'only <part> int8' rows")
    args = options.parse_args()
    if args.quick:
        quick(args)
        args.seeds, args.out = 1, args.out.with_name(args.out.name + "_quick")
    data, _ = prepare(args)
    height, width = (int(v) for v in args.video_size.lower().split("x"))
    rows, names = [], list(recipes(True))
    for seed in range(args.seeds):
        checkpoint = run_folder(args, BASELINE, seed) / "best.pt"
        if not checkpoint.is_file():
            raise SystemExit(f"{checkpoint} is missing: train it with benchmarks/distill_bench.py (its none row) first")
        for name, (target, scopes) in recipes(seed < args.parts).items():
            figures = gate(checkpoint, data, (height, width), args.out / f"s{seed}-{name.replace(' ', '_')}", target, scopes)
            rows.append({"seed": seed, "recipe": name, **figures})
            print(rows[-1], flush=True)
    result = {"student": args.student, "size": args.video_size, "seeds": list(range(args.seeds)), "recipes": names, "rows": rows,
              "float_scopes": list(tflite_export.INT8_FLOAT_SCOPES), "float_ops": list(tflite_export.INT8_FLOAT_OPS)}
    publish("tflite_int8", result, table(result), quick=args.quick)


if __name__ == "__main__":
    main()
