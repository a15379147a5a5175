"""`mobileseg demo` in a real browser: headless Chromium with a fake camera playing a SynthVOS video.

What runs for real: the command (its own process) serving the page, the page in headless Chromium (Debian's, 156 here) reading the contract
with the Android app's rules, checking the files' sha256, running the exported student's init/step in LiteRT.js
(WebAssembly, XNNPACK) with the state fed back by the contract's names, and drawing the mask; Chromium's fake camera
device plays the video from a .y4m file (--use-fake-device-for-media-stream). The test drags the first mask's box on
the video's first frame with the mouse (DevTools protocol input events), lets the page track the rest of the video,
reads back what the page recorded (the camera pixels it got, the input tensors it made, the probabilities it drew)
and checks them against mobileseg's own Python runtimes started from the same box on the same pixels. Then every
backend the browser has (LiteRT.js and ONNX Runtime Web on WebAssembly, and on WebGPU through SwiftShader, Chromium's
software GPU) replays the video from the page and is timed; the figures go to a mobileseg.bench/1 report. A denied
camera, a broken contract, a browser without LiteRT.js and the command's own errors are checked for their messages.

What does not run here: a real GPU (SwiftShader's WebGPU is a CPU emulation, its figures say nothing about a GPU), a
real camera, a phone's browser. Artifacts (screenshot mid-tracking, bench JSON, the per-frame agreement) go to
$MOBILESEG_TEST_ARTIFACTS or test-artifacts/browser_demo/. Without Chromium, or without the pinned runtimes
(`mobileseg demo --install-runtimes`; .ci/run installs both), these tests are skipped and say so.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mobileseg.cli import cli
from mobileseg.data.boxes import box_to_mask, mask_to_box
from mobileseg.data.synth import SynthConfig
from mobileseg.data.synth.generate import render_video
from mobileseg.demo.runtimes import RUNTIMES
from mobileseg.demo.server import make_server, serve
from mobileseg.export.android import camera_frame, check_for_app
from mobileseg.runtime import open_runtime
from tests.browser_demo import (
    bench_report,
    camera_flags,
    decode,
    demo_server,
    nearest,
    runtimes_folder,
    thumbnail,
    track_from_box,
    wait_until_settled,
    write_y4m,
)
from tests.chromium import Chromium, chromium, find_chromium

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SIZE = (64, 96)  # the model's input
CAMERA = (144, 192)  # the fake camera's frames: wider in aspect than the model, so the page crops rows 8..136
VIDEO_FRAMES = 10
FPS = 5  # slow enough that the page steps on every frame of the video, even on a busy 2-core machine
MIN_IOU = 0.99
JUNIT = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
INSTALL_HINT = ("Debian: apt-get install chromium; the runtimes: `mobileseg demo --install-runtimes` (or `npm ci` of "
                "mobileseg/demo/npm/ into .webdemo/); .ci/run does both")


def artifacts() -> Path:
    folder = Path(os.environ.get("MOBILESEG_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "browser_demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser_exe() -> str:
    executable = find_chromium()
    if executable is None:
        pytest.skip(f"Chromium is not installed: the browser demo's end-to-end tests did not run; {INSTALL_HINT}")
    return executable


@pytest.fixture(scope="module")
def runtimes() -> Path:
    folder = runtimes_folder()
    if folder is None:
        pytest.skip(f"the pinned browser runtimes (LiteRT.js, ONNX Runtime Web) are not installed: the browser demo's end-to-end "
                    f"tests did not run; {INSTALL_HINT}")
    return folder


@pytest.fixture(scope="module")
def demo(browser_exe: str, runtimes: Path, exported: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tiny student of the integration tests, exported to TFLite and ONNX at 64x96 (tests/integration/conftest.py, shared
    with the export and Android tests), and the camera's video (y4m) with its first mask's box in model pixels."""
    root = tmp_path_factory.mktemp("browser_demo")
    out: Path = exported["out"]  # type: ignore[assignment]
    images, labels = render_video(0, SynthConfig(videos=1, frames=VIDEO_FRAMES, height=CAMERA[0], width=CAMERA[1], objects=(1, 1),
                                                 distractors=(1, 1), seed=3))
    y4m = write_y4m(images, root / "camera.y4m", fps=FPS)
    box = mask_to_box(labels[0] == 1)
    assert box is not None
    top = (CAMERA[0] - CAMERA[1] * SIZE[0] // SIZE[1]) // 2  # the rows the centred crop drops at the top
    scale = SIZE[1] / CAMERA[1]
    model_box = (box[0] * scale, (box[1] - top) * scale, box[2] * scale, (box[3] - top) * scale)
    return {"root": root, "out": out, "tflite": out / "student.tflite", "onnx": out / "student.onnx",
            "images": images, "y4m": y4m, "box": model_box, "thumbs": [thumbnail(image) for image in images]}


@pytest.fixture(scope="module")
def server(demo: dict[str, Any], runtimes: Path) -> Iterator[str]:
    with demo_server(demo["tflite"], runtimes, "--threads", "2") as url:
        yield url


@pytest.fixture(scope="module")
def page(browser_exe: str, server: str, demo: dict[str, Any]) -> Iterator[Chromium]:
    with chromium(browser_exe, camera_flags(demo["y4m"]), timeout=120) as browser:
        browser.navigate(server + f"?record={VIDEO_FRAMES - 1}")
        yield browser


@pytest.fixture(scope="module")
def tracked(page: Chromium, demo: dict[str, Any]) -> dict[str, Any]:
    """The page tracking the video from the first mask's box: its records, and a screenshot taken mid-tracking."""
    status = wait_until_settled(page)
    assert status["phase"] == "ready", status["message"]
    assert status["backend"] == "litert-wasm" and not status["notice"], status
    records = track_from_box(page, demo["box"], demo["thumbs"], steps=VIDEO_FRAMES - 1)
    shot = page.screenshot(artifacts() / "tracking.png")
    return {"records": records, "status": page.evaluate("window.mobilesegDemo.status()"), "screenshot": shot}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def python_reference(artifact: Path, records: list[dict[str, Any]], box: tuple[float, ...]) -> list[np.ndarray]:
    """mobileseg's own runtime tracker on the pixels the page got, started from the same box: prob of every later frame."""
    tracker = open_runtime(artifact, threads=1).tracker()
    frames = [camera_frame(np.ascontiguousarray(r["rgba"]), 0, SIZE) for r in records]
    mask = torch.from_numpy(box_to_mask(box, *SIZE))[None, None]
    state = tracker.init(frames[0], mask)
    probs = []
    for frame in frames[1:]:
        prob, state = tracker.step(frame, state)
        probs.append(prob.numpy().reshape(-1))
    return probs


def test_the_page_tracks_the_whole_video_from_a_dragged_box(tracked: dict[str, Any], demo: dict[str, Any]) -> None:
    """The box lands on the first frame, every later frame of the video is stepped once, in order, and the page's input
    tensor of each is the one mobileseg computes from the same camera pixels (camera_frame, as for the Android app)."""
    records = tracked["records"]
    assert [r["kind"] for r in records] == ["init"] + ["step"] * (VIDEO_FRAMES - 1)
    seen = [nearest(thumbnail(r["rgba"]), demo["thumbs"]) for r in records]
    assert [index for index, _ in seen] == list(range(VIDEO_FRAMES)), f"frames the page processed (video index, distance): {seen}"
    assert all(r["rgba"].shape == (*CAMERA, 4) for r in records)
    for record in records:  # what Chromium decoded from the y4m is the video (YUV 4:2:0 loses a little colour)
        source = demo["images"][nearest(thumbnail(record["rgba"]), demo["thumbs"])[0]]
        assert np.abs(record["rgba"][..., :3].astype(float) - source).mean() < 6
        expected = camera_frame(np.ascontiguousarray(record["rgba"]), 0, SIZE).numpy().reshape(-1)
        np.testing.assert_allclose(record["tensor"], expected, rtol=0, atol=2e-6)
    np.testing.assert_allclose(records[0]["box"], demo["box"], atol=1e-3)  # the drag, mapped back through the view
    assert np.array_equal(box_to_mask(records[0]["box"], *SIZE), box_to_mask(demo["box"], *SIZE))
    assert np.array_equal(records[0]["prob"].reshape(SIZE), box_to_mask(demo["box"], *SIZE))  # init's overlay: the box


def test_the_page_masks_agree_with_the_python_runtime(tracked: dict[str, Any], demo: dict[str, Any]) -> None:
    records = tracked["records"]
    reference = python_reference(demo["tflite"], records, tuple(records[0]["box"]))
    rows = []
    for i, (record, expected) in enumerate(zip(records[1:], reference), start=1):
        rows.append({"frame": i, "iou": iou(record["prob"] > 0.5, expected > 0.5), "max_abs_prob": float(np.abs(record["prob"] - expected).max()),
                     "object_pixels": int((expected > 0.5).sum())})
    (artifacts() / "agreement.json").write_text(json.dumps(rows, indent=1))
    assert all(row["iou"] >= MIN_IOU for row in rows), rows
    assert max(row["max_abs_prob"] for row in rows) < 1e-3, rows
    assert any(row["object_pixels"] > 0 for row in rows)  # a mask to agree on, not two empty ones


def test_the_page_shows_speed_and_a_screenshot_is_saved(tracked: dict[str, Any]) -> None:
    status = tracked["status"]
    assert "ms/frame" in status["speed"] and "FPS" in status["speed"] and "LiteRT.js" in status["speed"], status["speed"]
    assert status["msPerFrame"] > 0 and status["fps"] > 0
    assert tracked["screenshot"].stat().st_size > 10_000


def test_reset_forgets_the_object(tracked: dict[str, Any], page: Chromium) -> None:
    assert page.evaluate("window.mobilesegDemo.status().phase") == "tracking"
    page.evaluate("document.getElementById('reset').click()")
    status = page.evaluate("window.mobilesegDemo.status()")
    assert status["phase"] == "ready" and status["box"] is None and "Drag a box" in status["message"]
    assert page.evaluate("document.getElementById('reset').disabled")


def test_every_backend_agrees_and_is_timed(tracked: dict[str, Any], page: Chromium, demo: dict[str, Any]) -> None:
    """Each backend of this browser replays the recorded video from the same box: masks as Python's runtime of its
    file (LiteRT.js: the .tflite in ai-edge-litert; ONNX Runtime Web: the .onnx in onnxruntime); times to bench.json."""
    records = tracked["records"]
    report, results, skipped = bench_report(page, demo["tflite"], warmup=1, frames=VIDEO_FRAMES - 1, threads=2)
    path = artifacts() / "bench.json"
    path.write_text(json.dumps(report, indent=1))
    assert report["schema"] == "mobileseg.bench/1" and report["device"]["kind"] == "browser"
    assert {"litert-wasm", "ort-wasm"} <= set(results), skipped  # WebAssembly is always there
    if report["device"]["webgpu_adapter"]:
        assert {"litert-webgpu", "ort-webgpu"} <= set(results), skipped
    references = {"tflite": python_reference(demo["tflite"], records, tuple(records[0]["box"])),
                  "onnx": python_reference(demo["onnx"], records, tuple(records[0]["box"]))}
    for backend, result in results.items():
        expected = references["tflite" if backend.startswith("litert") else "onnx"]
        probs = [decode(p, "<f4") for p in result["probs"]]
        assert len(probs) == len(expected) == VIDEO_FRAMES - 1
        ious = [iou(p > 0.5, e > 0.5) for p, e in zip(probs, expected)]
        assert min(ious) >= MIN_IOU, (backend, ious)
        assert max(float(np.abs(p - e).max()) for p, e in zip(probs, expected)) < 1e-3, backend
    for entry in report["models"]:
        step = entry["entries"]["step"]
        assert step["count"] == VIDEO_FRAMES - 1 and 0 < step["min"] <= step["p50"] <= step["p90"] <= step["max"], entry
    webgpu = results.get("litert-webgpu")
    if webgpu is not None:  # LiteRT's WebGPU delegate leaves the ops on the 5-D state to the CPU, and the page says which
        assert "on the CPU" in webgpu["delegation"] and "Tensor dimensions must be less than 5" in webgpu["delegation"], webgpu["delegation"]


# -- messages ------------------------------------------------------------------------------------------------------


def _message_page(browser_exe: str, url: str, flags: list[str], shot: str, deny_camera: bool = False) -> dict[str, Any]:
    with chromium(browser_exe, flags, timeout=120) as browser:
        if deny_camera:
            origin = url.rstrip("/")
            browser.send("Browser.setPermission", {"permission": {"name": "camera"}, "setting": "denied", "origin": origin})
        browser.navigate(url)
        status = wait_until_settled(browser)
        status["html_message"] = browser.evaluate("document.getElementById('message').textContent")
        status["html_notice"] = browser.evaluate("document.getElementById('notice').textContent")
        browser.screenshot(artifacts() / shot)
        return status


def test_a_denied_camera_says_so(browser_exe: str, server: str, demo: dict[str, Any]) -> None:
    flags = [f for f in camera_flags(demo["y4m"]) if f != "--use-fake-ui-for-media-stream"]
    status = _message_page(browser_exe, server, flags, "camera-denied.png", deny_camera=True)
    assert status["phase"] == "error", status
    assert status["html_message"].startswith("The camera was denied (NotAllowedError") and "Allow the camera" in status["html_message"], status


def test_a_broken_contract_shows_the_apps_message(browser_exe: str, runtimes: Path, demo: dict[str, Any], tmp_path: Path) -> None:
    """The page refuses the contract with the message the Android app gives (its reader is a port of Contract.java)."""
    for name in ("student.tflite", "student.tflite.json"):
        shutil.copy(demo["out"] / name, tmp_path / name)
    data = json.loads((tmp_path / "student.tflite.json").read_text())
    data["feedback"]["step"] = {"new_mem_key": "mem_value", "new_mem_value": "mem_key"}
    (tmp_path / "student.tflite.json").write_text(json.dumps(data))
    with demo_server(tmp_path / "student.tflite", runtimes) as url:
        status = _message_page(browser_exe, url, camera_flags(demo["y4m"]), "broken-contract.png")
    assert status["phase"] == "error", status
    assert status["html_message"].startswith(
        "contract student.tflite.json: feedback.step fills state input mem_key from new_mem_value; the export fills it from step output "
        "new_mem_key (init output S fills state input S, step output new_S refills it). The feedback map was edited, and following it "
        "would feed the wrong tensor back; export again. Export the model again with `mobileseg export"), status["html_message"]


def test_without_litert_the_page_says_why_and_runs_onnx(browser_exe: str, runtimes: Path, demo: dict[str, Any], tmp_path: Path) -> None:
    """The fallback: LiteRT.js unavailable -> the page names the reason and runs the ONNX export in ONNX Runtime Web."""
    only_ort = tmp_path / "runtimes"
    (only_ort / "node_modules").mkdir(parents=True)
    (only_ort / "node_modules" / "onnxruntime-web").symlink_to(runtimes / "node_modules" / "onnxruntime-web")
    with demo_server(demo["tflite"], only_ort) as url:
        status = _message_page(browser_exe, url, camera_flags(demo["y4m"]), "fallback-to-onnx.png")
    assert status["phase"] == "ready" and status["backend"] == "ort-wasm", status
    assert status["html_notice"].startswith("LiteRT.js, WebAssembly (XNNPACK) could not run the model: LiteRT.js is not installed"), status
    assert "Running student.init.onnx, student.step.onnx, student.weights with ONNX Runtime Web, WebAssembly instead" in status["html_notice"]


# -- the contract reader against the app's ---------------------------------------------------------------------------

MUTATIONS = {  # tests/integration/test_android.py's, and a few more
    "version": lambda d: d.update(contract_version=2),
    "objects": lambda d: d["input"].update(objects=3),
    "dtype": lambda d: d["entry_points"]["step"]["outputs"][0].update(dtype="int8"),
    "frame shape": lambda d: d["entry_points"]["step"]["inputs"][0].update(shape=[1, 3, 32, 96]),
    "state shape": lambda d: d["entry_points"]["step"]["outputs"][1]["shape"].__setitem__(2, 99),
    "no feedback": lambda d: d.pop("feedback"),
    "feedback to nowhere": lambda d: d["feedback"]["step"].update(new_mem_value="mem_valu"),
    "two files": lambda d: d["files"].update(init="other.tflite"),
    "no prob": lambda d: d["entry_points"]["step"]["outputs"][0].update(name="probability"),
    "swapped step feedback": lambda d: d["feedback"].update(step={"new_mem_key": "mem_value", "new_mem_value": "mem_key"}),
    "swapped init feedback": lambda d: d["feedback"].update(init={"mem_key": "mem_value", "mem_value": "mem_key"}),
    "no sha256": lambda d: d.pop("sha256"),
    "malformed sha256": lambda d: d["sha256"].update({"student.tflite": "0" * 63}),
    "height": lambda d: d["input"].update(height=64.5),
    "threshold": lambda d: d["input"].update(mask_threshold=2),
    "frame range": lambda d: d["input"].update(frame_range=[0, 255]),
    "schedule without phase": lambda d: d.update(schedule={"steps": ["step", "step_1"], "phase": None}),
    "init takes three": lambda d: d["entry_points"]["init"]["inputs"].append(dict(d["entry_points"]["init"]["inputs"][1], name="extra")),
    "the same as exported": lambda d: None,
}


@pytest.fixture(scope="module")
def jvm(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """The app's core compiled (for its Probe), or None without a JDK and junit4."""
    if shutil.which("javac") is None or not all(jar.is_file() for jar in JUNIT):
        return None
    classes = tmp_path_factory.mktemp("jvm")
    sources = sorted(str(p) for p in (ROOT / "android_demo" / "core" / "src").rglob("*.java"))
    done = subprocess.run(["javac", "--release", "11", "-nowarn", "-cp", ":".join(map(str, JUNIT)), "-d", str(classes), *sources],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return classes


def test_the_contract_reader_is_the_apps(page: Chromium, demo: dict[str, Any], jvm: Path | None, tmp_path: Path) -> None:
    """On every mutation the page's reader (contract.js) gives the app's verdict and the app's message word for word
    (only the advice at the end differs: no --android for the page); without a JDK, against the Python exporter's rules."""
    exported = json.loads((demo["out"] / "student.tflite.json").read_text())
    page_fix = page.evaluate("window.mobilesegDemo.fix")
    app_fix = (" Export the model again with `mobileseg export --checkpoint RUN/best.pt --target tflite --android android_demo`"
               " (this app reads contract version 1, target tflite, one object).")
    for name, edit in sorted(MUTATIONS.items()):
        data = copy.deepcopy(exported)
        edit(data)
        text = json.dumps(data)
        path = tmp_path / "student.tflite.json"
        path.write_text(text)
        says = page.evaluate(f"window.mobilesegDemo.probeContract({json.dumps(text)}, 'student.tflite.json')")
        if jvm is not None:
            done = subprocess.run(["java", "-cp", ":".join([str(jvm), *map(str, JUNIT)]), "io.mobileseg.core.Probe", "contract", str(path)],
                                  capture_output=True, text=True, timeout=120, cwd=tmp_path)
            app_says = done.stdout.strip().replace(str(path), "student.tflite.json")
            assert says == app_says.replace(app_fix, page_fix), (name, says, app_says)
        else:
            try:
                check_for_app(data, "student.tflite.json")
                python_ok = True
            except Exception:  # noqa: BLE001 - any refusal
                python_ok = False
            assert says.startswith("ok") == python_ok, (name, says)
    onnx = json.loads((demo["out"] / "student.onnx.json").read_text())
    says = page.evaluate(f"window.mobilesegDemo.probeContract({json.dumps(json.dumps(onnx))}, 'student.onnx.json')")
    assert says == "ok 64x96 student.init.onnx state=mem_key,mem_value", says  # the fallback's contract


# -- the command ---------------------------------------------------------------------------------------------------


def _fake_runtimes(folder: Path) -> Path:
    """node_modules with the pinned packages' manifests and one file each: enough for the server, no npm needed."""
    for runtime in RUNTIMES:
        for package, version in runtime.packages.items():
            (folder / "node_modules" / package / "dist").mkdir(parents=True)
            (folder / "node_modules" / package / "package.json").write_text(json.dumps({"name": package, "version": version}))
            (folder / "node_modules" / package / "dist" / "index.js").write_text("export {};")
    return folder


def test_the_server_serves_the_page_the_model_and_the_runtimes_only(tmp_path: Path) -> None:
    """What the page needs, cross-origin isolated, with the right types; nothing else (no path out of the folders served)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "student.tflite").write_bytes(b"TFL3")
    (model / "student.tflite.json").write_text(json.dumps({"target": "tflite", "files": {"init": "student.tflite", "step": "student.tflite"}}))
    (model / "secret.txt").write_text("not named by the contract")
    server = make_server(model / "student.tflite", _fake_runtimes(tmp_path / "runtimes"), port=0, threads=3)
    thread = threading.Thread(target=serve, args=(server,), daemon=True)
    thread.start()
    try:
        def get(path: str) -> tuple[int, dict[str, str], bytes]:
            try:
                with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as exc:
                return exc.code, dict(exc.headers), b""

        status, headers, body = get("/")
        assert status == 200 and b"app.js" in body and headers["Content-Type"].startswith("text/html")
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin" and headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        config = json.loads(get("/demo.json")[2])
        assert config["models"] == [{"target": "tflite", "contract": "model/student.tflite.json", "files": ["student.tflite"]}]
        assert config["threads"] == 3 and all(r["installed"] for r in config["runtimes"].values())
        assert get("/model/student.tflite")[2] == b"TFL3"
        assert get("/app.js")[1]["Content-Type"] == "text/javascript"
        assert get("/vendor/litertjs-core/dist/index.js")[:2][0] == 200
        for path in ("/model/secret.txt", "/model/../model/secret.txt", "/vendor/litertjs-core/package.json",
                     "/vendor/litertjs-core/dist/%2e%2e/package.json", "/vendor/litertjs-core/../../../runtimes/x", "/etc/passwd",
                     "/../pyproject.toml", "/server.py"):
            assert get(path)[0] == 404, path
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_command_refuses_what_it_cannot_serve(tmp_path: Path) -> None:
    model = tmp_path / "student.tflite"
    model.write_bytes(b"TFL3")
    (tmp_path / "student.tflite.json").write_text(json.dumps({"target": "tflite", "files": {"init": "student.tflite", "step": "student.tflite"}}))
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--model", str(tmp_path / "nothing.tflite"), "--runtimes", str(tmp_path)])
    assert result.exit_code == 1 and "there is no contract" in result.output, result.output
    result = runner.invoke(cli, ["demo", "--model", str(model), "--runtimes", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "mobileseg demo --install-runtimes" in result.output, result.output
    pte = tmp_path / "student.pte.json"
    pte.write_text(json.dumps({"target": "executorch", "files": {"init": "student.pte"}}))
    result = runner.invoke(cli, ["demo", "--model", str(pte), "--runtimes", str(tmp_path)])
    assert result.exit_code == 1 and "describes an export for target executorch" in result.output, result.output
    result = runner.invoke(cli, ["demo", "--runtimes", str(tmp_path)])
    assert result.exit_code == 1 and "give --model" in result.output, result.output
    result = runner.invoke(cli, ["demo", "--model", str(model), "--runtimes", str(_fake_runtimes(tmp_path / "runtimes")), "--cert", str(model)])
    assert result.exit_code == 1 and "--cert and --key go together" in result.output, result.output
