"""`mobileseg distill --distiller tdnet` end to end: a TDNet student taught by a frozen teacher, its sub-output
loss and both KD terms logged, --resume continuing as if never stopped, and the student evaluated from its checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from mobileseg.checkpoint import load_checkpoint
from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

pytestmark = pytest.mark.slow
COMMON = ["--student", "tdnet_r18_mv2_tiny", "--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1",
          "--warmup", "1", "--save-every", "1", "--threads", "1", "--clip-frames", "4"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tdnet")
    data = generate_synthvos(root / "synth", SynthConfig(videos=4, frames=6, height=64, width=96, objects=(1, 2), seed=10))
    teacher = train(TrainConfig(model="stcn_r50_r18_tiny", out=str(root / "teacher"), data=str(data), steps=1, batch_size=2,
                                crop=(48, 64), val_every=0, bn_batches=1)).best
    return {"root": root, "data": data, "teacher": teacher}


def distill(setup: dict[str, Path], out: str, *extra: str):  # type: ignore[no-untyped-def]
    args = ["distill", "--teacher", str(setup["teacher"]), "--data", str(setup["data"]), "--out", str(setup["root"] / out), *COMMON,
            "--distiller", "tdnet", *extra]
    return CliRunner().invoke(cli, args)


def test_tdnet_distills_resumes_and_evaluates(setup: dict[str, Path], resume_distill: Any) -> None:
    whole = distill(setup, "whole", "--steps", "3")
    assert whole.exit_code == 0, whole.output
    log = [json.loads(line) for line in (setup["root"] / "whole" / "log.jsonl").read_text().splitlines()]
    assert {"seg", "sub_seg", "logit_kd", "group_kd", "total"} <= set(log[-1])
    last = load_checkpoint(setup["root"] / "whole" / "last.pt")
    assert last["train"]["distiller"] == {}  # the method has no parameters of its own

    assert distill(setup, "resumed", "--steps", "2").exit_code == 0
    resumed, restored = resume_distill(setup["root"] / "resumed", 3)
    assert resumed.exit_code == 0, resumed.output
    final = load_checkpoint(setup["root"] / "resumed" / "last.pt")
    assert all(torch.equal(final["model_state"][k], last["model_state"][k]) for k in last["model_state"])  # as if never stopped
    assert restored == {}

    scored = CliRunner().invoke(cli, ["eval", "--checkpoint", str(setup["root"] / "whole" / "best.pt"), "--data", str(setup["data"]),
                                      "--json", str(setup["root"] / "eval.json")])
    assert scored.exit_code == 0, scored.output
    assert 0.0 <= json.loads((setup["root"] / "eval.json").read_text())["summary"]["J&F-Mean"] <= 1.0
