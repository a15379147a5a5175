"""``mobileseg demo``'s web server: the page, the model with its contract, and the browser runtimes.

What it serves, and nothing else (every other path is a 404):

- ``/`` and the page's static files (``mobileseg/demo/web/``, package data; no build step);
- ``/demo.json``: which contracts to read (the model's, then the ONNX export beside it for the fallback), which
  runtimes are installed, the backend and thread count asked for on the command line;
- ``/model/<name>``: each contract and the files its ``files`` section names, from the model's folder;
- ``/vendor/<runtime>/{dist,wasm}/...``: LiteRT.js and ONNX Runtime Web from the pinned npm install
  (:mod:`mobileseg.demo.runtimes`).

The page reads the contract itself, with the Android app's rules and messages, and checks every file's sha256, so
the server does not refuse a contract it can read: the page shows what is wrong with it. Every response carries
``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp``: the page is then
cross-origin isolated, which the runtimes' multi-threaded WebAssembly builds need (SharedArrayBuffer).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import ssl
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from mobileseg import __version__
from mobileseg.artifact.contract import ContractError, contract_path, load_contract
from mobileseg.demo.runtimes import RUNTIMES, SERVED_SUBFOLDERS, RuntimeStatus, check, install_command
from mobileseg.errors import ConfigError

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent / "web"
BACKENDS = ("auto", "litert-wasm", "litert-webgpu", "ort-wasm", "ort-webgpu")
TARGETS = {"tflite": "LiteRT.js", "onnx": "ONNX Runtime Web"}
TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
         ".css": "text/css", ".html": "text/html; charset=utf-8", ".map": "application/json", ".tflite": "application/octet-stream",
         ".onnx": "application/octet-stream", ".weights": "application/octet-stream"}


@dataclass(frozen=True)
class ServedModel:
    """One export the page may load: its contract and the files it names (plain names in the contract's folder)."""

    target: str
    contract: Path
    files: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return (self.contract.name, *self.files)


def _target_of(contract: Path, data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("target"), str):
        return str(data["target"])
    for target in TARGETS:
        if contract.name.endswith(f".{target}.json"):
            return target
    return None


def _served(contract: Path) -> ServedModel:
    """The contract and the files it names that exist beside it. A contract the page cannot read is served all the same."""
    try:
        data = json.loads(contract.read_text())
    except (OSError, ValueError):
        data = None
    files = data.get("files") if isinstance(data, dict) else None
    names = [name for name in (files.values() if isinstance(files, dict) else []) if isinstance(name, str)]
    present = tuple(sorted({name for name in names if "/" not in name and "\\" not in name and (contract.parent / name).is_file()}))
    return ServedModel(_target_of(contract, data) or "unknown", contract, present)


def resolve_models(model: Path) -> list[ServedModel]:
    """The export ``--model`` names (the file or its contract) first, then the same export in the other format beside it
    (``student.onnx.json`` beside ``student.tflite.json``, and the other way round), if there is one."""
    contract = contract_path(model)
    if not contract.is_file():
        raise ConfigError(f"--model {model}: there is no contract {contract} beside it. Pass an exported .tflite (or .onnx) file with the "
                          "<file>.json that `mobileseg export` writes beside it, e.g. --model export/out/student.tflite.")
    first = _served(contract)
    if first.target not in TARGETS:
        raise ConfigError(f"--model {model}: {contract.name} describes an export for target {first.target}; the browser runs .tflite exports in "
                          "LiteRT.js and .onnx exports in ONNX Runtime Web. Export with --target tflite (and --target onnx for the "
                          "fallback) and pass the .tflite file.")
    models = [first]
    other = {"tflite": "onnx", "onnx": "tflite"}[first.target]
    if contract.name.endswith(f".{first.target}.json"):  # student.tflite.json <-> student.onnx.json: the same export's other file
        beside = contract.with_name(contract.name[: -len(f".{first.target}.json")] + f".{other}.json")
        if beside.is_file():
            models.append(_served(beside))
    return models


@dataclass
class Site:
    """Everything the handler serves; built once by :func:`make_server`."""

    models: list[ServedModel]
    runtimes_folder: Path
    runtimes: dict[str, RuntimeStatus]
    backend: str = "auto"
    threads: int = 1
    static: dict[str, Path] = field(default_factory=dict)

    def config(self) -> dict[str, Any]:
        return {
            "mobileseg": __version__,
            "models": [{"target": m.target, "contract": f"model/{m.contract.name}", "files": list(m.files)} for m in self.models],
            "runtimes": {key: status.to_json() for key, status in self.runtimes.items()},
            "backend": self.backend,
            "threads": self.threads,
        }

    def model_file(self, name: str) -> Path | None:
        for model in self.models:
            if name in model.names:
                return model.contract.parent / name
        return None

    def vendor_file(self, rest: str) -> Path | None:
        alias, _, inner = rest.partition("/")
        for runtime in RUNTIMES:
            package = runtime.serve.get(alias)
            if package is None or not self.runtimes[runtime.key].installed:
                continue
            root = (self.runtimes_folder / "node_modules" / package).resolve()
            path = (root / inner).resolve()
            if any(path.is_relative_to(root / sub) for sub in SERVED_SUBFOLDERS) and path.is_file():
                return path
        return None


class _Handler(BaseHTTPRequestHandler):
    server_version = f"mobileseg-demo/{__version__}"
    site: Site  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("demo: " + format, *args)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._respond(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._respond(head=False)

    def _respond(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        body: bytes | None = None
        kind = "application/octet-stream"
        cache = "no-store"
        if path == "/demo.json":
            body, kind = json.dumps(self.site.config(), indent=1).encode(), TYPES[".json"]
        else:
            file = self._file(path)
            if file is not None:
                try:
                    body = file.read_bytes()
                except OSError:
                    body = None
                kind = TYPES.get(file.suffix, mimetypes.guess_type(file.name)[0] or "application/octet-stream")
                if path.startswith("/vendor/"):
                    cache = "max-age=86400"  # pinned versions: the same URL is the same bytes
        if body is None:
            log.warning("demo: %s requested %s, which this server does not serve", self.address_string(), path)
            self.send_error(HTTPStatus.NOT_FOUND, "not served by mobileseg demo")
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _file(self, path: str) -> Path | None:
        if path == "/":
            path = "/index.html"
        if path.startswith("/model/"):
            return self.site.model_file(path[len("/model/"):])
        if path.startswith("/vendor/"):
            return self.site.vendor_file(path[len("/vendor/"):])
        return self.site.static.get(path.lstrip("/"))


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    site: Site

    @property
    def url(self) -> str:
        address, port = self.server_address[0], self.server_address[1]
        host = address.decode() if isinstance(address, bytes) else str(address)
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::", "localhost") else host
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{shown}:{port}/"


def make_server(model: str | os.PathLike[str], runtimes_folder: Path, host: str = "127.0.0.1", port: int = 8000, backend: str = "auto",
                threads: int = 1, cert: Path | None = None, key: Path | None = None) -> DemoServer:
    """A server for ``model`` (bound, not yet serving: call ``serve_forever``). Refuses, with what to do, a model without a
    contract, one the browser cannot run, no installed runtime, an unknown backend, a port in use."""
    if backend not in BACKENDS:
        raise ConfigError(f"--backend {backend} is not one of {', '.join(BACKENDS)}.")
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}.")
    models = resolve_models(Path(model))
    runtimes = check(runtimes_folder)
    if not any(status.installed for status in runtimes.values()):
        raise ConfigError(f"the browser runtimes are not installed in {runtimes_folder} ({'; '.join(s.problem for s in runtimes.values())}). "
                          f"Install them once with `{install_command(runtimes_folder)}` (npm ci of pinned versions, about 190 MB).")
    for status in runtimes.values():
        if not status.installed:
            log.warning("demo: %s is not available (%s); the page uses the other runtime.", status.runtime.name, status.problem)
    try:
        load_contract(models[0].contract)
    except ContractError as exc:  # the page shows the app's message for it; say it here too
        log.warning("demo: %s will not run as it is: %s", models[0].contract.name, exc)
    static = {p.name: p for p in WEB.iterdir() if p.is_file() and p.suffix in (".html", ".js", ".css")}
    site = Site(models, runtimes_folder, runtimes, backend, threads, static)
    handler = type("Handler", (_Handler,), {"site": site})
    try:
        server = DemoServer((host, port), handler)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); pass another --port (0 picks a free one).") from None
    server.site = site
    if cert is not None or key is not None:
        if cert is None or key is None:
            server.server_close()
            raise ConfigError("--cert and --key go together: a certificate and its private key (PEM files).")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            server.server_close()
            raise ConfigError(f"--cert {cert} --key {key}: {exc}; pass a PEM certificate and its private key.") from None
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def serve(server: DemoServer) -> None:
    """Serves until interrupted (Ctrl-C, SIGTERM); the socket is closed on the way out."""
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
