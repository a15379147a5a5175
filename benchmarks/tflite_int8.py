"""Where TFLite int8 loses J&F: the export's own accuracy gate, recipe by recipe, on trained students.

    .venv/bin/python benchmarks/tflite_int8.py            # distill_bench's CPU-regime students (trains nothing)
    .venv/bin/python benchmarks/tflite_int8.py --quick    # smoke run on lite_accuracy/distill_bench --quick runs

Each row exports one student (`distill_bench.py`'s "none (no KD)" runs, seeds ``--seeds``; at
``--quick`` its smoke-run students) to int8 at the val videos' size, calibrated on the train split
with the state fed back, and reads the gate's figures from the file's contract: J&F of the file
against the fp32 checkpoint on the val videos (one object per state, as the app tracks) and the
mean mask IoU with the fp32 tracker on the parity video. Recipes:

- ``before``: the recipe before the read-out fix: only the read-out's BATCH_MATMUL and SOFTMAX in
  float (``INT8_FLOAT_SCOPES`` empty), so the affinity logits are rounded to int8 before the softmax,
  and ai-edge-quantizer's own ranges (a moving average of the per-frame min/max, smoothing 0.95);
- ``read-out float``: every op of ``MemoryReader`` in float, the same ranges;
- ``read-out float, global range (shipped)``: the shipped recipe (``mobileseg.export.tflite``): also
  each tensor's min/max over all calibration frames (``INT8_GLOBAL_RANGE``), as ONNX Runtime's MinMax;
- ``onnx``: ONNX int8 (onnxruntime QDQ) of the same weights and calibration, for reference;
- ``only <part> int8`` (seed 0 only, ``--parts``): everything in float but one part of the network,
  to say which part's int8 rounding holds the loss (moving-average ranges).

Exports live in the budget's folder (``--work``/budget-.../tflite_int8) and are reused while the file's
recorded float ops and scopes are the recipe's. Writes
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
from distill_bench import BASELINE, prepare, quick, run_folder, slug  # noqa: E402
from distill_bench import parser as bench_parser  # noqa: E402
from report import publish  # noqa: E402

import mobileseg.export.tflite as tflite_export  # noqa: E402
from mobileseg.artifact.contract import load_contract  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402

PARTS = ("key_encoder", "KeyProjection", "value_encoder", "FeatureFusionBlock", "StudentDecoder")


@contextlib.contextmanager
def recipe(scopes: tuple[str, ...], global_range: bool) -> Iterator[None]:
    """The TFLite int8 recipe with ``scopes`` as its float scopes (regexes over op output names) and, with
    ``global_range``, every tensor's range the min/max over all calibration frames."""
    kept = tflite_export.INT8_FLOAT_SCOPES, tflite_export.INT8_GLOBAL_RANGE
    tflite_export.INT8_FLOAT_SCOPES, tflite_export.INT8_GLOBAL_RANGE = scopes, global_range
    try:
        yield
    finally:
        tflite_export.INT8_FLOAT_SCOPES, tflite_export.INT8_GLOBAL_RANGE = kept


def recipes(parts: bool) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    """name -> (target, TFLite float scopes, global calibration range)."""
    shipped = tflite_export.INT8_FLOAT_SCOPES
    chosen = {"before": ("tflite", (), False), "read-out float": ("tflite", shipped, False),
              "read-out float, global range (shipped)": ("tflite", shipped, True), "onnx": ("onnx", (), False)}
    if parts:  # a negative lookahead: every op whose outputs do not name the part stays float
        chosen.update({f"only {part} int8": ("tflite", (f"^(?!.*{part})",), False) for part in PARTS})
    return chosen


def gate(checkpoint: Path, data: Path, size: tuple[int, int], out: Path, target: str, scopes: tuple[str, ...],
         global_range: bool) -> dict[str, Any]:
    """Export (unless a file of this recipe is there) and the gate's figures from the contract."""
    suffix = {"tflite": ".tflite", "onnx": ".onnx"}[target]
    made = list(out.glob(f"*{suffix}.json"))
    kept = [*tflite_export.INT8_FLOAT_OPS, *scopes]
    if target == "tflite" and made:
        info = load_contract(made[0]).data["export"]["quantizer"]
        # files from before the contract recorded their ranges used ai-edge-quantizer's moving average
        if info["kept_float"] != kept or info.get("ranges", tflite_export.ranges_record(False)) != tflite_export.ranges_record(global_range):
            made = []  # made with another recipe: export again
    if not made:
        with recipe(scopes, global_range):
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
    options.add_argument("--parts", type=int, default=1, help="seeds that also get the 'only <part> int8' rows")
    args = options.parse_args()
    if args.quick:
        quick(args)
        args.seeds = 1
    data, _ = prepare(args)
    height, width = (int(v) for v in args.video_size.lower().split("x"))
    rows, names = [], list(recipes(True))
    for seed in range(args.seeds):
        checkpoint = run_folder(args, BASELINE, seed) / "best.pt"
        if not checkpoint.is_file():
            raise SystemExit(f"{checkpoint} is missing: train it with benchmarks/lite_accuracy.py first (it trains distill_bench's "
                             "none row into this folder; distill_bench.py itself skips runs its ledger already holds)")
        for name, (target, scopes, global_range) in recipes(seed < args.parts).items():
            folder = args.work / "tflite_int8" / f"s{seed}-{slug(name)}"
            figures = gate(checkpoint, data, (height, width), folder, target, scopes, global_range)
            rows.append({"seed": seed, "recipe": name, **figures})
            print(rows[-1], flush=True)
    result = {"student": args.student, "size": args.video_size, "seeds": list(range(args.seeds)), "recipes": names, "rows": rows,
              "float_scopes": list(tflite_export.INT8_FLOAT_SCOPES), "float_ops": list(tflite_export.INT8_FLOAT_OPS)}
    publish("tflite_int8", result, table(result), quick=args.quick)


if __name__ == "__main__":
    main()
