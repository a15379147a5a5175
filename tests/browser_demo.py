"""The harness of the browser-demo test (tests/integration/test_browser_demo.py), also a benchmark script.

- :func:`write_y4m`: a video as the ``.y4m`` file Chromium's fake camera plays (``--use-file-for-fake-video-capture``).
- :func:`demo_server`: ``mobileseg demo`` started as a command (the real CLI, in its own process), stopped afterwards.
- :func:`open_page`: headless Chromium (tests/chromium.py) with a fake camera, on the demo page, waiting until the page
  is ready or has said what is wrong.
- :func:`track_from_box`: waits until the page shows the video's first frame, drags the first mask's box on it, and
  waits until N frames are tracked; returns what the page recorded (pixels, input tensors, probabilities, times).
- :func:`bench_report`: ``mobileseg bench``-style figures of every backend the browser has (the page times init and
  step over the recorded video), in the ``mobileseg.bench/1`` schema with ``device.kind = "browser"``.

As a script it times an exported model in the browser and writes the report (what benchmarks/README.md's browser rows
come from)::

    .venv/bin/python -m tests.browser_demo --model export/out/student.tflite --json browser.json [--frames 30 --threads 2]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mobileseg.bench.report import make_report, table, write_report
from mobileseg.bench.stats import LatencyStats
from mobileseg.demo.runtimes import check, default_folder
from mobileseg.utils.machine import cpu_name
from tests.chromium import BrowserError, Chromium, chromium, find_chromium

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("litert-wasm", "litert-webgpu", "ort-wasm", "ort-webgpu")
# WebGPU in headless Chromium without a GPU: SwiftShader, Chromium's CPU implementation of Vulkan/WebGPU.
WEBGPU_FLAGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-unsafe-swiftshader"]


def runtimes_folder() -> Path | None:
    """Where the pinned browser runtimes are installed: $MOBILESEG_WEB_RUNTIMES, the repository's .webdemo/ (.ci/run),
    or mobileseg's default folder; None if none of them holds both."""
    for folder in (os.environ.get("MOBILESEG_WEB_RUNTIMES"), ROOT / ".webdemo", default_folder()):
        if folder and all(status.installed for status in check(Path(folder)).values()):
            return Path(folder)
    return None


def write_y4m(frames: list[np.ndarray], path: Path, fps: int) -> Path:
    """RGB uint8 frames [H, W, 3] (even H and W) -> YUV 4:2:0 .y4m (BT.601, limited range, as Chromium assumes)."""
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"a 4:2:0 y4m needs even sizes, got {height}x{width}")
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            rgb = frame.astype(np.float64)
            r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
            y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
            u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
            v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
            pool = lambda plane: plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))  # noqa: E731
            out.write(b"FRAME\n")
            for plane in (y, pool(u), pool(v)):
                out.write(np.clip(np.rint(plane), 0, 255).astype(np.uint8).tobytes())
    return path


