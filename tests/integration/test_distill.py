"""`mobileseg distill` end to end: a tiny teacher teaches a tiny student; baseline; errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import click
import pytest
import torch
from click.testing import CliRunner

from mobileseg.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from mobileseg.cli import cli
from mobileseg.cli.distill import DistillOption, distill_command
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.distill import DISTILLERS, describe, option_defaults
from mobileseg.models.stcn_weights import to_stcn_names
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow
COMMON = ["--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-size", "64x96", "--val-videos", "1", "--bn-batches", "1", "--warmup", "1"]
CIRKD = ["--distiller", "cirkd", "--anchors", "16", "--pixel-queue", "64", "--region-queue", "8", "--pixel-samples", "32",
         "--region-samples", "4", "--pixel-enqueue", "4"]


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
    # a checkpoint written before distillers could hold state has no train["distiller"]: it still resumes
    assert checkpoint["train"]["distiller"] == {}
    del checkpoint["train"]["distiller"]
    save_checkpoint(setup["root"] / "kd" / "last.pt", checkpoint)
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
    ignored = distill(setup, "omega0", "--omega", "0", "--logit-weight", "0")  # pure contrastive: the teacher would be ignored
    assert ignored.exit_code == 1 and "(with the options given) uses no teacher checkpoint" in ignored.output, ignored.output
    args = ["distill", "--student", "mobilevos_r18_mv2_tiny", "--data", str(setup["data"]), "--out", str(setup["root"] / "omega0"),
            "--steps", "3", "--val-every", "3", "--samples", "32", *COMMON, "--omega", "0", "--logit-weight", "0"]
    contrastive = CliRunner().invoke(cli, args)
    assert contrastive.exit_code == 0, contrastive.output


def test_distill_help_documents_every_distiller_and_option_with_its_default() -> None:
    text = " ".join(CliRunner().invoke(cli, ["distill", "--help"]).output.split())
    flags = {p.name: p for p in distill_command.get_params(click.Context(distill_command)) if isinstance(p, DistillOption)}
    expected = [("--poly-epsilon", "1.0")]
    for name in DISTILLERS.names():
        method = DISTILLERS.get(name)
        assert f"{name}: {' '.join(describe(method).split()[:3])}" in text, name  # one line per registered method
        for option, default in option_defaults(method).items():
            assert option in flags, f"{name}'s option {option} has no --flag"
            assert flags[option].default == default, (name, option)  # the shown default is the method's
            expected.append((f"--{option.replace('_', '-')}", str(default)))
    for option, default in expected:
        assert f" {option} " in text, option
        block = text.split(f" {option} ", 1)[1][:700]  # the option's type, help and [default: ...; range]
        assert re.search(rf"\[default: {re.escape(default)}[;\]]", block), (option, block)
    assert "[cirkd] Weight of the mini-batch" in text
    # a name several methods share: one flag, its help names each method and says what the option is for each
    assert ("[cirkd, mobilevos] cirkd: Temperature of the pixel-relation softmaxes. mobilevos: Temperature of the boundary logit KL."
            in text)


def cirkd(setup: dict[str, Path], out: str, *extra: str):  # type: ignore[no-untyped-def]
    args = ["distill", "--teacher", str(setup["teacher"]), "--student", "mobilevos_r18_mv2_tiny", "--data", str(setup["data"]),
            "--out", str(setup["root"] / out), "--val-every", "0", "--save-every", "1", "--threads", "1", *COMMON, *CIRKD, *extra]
    return CliRunner().invoke(cli, args)


def test_cirkd_checkpoints_its_banks_and_resume_restores_them_bit_for_bit(setup: dict[str, Path], resume_distill: Any) -> None:
    whole = cirkd(setup, "cirkd", "--steps", "3")
    assert whole.exit_code == 0, whole.output
    log = [json.loads(line) for line in (setup["root"] / "cirkd" / "log.jsonl").read_text().splitlines()]
    assert {"seg", "batch_p2p", "memory_p2p", "memory_p2r", "logit_kd", "total"} <= set(log[-1])
    last = load_checkpoint(setup["root"] / "cirkd" / "last.pt")
    banks = last["train"]["distiller"]
    assert banks["pixel_bank.items"].shape == (2, 64, 32) and banks["region_bank.items"].shape == (2, 8, 32)  # tiny teacher: D_t 32
    assert banks["pixel_bank.count"].min() > 0 and banks["region_bank.count"].tolist() == [8, 8] and "head.0.weight" in banks
    options = last["train"]["config"]["distill_options"]
    assert options == {**option_defaults(DISTILLERS.get("cirkd")), "anchors": 16, "pixel_queue": 64, "region_queue": 8,
                       "pixel_samples": 32, "region_samples": 4, "pixel_enqueue": 4}
    # the student alone is exported: no head or bank in the model state
    assert not [k for k in last["model_state"] if "bank" in k or k.startswith("head.")]
    student, _ = model_from_checkpoint(setup["root"] / "cirkd" / "best.pt", role="student")
    assert set(student.state_dict()) == set(last["model_state"])
    conflict = CliRunner().invoke(cli, ["distill", "--out", str(setup["root"] / "cirkd"), "--resume", "--omega", "0.5"])
    assert conflict.exit_code == 1 and "--omega 0.5 (the run has --distiller cirkd, which has no such option)" in conflict.output

    assert cirkd(setup, "cirkd-resumed", "--steps", "2").exit_code == 0
    stopped = load_checkpoint(setup["root"] / "cirkd-resumed" / "last.pt")["train"]["distiller"]
    resumed, restored = resume_distill(setup["root"] / "cirkd-resumed", 3)
    assert resumed.exit_code == 0, resumed.output
    assert restored.keys() == stopped.keys() and all(torch.equal(restored[k], stopped[k]) for k in stopped)
    final = load_checkpoint(setup["root"] / "cirkd-resumed" / "last.pt")
    assert all(torch.equal(final["train"]["distiller"][k], banks[k]) for k in banks)  # as if never stopped
    assert all(torch.equal(final["model_state"][k], last["model_state"][k]) for k in last["model_state"])

    # a cirkd checkpoint without its banks, or with banks of another size, does not resume; the error names the file
    for edit, message in ((lambda train: train.pop("distiller"), "holds no distiller state"),
                          (lambda train: train["distiller"].update({"pixel_bank.items": torch.zeros(2, 5, 32)}), "does not fit it")):
        broken = setup["root"] / "cirkd-broken"
        shutil.rmtree(broken, ignore_errors=True)
        shutil.copytree(setup["root"] / "cirkd", broken)
        payload = load_checkpoint(broken / "last.pt")
        edit(payload["train"])
        save_checkpoint(broken / "last.pt", payload)
        result = CliRunner().invoke(cli, ["distill", "--out", str(broken), "--resume", "--steps", "4"])
        assert result.exit_code == 1 and str(broken / "last.pt") in result.output and message in result.output, result.output


def test_distiller_options_must_belong_to_the_chosen_distiller(setup: dict[str, Path]) -> None:
    stray = distill(setup, "stray", "--pixel-queue", "10")  # mobilevos (the default) has no memory bank
    assert stray.exit_code == 1 and "--distiller mobilevos does not take --pixel-queue" in stray.output
    assert "--pixel-queue: cirkd" in stray.output
    other = cirkd(setup, "other", "--omega", "0.5")
    assert other.exit_code == 1 and "--distiller cirkd does not take --omega" in other.output
    unknown = distill(setup, "unknown", "--distiller", "cirk")
    assert unknown.exit_code == 1 and "Did you mean 'cirkd'" in unknown.output
    off = cirkd(setup, "off", "--batch-weight", "0", "--pixel-weight", "0", "--region-weight", "0", "--logit-weight", "0")
    assert off.exit_code == 1 and "--distiller none" in off.output
    assert not any((setup["root"] / name).exists() for name in ("stray", "other", "unknown", "off"))


def test_official_stcn_file_as_teacher_is_accepted_by_name(tmp_path: Path) -> None:
    # a full-size STCN state dict under STCN's names is a valid --teacher (the loader maps the names)
    from mobileseg.checkpoint import load_teacher
    from mobileseg.models import build_model

    torch.save(to_stcn_names(build_model("stcn_r50_r18").state_dict()), tmp_path / "stcn.pth")
    teacher, name = load_teacher(tmp_path / "stcn.pth")
    assert name == "stcn_r50_r18" and not teacher.training
