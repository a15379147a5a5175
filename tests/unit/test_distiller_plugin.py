"""Adding a distiller is one file plus its registration: an example method written here, registered for
the test alone, gets its `mobileseg distill` flags, its checked options and its logged loss term."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.distill import DISTILLERS, Distiller, DistillOptions, StepOutputs, option
from mobileseg.errors import ConfigError
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train
from mobileseg.train.objective import Objective

pytestmark = pytest.mark.usefixtures("one_thread")
NAME = "logit_mse"


# --- the example: what mobileseg/distill/logit_mse.py would hold ----------------------------------------
@dataclass(frozen=True)
class LogitMSEOptions(DistillOptions):
    mse_weight: float = option(0.5, "Weight of the MSE between the student's and the teacher's class scores.", within=(0, 10))
    space: str = option("probs", "probs: compare softmax probabilities; logits: the raw class logits.", choices=("probs", "logits"))


class LogitMSEDistiller(Distiller):
    """Logit MSE: the student's class scores pulled towards the frozen teacher's (an example plug-in).

    Teacher mode ``checkpoint`` (the default): the trainer loads --teacher and runs it over the step's clips.
    """

    Options = LogitMSEOptions
    options: LogitMSEOptions

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        assert outputs.teacher is not None
        student, teacher = outputs.student.class_logits, outputs.teacher.class_logits.detach()
        if self.options.space == "probs":
            student, teacher = student.softmax(2), teacher.softmax(2)
        return {"logit_mse": self.options.mse_weight * F.mse_loss(student, teacher)}
# ---------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def plugged(name: str = NAME, method: type[Distiller] = LogitMSEDistiller) -> Iterator[None]:
    """The registration (``@DISTILLERS.register(NAME)`` in the plug-in's file), undone afterwards."""
    DISTILLERS.register(name)(method)
    try:
        yield
    finally:
        DISTILLERS.unregister(name)


def help_text() -> str:
    return " ".join(CliRunner().invoke(cli, ["distill", "--help"]).output.split())


def test_help_lists_the_method_and_its_flags_while_it_is_registered() -> None:
    with plugged():
        text = help_text()
        assert "logit_mse: Logit MSE: the student's class scores pulled towards the frozen teacher's (an example plug-in)." in text
        assert ("--mse-weight FLOAT RANGE [logit_mse] Weight of the MSE between the student's and the teacher's class scores. "
                "[default: 0.5; 0<=x<=10]") in text
        assert "--space [probs|logits] [logit_mse] probs: compare softmax probabilities; logits: the raw class logits. [default: probs]" in text
        assert "--omega FLOAT RANGE [mobilevos] Target C" in text  # the registered methods' flags are all still there
    text = help_text()
    assert "logit_mse" not in text and "--mse-weight" not in text and "--space" not in text


class SharedTau(Distiller):
    """Shared tau: an example with an option of a name other methods have, another default."""

    @dataclass(frozen=True)
    class Options(DistillOptions):
        tau: float = option(0.5, "Temperature of nothing at all.", above=0)

    def forward(self, outputs: StepOutputs, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return {}


def test_a_shared_option_name_is_one_flag_whose_help_names_each_method_and_its_default() -> None:
    with plugged("shared_tau", SharedTau):
        text = help_text()
    block = text.split(" --tau ", 1)[1].split(" --", 1)[0]
    assert block.startswith("FLOAT RANGE [cirkd, mobilevos, shared_tau] cirkd (default 0.1): Temperature of the pixel-relation softmaxes. "
                            "mobilevos (default 0.1): Temperature of the boundary logit KL. shared_tau (default 0.5): Temperature of "
                            "nothing at all."), block
    assert "[default:" not in block  # no one default to show


def test_bad_values_and_options_of_other_methods_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^distiller logit_mse: option mse_weight \(--mse-weight\) must be in \[0, 10\]; got 11.0. "
                                          r"Give a value in \[0, 10\].$"):
        with plugged():
            LogitMSEDistiller(mse_weight=11.0)
    with plugged():
        with pytest.raises(ConfigError, match=r"option space \(--space\) must be one of probs, logits; got 'softmax'"):
            Objective(TrainConfig(model="mobilevos_r18_mv2_tiny", data="d", out="o", teacher="t.pt", distiller=NAME,
                                  distill_options={"space": "softmax"}))
        common = ["distill", "--student", "mobilevos_r18_mv2_tiny", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                  "--teacher", str(tmp_path / "teacher.pt")]
        out_of_range = CliRunner().invoke(cli, [*common, "--distiller", NAME, "--mse-weight", "11"])
        assert out_of_range.exit_code == 2 and "Invalid value for '--mse-weight': 11.0 is not in the range 0<=x<=10." in out_of_range.output
        other = CliRunner().invoke(cli, [*common, "--distiller", NAME, "--omega", "0.5"])
        assert other.exit_code == 1, other.output
        assert "--distiller logit_mse does not take --omega (it takes --mse-weight, --space)" in other.output
        assert "--omega: mobilevos" in other.output
        theirs = CliRunner().invoke(cli, [*common, "--distiller", "mobilevos", "--space", "logits"])
        assert theirs.exit_code == 1 and "--distiller mobilevos does not take --space" in theirs.output and "--space: logit_mse" in theirs.output
    assert not (tmp_path / "run").exists()


def test_distill_trains_with_the_method_logs_its_term_and_resumes(tmp_path: Path) -> None:
    data = generate_synthvos(tmp_path / "synth", SynthConfig(videos=3, frames=4, height=64, width=96, objects=(1, 2), seed=3))
    teacher = train(TrainConfig(model="stcn_r50_r18_tiny", data=str(data), out=str(tmp_path / "teacher"), steps=1, batch_size=2,
                                crop=(48, 64), val_every=0, bn_batches=1, threads=1)).best
    out = tmp_path / "kd"
    with plugged():
        args = ["distill", "--distiller", NAME, "--space", "logits", "--teacher", str(teacher), "--student", "mobilevos_r18_mv2_tiny",
                "--data", str(data), "--out", str(out), "--steps", "2", "--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-every", "0",
                "--bn-batches", "1", "--warmup", "1", "--threads", "1"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        assert all(record["logit_mse"] > 0 and record["total"] == pytest.approx(record["seg"] + record["logit_mse"]) for record in log)
        config = json.loads((out / "config.json").read_text())
        assert config["distiller"] == NAME and config["distill_options"] == {"mse_weight": 0.5, "space": "logits"}
        changed = CliRunner().invoke(cli, ["distill", "--out", str(out), "--resume", "--steps", "3", "--space", "probs"])
        assert changed.exit_code == 1 and "--space 'probs' (the run has 'logits')" in changed.output, changed.output
        resumed = CliRunner().invoke(cli, ["distill", "--out", str(out), "--resume", "--steps", "3", "--mse-weight", "0.5"])
        assert resumed.exit_code == 0, resumed.output
        last = json.loads((out / "log.jsonl").read_text().splitlines()[-1])
        assert last["step"] == 3 and last["logit_mse"] > 0
