"""`mobileseg distill` end to end: a tiny teacher teaches a tiny student; baseline; errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.models.stcn_weights import to_stcn_names
from mobileseg.train.checkpoint import load_checkpoint
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow
COMMON = ["--batch-size", "2", "--crop", "48x64", "--val-size", "64x96", "--val-videos", "1", "--bn-batches", "1", "--warmup", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distill")
    data = generate_synthvos(root / "synth", SynthConfig(videos=4, frames=6, height=64, width=96, objects=(1, 2), seed=8))
    teacher = train(TrainConfig(model="stcn_r50_r18_tiny", data=str(data), out=str(root / "teacher"), steps=2, batch_size=2,
                                crop=(48, 64), val_every=0, bn_batches=1)).best
    return {"root": root, "data": data, "teacher": teacher}


def distill(setup: dict[str, Path], out: str, *extra: str):  # type: ignore[no-untyped-def]
    args = ["distill", "--teacher", str(setup["teacher"]), "--student", "mobilevos_r18_mv2_tiny", "--data", str(setup["data"]),
            "--out", str(setup["root"] / out), "--steps", "3", "--val-every", "3", "--samples", "32", *COMMON, *extra]
    return CliRunner().invoke(cli, args)


def test_mobilevos_distillation_logs_every_term_and_resumes(setup: dict[str, Path]) -> None:
    result = distill(setup, "kd")
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (setup["root"] / "kd" / "log.jsonl").read_text().splitlines()]
    assert {"seg", "repr", "logit_kd", "total"} <= set(log[-1])
    checkpoint = load_checkpoint(setup["root"] / "kd" / "last.pt")
    config = checkpoint["train"]["config"]
    assert checkpoint["model"] == "mobilevos_r18_mv2_tiny" and config["distiller"] == "mobilevos"
    assert config["distill_options"]["omega"] == 0.95 and config["poly_epsilon"] == 1.0 and config["teacher"]
    assert Path(config["teacher"]).is_absolute() and Path(config["data"]).is_absolute()
    conflict = CliRunner().invoke(cli, ["distill", "--out", str(setup["root"] / "kd"), "--resume", "--omega", "0.5", "--distiller", "none"])
    assert conflict.exit_code == 1 and "--omega 0.5 (the run has 0.95)" in conflict.output and "--distiller 'none'" in conflict.output
    more = CliRunner().invoke(cli, ["distill", "--out", str(setup["root"] / "kd"), "--resume", "--steps", "5", "--omega", "0.95"])
    assert more.exit_code == 0, more.output
    resumed = load_checkpoint(setup["root"] / "kd" / "last.pt")["train"]
    assert resumed["step"] == 5 and resumed["config"] == {**config, "steps": 5}


def test_baseline_needs_no_teacher_and_options_are_checked(setup: dict[str, Path]) -> None:
    result = CliRunner().invoke(cli, ["distill", "--distiller", "none", "--student", "mobilevos_r18_mv2_tiny", "--data", str(setup["data"]),
                                      "--out", str(setup["root"] / "none"), "--steps", "2", "--val-every", "0", *COMMON])
    assert result.exit_code == 0, result.output
    assert load_checkpoint(setup["root"] / "none" / "last.pt")["train"]["config"]["distiller"] == "none"
    missing = CliRunner().invoke(cli, ["distill", "--student", "mobilevos_r18_mv2_tiny", "--data", str(setup["data"]), "--out", str(setup["root"] / "x")])
    assert missing.exit_code == 1 and "needs --teacher" in missing.output
    teacher_as_student = distill(setup, "y", "--student", "stcn_r50_r18_tiny")
    assert teacher_as_student.exit_code == 1 and "trains a student" in teacher_as_student.output


def test_random_sampling_and_pure_contrastive(setup: dict[str, Path]) -> None:
    assert distill(setup, "random", "--sampling", "random").exit_code == 0
    contrastive = distill(setup, "omega0", "--omega", "0", "--logit-weight", "0")
    assert contrastive.exit_code == 0, contrastive.output


def test_distill_help_documents_every_option_with_its_default() -> None:
    text = " ".join(CliRunner().invoke(cli, ["distill", "--help"]).output.split())
    for option, default in (("--omega", "0.95"), ("--tau", "0.1"), ("--samples", "256"), ("--dilation", "1"),
                            ("--sampling", "boundary"), ("--repr-weight", "1.0"), ("--logit-weight", "1.0"), ("--poly-epsilon", "1.0")):
        assert f" {option} " in text, option
        block = text.split(f" {option} ", 1)[1][:500]  # the option's type, help and [default: ...; range]
        assert re.search(rf"\[default: {re.escape(default)}[;\]]", block), (option, block)


def test_official_stcn_file_as_teacher_is_accepted_by_name(tmp_path: Path) -> None:
    # a full-size STCN state dict under STCN's names is a valid --teacher (the loader maps the names)
    from mobileseg.models import build_model
    from mobileseg.train.checkpoint import load_teacher

    torch.save(to_stcn_names(build_model("stcn_r50_r18").state_dict()), tmp_path / "stcn.pth")
    teacher, name = load_teacher(tmp_path / "stcn.pth")
    assert name == "stcn_r50_r18" and not teacher.training
