"""box_start at a budget where the student tracks, on a GPU: `mobilevos_r18_mv2` trained with
``--box-init-prob`` 0 and 0.5, 3 seeds each, all six runs at once on one GPU for the same wall
time (TRAIN_SECONDS), then every checkpoint scored on SynthVOS val (on the GPU, one process each) started from each
object's mask and from its bounding box. box_start.py does the same on the CPU at fast.py's
300-step budget, where the students barely track (J&F < 0.1) and the comparison says little.

Run on a CUDA machine from the repository root (what produced benchmarks/results/box_start_gpu.json):

    PYTHONPATH=$PWD OUT=/tmp/out TRAIN_SECONDS=140 python3 benchmarks/box_start_gpu.py

Results are written to $OUT/box_start_gpu.json after training and after each evaluation, so a
run stopped early still returns what it measured. SMOKE=1: a toy version on the CPU.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

SMOKE = os.environ.get("SMOKE") == "1"
OUT = Path(os.environ.get("OUT", "/tmp/box_start_gpu"))
WORK = Path("/tmp/box_start_gpu_work")
DEADLINE = 90 if SMOKE else int(os.environ.get("TRAIN_SECONDS", "140"))
DEVICE = "cpu" if SMOKE else "cuda"
PROBS = (0.0, 0.5)
SEEDS = (0, 1, 2)


def log(*parts: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


class OnDevice:
    """The tracker protocol with the network on DEVICE and frames, masks and probabilities on the CPU."""

    def __init__(self, tracker: Any) -> None:
        self.tracker = tracker

    def init(self, frame: torch.Tensor, mask: torch.Tensor) -> Any:
        return self.tracker.init(frame.to(DEVICE), mask.to(DEVICE))

    def step(self, frame: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        prob, state = self.tracker.step(frame.to(DEVICE), state)
        return prob.float().cpu(), state


def score(job: tuple[str, str, str]) -> tuple[str, dict[str, float]]:
    """J&F of one checkpoint on the val split, started from the masks and from their boxes."""
    from mobileseg.checkpoint import model_from_checkpoint
    from mobileseg.data.datasets import open_dataset
    from mobileseg.eval.predict import predict_dataset
    from mobileseg.models import NetworkTracker

    name, ckpt, data = job
    torch.set_num_threads(2)
    model, _ = model_from_checkpoint(ckpt)
    model = model.to(DEVICE).eval()
    val = open_dataset(data, "val")
    scores = {}
    for first in ("mask", "box"):
        with torch.no_grad():
            run = predict_dataset(lambda: OnDevice(NetworkTracker(model)), val, multiple=16, desc=name, first=first)
        scores[f"{name}-{first}"] = float(run.report.summary()["J&F-Mean"])
    return name, scores


def main() -> None:
    from mobileseg.checkpoint import load_checkpoint
    from mobileseg.data.synth import SynthConfig, generate_synthvos

    OUT.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORK, ignore_errors=True)
    cfg = SynthConfig(videos=8 if SMOKE else 48, frames=8 if SMOKE else 20, height=64 if SMOKE else 240,
                      width=96 if SMOKE else 432, val_fraction=0.25, seed=0)
    data = generate_synthvos(WORK / "data", cfg)
    log("data", data, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")
    procs = {}
    for seed in SEEDS:
        for p in PROBS:
            name = f"p{p}-s{seed}"
            cmd = [sys.executable, "-m", "mobileseg", "train", "--model", "mobilevos_r18_mv2", "--data", str(data), "--out", str(WORK / name),
                   "--steps", "4" if SMOKE else "3000", "--batch-size", "8", "--crop", "48x64" if SMOKE else "192x192", "--device", DEVICE,
                   "--workers", "2", "--val-every", "0", "--seed", str(seed), "--save-every", "50", "--threads", "1", "--box-init-prob", str(p)]
            procs[name] = subprocess.Popen(cmd, stdout=open(WORK / f"{name}.log", "w"), stderr=subprocess.STDOUT,
                                           env={**os.environ, "MOBILESEG_PROGRESS": "never"})
    began = time.time()
    while time.time() - began < DEADLINE and any(proc.poll() is None for proc in procs.values()):
        time.sleep(2)
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        proc.wait()
    result: dict[str, Any] = {"train_seconds": DEADLINE, "data": {k: str(v) for k, v in vars(cfg).items()}, "device": DEVICE,
                              "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "steps": {}, "jf": {}}
    checkpoints = {}
    for name in procs:
        ckpt = WORK / name / "last.pt"
        if ckpt.is_file():
            result["steps"][name] = int(load_checkpoint(ckpt).get("train", {}).get("step", -1))
            checkpoints[name] = ckpt
        else:
            log(name, "no checkpoint:", *(WORK / f"{name}.log").read_text().splitlines()[-3:])
    log("steps", result["steps"])
    (OUT / "box_start_gpu.json").write_text(json.dumps(result, indent=2))
    jobs = [(name, str(ckpt), str(data)) for name, ckpt in checkpoints.items()]
    with multiprocessing.get_context("spawn").Pool(len(jobs) or 1) as pool:  # one process per checkpoint, all on the GPU
        for name, scores in pool.imap_unordered(score, jobs):
            result["jf"].update(scores)
            (OUT / "box_start_gpu.json").write_text(json.dumps(result, indent=2))
            log(name, {k: round(v, 4) for k, v in scores.items()})
    log("done")


if __name__ == "__main__":
    main()
