"""The browser runtimes the demo page loads, pinned, and their one-time install.

LiteRT.js (``@litertjs/core``, which runs ``.tflite`` files on WebAssembly with XNNPACK or on WebGPU) and ONNX Runtime
Web (``onnxruntime-web``, the fallback on the ``.onnx`` export) are npm packages of about 40 and 150 MB, mostly
WebAssembly builds (threaded, JSPI, WebGPU variants). They are not in this repository or in the Python package: the
versions are pinned in ``mobileseg/demo/npm/package.json`` and every file's integrity hash in its
``package-lock.json``, and ``mobileseg demo --install-runtimes`` runs ``npm ci`` on that lock file once, into
:func:`default_folder` (or ``--runtimes DIR``). Why not at ``pip install`` time: pip's build step would need node and
network access inside an isolated build, and would put 190 MB into every environment; why not committed: binary
blobs of another project's release. The page needs no build step: the packages' own ES modules are served as they
are (an import map resolves LiteRT.js's one bare import).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mobileseg.errors import ConfigError, MobilesegError

NPM_FOLDER = Path(__file__).resolve().parent / "npm"  # package.json + package-lock.json, shipped as package data
ENVIRONMENT = "MOBILESEG_WEB_RUNTIMES"


class RuntimeInstallError(MobilesegError):
    """npm could not install the pinned browser runtimes."""


@dataclass(frozen=True)
class WebRuntime:
    """One runtime the page can load: its npm packages (name -> pinned version) and the folders it serves from them."""

    key: str  # "litert" | "ort", as the page names them
    name: str
    packages: dict[str, str]
    serve: dict[str, str]  # URL alias under /vendor/ -> package folder under node_modules/


def _pinned() -> dict[str, str]:
    return dict(json.loads((NPM_FOLDER / "package.json").read_text())["dependencies"])


PINS = _pinned()
RUNTIMES = (
    WebRuntime("litert", "LiteRT.js", {"@litertjs/core": PINS["@litertjs/core"], "@litertjs/wasm-utils": PINS["@litertjs/wasm-utils"]},
               {"litertjs-core": "@litertjs/core", "litertjs-wasm-utils": "@litertjs/wasm-utils"}),
    WebRuntime("ort", "ONNX Runtime Web", {"onnxruntime-web": PINS["onnxruntime-web"]}, {"onnxruntime-web": "onnxruntime-web"}),
)
SERVED_SUBFOLDERS = ("dist", "wasm")  # what the page loads from a package; nothing else under node_modules is served


def default_folder() -> Path:
    """``$MOBILESEG_WEB_RUNTIMES``, else ``$XDG_CACHE_HOME/mobileseg/web-runtimes`` (``~/.cache/...``)."""
    explicit = os.environ.get(ENVIRONMENT)
    if explicit:
        return Path(explicit).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "mobileseg" / "web-runtimes"


def install_command(folder: Path) -> str:
    return "mobileseg demo --install-runtimes" + ("" if folder == default_folder() else f" --runtimes {folder}")


@dataclass(frozen=True)
class RuntimeStatus:
    runtime: WebRuntime
    installed: bool
    versions: dict[str, str | None]  # package -> the version found (None: absent)
    problem: str  # empty when installed

    def to_json(self) -> dict[str, object]:
        return {"name": self.runtime.name, "installed": self.installed, "versions": self.versions, "problem": self.problem}


def check(folder: Path) -> dict[str, RuntimeStatus]:
    """Which runtimes ``folder`` holds at the pinned versions (``folder/node_modules/<package>/package.json``)."""
    found: dict[str, RuntimeStatus] = {}
    for runtime in RUNTIMES:
        versions: dict[str, str | None] = {}
        problems = []
        for package, pinned in runtime.packages.items():
            manifest = folder / "node_modules" / package / "package.json"
            try:
                version = str(json.loads(manifest.read_text()).get("version"))
            except (OSError, ValueError):
                version = None
            versions[package] = version
            if version is None:
                problems.append(f"{package} is not installed in {folder}")
            elif version != pinned:
                problems.append(f"{folder} has {package} {version}, this mobileseg needs {pinned}")
        problem = "; ".join(problems) + (f"; run `{install_command(folder)}`" if problems else "")
        found[runtime.key] = RuntimeStatus(runtime, not problems, versions, problem)
    return found


def install(folder: Path) -> dict[str, RuntimeStatus]:
    """``npm ci`` of the pinned lock file into ``folder`` (its ``node_modules`` is replaced); the runtimes' status after."""
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError("npm is not installed, and the browser runtimes (LiteRT.js, ONNX Runtime Web) are npm packages. Install "
                          "Node.js with npm (Debian: apt-get install npm; elsewhere nodejs.org), then run this again.")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(NPM_FOLDER / name, folder / name)
    done = subprocess.run([npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise RuntimeInstallError(f"npm ci in {folder} failed (exit status {done.returncode}):\n{tail}\nThe packages come from the npm "
                                  "registry: check the network (or an npm proxy setting) and run the command again.")
    status = check(folder)
    broken = [s.problem for s in status.values() if not s.installed]
    if broken:
        raise RuntimeInstallError(f"npm ci in {folder} finished, but {'; '.join(broken)}")
    return status
