"""The battery of bad and hostile inputs: no command destroys a user's files, and none takes the machine down.

Each test reproduces a reported outcome (user files overwritten, ground truth replaced, a user's
run deleted, a replaced or edited model loaded silently, a mixed export after a kill, tracebacks on
a full disk or an unwritable folder, an out-of-memory kill, ignored options, lost training on
Ctrl-C, a half-written dataset left hidden) and checks the one-line error or the safe behaviour,
with the inputs checksummed unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import mobileseg.cli.bench as bench_command  # where `mobileseg bench` looks bench_host up
from mobileseg.artifact.contract import load_contract
from mobileseg.artifact.publish import digest as file_digest
from mobileseg.checkpoint import load_checkpoint
from mobileseg.export.pipeline import ExportRequest, export_checkpoint
from mobileseg.runtime import open_runtime
from mobileseg.train.config import TrainConfig
from mobileseg.train.loop import prepare_run, train
from mobileseg.utils.owned import MARKER
from tests.cli_checks import assert_error, digest, invoke

pytestmark = pytest.mark.slow
TINY = "mobilevos_r18_mv2_tiny"
SMALL = ["--clip-frames", "3", "--batch-size", "2", "--crop", "48x64", "--val-every", "0", "--bn-batches", "1", "--threads", "1"]
ENV = {**os.environ, "MOBILESEG_PROGRESS": "never"}


@pytest.fixture(scope="module")
def setup(tiny_run: dict[str, Path]) -> dict[str, Path]:
    return tiny_run  # tests/integration/conftest.py


@pytest.fixture(scope="module")
def onnx_export(setup: dict[str, Path]) -> Path:
    out = setup["root"] / "onnx"
    export_checkpoint(ExportRequest(checkpoint=setup["best"], targets=["onnx"], out=out, size=(64, 96), parity_frames=3))
    return out


def run_args(setup: dict[str, Path], out: Path, *extra: str | Path) -> list[str | Path]:
    return ["run", "--checkpoint", setup["best"], "--frames", setup["frames"], "--first-mask", setup["first"], "--out", out, *extra]


def test_run_never_replaces_a_users_files_the_ground_truth_or_a_file_outside_out(setup: dict[str, Path], tmp_path: Path) -> None:
    mine = tmp_path / "mine"  # row 1
    mine.mkdir()
    (mine / "00000.png").write_bytes(b"my own picture")
    (mine / "overlay.gif").write_bytes(b"my own animation")
    before = digest(mine)
    assert_error(invoke(*run_args(setup, mine)), f"--out {mine} already holds files mobileseg did not write: 00000.png, overlay.gif",
                 "--overwrite")
    assert digest(mine) == before
    consented = invoke(*run_args(setup, mine, "--overwrite"))
    assert consented.exit_code == 0, consented.output
    assert (mine / "00000.png").read_bytes().startswith(b"\x89PNG") and json.loads((mine / MARKER).read_text())["kind"] == "segmentation"
    again = invoke(*run_args(setup, mine))  # its own folder now: no consent needed
    assert again.exit_code == 0, again.output

    data = setup["data"]  # row 2
    truth = data / "Annotations" / "480p" / "synth0000"
    before = digest(data)
    for extra in ((), ("--overwrite",)):  # consent to replace files never extends to the inputs
        assert_error(invoke(*run_args(setup, truth, *extra)), f"--out {truth} is the folder of the input --first-mask")
    assert_error(invoke(*run_args(setup, data / "predictions")), f"lies inside the dataset {data.resolve()}")
    assert digest(data) == before

    outside = tmp_path / "elsewhere.gif"  # row 16
    outside.write_bytes(b"keep")
    assert_error(invoke(*run_args(setup, tmp_path / "o16", "--overlay", outside)), f"--overlay {outside}: give a file name")
    assert outside.read_bytes() == b"keep" and not (tmp_path / "o16").exists()


def test_a_truncated_gif_is_one_error_and_leaves_no_masks(setup: dict[str, Path], tmp_path: Path) -> None:
    frames = [Image.open(p).convert("RGB") for p in sorted(setup["frames"].glob("*.jpg"))]  # row 10
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    gif.write_bytes(gif.read_bytes()[: gif.stat().st_size * 2 // 3])
    out = tmp_path / "masks"
    assert_error(invoke("run", "--checkpoint", setup["best"], "--video", gif, "--first-mask", setup["first"], "--out", out),
                 f"cannot read the GIF {gif}", "truncated or corrupt")
    assert not out.exists()  # the masks of the frames before the break were staged and removed, not left behind


def test_train_and_distill_keep_a_users_config_and_log(setup: dict[str, Path], tmp_path: Path) -> None:
    user = tmp_path / "user"  # row 3
    user.mkdir()
    (user / "config.json").write_text('{"mine": true}')
    (user / "log.jsonl").write_text("my notes\n")
    before = digest(user)
    common = ["--data", setup["data"], "--out", user, "--steps", "1", *SMALL]
    assert_error(invoke("train", "--model", TINY, *common), f"--out {user} already holds files mobileseg did not write: config.json, log.jsonl")
    assert_error(invoke("distill", "--student", TINY, "--distiller", "none", *common), "config.json, log.jsonl", "--overwrite")
    assert digest(user) == before


def test_the_quickstart_never_removes_a_run_it_did_not_train(setup: dict[str, Path], tmp_path: Path) -> None:
    project = tmp_path / "project"  # row 4: quickstart --out . in a project with its own runs/teacher
    assert invoke("train", "--model", TINY, "--data", setup["data"], "--out", project / "runs" / "teacher", "--steps", "1", *SMALL).exit_code == 0
    (project / "runs" / "teacher" / "notes.txt").write_text("the run I care about")
    before = digest(project)
    assert_error(invoke("quickstart", "--out", project, "--budget", "tiny", "--workers", "1"),
                 f"--out {project} already holds files mobileseg did not write: runs")
    assert digest(project) == before
    teacher = digest(project / "runs" / "teacher")
    consented = invoke("quickstart", "--out", project, "--budget", "tiny", "--workers", "1", "--overwrite")
    assert_error(consented, f"{project / 'runs' / 'teacher'} holds a training run with other settings that the quickstart did not write")
    assert digest(project / "runs" / "teacher") == teacher

    ours = tmp_path / "ours"  # a run the quickstart trained itself is trained again when its settings change
    config = TrainConfig(model=TINY, data=str(setup["data"]), out=str(ours), steps=1, batch_size=2, crop=(48, 64), val_every=0,
                         bn_batches=1, threads=1)
    assert prepare_run(config, "quickstart") == "new"
    train(config)
    assert prepare_run(config, "quickstart") == "finished"
    config.steps = 2
    assert prepare_run(config, "quickstart") == "new" and not (ours / "last.pt").exists()


def test_a_replaced_or_edited_export_is_refused_where_it_is_loaded(setup: dict[str, Path], onnx_export: Path, tmp_path: Path) -> None:
    replaced = tmp_path / "replaced"  # row 5: other weights, the same shapes
    shutil.copytree(onnx_export, replaced)
    weights = bytearray((replaced / "student.weights").read_bytes())
    weights[len(weights) // 2] ^= 0x01
    (replaced / "student.weights").write_bytes(bytes(weights))
    model = replaced / "student.onnx"
    for args in (["eval", "--model", model, "--data", setup["data"]],
                 ["run", "--model", model, "--frames", setup["frames"], "--first-mask", setup["first"], "--out", tmp_path / "r5"],
                 ["bench", "--model", model, "--json", tmp_path / "b5.json", "--frames", "2"],
                 ["verify", model, "--checkpoint", setup["best"]]):
        assert_error(invoke(*args), f"{replaced / 'student.weights'} is not the file student.onnx.json was exported with",
                     "the model file was replaced")
    assert not (tmp_path / "r5").exists() and not (tmp_path / "b5.json").exists()

    edited = tmp_path / "edited"  # row 6: the feedback map swapped
    shutil.copytree(onnx_export, edited)
    contract = json.loads((edited / "student.onnx.json").read_text())
    contract["feedback"]["step"] = {"new_mem_key": "mem_value", "new_mem_value": "mem_key"}
    (edited / "student.onnx.json").write_text(json.dumps(contract))
    for args in (["eval", "--model", edited / "student.onnx", "--data", setup["data"]],
                 ["run", "--model", edited / "student.onnx", "--frames", setup["frames"], "--first-mask", setup["first"], "--out", tmp_path / "r6"]):
        assert_error(invoke(*args), "feedback.step is {'new_mem_key': 'mem_value', 'new_mem_value': 'mem_key'}", "export again")


def _dead_pid() -> int:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


KILLER = """
import importlib.util, os, signal, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("publish", sys.argv[1])
publish = importlib.util.module_from_spec(spec)
spec.loader.exec_module(publish)
replace, calls, kill_at = os.replace, [0], int(sys.argv[4])
def killing_replace(source, target):
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    calls[0] += 1
    replace(source, target)
