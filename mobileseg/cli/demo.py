"""``mobileseg demo``: live segmentation of the camera in a browser, with the exported .tflite and its contract."""

from __future__ import annotations

from pathlib import Path

import click

from mobileseg.demo.runtimes import default_folder, install, install_command
from mobileseg.demo.server import BACKENDS, make_server, serve
from mobileseg.errors import ConfigError


@click.command("demo")
@click.option("--model", type=click.Path(path_type=Path, dir_okay=False),
              help="An exported student.tflite (its contract student.tflite.json beside it), or student.onnx. An ONNX export "
                   "beside the .tflite (student.onnx.json) is the fallback when LiteRT.js cannot run the file.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True, help="Port to serve on; 0 picks a free one.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Browsers give the camera only to https:// pages and to localhost: to open the page on a "
                   "phone, use --host 0.0.0.0 with --cert and --key.")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="What the page runs first: auto = LiteRT.js on WebAssembly (XNNPACK), ONNX Runtime Web if LiteRT.js cannot "
                   "run the file. The page's menu (or ?backend=) changes it.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="WebAssembly threads (the page is cross-origin isolated, so the runtimes' threaded builds can run).")
@click.option("--runtimes", "runtimes_folder", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder of the pinned browser runtimes (npm).  [default: $MOBILESEG_WEB_RUNTIMES or ~/.cache/mobileseg/web-runtimes]")
@click.option("--install-runtimes", is_flag=True,
              help="Install LiteRT.js and ONNX Runtime Web (pinned versions, npm ci, about 190 MB) into --runtimes, once; needs npm.")
@click.option("--cert", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None, help="PEM certificate, to serve https.")
@click.option("--key", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None, help="Its PEM private key.")
def demo_command(model: Path | None, port: int, host: str, backend: str, threads: int, runtimes_folder: Path | None, install_runtimes: bool,
                 cert: Path | None, key: Path | None) -> None:
    """Segment the camera live in a browser: drag a box on the video, the model tracks the object.

    Serves a web page that runs the exported student's init and step in LiteRT.js (ONNX Runtime
    Web on the .onnx export when LiteRT.js cannot run the file), the state fed back by the names
    in the contract, and draws the mask over the video with ms/frame and FPS. Install the
    browser runtimes once with --install-runtimes; then open the printed address. Ctrl-C stops.
    """
    folder = runtimes_folder or default_folder()
    if install_runtimes:
        status = install(folder)
        versions = ", ".join(f"{package} {version}" for s in status.values() for package, version in s.versions.items())
        click.echo(f"installed {versions} into {folder}")
        if model is None:
            return
    if model is None:
        raise ConfigError(f"give --model, an exported .tflite file, e.g. `mobileseg demo --model export/out/student.tflite` (install the "
                          f"browser runtimes once first: `{install_command(folder)}`).")
    server = make_server(model, folder, host=host, port=port, backend=backend, threads=threads, cert=cert, key=key)
    served = ", ".join(f"{m.contract.name} ({m.target})" for m in server.site.models)
    click.echo(f"mobileseg demo: serving {served} at {server.url}")
    click.echo("Open it in a browser (Chrome or Edge 137+ for every backend), allow the camera, drag a box around an object. Ctrl-C stops.")
    if host not in ("127.0.0.1", "localhost", "::1") and cert is None:
        click.echo("Note: over plain http a browser gives the camera only to http://localhost; from another device use --cert and --key.")
    try:
        serve(server)
    except KeyboardInterrupt:
        click.echo("mobileseg demo: stopped")
