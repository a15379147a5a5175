"""`mobileseg distill --distiller online` end to end: a teacher trained beside the student, all three
networks (teacher, adapters, discriminator) in last.pt and restored by --resume, a plain student."""

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
from mobileseg.models import build_model

pytestmark = pytest.mark.slow
COMMON = ["--student", "mobilevos_r18_mv2_tiny", "--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1",
          "--warmup", "1", "--save-every", "1", "--threads", "1"]
ONLINE = ["--distiller", "online", "--online-teacher", "stcn_r50_r18_tiny"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("online")
    return generate_synthvos(root / "synth", SynthConfig(videos=4, frames=6, height=64, width=96, objects=(1, 2), seed=9))


def distill(data: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["distill", "--data", str(data), "--out", str(out), *COMMON, *extra])


def test_online_trains_both_networks_and_resume_restores_teacher_adapters_and_discriminator(data: Path, tmp_path: Path,
                                                                                             resume_distill: Any) -> None:
    whole = distill(data, tmp_path / "whole", *ONLINE, "--steps", "3")
    assert whole.exit_code == 0, whole.output
    log = [json.loads(line) for line in (tmp_path / "whole" / "log.jsonl").read_text().splitlines()]
    assert {"seg", "teacher_seg", "logit_kd", "feature_kd", "adv_disc", "adv_student", "total"} <= set(log[-1])
    last = load_checkpoint(tmp_path / "whole" / "last.pt")
    modules = last["train"]["distiller"]
    assert {k.split(".")[0] for k in modules} == {"teacher", "fusion", "smooth", "discriminator"}
    assert last["train"]["config"]["teacher"] is None

    assert distill(data, tmp_path / "resumed", *ONLINE, "--steps", "2").exit_code == 0
    stopped = load_checkpoint(tmp_path / "resumed" / "last.pt")["train"]["distiller"]
    teacher = [k for k in modules if k.startswith("teacher.model.") and k.endswith(".weight")]
    assert any(not torch.equal(stopped[k], modules[k]) for k in teacher)  # step 3 moved the teacher ...
    student_before = load_checkpoint(tmp_path / "resumed" / "last.pt")["model_state"]
    assert any(not torch.equal(student_before[k], v) for k, v in last["model_state"].items())  # ... and the student
    resumed, restored = resume_distill(tmp_path / "resumed", 3)
    assert resumed.exit_code == 0, resumed.output
    assert restored.keys() == stopped.keys() and all(torch.equal(restored[k], stopped[k]) for k in stopped)
    final = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert all(torch.equal(final["train"]["distiller"][k], modules[k]) for k in modules)  # as if never stopped
    assert all(torch.equal(final["model_state"][k], last["model_state"][k]) for k in last["model_state"])

    best = load_checkpoint(tmp_path / "whole" / "best.pt")  # the teacher and adapters are dropped
    assert "distiller" not in best["train"] and set(best["model_state"]) == set(last["model_state"])
    student, _ = model_from_checkpoint(tmp_path / "whole" / "best.pt", role="student")
    assert set(student.state_dict()) == set(build_model("mobilevos_r18_mv2_tiny").state_dict())


def test_online_ablation_switches_and_bad_teacher_names(data: Path, tmp_path: Path) -> None:
    bare = distill(data, tmp_path / "bare", *ONLINE, "--adaptive-rate", "false", "--fusion", "false", "--smooth-block", "false",
                   "--adversarial-weight", "0", "--steps", "1")
    assert bare.exit_code == 0, bare.output
    last = load_checkpoint(tmp_path / "bare" / "last.pt")
    assert {k.split(".")[0] for k in last["train"]["distiller"]} == {"teacher", "smooth"}
    assert last["train"]["config"]["distill_options"]["adaptive_rate"] is False
    bad = distill(data, tmp_path / "bad", "--distiller", "online", "--online-teacher", "stcn_r50_r18_tiniest", "--steps", "1")
    assert bad.exit_code == 1 and "unknown model 'stcn_r50_r18_tiniest'" in bad.output and "stcn_r50_r18_tiny" in bad.output
    assert not (tmp_path / "bad").exists()
