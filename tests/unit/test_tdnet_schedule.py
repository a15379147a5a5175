"""Every TDNet sub-network is trained as the frame's main path, equally often, whatever the clip length;
a run too short for some step graph to segment a frame is refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.errors import ConfigError
from mobileseg.models import build_model
from mobileseg.models.tdnet import DistributedEncoder
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import train
from mobileseg.train.objective import check_every_phase_trains

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_synthvos(tmp_path_factory.mktemp("tdsched") / "d", SynthConfig(videos=3, frames=5, height=64, width=96, seed=3))


@pytest.mark.parametrize("clip_frames", [3, 4])
def test_each_sub_network_is_the_main_path_equally_often_over_a_training_run(
        clip_frames: int, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    main_path: Counter[int] = Counter()
    original = DistributedEncoder.next

    def counting(self: DistributedEncoder, x: torch.Tensor, queue: tuple[torch.Tensor, ...], phase: int):  # type: ignore[no-untyped-def]
        if self.training:  # training steps only (validation and BN recalibration are off below)
            main_path.update([phase])
        return original(self, x, queue, phase)  # type: ignore[arg-type]

    monkeypatch.setattr(DistributedEncoder, "next", counting)
    steps = 8  # two rounds of the 4 sub-networks
    config = TrainConfig(model="tdnet_r18_mv2_tiny", model_kwargs={"subnets": 4}, data=str(data), out=str(tmp_path / "run"),
                         steps=steps, batch_size=1, crop=(48, 64), clip_frames=clip_frames, val_every=0, bn_batches=0, warmup=1)
    train(config)
    # the old schedule (every clip from sub-network 0) gave {0: 8, 1: 8} for 3-frame clips: 2 and 3 never segmented a frame
    assert main_path == Counter({i: steps * (clip_frames - 1) // 4 for i in range(4)})


def test_a_run_in_which_some_step_graph_never_segments_a_frame_is_refused() -> None:
    student = build_model("tdnet_r18_mv2_tiny", subnets=4)
    short = TrainConfig(model="tdnet_r18_mv2_tiny", data="d", out="o", steps=1, clip_frames=3)
    with pytest.raises(ConfigError, match=r"step graph\(s\) 2, 3 would never segment a frame.*--steps 3 or more, or --clip-frames 5"):
        check_every_phase_trains(short, student)
    check_every_phase_trains(TrainConfig(model="tdnet_r18_mv2_tiny", data="d", out="o", steps=3, clip_frames=3), student)
    check_every_phase_trains(TrainConfig(model="tdnet_r18_mv2_tiny", data="d", out="o", steps=1, clip_frames=5), student)
    check_every_phase_trains(short, build_model("mobilevos_r18_mv2_tiny"))  # one step graph: nothing to refuse
