"""``--box-init-prob`` end to end: stored in the run, checked by --resume, old runs still load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mobileseg.checkpoint import load_checkpoint, save_checkpoint
from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import prepare_run

pytestmark = pytest.mark.slow
TINY = "mobilevos_r18_mv2_tiny"
ARGS = ["--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1", "--warmup", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthvos(tmp_path_factory.mktemp("boxinit") / "synth", SynthConfig(videos=3, frames=5, height=64, width=96, seed=5))


def test_box_init_prob_is_stored_and_resume_refuses_another_value(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    started = CliRunner().invoke(cli, ["train", "--model", TINY, "--data", str(data), "--out", str(run), "--steps", "2",
                                       "--box-init-prob", "1", *ARGS])
    assert started.exit_code == 0, started.output
    assert load_checkpoint(run / "last.pt")["train"]["config"]["box_init_prob"] == 1.0
    refused = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--steps", "3", "--box-init-prob", "0.5"])
    assert refused.exit_code == 1 and "--box-init-prob 0.5 (the run has 1.0)" in " ".join(refused.output.split())
    agreeing = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--steps", "3", "--box-init-prob", "1"])
    assert agreeing.exit_code == 0, agreeing.output
    assert load_checkpoint(run / "last.pt")["train"]["step"] == 3


def test_box_prompts_change_training_and_zero_does_not(data: Path, tmp_path: Path) -> None:
    def weights(name: str, *extra: str) -> dict[str, torch.Tensor]:
        result = CliRunner().invoke(cli, ["train", "--model", TINY, "--data", str(data), "--out", str(tmp_path / name), "--steps", "1", *ARGS, *extra])
        assert result.exit_code == 0, result.output
        return load_checkpoint(tmp_path / name / "last.pt")["model_state"]

    plain, zero, boxed = weights("plain"), weights("zero", "--box-init-prob", "0"), weights("boxed", "--box-init-prob", "1")
    assert all(torch.equal(plain[k], zero[k]) for k in plain)
    assert any(not torch.equal(plain[k], boxed[k]) for k in plain)  # the memory really started from the boxes


def test_a_run_stored_before_the_option_existed_resumes_and_is_reused(data: Path, tmp_path: Path) -> None:
    run = tmp_path / "old"
    config = TrainConfig(model=TINY, data=str(data), out=str(run), steps=2, batch_size=2, crop=(48, 64), val_every=0, bn_batches=1,
                         warmup=1, threads=1)
    assert CliRunner().invoke(cli, ["train", "--model", TINY, "--data", str(data), "--out", str(run), "--steps", "2", *ARGS]).exit_code == 0
    for name in ("last.pt", "best.pt"):  # what an older mobileseg wrote: no box_init_prob in the stored settings
        payload = load_checkpoint(run / name)
        del payload["train"]["config"]["box_init_prob"]
        save_checkpoint(run / name, payload)
    assert prepare_run(config, "test") == "finished" and (run / "last.pt").is_file()  # reused, not deleted and trained again
    resumed = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume", "--steps", "3", "--box-init-prob", "0"])
    assert resumed.exit_code == 0, resumed.output
    stored = load_checkpoint(run / "last.pt")["train"]
    assert stored["step"] == 3 and stored["config"]["box_init_prob"] == 0.0


def test_train_and_distill_help_document_the_option() -> None:
    for command in ("train", "distill"):
        text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
        assert "--box-init-prob" in text and "Chance per clip" in text and "[default: 0.0; 0<=x<=1]" in text, command
