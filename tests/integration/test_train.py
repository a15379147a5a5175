"""Training end to end on tiny generated data: checkpoints, bit-identical reruns, kill-and-resume, torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mobileseg.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import ConfigError, MobilesegError
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
    reproducibility = last["train"]["reproducibility"]
    assert reproducibility["threads"] == torch.get_num_threads() and reproducibility["deterministic"] is True
    assert last["train"]["config"]["threads"] == torch.get_num_threads()
    assert not torch.are_deterministic_algorithms_enabled()  # the switches are restored after training
    with pytest.raises(TrainingError, match="--resume"):
        train(config(data, tmp_path / "run", steps=4))
    with pytest.raises(ConfigError, match=r"--model 'stcn_r50_r18_tiny' \(the run has 'mobilevos_r18_mv2_tiny'\)"):
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


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "last.pt")["model_state"]


def _assert_identical(a: Path, b: Path, what: str) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key, value in wa.items():
        assert torch.equal(value, wb[key]), f"{key} differs {what}: max {float((value.double() - wb[key].double()).abs().max()):.3g}"
    assert load_checkpoint(a / "last.pt")["train"]["best"] == load_checkpoint(b / "last.pt")["train"]["best"]


def test_same_command_twice_and_kill_resume_give_identical_weights(data: Path, tmp_path: Path) -> None:
    """Every run in its own process at 2 threads, as a user runs them; 64x96 crops are large enough
    for torch to split element-wise math over both threads (where MKL's first-call race lived)."""
    steps = 20

    def command(out: Path) -> list[str]:
        return [sys.executable, "-m", "mobileseg", "train", "--model", TINY, "--data", str(data), "--out", str(out),
                "--steps", str(steps), "--save-every", "1", "--val-every", "10", "--threads", "2", "--crop", "64x96",
                *[a for a in ARGS if a not in ("--crop", "48x64")]]

    for name in ("first", "second"):
        done = subprocess.run(command(tmp_path / name), env=env(), capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    _assert_identical(tmp_path / "first", tmp_path / "second", "between two runs of the same command")

    process = subprocess.Popen(command(tmp_path / "killed"), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
    # only the run folder: every setting, the thread count included, comes from last.pt
    resumed = subprocess.run([sys.executable, "-m", "mobileseg", "train", "--out", str(tmp_path / "killed"), "--resume"],
                             env=env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"resuming {tmp_path / 'killed'} at step {killed_at} of {steps} (2 threads, deterministic)" in resumed.stderr
    assert _step_of(last) == steps
    _assert_identical(tmp_path / "first", tmp_path / "killed", f"after a kill at step {killed_at} and --resume")


def test_resume_refuses_contradicting_options(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ["train", "--model", TINY, "--data", str(data), "--out", str(run), "--steps", "2", "--val-every", "0", *ARGS]
    assert CliRunner().invoke(cli, base).exit_code == 0
    refused = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--batch-size", "3", "--slots", "3", "--crop", "48x64",
                                       "--data", str(tmp_path)])
    assert refused.exit_code == 1
    message = " ".join(refused.output.split())
    for part in ("--batch-size 3 (the run has 2)", "--slots 3 (the run has 2)", f"--data '{tmp_path}' (the run has '{data.resolve()}')"):
        assert part in message, (part, message)
    assert "--crop" not in message  # agrees with the stored value
    shorter = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--steps", "1"])
    assert shorter.exit_code == 1 and "already reached step 2" in shorter.output
    new_run_without_data = CliRunner().invoke(cli, ["train", "--model", TINY, "--out", str(tmp_path / "other")])
    assert new_run_without_data.exit_code == 2 and "Missing option --data" in new_run_without_data.output
    # --lr may change (recovering from a diverging loss); the stored settings then say so
    lowered = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--steps", "3", "--lr", "1e-5", "--threads", "1"])
    assert lowered.exit_code == 0, lowered.output
    stored = load_checkpoint(run / "last.pt")["train"]
    assert stored["config"]["lr"] == 1e-5 and stored["config"]["threads"] == 1 and stored["step"] == 3


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


def test_architecture_settings_the_network_refuses_are_named_and_leave_nothing(data: Path, tmp_path: Path) -> None:
    for model, extra, said in (("mobilevos_r18_mv2_tiny", ["--slots", "1"], "with {'slots': 1}: slots must be >= 1 (>= 2 with pin_first)"),
                               ("tdnet_r18_mv2_tiny", ["--pretrained", "imagenet"], "ImageNet weights do not fit them (drop --pretrained)")):
        out = tmp_path / model
        result = CliRunner().invoke(cli, ["train", "--model", model, *extra, "--data", str(data), "--out", str(out), "--steps", "1"])
        assert result.exit_code == 1 and said in result.output, result.output
        assert not out.exists()
