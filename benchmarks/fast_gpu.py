"""Full vs lite student on a GPU: a longer training budget than this 2-core host allows, 3 seeds each,
J&F on SynthVOS val. The fast suite's accuracy part (fast.py) trains 300 steps on the CPU; this trains
every run for the same wall-clock time (TRAIN_SECONDS, all six at once on one GPU, so the lighter
student gets more steps) with up to STEPS steps of 8 clips at 192x192, on 64 generated videos of
240x432 (16 for validation).

Run on a CUDA machine from the repository root (what produced benchmarks/results/fast_gpu.json, on
one H200, 2026-11-29):

    PYTHONPATH=$PWD OUT=/tmp/out STEPS=1500 TRAIN_SECONDS=290 python3 benchmarks/fast_gpu.py

It writes $OUT/jf.json (steps reached, J&F per run) and the seed-0 weights split in <16 MB parts.
MODELS=a,b picks the students (default: the full and the lite one); WEIGHTS=fp16 instead returns
every run's weights rounded to fp16, one file each (a full student fits one 16 MB file): what
benchmarks/int8_accuracy.py scores through the int8 runtimes on the CPU. SMOKE=1 runs a toy
version on the CPU.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import torch

SMOKE = os.environ.get("SMOKE") == "1"
OUT = Path(os.environ.get("OUT", "/tmp/jfout"))
WORK = Path("/tmp/jfwork")
STEPS = 4 if SMOKE else int(os.environ.get("STEPS", "2000"))
DEADLINE = 60 if SMOKE else int(os.environ.get("TRAIN_SECONDS", "400"))
DEVICE = "cpu" if SMOKE else "cuda"
MODELS = tuple(os.environ.get("MODELS", "mobilevos_r18_mv2,mobilevos_r18_mv2_lite").split(","))
WEIGHTS = os.environ.get("WEIGHTS", "seed0-parts")
SEEDS = (0, 1, 2)


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def evaluate(args):
    name, ckpt, data = args
    torch.set_num_threads(2)
    from mobileseg.data.datasets import open_dataset
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.sources import checkpoint_source
    source = checkpoint_source(ckpt)
    run = predict_dataset(source.make, open_dataset(data, "val"), multiple=16, desc=name)
    return name, {k: float(v) for k, v in run.report.summary().items()}


def main():
    from mobileseg.data.synth import SynthConfig, generate_synthvos
    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK, ignore_errors=True)
    cfg = SynthConfig(videos=8 if SMOKE else 64, frames=10 if SMOKE else 24, height=64 if SMOKE else 240,
                      width=96 if SMOKE else 432, val_fraction=0.25, seed=0)
    data = generate_synthvos(WORK / "data", cfg, overwrite=True)
    log("data", data, torch.cuda.is_available() and torch.cuda.get_device_name(0))
    crop = "48x64" if SMOKE else "192x192"
    procs = {}
    for seed in SEEDS:
        for model in MODELS:
            name = f"{model}-s{seed}"
            cmd = [sys.executable, "-m", "mobileseg", "train", "--model", model, "--data", str(data), "--out", str(WORK / name),
                   "--steps", str(STEPS), "--batch-size", "8", "--crop", crop, "--device", DEVICE, "--workers", "2",
                   "--val-every", "0", "--seed", str(seed), "--save-every", "100", "--threads", "1"]
            procs[name] = subprocess.Popen(cmd, stdout=open(WORK / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                           env={**os.environ, "MOBILESEG_PROGRESS": "never"})
    began = time.time()
    while time.time() - began < DEADLINE and any(p.poll() is None for p in procs.values()):
        time.sleep(5)
    finished = {n: p.poll() for n, p in procs.items()}
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    time.sleep(3)
    log("training", round(time.time() - began), "s; exit codes", finished)
    for n in procs:
        tail = (WORK / f"{n}.log").read_text().splitlines()[-3:]
        log(n, *tail)
    steps = {}
    for n in procs:
        ckpt = WORK / n / ("best.pt" if finished[n] == 0 else "last.pt")
        if ckpt.exists():
            payload = torch.load(ckpt, map_location="cpu", weights_only=True)
            steps[n] = (str(ckpt), int(payload.get("train", {}).get("step", -1)))
    log("steps", steps)
    with Pool(len(steps) or 1) as pool:
        jf = dict(pool.map(evaluate, [(n, c, str(data)) for n, (c, _) in steps.items()]))
    result = {"steps_asked": STEPS, "train_seconds": round(time.time() - began), "exit": finished,
              "steps": {n: s for n, (_, s) in steps.items()}, "jf": jf, "data": vars(cfg) if hasattr(cfg, "__dict__") else str(cfg),
              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "torch": torch.__version__}
    (OUT / "jf.json").write_text(json.dumps(result, indent=2, default=str))
    log(json.dumps({n: round(v.get("J&F-Mean", -1), 4) for n, v in jf.items()}))
    if WEIGHTS == "fp16":  # every run's weights, fp16, without optimizer state: one <16 MB file each
        for n, (ckpt, _) in steps.items():
            payload = torch.load(ckpt, map_location="cpu", weights_only=True)
            payload.pop("train", None)
            payload["model_state"] = {k: v.half() if v.is_floating_point() else v for k, v in payload["model_state"].items()}
            torch.save(payload, OUT / f"{n}.fp16.pt")
    for model in MODELS if WEIGHTS != "fp16" else ():  # seed-0 weights for the runtime rows, without optimizer state, in <16 MB parts
        src = steps.get(f"{model}-s0")
        if src:
            payload = torch.load(src[0], map_location="cpu", weights_only=True)
            payload.get("train", {}).pop("optimizer", None)
            path = OUT / f"{model}-s0.pt"
            torch.save(payload, path)
            subprocess.run(["split", "-b", "15000000", "-d", str(path), str(path) + ".part"], check=True)
            path.unlink()
    log("done")


if __name__ == "__main__":
    main()
