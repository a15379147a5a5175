"""`mobileseg distill --distiller lgd` end to end: no teacher, resumable label-guided modules, a plain student."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from mobileseg.checkpoint import load_checkpoint, model_from_checkpoint
from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos

pytestmark = pytest.mark.slow
COMMON = ["--student", "mobilevos_r18_mv2_tiny", "--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1",
          "--warmup", "1", "--save-every", "1", "--threads", "1"]
LGD = ["--distiller", "lgd", "--label-dim", "16", "--heads", "4", "--mask-size", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lgd")
    return generate_synthvos(root / "synth", SynthConfig(videos=4, frames=6, height=64, width=96, objects=(1, 2), seed=8))


def distill(data: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["distill", "--data", str(data), "--out", str(out), *COMMON, *extra])


def test_lgd_trains_without_a_teacher_and_resume_restores_its_modules_bit_for_bit(data: Path, tmp_path: Path,
                                                                                   resume_distill: Any) -> None:
    whole = distill(data, tmp_path / "whole", *LGD, "--steps", "3")  # step 0 early (3/6 = 0.5), 1-2 late
    assert whole.exit_code == 0, whole.output
    log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert {"seg", "teacher_seg", "feature_kd", "total"} <= set(log[-1])
    last = load_checkpoint(tmp_path / "whole" / "last.pt")
    modules = last["train"]["distiller"]
    assert {k.split(".")[0] for k in modules} == {"label_encoder", "appearance", "relation", "mapper", "adapter"}
    config = last["train"]["config"]
    assert config["teacher"] is None and config["distill_options"]["detach_fraction"] == 1 / 6

    assert distill(data, tmp_path / "resumed", *LGD, "--steps", "2").exit_code == 0
    stopped = load_checkpoint(tmp_path / "resumed" / "last.pt")["train"]["distiller"]
    assert not all(torch.equal(stopped[k], modules[k]) for k in modules)  # one step short: the modules differ yet
    resumed, restored = resume_distill(tmp_path / "resumed", 3)
    assert resumed.exit_code == 0, resumed.output
    assert restored.keys() == stopped.keys() and all(torch.equal(restored[k], stopped[k]) for k in stopped)
    final = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(final["train"]["distiller"][k], modules[k]) for k in modules)  # as if never stopped
    assert all(torch.equal(final["model_state"][k], last["model_state"][k]) for k in last["model_state"])

    # the label-guided modules are dropped: the student is the same network as the baseline's
    assert distill(data, tmp_path / "none", "--distiller", "none", "--steps", "1").exit_code == 0
    baseline = load_checkpoint(tmp_path / "none" / "best.pt")
    best = load_checkpoint(tmp_path / "whole" / "best.pt")
    assert set(best["model_state"]) == set(baseline["model_state"]) == set(last["model_state"])
    assert "distiller" not in best["train"]
    ours, _ = model_from_checkpoint(tmp_path / "whole" / "best.pt", role="student")
    theirs, _ = model_from_checkpoint(tmp_path / "none" / "best.pt", role="student")
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())
    assert set(ours.state_dict()) == set(theirs.state_dict())


def test_lgd_options_are_checked(data: Path, tmp_path: Path) -> None:
    bad = distill(data, tmp_path / "bad", *LGD, "--heads", "3", "--steps", "1")
    assert bad.exit_code == 1 and "label_dim must be a multiple of heads" in bad.output, bad.output
    stray = distill(data, tmp_path / "stray", *LGD, "--omega", "0.5", "--steps", "1")
    assert stray.exit_code == 1 and "--distiller lgd does not take --omega" in stray.output
    assert not (tmp_path / "bad").exists() and not (tmp_path / "stray").exists()
