"""Training end to end on tiny generated data: checkpoints, kill-and-resume, torchrun with 2 processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import MobilesegError
from mobileseg.train.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import TrainingError, train

pytestmark = pytest.mark.slow
TINY = "mobilevos_r18_mv2_tiny"
ARGS = ["--batch-size", "2", "--crop", "48x64", "--clip-frames", "3", "--val-size", "64x96", "--val-videos", "1", "--warmup", "2",
        "--bn-batches", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthvos(tmp_path_factory.mktemp("train") / "synth", SynthConfig(videos=4, frames=6, height=64, width=96, seed=3))


def config(data: Path, out: Path, steps: int, **overrides: object) -> TrainConfig:
    values: dict[str, object] = dict(model=TINY, data=str(data), out=str(out), steps=steps, batch_size=2, crop=(48, 64),
                                     val_size=(64, 96), val_videos=1, warmup=2, save_every=1, val_every=4, bn_batches=2)
    values.update(overrides)
    return TrainConfig(**values)  # type: ignore[arg-type]


def env() -> dict[str, str]:
    return {**os.environ, "MOBILESEG_PROGRESS": "never"}


def test_train_writes_checkpoints_that_load_safely(data: Path, tmp_path: Path) -> None:
    result = train(config(data, tmp_path / "run", steps=4))
    assert result.step == 4 and result.best_score is not None and 0 <= result.best_score <= 1
    last = load_checkpoint(result.last)  # weights_only=True inside
    assert last["model"] == TINY and last["role"] == "student" and last["train"]["step"] == 4
    assert "optimizer" in last["train"] and (tmp_path / "run" / "config.json").is_file()
    model, payload = model_from_checkpoint(result.best, role="student")
    assert payload["train"]["best"]["step"] == 4
    with pytest.raises(CheckpointError, match="needs|needed"):
        model_from_checkpoint(result.best, role="teacher")
    with pytest.raises(TrainingError, match="--resume"):
        train(config(data, tmp_path / "run", steps=4))
    with pytest.raises(CheckpointError, match="trains model"):
        train(config(data, tmp_path / "run", steps=6, model="stcn_r50_r18_tiny"), resume=True)


def test_bad_checkpoint_files(tmp_path: Path) -> None:
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a mobileseg checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def _step_of(path: Path) -> int:
    try:
        return int(load_checkpoint(path)["train"]["step"])
    except MobilesegError:
        return -1


def test_killed_run_resumes_exactly(data: Path, tmp_path: Path) -> None:
    steps = 24
    reference = train(config(data, tmp_path / "reference", steps=steps))
    command = [sys.executable, "-m", "mobileseg", "train", "--model", TINY, "--data", str(data), "--out", str(tmp_path / "killed"),
               "--steps", str(steps), "--save-every", "1", "--val-every", "4", *ARGS]
    process = subprocess.Popen(command, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last = tmp_path / "killed" / "last.pt"
    deadline = time.time() + 300
    while _step_of(last) < 5:
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.time() < deadline, "the run never reached step 5"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = _step_of(last)
    assert 5 <= killed_at < steps, f"the run was not interrupted (step {killed_at})"
    resumed = train(config(data, tmp_path / "killed", steps=steps), resume=True)
    assert resumed.step == steps
    a, b = load_checkpoint(reference.last), load_checkpoint(resumed.last)
    for key, value in a["model_state"].items():
        assert torch.allclose(value.float(), b["model_state"][key].float(), atol=1e-6), f"{key} differs after resume"
    assert a["train"]["best"] == b["train"]["best"]


def test_torchrun_two_processes(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
               "-m", "mobileseg", "train", "--model", TINY, "--data", str(data), "--out", str(out), "--steps", "3",
               "--val-every", "3", *ARGS]
    result = subprocess.run(command, env=env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "world size 2" in result.stderr + result.stdout
    checkpoint = load_checkpoint(out / "last.pt")
    assert checkpoint["train"]["step"] == 3
    assert all(torch.isfinite(v).all() for v in checkpoint["model_state"].values() if v.is_floating_point())