os.replace = killing_replace
publish.publish(Path(sys.argv[2]), Path(sys.argv[3]), "student.onnx")
"""


def test_a_kill_at_any_moment_of_publishing_leaves_the_old_or_the_new_export(onnx_export: Path, setup: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    """Row 7, with a real SIGKILL before each rename of the publish step (the journal's own write included)."""
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, generation in ((old, "old"), (new, "new")):
        shutil.copytree(onnx_export, folder)
        contract = json.loads((folder / "student.onnx.json").read_text())
        if generation == "new":  # other weights of the same shapes, recorded in its contract
            weights = bytearray((folder / "student.weights").read_bytes())
            weights[len(weights) // 2] ^= 0x01
            (folder / "student.weights").write_bytes(bytes(weights))
            contract["sha256"]["student.weights"] = file_digest(folder / "student.weights")
        contract["export"]["generation"] = generation
        (folder / "student.onnx.json").write_text(json.dumps(contract))
        (folder / MARKER).unlink()
    publisher = Path(importlib.util.find_spec("mobileseg.artifact.publish").origin)  # type: ignore[union-attr, arg-type]
    renames = 1 + len(list(new.iterdir()))  # the journal, then every file
    seen = set()
    for kill_at in range(renames + 1):
        out = tmp_path / f"out{kill_at}"
        shutil.copytree(old, out)
        staging = out / f".student.onnx.staging-{_dead_pid()}"
        shutil.copytree(new, staging)
        done = subprocess.run([sys.executable, "-c", KILLER, publisher, staging, out, str(kill_at)], capture_output=True, text=True, check=False)
        assert done.returncode == (-signal.SIGKILL if kill_at < renames else 0), done.stderr
        loaded = load_contract(out / "student.onnx")  # finishes an interrupted publish, then checks every file's sha256
        generation = loaded.data["export"]["generation"]
        assert generation == ("old" if kill_at == 0 else "new"), kill_at  # once the journal is written, the new set wins
        seen.add(generation)
        open_runtime(out / "student.onnx").run("init", {"frame": __import__("numpy").zeros((1, 3, 64, 96), "float32"),
                                                          "mask": __import__("numpy").zeros((1, 1, 64, 96), "float32")})
        assert not list(out.glob(".*.publish.json")) and (kill_at == 0 or not staging.exists())
    assert seen == {"old", "new"}
    stale = tmp_path / "out0" / f".student.onnx.staging-{_dead_pid()}"  # a kill before publishing: staging left behind
    stale.mkdir()
    exported = invoke("export", "--checkpoint", setup["best"], "--target", "onnx", "--size", "64x96", "--parity-frames", "3",
                      "--out", tmp_path / "out0", "--overwrite")
    assert exported.exit_code == 0, exported.output
    assert not list((tmp_path / "out0").glob(".*.staging-*")), "the next export removes staging folders of ended processes"


def on_small_disk(tmp_path: Path, size: str, *args: str | Path, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    """``python -m mobileseg ARGS`` in a private mount namespace, with the working folder a tmpfs of ``size``."""
    disk = tmp_path / "disk"
    disk.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    script = f'mount -t tmpfs -o {options} tmpfs "$0" && cd "$0" && exec "$@"'
    return subprocess.run(["unshare", "-m", "sh", "-c", script, str(disk), sys.executable, "-m", "mobileseg", *map(str, args)],
                          capture_output=True, text=True, env=ENV, check=False, timeout=600)


@pytest.fixture(scope="module")
def small_disks(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A tmpfs in a private mount namespace needs root (or CAP_SYS_ADMIN); CI has it, a user's laptop may not."""
    probe = tmp_path_factory.mktemp("probe")
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "tmpfs", str(probe)],
                                                         capture_output=True, check=False).returncode != 0:
        pytest.skip("a small tmpfs cannot be mounted here (unshare -m and mount need root); the full-disk checks need one")


def assert_one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_a_full_disk_is_one_error_line(small_disks: None, setup: dict[str, Path], tmp_path: Path) -> None:
    """Row 8: every writing command on a disk that fills up while it works (a tmpfs of a few pages)."""
    cases = {
        "synth": ("64k", ["data", "synth", "--out", "ds", "--videos", "2", "--frames", "5", "--size", "64x96"]),
        "train": ("64k", ["train", "--model", TINY, "--data", setup["data"], "--out", "run", "--steps", "1", *SMALL]),
        "export": ("64k", ["export", "--checkpoint", setup["best"], "--target", "onnx", "--size", "64x96", "--parity-frames", "3", "--out", "ex"]),
        # TFLite's converter aborts the whole process on a full disk (LLVM ERROR: IO failure): refused before it starts
        "tflite": ("64k", ["export", "--checkpoint", setup["best"], "--target", "tflite", "--size", "64x96", "--out", "ex"]),
        "run": ("8k", run_args(setup, Path("masks"))),
        "eval": ("8k", ["eval", "--checkpoint", setup["best"], "--data", setup["data"], "--results", "preds"]),
        "quickstart": ("64k", ["quickstart", "--out", "q", "--budget", "tiny", "--workers", "1"]),
    }
    assert_one_error_line(on_small_disk(tmp_path / "ro", "1m", "quickstart", "--out", "q", "--budget", "tiny", read_only=True),  # row 9
                          "--out q cannot be created: . is not writable (Read-only file system")
    before = digest(setup["data"])
    for name, (size, args) in cases.items():
        done = on_small_disk(tmp_path / name, size, *args)
        assert_one_error_line(done)
        assert "the disk is full" in done.stderr or "of free disk space" in done.stderr, (name, done.stderr[-2000:])
    assert digest(setup["data"]) == before


def _no_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bench that is refused must be refused before it times anything: timing now fails the test."""
    def timed(*args: object, **kwargs: object) -> None:
        raise AssertionError("the timing ran before the refusal")

    monkeypatch.setattr(bench_command, "bench_host", timed)


def test_unwritable_outputs_and_a_users_report_file_are_refused_before_any_work(setup: dict[str, Path], tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert_error(invoke("data", "synth", "--out", "/proc/x", "--videos", "1"), "--out /proc/x cannot be created: /proc is not writable")  # row 9
    _no_timing(monkeypatch)
    assert_error(invoke("bench", "--model", setup["best"], "--json", "/proc/bench.json", "--frames", "2", "--size", "64x96"),
                 "--json /proc/bench.json: its folder /proc is not writable")
    mine = tmp_path / "mine.json"
    mine.write_text('{"my": "numbers"}')
    assert_error(invoke("bench", "--model", setup["best"], "--json", mine, "--frames", "2", "--size", "64x96"),
                 f"--json {mine} exists and is not a `mobileseg bench` report")
    assert_error(invoke("eval", "--checkpoint", setup["best"], "--data", setup["data"], "--json", mine),
                 f"--json {mine} exists and is not a `mobileseg eval` report")
    assert mine.read_text() == '{"my": "numbers"}'
    picture = tmp_path / "latency.png"
    picture.write_bytes(b"\x89PNG my own picture")
    assert_error(invoke("bench", "--model", setup["best"], "--frames", "4", "--every", "2", "--plot", picture, "--size", "64x96",
                        "--json", tmp_path / "fresh.json"), f"--plot {picture} exists and was not drawn by `mobileseg bench`")
    assert picture.read_bytes() == b"\x89PNG my own picture" and not (tmp_path / "fresh.json").exists()


def test_options_a_method_ignores_and_impossible_values_are_refused(setup: dict[str, Path], tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data, best = setup["data"], setup["best"]
    common = ["--data", data, "--steps", "1", *SMALL]
    assert_error(invoke("train", "--model", TINY, *common, "--out", tmp_path / "wd", "--weight-decay", "-5"),  # row 11
                 "weight decay must be a number >= 0, got -5.0")
    assert_error(invoke("train", "--model", TINY, *common, "--out", tmp_path / "pe", "--poly-epsilon", "nan"),  # row 15
                 "poly epsilon must be a number >= -1", "got nan")
    diverged = invoke("train", "--model", TINY, *common[:-len(SMALL)], *SMALL, "--out", tmp_path / "lr", "--lr", "1e30", "--steps", "2",
                      "--warmup", "0", "--schedule", "constant")
    line = assert_error(diverged, "before the first checkpoint", "nothing to resume", "Start again with a lower learning rate")
    assert "--resume" not in line and not (tmp_path / "lr" / "last.pt").exists()
    assert_error(invoke("distill", "--student", TINY, "--distiller", "lgd", "--teacher", best, *common, "--out", tmp_path / "lgd"),  # row 14
                 "--distiller lgd (with the options given) uses no teacher checkpoint", f"--teacher {best}")
    _no_timing(monkeypatch)
    assert_error(invoke("bench", "--model", best, "--size", "50x50", "--json", tmp_path / "b.json"),  # row 12
                 "--size 50x50: the networks take sides that are multiples of 16")
    assert_error(invoke("eval", "--checkpoint", best, "--data", data, "--size", "16000x16000"),  # row 13
                 "--size 16000x16000 needs about", "GiB of memory", "--no-memory-check")
    assert_error(invoke("export", "--checkpoint", best, "--target", "onnx", "--size", "99984x99984", "--out", tmp_path / "big"),
                 "--size 99984x99984 needs about", "--no-memory-check")
    assert not (tmp_path / "big").exists()


def _wait_for(path: Path, process: subprocess.Popen[str], seconds: float = 300) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_training_saves_a_checkpoint_that_resumes(setup: dict[str, Path], tmp_path: Path, sig: signal.Signals) -> None:
    run = tmp_path / "run"
    started = subprocess.Popen([sys.executable, "-m", "mobileseg", "train", "--model", TINY, "--data", str(setup["data"]), "--out", str(run),
                                "--steps", "100000", "--save-every", "100000", *SMALL],
                               env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(run / "log.jsonl", started)  # steps are done (logged every 10); none is saved yet (--save-every 100000)
    started.send_signal(sig)
    _, stderr = started.communicate(timeout=120)
    assert started.returncode == 1, stderr[-3000:]
    step = int(load_checkpoint(run / "last.pt")["train"]["step"])
    assert f"Error: {sig.name} at step {step} of 100000: the step was finished and saved in {run / 'last.pt'}" in stderr
    assert f"Continue the run with: mobileseg train --out {run} --resume" in stderr and "Traceback" not in stderr
    resumed = invoke("train", "--out", run, "--resume", "--steps", step + 1)
    assert resumed.exit_code == 0, resumed.output
    assert load_checkpoint(run / "last.pt")["train"]["step"] == step + 1


def test_a_stopped_synth_leaves_no_hidden_half_dataset(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "mobileseg", "data", "synth", "--out", str(tmp_path / "ds"), "--videos", "200", "--frames", "6", "--size", "128x224"]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        started = subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        partial = tmp_path / f".ds.partial-{started.pid}"
        _wait_for(partial / "JPEGImages", started)
        started.send_signal(sig)
        started.communicate(timeout=120)
        assert started.returncode != 0 and not (tmp_path / "ds").exists()
        assert partial.exists() == (sig == signal.SIGKILL)  # SIGTERM cleans up on the way out; SIGKILL cannot
    finished = invoke("data", "synth", "--out", tmp_path / "ds", "--videos", "1", "--frames", "3", "--size", "32x48")
    assert finished.exit_code == 0, finished.output
    assert not list(tmp_path.glob(".ds.partial-*")), "the next run removes the half dataset a killed run left"
