"""int8 accuracy of the full student through its runtimes: does the deployed file lose J&F?

The full student `mobilevos_r18_mv2` met issue 10's latency goal in int8 against the teacher as it
ran on 2026-11-30 (ONNX Runtime 104 ms, ExecuTorch 154 ms at 2 threads and 480x864, against the
teacher's 2032 ms), so what decided was the accuracy its int8 files keep. With STCN's own inference
the teacher now takes about 1090 ms, and the full student's int8 files no longer reach 1/11 of it
(the fast suite in benchmarks/README.md has the current table). This script takes students trained on a GPU by
``benchmarks/fast_gpu.py`` (``MODELS=mobilevos_r18_mv2 WEIGHTS=fp16``: 3 seeds, weights returned
rounded to fp16), and for each seed exports int8 ONNX (static QDQ) and int8 ExecuTorch (PT2E,
XNNPACK) at the val videos' size, calibrated on the train split with the tracker's own state fed
back, with the export's accuracy gate measuring J&F on SynthVOS val through the runtime next to
the fp32 PyTorch J&F of the same weights (both track one object per state, as the files do).

    .venv/bin/python benchmarks/int8_accuracy.py --weights runs/int8     # *.fp16.pt from fast_gpu.py

Exports are kept in ``--work`` (default ``runs/int8``) and reused. Writes
``benchmarks/results/int8_accuracy.json`` and prints a markdown table for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mobileseg.artifact.contract import load_contract  # noqa: E402
from mobileseg.data.synth import SynthConfig, generate_synthvos  # noqa: E402
from mobileseg.export.pipeline import ExportRequest, export_checkpoint  # noqa: E402
from mobileseg.utils.fsio import write_json_atomic  # noqa: E402
from mobileseg.utils.timing import Stopwatch  # noqa: E402

# fast_gpu.py's dataset: generation is deterministic, so this is the data the students trained on
DATA = SynthConfig(videos=64, frames=24, height=240, width=432, val_fraction=0.25, seed=0)
SIZE = (240, 432)
TARGETS = ("onnx", "executorch")
SUFFIX = {"onnx": ".onnx", "executorch": ".pte"}


def fp32_checkpoint(source: Path, work: Path) -> Path:
    """The fp16-rounded weights stored as an fp32 checkpoint (the reference every file is compared with)."""
    path = work / source.name.replace(".fp16.pt", ".pt")
    if not path.is_file():
        payload = torch.load(source, map_location="cpu", weights_only=True)
        payload["model_state"] = {k: v.float() if v.is_floating_point() else v for k, v in payload["model_state"].items()}
        torch.save(payload, path)
    return path


def export(checkpoint: Path, target: str, data: Path, work: Path) -> dict[str, object]:
    out = work / f"export-{checkpoint.stem}-{target}"
    watch = Stopwatch()
    if not list(out.glob(f"*{SUFFIX[target]}.json")):
        export_checkpoint(ExportRequest(checkpoint=checkpoint, targets=[target], out=out, size=SIZE, precision="int8",
                                        calibration_data=data, data=data, allow_accuracy_drop=True,
                                        overwrite=True))  # the benchmark's own work folder (written before folders were marked)
    contract = load_contract(next(out.glob(f"*{SUFFIX[target]}.json")))
    parity = contract.data["parity"]
    return {"run": checkpoint.stem, "target": target, "jf_fp32": parity["jf_fp32"], "jf_int8": parity["jf"], "drop": parity["jf_drop"],
            "iou_mean": parity["iou_mean"], "max_abs_prob": parity["max_abs_prob"], "MB": round(sum(f.stat().st_size for f in {contract.file(e) for e in contract.data["files"]}) / 1e6, 2),
            "seconds": round(watch.elapsed(), 1)}


def joint_jf(checkpoint: Path, data: Path, work: Path) -> float:
    """fp32 J&F of ``checkpoint`` tracking the objects that start together with one joint state (eval's
    default), beside the exports' fp32 reference, which tracks one object per state as the files do."""
    from mobileseg.data.datasets import open_dataset
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.sources import checkpoint_source

    cache = work / f"{checkpoint.stem}.joint.json"
    if not cache.is_file():
        source = checkpoint_source(checkpoint)
        run = predict_dataset(source.make, open_dataset(data, "val"), size=SIZE, desc=f"{checkpoint.stem} joint")
        write_json_atomic(cache, {"jf": 100 * float(run.report.summary()["J&F-Mean"])})  # type: ignore[union-attr]
    return float(json.loads(cache.read_text())["jf"])


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| run | runtime | J&F fp32 | J&F int8 | drop (points) | agreement IoU mean | file MB |", "|---|---|--:|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['target']} | {r['jf_fp32']:.2f} | {r['jf_int8']:.2f} | {r['drop']:.2f} | {r['iou_mean']:.4f} | {r['MB']} |")
    for target in TARGETS:
        drops = [float(r["drop"]) for r in rows if r["target"] == target]  # type: ignore[arg-type]
        if drops:
            spread = statistics.stdev(drops) if len(drops) > 1 else 0.0
            lines.append(f"| **mean** | {target} | | | **{statistics.mean(drops):.2f} ± {spread:.2f}** (max {max(drops):.2f}) | | |")
    return "\n".join(lines)


def save(rows: list[dict[str, object]], joint: dict[str, float] | None = None) -> None:
    """results/int8_accuracy.json with the rows so far (and the joint-state fp32 J&F once measured)."""
    write_json_atomic(ROOT / "benchmarks" / "results" / "int8_accuracy.json",
                      {"size": list(SIZE), "data": asdict(DATA), "rows": rows, **({"fp32_joint_state_jf": joint} if joint else {}),
                       "produced_by": "benchmarks/int8_accuracy.py (2 CPU threads) over weights from benchmarks/fast_gpu.py"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=ROOT / "runs" / "int8", help="folder of *.fp16.pt from fast_gpu.py")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "int8")
    parser.add_argument("--targets", default=",".join(TARGETS))
    args = parser.parse_args()
    torch.set_num_threads(2)
    args.work.mkdir(parents=True, exist_ok=True)
    sources = sorted(args.weights.glob("*.fp16.pt"))
    if not sources:
        raise SystemExit(f"no *.fp16.pt in {args.weights}: run benchmarks/fast_gpu.py with MODELS=mobilevos_r18_mv2 WEIGHTS=fp16 first")
    data_root = args.work / "synthvos"
    data = generate_synthvos(data_root, DATA) if not (data_root / "ImageSets").is_dir() else data_root
    rows = []
    checkpoints = [fp32_checkpoint(source, args.work) for source in sources]
    for target in args.targets.split(","):  # every seed of one runtime before the next runtime
        for checkpoint in checkpoints:
            rows.append(export(checkpoint, target, data, args.work))
            print(json.dumps(rows[-1]), flush=True)
            save(rows)  # after every export: a stopped run keeps what it measured
    joint = {c.stem: round(joint_jf(c, data, args.work), 3) for c in checkpoints}
    save(rows, joint)
    print(table(rows))
    print("fp32 J&F with one joint state per video (eval's default):", joint)


if __name__ == "__main__":
    main()
