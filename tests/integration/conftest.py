"""Shared by the integration tests: one tiny trained student and teacher, and the student exported
to every target (trained and exported once per session: the export and bench tests use them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

from mobileseg.cli import cli
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.export.pipeline import ExportRequest, export_checkpoint
from mobileseg.train import loop
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train

SIZE = (64, 96)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    data = generate_synthvos(root / "synth", SynthConfig(videos=4, frames=8, height=64, width=96, objects=(1, 2), seed=6))
    common = dict(data=str(data), steps=8, batch_size=2, crop=(48, 64), val_every=0, bn_batches=2, lr=1e-3)
    student = train(TrainConfig(model="mobilevos_r18_mv2_tiny", out=str(root / "student"), **common)).best  # type: ignore[arg-type]
    teacher = train(TrainConfig(model="stcn_r50_r18_tiny", out=str(root / "teacher"), **{**common, "steps": 1})).best  # type: ignore[arg-type]
    return {"root": root, "data": data, "student": student, "teacher": teacher}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """3 tiny SynthVOS videos and a tiny student trained for one step: what the bad-input tests feed the commands
    (one per module: a test may leave files beside them)."""
    root = tmp_path_factory.mktemp("tiny")
    data = generate_synthvos(root / "synth", SynthConfig(videos=3, frames=5, height=64, width=96, objects=(1, 2), seed=5))
    best = train(TrainConfig(model="mobilevos_r18_mv2_tiny", data=str(data), out=str(root / "run"), steps=1, batch_size=2,
                             crop=(48, 64), val_every=0, bn_batches=1, threads=1)).best
    return {"root": root, "data": data, "best": best, "frames": data / "JPEGImages" / "480p" / "synth0000",
            "first": data / "Annotations" / "480p" / "synth0000" / "00000.png"}


@pytest.fixture(scope="session")
def exported(trained: dict[str, Path]) -> dict[str, object]:
    out = trained["root"] / "export" / "out"
    results = export_checkpoint(ExportRequest(checkpoint=trained["student"], targets=["all"], out=out, size=SIZE))
    return {"out": out, "results": {r.target: r for r in results}}


@pytest.fixture
def resume_distill(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, int], tuple[Any, dict[str, torch.Tensor]]]:
    """``run(out, steps)``: ``mobileseg distill --out OUT --resume --steps STEPS``, and the distiller
    state that --resume restored (copied right after loading, before any step changes it)."""

    def run(out: Path, steps: int) -> tuple[Any, dict[str, torch.Tensor]]:
        restored: dict[str, torch.Tensor] = {}
        load = loop.load_distiller_state

        def spy(distiller: torch.nn.Module, *args: object) -> None:
            load(distiller, *args)  # type: ignore[arg-type]
            restored.update({k: v.detach().clone() for k, v in distiller.state_dict().items()})

        monkeypatch.setattr(loop, "load_distiller_state", spy)
        return CliRunner().invoke(cli, ["distill", "--out", str(out), "--resume", "--steps", str(steps)]), restored

    return run