def thumbnail(rgb: np.ndarray, cols: int = 12, rows: int = 8) -> np.ndarray:
    """The page's 12 x 8 grey thumbnail (app.js ``thumbnail``), for telling frames apart."""
    height, width = rgb.shape[:2]
    step = max(1, min(height, width) // 64)
    grey = rgb[::step, ::step, :3].astype(np.float64).mean(axis=2)
    ys = np.minimum(rows - 1, (np.arange(0, height, step) * rows) // height)
    xs = np.minimum(cols - 1, (np.arange(0, width, step) * cols) // width)
    sums = np.zeros((rows, cols))
    counts = np.zeros((rows, cols))
    np.add.at(sums, (ys[:, None], xs[None, :]), grey)
    np.add.at(counts, (ys[:, None], xs[None, :]), 1)
    return (sums / np.maximum(counts, 1)).reshape(-1)


def nearest(thumb: np.ndarray, references: list[np.ndarray]) -> tuple[int, float]:
    """Index of the reference thumbnail closest to ``thumb`` (mean absolute difference) and that difference."""
    distances = [float(np.abs(thumb - ref).mean()) for ref in references]
    best = int(np.argmin(distances))
    return best, distances[best]


@contextlib.contextmanager
def demo_server(model: Path, runtimes: Path, *args: str, timeout: float = 60) -> Iterator[str]:
    """``mobileseg demo --model MODEL --port 0`` in its own process; yields the page's URL; stopped (SIGTERM) on the way out."""
    command = [sys.executable, "-m", "mobileseg", "demo", "--model", str(model), "--port", "0", "--runtimes", str(runtimes), *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        url = None
        assert process.stdout is not None
        while url is None:
            line = process.stdout.readline()
            if not line:
                raise AssertionError(f"`mobileseg demo` exited (status {process.wait()}) before serving:\n" + "".join(lines))
            lines.append(line)
            found = re.search(r"at (https?://\S+/)", line)
            url = found.group(1) if found else None
            if time.monotonic() > deadline:
                raise AssertionError(f"`mobileseg demo` printed no address within {timeout:.0f} s:\n" + "".join(lines))
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def camera_flags(y4m: Path | None, webgpu: bool = True) -> list[str]:
    flags = ["--autoplay-policy=no-user-gesture-required"]
    if y4m is not None:
        flags += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={y4m}", "--use-fake-ui-for-media-stream"]
    return flags + (WEBGPU_FLAGS if webgpu else [])


def wait_until_settled(browser: Chromium, timeout: float = 90) -> dict[str, Any]:
    """The page's status once it is ready for a box, or has failed (its message says why)."""
    browser.wait_for("window.mobilesegDemo && ['ready', 'error'].includes(window.mobilesegDemo.status().phase)", timeout=timeout,
                     what="the page to load the model and open the camera (or say why not)")
    return dict(browser.evaluate("window.mobilesegDemo.status()"))


def decode(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def track_from_box(browser: Chromium, box: tuple[float, float, float, float], references: list[np.ndarray], steps: int,
                   timeout: float = 90, tries: int = 4) -> list[dict[str, Any]]:
    """Drags ``box`` (model pixels) on the video's first frame (``references``: thumbnails of the video's frames, the
    first one first), waits for ``steps`` tracked frames and returns the page's records (init first), decoded."""
    for _ in range(tries):
        browser.wait_for(f"(() => {{ const t = window.mobilesegDemo.status().thumb; if (!t) return false;"
                         f" const ref = {json.dumps([round(float(v), 2) for v in references[0]])};"
                         f" const others = {json.dumps([[round(float(v), 2) for v in r] for r in references[1:]])};"
                         f" const d = (a) => a.reduce((s, v, i) => s + Math.abs(v - t[i]), 0) / a.length;"
                         f" return d(ref) < Math.min(...others.map(d)); }})()", timeout=timeout, every=0.02,
                         what="the fake camera to show the video's first frame")
        start = browser.evaluate(f"window.mobilesegDemo.modelToClient({box[0]}, {box[1]})")
        end = browser.evaluate(f"window.mobilesegDemo.modelToClient({box[2]}, {box[3]})")
        browser.drag(tuple(start), tuple(end))
        browser.wait_for("window.mobilesegDemo.status().phase === 'tracking' || window.mobilesegDemo.status().phase === 'error'",
                         timeout=30, what="init to run on the box")
        records = browser.evaluate("window.mobilesegDemo.records()")
        first = decode(records[0]["rgba"], "uint8").reshape(records[0]["height"], records[0]["width"], 4)
        if nearest(thumbnail(first), references)[0] == 0:
            break
        browser.evaluate("document.getElementById('reset').click()")  # the press landed on the next frame: again
    else:
        raise BrowserError(f"in {tries} tries the box never landed on the video's first frame")
    browser.wait_for(f"window.mobilesegDemo.status().records > {steps} || window.mobilesegDemo.status().phase === 'error'",
                     timeout=timeout, what=f"{steps} frames to be tracked")
    status = browser.evaluate("window.mobilesegDemo.status()")
    if status["phase"] == "error":
        raise BrowserError(f"the page stopped tracking: {status['message']}")
    out = []
    for record in browser.evaluate("window.mobilesegDemo.records()")[: steps + 1]:
        height, width = record["height"], record["width"]
        out.append({**record, "rgba": decode(record["rgba"], "uint8").reshape(height, width, 4),
                    "tensor": decode(record["tensor"], "<f4"), "prob": decode(record["prob"], "<f4")})
    return out


def browser_device(browser: Chromium) -> dict[str, Any]:
    info = browser.send("Browser.getVersion")
    adapter = browser.evaluate("window.mobilesegDemo.webgpuAdapter()")
    return {"kind": "browser", "browser": info.get("product"), "user_agent": info.get("userAgent"), "headless": True,
            "cross_origin_isolated": browser.evaluate("crossOriginIsolated"), "webgpu_adapter": adapter,
            "machine": platform.machine(), "cpu": cpu_name(), "cores": os.cpu_count(), "system": platform.platform()}


def bench_entry(result: dict[str, Any], model: Path, runtimes: dict[str, Any]) -> dict[str, Any]:
    """One ``models`` entry of a ``mobileseg.bench/1`` report from the page's bench() result."""
    runtime = "litert" if result["backend"].startswith("litert") else "ort"
    versions = runtimes[runtime]["versions"]
    files = [model.parent / name for name in result["files"]]
    return {
        "model": str(model), "name": model.name, "format": f"browser:{result['backend']}", "role": "student", "size": result["size"],
        "file_mb": round(sum(f.stat().st_size for f in files if f.is_file()) / 1e6, 3), "params": None, "threads": result["threads"],
        "runtime": f"{runtimes[runtime]['name']} {next(iter(versions.values()))}", "accelerator": result["accelerator"],
        "backend": result["backend"], "label": result["label"], "load_ms": round(result["loadMs"], 1),
        "entries": {"init": LatencyStats.of([result["initMs"]]).to_dict(), "step": LatencyStats.of(result["stepMs"]).to_dict()},
        "delegation": result["delegation"] or None, "fully_accelerated": result["fullyAccelerated"], "peak_rss_mb": None, "jf": None,
    }


def bench_report(browser: Chromium, model: Path, warmup: int, frames: int, threads: int,
                 backends: tuple[str, ...] = BACKENDS) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, str]]:
    """Times every backend the page can open; (report, raw results by backend, why each missing backend could not run)."""
    config = browser.evaluate("fetch('demo.json').then(r => r.json())")
    results: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for backend in backends:
        try:
            results[backend] = browser.evaluate(f"window.mobilesegDemo.bench({{backend: {json.dumps(backend)}, warmup: {warmup}, "
                                                f"frames: {frames}, threads: {threads}}})", timeout=600)
        except BrowserError as exc:
            skipped[backend] = str(exc).split("\npage console")[0]
    entries = [bench_entry(results[b], model, config["runtimes"]) for b in results]
    settings = {"frames": frames, "warmup": warmup, "threads": threads, "source": "the page's recorded camera frames, forwards and "
                "backwards (generated frames when none were recorded); init = the first call after loading", "skipped": skipped}
    return make_report(browser_device(browser), settings, entries), results, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time an exported model in headless Chromium, every backend (LiteRT.js and "
                                     "ONNX Runtime Web on WebAssembly and WebGPU).")
    parser.add_argument("--model", type=Path, required=True, help="an exported .tflite (an .onnx export beside it adds the ORT rows)")
    parser.add_argument("--json", type=Path, default=Path("browser-bench.json"))
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", action="append", choices=BACKENDS, help="repeatable; default: all four")
    args = parser.parse_args(argv)
    executable = find_chromium()
    runtimes = runtimes_folder()
    if executable is None or runtimes is None:
        print("needs Chromium and the browser runtimes (mobileseg demo --install-runtimes)", file=sys.stderr)
        return 2
    with demo_server(args.model, runtimes, "--threads", str(args.threads)) as url, \
            chromium(executable, camera_flags(None), timeout=900) as browser:
        browser.navigate(url + "?backend=litert-wasm")
        browser.wait_for("window.mobilesegDemo && window.mobilesegDemo.status().phase !== 'loading'", timeout=600, what="the page")
        report, _, skipped = bench_report(browser, args.model, args.warmup, args.frames, args.threads, tuple(args.backend or BACKENDS))
    write_report(report, args.json)
    print(table(report, markdown=True))
    for backend, why in skipped.items():
        print(f"{backend}: not timed: {why}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
