"""A user trying bad inputs: no command destroys data, and every mistake is one `Error:` line, exit 1.

Each test was first a reproduction of the reported problem (ground truth overwritten, frames
poisoned, user files deleted, two runs in one folder, tracebacks, advice that did not work).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mobileseg.checkpoint import load_checkpoint
from tests.cli_checks import assert_error, digest, invoke

pytestmark = pytest.mark.slow
TINY = "mobilevos_r18_mv2_tiny"
SMALL = ["--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def setup(tiny_run: dict[str, Path]) -> dict[str, Path]:
    return tiny_run  # tests/integration/conftest.py


def test_eval_refuses_results_in_the_ground_truth_or_frames(setup: dict[str, Path], tmp_path: Path) -> None:
    data = setup["data"]
    before = digest(data)
    (tmp_path / "gt").symlink_to(data / "Annotations" / "480p")
    for results in (data / "Annotations" / "480p", data / "Annotations" / "480p" / "synth0002", tmp_path / "gt",
                    data / "Annotations", data / "JPEGImages" / "480p" / "x"):
        refused = invoke("eval", "--checkpoint", setup["best"], "--data", data, "--results", results)
        assert_error(refused, f"--results {results}", "the dataset's", "Choose a folder outside")
    assert digest(data) == before
    fine = invoke("eval", "--checkpoint", setup["best"], "--data", data, "--results", tmp_path / "preds")
    assert fine.exit_code == 0, fine.output
    assert len(list((tmp_path / "preds").rglob("*.png"))) == 5


def test_run_refuses_an_out_folder_overlapping_the_frames(setup: dict[str, Path], tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    shutil.copytree(setup["frames"], frames)
    before = digest(frames)
    for out in (frames, frames / "masks", tmp_path):
        refused = invoke("run", "--checkpoint", setup["best"], "--frames", frames, "--first-mask", setup["first"], "--out", out)
        assert_error(refused, f"--out {out} overlaps the input --frames {frames}")
    assert digest(frames) == before


def test_synth_overwrite_keeps_files_it_did_not_write(tmp_path: Path) -> None:
    synth = ["data", "synth", "--videos", "2", "--frames", "3", "--size", "32x48", "--out", tmp_path / "d"]
    assert invoke(*synth).exit_code == 0
    (tmp_path / "d" / "my_notes.txt").write_text("precious")
    assert_error(invoke(*synth, "--overwrite"), f"{tmp_path / 'd' / 'my_notes.txt'}", "did not write")
    assert (tmp_path / "d" / "my_notes.txt").read_text() == "precious"


def _wait_for(path: Path, process: subprocess.Popen[bytes], seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_second_run_on_the_same_folder_fails_at_once_and_kill_does_not_block(setup: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    command = ["train", "--model", TINY, "--data", str(setup["data"]), "--out", str(run), "--save-every", "1", *SMALL]
    env = {**os.environ, "MOBILESEG_PROGRESS": "never"}
    first = subprocess.Popen([sys.executable, "-m", "mobileseg", *command, "--steps", "100000"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_for(run / "config.json", first)  # started, maybe before its first checkpoint
        assert_error(invoke(*command, "--steps", "1"), f"--out {run} is in use by another run (PID {first.pid}")
        _wait_for(run / "last.pt", first)
        resume = subprocess.run([sys.executable, "-m", "mobileseg", "train", "--out", str(run), "--resume"], env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert resume.returncode == 1 and f"is in use by another run (PID {first.pid}" in resume.stderr, resume.stderr
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    reached = int(load_checkpoint(run / "last.pt")["train"]["step"])
    resumed = invoke("train", "--out", run, "--resume", "--steps", reached + 1)  # the killed run's lock file does not block
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(run / "last.pt")["train"]["step"] == reached + 1


def test_unwritable_output_folders_are_named_before_any_work(setup: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "out"
    cases = {
        "--out": ["train", "--model", TINY, "--data", setup["data"], "--out", out, "--steps", "1", *SMALL],
        "--results": ["eval", "--checkpoint", setup["best"], "--data", setup["data"], "--results", out],
        "run --out": ["run", "--checkpoint", setup["best"], "--frames", setup["frames"], "--first-mask", setup["first"], "--out", out],
        "export --out": ["export", "--checkpoint", setup["best"], "--target", "onnx", "--size", "64x96", "--out", out],
        "synth --out": ["data", "synth", "--videos", "1", "--frames", "3", "--size", "32x48", "--out", out],
    }
    for flag, args in cases.items():
        assert_error(invoke(*args), f"{flag.split()[-1]} {out} cannot be created: {blocker} is a file")


def test_broken_checkpoints_are_named(setup: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    data, first, frames = setup["data"], setup["first"], setup["frames"]
    assert_error(invoke("eval", "--checkpoint", empty, "--data", data), f"{empty} is empty (0 bytes)", "`mobileseg train`")
    assert_error(invoke("run", "--checkpoint", empty, "--frames", frames, "--first-mask", first, "--out", tmp_path / "o"), "is empty")
    assert_error(invoke("distill", "--teacher", empty, "--student", TINY, "--data", data, "--out", tmp_path / "d", "--steps", "1",
                        *SMALL), "is empty (0 bytes)")
    assert not (tmp_path / "d").exists()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(setup["best"].read_bytes()[:2000])
    assert_error(invoke("eval", "--checkpoint", truncated, "--data", data), f"cannot read checkpoint {truncated}", "corrupt, truncated")
    payload = torch.load(setup["best"], weights_only=True)
    state = payload["model_state"]
    removed = next(iter(state))
    del state[removed]
    state["decoder.surplus"] = torch.zeros(2)
    torch.save(payload, tmp_path / "hand.pt")
    assert_error(invoke("eval", "--checkpoint", tmp_path / "hand.pt", "--data", data),
                 f"does not fit model '{TINY}'", f"missing keys: {removed}", "unexpected keys: decoder.surplus")
    exported = tmp_path / "student.tflite"
    exported.write_bytes(b"\x18\x00\x00\x00TFL3")
    for args in (["eval", "--data", data], ["run", "--frames", frames, "--first-mask", first, "--out", tmp_path / "r"],
                 ["export", "--target", "onnx", "--out", tmp_path / "e"]):
        assert_error(invoke(*args, "--checkpoint", exported), f"{exported} is an exported model", f"--model {exported}")


def test_broken_videos_are_named(setup: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("av")
    from PIL import Image

    images = [Image.open(p).convert("RGB") for p in sorted(setup["frames"].glob("*.jpg"))]
    images[0].save(tmp_path / "clip.gif", save_all=True, append_images=images[1:])
    (tmp_path / "cut.gif").write_bytes((tmp_path / "clip.gif").read_bytes()[:1500])
    overlay = invoke("run", "--checkpoint", setup["best"], "--frames", setup["frames"], "--first-mask", setup["first"],
                     "--out", tmp_path / "o", "--overlay", "clip.mp4", "--fps", "5")
    assert overlay.exit_code == 0, overlay.output
    (tmp_path / "cut.mp4").write_bytes((tmp_path / "o" / "clip.mp4").read_bytes()[:1500])
    for video in (tmp_path / "cut.gif", tmp_path / "cut.mp4"):
        result = invoke("run", "--checkpoint", setup["best"], "--video", video, "--first-mask", setup["first"],
                        "--out", tmp_path / video.stem, "--overlay", "none")
        assert_error(result, str(video), "truncated or corrupt")


def test_cuda_device_without_cuda(setup: dict[str, Path], tmp_path: Path) -> None:
    device = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    for command in (["train", "--model", TINY], ["distill", "--distiller", "none", "--student", TINY]):
        result = invoke(*command, "--data", setup["data"], "--out", tmp_path / "x", "--steps", "1", *SMALL, "--device", device)
        assert_error(result, f"--device {device}: ", "--device cpu" if device == "cuda" else "GPU(s)")
    assert not (tmp_path / "x").exists()


def test_tolerance_flags_out_of_range_name_the_real_flags(setup: dict[str, Path], tmp_path: Path) -> None:
    for flag, value in (("--max-abs-prob", "-1"), ("--max-abs-prob", "nan"), ("--min-iou", "2"), ("--min-iou", "nan")):
        line = assert_error(invoke("verify", tmp_path / "student.onnx", flag, value), f"{flag} ")
        assert "--tolerance" not in line
        line = assert_error(invoke("export", "--checkpoint", setup["best"], "--target", "onnx", "--size", "64x96",
                                   "--out", tmp_path / "e", flag, value), f"{flag} ")
        assert "--tolerance" not in line
    pytest.importorskip("onnxruntime")
    strict = invoke("export", "--checkpoint", setup["best"], "--target", "onnx", "--size", "64x96", "--out", tmp_path / "e",
                    "--max-abs-prob", "0", "--parity-frames", "3")
    if strict.exit_code != 0:  # any float difference fails a zero tolerance; the advice must name flags that exist
        line = assert_error(strict, "parity FAILED", "--max-abs-prob / --min-iou")
        assert "--tolerance" not in line


def test_diverged_run_advice_and_a_new_lr_on_resume(setup: dict[str, Path], tmp_path: Path) -> None:
    common = ["--model", TINY, "--data", setup["data"], "--save-every", "1", "--warmup", "0", "--schedule", "constant", *SMALL]
    diverged = invoke("train", *common, "--out", tmp_path / "nan", "--steps", "4", "--lr", "1e30")
    assert_error(diverged, "the loss became nan", "--resume --lr 1e+29")
    again = invoke("train", "--out", tmp_path / "nan", "--resume", "--lr", "1e-5")
    line = assert_error(again, "the first step after resuming", "diverged already", "Start a new run with a lower --lr")
    assert "--resume --lr" not in line  # no advice that cannot work
    healthy = tmp_path / "healthy"
    assert invoke("train", *common, "--out", healthy, "--steps", "2").exit_code == 0
    lowered = invoke("train", "--out", healthy, "--resume", "--steps", "3", "--lr", "1e-5")
    assert lowered.exit_code == 0, lowered.output
    log = [json.loads(line) for line in (healthy / "log.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in log if "lr" in r][-1] == pytest.approx(1e-5)  # the step after resuming ran at the new rate


def test_distill_resumes_from_another_cwd_and_data_moves_only_when_gone(setup: dict[str, Path], tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(setup["data"], tmp_path / "data")
    assert invoke("train", "--model", "stcn_r50_r18_tiny", "--data", tmp_path / "data", "--out", tmp_path / "teacher",
                  "--steps", "1", *SMALL).exit_code == 0
    monkeypatch.chdir(tmp_path)
    started = invoke("distill", "--teacher", "teacher/best.pt", "--student", TINY, "--data", "data", "--out", "kd",
                     "--steps", "1", "--samples", "16", *SMALL)
    assert started.exit_code == 0, started.output
    stored = load_checkpoint(tmp_path / "kd" / "last.pt")["train"]["config"]
    assert stored["teacher"] == str((tmp_path / "teacher" / "best.pt").resolve()) and stored["data"] == str((tmp_path / "data").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert invoke("distill", "--out", tmp_path / "kd", "--resume", "--steps", "2").exit_code == 0
    other = tmp_path / "other_data"
    shutil.copytree(tmp_path / "data", other)
    assert_error(invoke("distill", "--out", tmp_path / "kd", "--resume", "--steps", "3", "--data", other),
                 f"--data '{other}' (the run has '{(tmp_path / 'data').resolve()}')")
    shutil.rmtree(tmp_path / "data")  # the stored dataset is gone: pointing at its new place is allowed
    moved = invoke("distill", "--out", tmp_path / "kd", "--resume", "--steps", "3", "--data", other)
    assert moved.exit_code == 0, moved.output
    assert load_checkpoint(tmp_path / "kd" / "last.pt")["train"]["config"]["data"] == str(other.resolve())
