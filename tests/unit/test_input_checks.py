"""Bad inputs caught by the library before any work: output folders, locks, checkpoints, videos, tolerances.

No training here (models are built with random weights); the command-line side is in
tests/integration/test_bad_inputs.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mobileseg.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.data.video import read_video
from mobileseg.errors import ConfigError, DatasetError, OutputError
from mobileseg.export.parity import Tolerance
from mobileseg.models import build_model
from mobileseg.train.config import TrainConfig, check_device, check_pretrained
from mobileseg.utils.fsio import check_writable_folder, is_within, paths_overlap
from mobileseg.utils.lock import FolderLockedError, folder_lock

TINY = "mobilevos_r18_mv2_tiny"


def test_paths_overlap_resolves_dots_and_symlinks(tmp_path: Path) -> None:
    (tmp_path / "data" / "Annotations").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "data" / "Annotations")
    assert is_within(tmp_path / "link" / "new" / "x", tmp_path / "data" / "Annotations")
    assert is_within(tmp_path / "data" / "x" / ".." / "Annotations", tmp_path / "data" / "Annotations")
    assert paths_overlap(tmp_path / "data", tmp_path / "link") and paths_overlap(tmp_path / "link", tmp_path / "data")
    assert not paths_overlap(tmp_path / "data", tmp_path / "data2")


def test_writable_folder_names_the_folder_and_the_obstacle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check_writable_folder(tmp_path / "new" / "deeper", "--out")  # creatable: fine, and nothing is created
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match=r"--out .*file/run cannot be created: .*file is a file"):
        check_writable_folder(tmp_path / "file" / "run", "--out")
    with pytest.raises(OutputError, match=r"--results .*file is a file"):
        check_writable_folder(tmp_path / "file", "--results")
    with pytest.raises(OutputError, match=r"--out /proc/x cannot be created: /proc is not writable"):  # os.access says yes to root
        check_writable_folder("/proc/x", "--out")

    def refused(*args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", refused)  # as a non-root user on a 0555 folder (root may write anywhere)
    with pytest.raises(OutputError, match=rf"--out {tmp_path}/run cannot be created: {tmp_path} is not writable \(Permission denied"):
        check_writable_folder(tmp_path / "run", "--out")


def test_folder_lock_refuses_a_second_holder_and_not_a_stale_file(tmp_path: Path) -> None:
    run = tmp_path / "run"
    taken = rf"--out {run} is in use by another run \(PID {os.getpid()} holds"
    with folder_lock(run), pytest.raises(FolderLockedError, match=taken), folder_lock(run):
        pass
    with folder_lock(run):  # released on exit
        pass
    assert not run.exists()  # nothing but the lock was written: the folder the lock made is gone again
    script = (f"import time\nfrom mobileseg.utils.lock import folder_lock\nwith folder_lock({str(run)!r}):\n"
              "    print('locked', flush=True)\n    time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderLockedError, match=f"PID {holder.pid} holds"), folder_lock(run):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (run / ".lock").read_text().strip() == str(holder.pid)  # a stale lock file of a killed run ...
    deadline = time.time() + 10
    with folder_lock(run):  # ... does not block the next one
        assert time.time() < deadline


def test_synth_overwrite_deletes_only_what_it_wrote(tmp_path: Path) -> None:
    config = SynthConfig(videos=2, frames=3, height=32, width=32, seed=1)
    root = generate_synthvos(tmp_path / "d", config)
    (root / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=rf"holds {root / 'notes.txt'}, which SynthVOS did not write"):
        generate_synthvos(root, config, overwrite=True)
    assert (root / "notes.txt").read_text() == "mine"
    (root / "notes.txt").unlink()
    extra = root / "JPEGImages" / "480p" / "synth0001" / "my_frame.jpg"
    extra.write_bytes(b"x")
    with pytest.raises(ConfigError, match="my_frame.jpg"):
        generate_synthvos(root, config, overwrite=True)
    extra.unlink()
    generate_synthvos(root, SynthConfig(videos=1, frames=4, height=32, width=32), overwrite=True)  # its own files: replaced
    assert sorted(p.name for p in root.iterdir()) == ["Annotations", "ImageSets", "JPEGImages", "synthvos.json"]


def test_synth_checks_its_output_folder_first(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="--out .*file/d cannot be created"):
        generate_synthvos(tmp_path / "file" / "d", SynthConfig(videos=1, frames=3, height=32, width=32))


def _gif_and_mp4(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("av")
    import av

    frames = [np.full((32, 48, 3), 40 * i, np.uint8) for i in range(5)]
    gif = tmp_path / "clip.gif"
    Image.fromarray(frames[0]).save(gif, save_all=True, append_images=[Image.fromarray(f) for f in frames[1:]])
    mp4 = tmp_path / "clip.mp4"
    with av.open(str(mp4), mode="w", options={"movflags": "faststart"}) as container:  # header first, as streamed files are
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return gif, mp4


def test_corrupt_gif_and_truncated_mp4_name_the_file(tmp_path: Path) -> None:
    gif, mp4 = _gif_and_mp4(tmp_path)
    assert len(list(read_video(gif))) == 5 and len(list(read_video(mp4))) == 5
    cases = {"cut.gif": gif.read_bytes()[: gif.stat().st_size // 2], "noise.gif": b"GIF89a" + bytes(40),
             "cut.mp4": mp4.read_bytes()[:700], "half.mp4": mp4.read_bytes()[: mp4.stat().st_size // 3],
             "header.mp4": mp4.read_bytes()[:300]}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DatasetError, match=rf"{tmp_path / name}.*truncated or corrupt"):
            list(read_video(tmp_path / name))


def test_checkpoint_files_that_are_empty_exported_or_for_another_model(tmp_path: Path) -> None:
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.pt is empty \(0 bytes\).*`mobileseg train`"):
        load_checkpoint(tmp_path / "empty.pt")
    for name in ("student.tflite", "student.onnx", "student.pte", "student.onnx.json"):
        (tmp_path / name).write_bytes(b"TFL3 not a checkpoint")
        with pytest.raises(CheckpointError, match=rf"is an exported model .*--model {tmp_path / name}"):
            load_checkpoint(tmp_path / name)
    state = build_model(TINY).state_dict()
    first, second = list(state)[:2]
    del state[first]
    state["head.extra"] = torch.zeros(1)
    state[second] = torch.zeros(3, 3)
    save_checkpoint(tmp_path / "hand.pt", {"model": TINY, "role": "student", "model_kwargs": {}, "model_state": state})
    with pytest.raises(CheckpointError, match=rf"does not fit model '{TINY}': missing keys: {first}; unexpected keys: "
                                              rf"head\.extra; shape mismatches: {second} \(file \[3, 3\]"):
        model_from_checkpoint(tmp_path / "hand.pt")


def test_device_and_pretrained_are_checked(tmp_path: Path) -> None:
    check_device("cpu")
    with pytest.raises(ConfigError, match="--device gpu: the devices are cpu, cuda and cuda:N"):
        check_device("gpu")
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:0"):
            with pytest.raises(ConfigError, match=rf"--device {device}: CUDA is not available .*Use --device cpu"):
                TrainConfig(model=TINY, data=".", out=".", device=device).check()
    (tmp_path / "resnet18-f37072fd.pth").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"resnet18-f37072fd\.pth is empty \(0 bytes\).*download\.pytorch\.org"):
        check_pretrained(str(tmp_path))
    check_pretrained("imagenet")


@pytest.mark.parametrize("values, flag", [((-1.0, 0.999), "--max-abs-prob"), ((float("nan"), 0.999), "--max-abs-prob"),
                                          ((1e-3, 1.5), "--min-iou"), ((1e-3, -0.1), "--min-iou"), ((1e-3, float("nan")), "--min-iou")])
def test_tolerance_out_of_range_names_the_real_flag(values: tuple[float, float], flag: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{flag} "):
        Tolerance(*values)
    Tolerance(float("inf"), 0.0)  # what quantised exports use: agreement is measured, never gated


def test_a_quickstart_folder_from_before_markers_is_reused_and_a_users_folder_is_not(tmp_path: Path) -> None:
    from mobileseg.quickstart import KIND, _claim
    from mobileseg.utils.owned import read_marker

    legacy = tmp_path / "old"  # what an earlier quickstart left: only its own entries, with its summary and data
    for name in ("data", "runs", "export", "results"):
        (legacy / name).mkdir(parents=True)
    (legacy / "summary.json").write_text("{}")
    assert _claim(legacy, overwrite=False) == legacy and read_marker(legacy)["kind"] == KIND  # type: ignore[index]
    mine = tmp_path / "mine"
    (mine / "runs").mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=rf"--out {mine} already holds files mobileseg did not write: notes.txt, runs"):
        _claim(mine, overwrite=False)
    assert read_marker(mine) is None
