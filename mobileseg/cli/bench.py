"""``mobileseg bench``: per-frame latency on this host or on an Android phone over adb."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mobileseg.bench.device import DeviceRequest, bench_adb, dry_run
from mobileseg.bench.host import HostRequest, bench_host, host_info
from mobileseg.bench.report import check_plot_path, check_report_path, make_report, plot, require_matplotlib, table, write_report
from mobileseg.bench.targets import kind_of
from mobileseg.checkpoint import model_from_checkpoint
from mobileseg.cli.types import SIZE
from mobileseg.errors import ConfigError
from mobileseg.models.footprint import UNCHECKED_PIXELS, check_fits

HOST_ONLY = ("frames", "every", "plot", "data", "size", "start_frame", "no_memory_check")
ADB_ONLY = ("serial", "runner", "delegate", "big_cores", "runs", "cooldown", "state_frames", "dry_run")


@click.command("bench")
@click.option("--device", "device_kind", default="host", show_default=True, type=click.Choice(["host", "adb"]),
              help="host: this machine, each model in its own process; adb: an Android phone over adb (one .tflite or .pte).")
@click.option("--model", "models", multiple=True, required=True, type=click.Path(path_type=Path),
              help="An exported file (student.tflite, student.pte, student.onnx; its .json contract beside it) or a checkpoint "
                   "(RUN/best.pt, eager PyTorch). Repeat for a comparison table.")
@click.option("--frames", default=100, show_default=True, type=click.IntRange(min=1), help="host: timed step calls (frames after the first).")
@click.option("--warmup", default=5, show_default=True, type=click.IntRange(min=0), help="Untimed calls before timing.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads of the runtime. [default: host 2, adb 4]")
@click.option("--every", type=click.IntRange(min=1), default=None,
              help="host: also record ms/frame along the video (median of every N frames), e.g. --frames 1000 --every 50.")
@click.option("--plot", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="host: draw ms/frame against the frame index for every model into this PNG (needs --every).")
@click.option("--start-frame", default=1, show_default=True, type=click.IntRange(min=1),
              help="host: start at this frame of the video: a teacher's memory is grown to the size it has there (copies of "
                   "its real entries; the cost depends on the size), so --start-frame 500 times frame 500 without running 499 frames.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="host: also score J&F on this dataset's val split (DAVIS layout) with each model.")
@click.option("--size", type=SIZE, default="480x864", show_default=True, help="host: input HxW for checkpoints (an exported file has its own).")
@click.option("--no-memory-check", is_flag=True, help="host: skip the check that --size fits in this machine's memory (an estimate).")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False), default=Path("bench.json"), show_default=True,
              help="Write the report here (schema in README, 'Benchmarking').")
@click.option("--serial", default=None, help="adb: the device to use when several are connected (or set ANDROID_SERIAL).")
@click.option("--runner", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="adb: the Android arm64 runner binary: TFLite's benchmark_model for .tflite, ExecuTorch's executor_runner for .pte.")
@click.option("--delegate", default="xnnpack", show_default=True, type=click.Choice(["xnnpack", "gpu", "nnapi"]),
              help="adb, .tflite: the delegate benchmark_model uses (LiteRT's GPU delegate leaves the nodes on the 5-D state tensors to the CPU).")
@click.option("--big-cores", is_flag=True, help="adb: pin the runner to the fast cores with taskset (steadier numbers).")
@click.option("--runs", default=50, show_default=True, type=click.IntRange(min=1), help="adb: timed runs per entry point.")
@click.option("--cooldown", default=5.0, show_default=True, type=click.FloatRange(min=0), help="adb: seconds of rest between the init and step runs.")
@click.option("--state-frames", default=5, show_default=True, type=click.IntRange(min=1),
              help="adb: step is fed the real state after this many frames of a generated video.")
@click.option("--dry-run", is_flag=True,
              help="adb: print the exact adb command lines the run would execute (push, the runner per entry point, logcat, "
                   "clean-up) and stop; needs no phone and no adb.")
@click.pass_context
def bench_command(ctx: click.Context, device_kind: str, models: tuple[Path, ...], json_path: Path, **options: Any) -> None:
    """Time init and step of each model per frame: min / p50 / p90 / p99 / mean ms, FPS, memory, size.

    \b
    mobileseg bench --model export/out/student.tflite --model export/out/student.pte --model runs/student/best.pt
    mobileseg bench --model runs/teacher/best.pt --model export/out/student.tflite --frames 1000 --every 50 --plot latency.png
    mobileseg bench --device adb --model export/out/student.tflite --runner ~/android/benchmark_model --big-cores
    mobileseg bench --device adb --model export/out/student.pte --runner ~/android/executor_runner --dry-run

    On the host every model runs its own tracker over a generated video with its state fed back,
    in a fresh process (so the peak memory is its own); several models print one table.
    """
    wrong = HOST_ONLY if device_kind == "adb" else ADB_ONLY
    given = [name for name in wrong if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"{flags}: only for --device {'host' if device_kind == 'adb' else 'adb'}; this run is --device {device_kind}.")
    if not (device_kind == "adb" and options["dry_run"]):  # before any timing: a report that cannot be written loses the run

        check_report_path(json_path)
    if device_kind == "adb" and options["dry_run"]:

        click.echo("\n".join(dry_run(_adb_request(models, options))))
        return
    if device_kind == "adb":
        report = _adb(models, options)
    else:
        report = _host(models, options)

    write_report(report, json_path)
    click.echo(table(report))
    click.echo(f"report: {json_path}")
    if options.get("plot"):

        click.echo(f"plot: {plot(report, options['plot'])}")


def _host(models: tuple[Path, ...], options: dict[str, Any]) -> dict[str, Any]:
    if options["plot"] and not options["every"]:
        raise ConfigError("--plot draws the latency along the video: give --every N too (e.g. --frames 1000 --every 50).")
    if options["plot"]:

        require_matplotlib()
        check_plot_path(options["plot"])
    if options["every"] and options["every"] > options["frames"]:
        raise ConfigError(f"--every {options['every']} is more than --frames {options['frames']}: the curve would have one point.")
    size = options["size"]
    checkpoints = [model for model in models if kind_of(model) == "checkpoint"]  # a clear error before any process starts
    if checkpoints and (size[0] % 16 or size[1] % 16):
        raise ConfigError(f"--size {size[0]}x{size[1]}: the networks take sides that are multiples of 16 (stride 16), e.g. 480x864 "
                          "or 256x448.")
    if checkpoints and not options["no_memory_check"]:

        for checkpoint in checkpoints if size[0] * size[1] > UNCHECKED_PIXELS else []:
            check_fits(model_from_checkpoint(checkpoint)[0], size)
    threads = options["threads"] or 2
    requests = [HostRequest(model=str(m), frames=options["frames"], warmup=options["warmup"], threads=threads, every=options["every"],
                            size=options["size"], start_frame=options["start_frame"], data=str(options["data"]) if options["data"] else None)
                for m in models]
    settings = {"frames": options["frames"], "warmup": options["warmup"], "threads": threads, "every": options["every"],
                "start_frame": options["start_frame"],
                "size_for_checkpoints": list(options["size"]), "data": str(options["data"]) if options["data"] else None}
    return make_report(host_info(threads), settings, bench_host(requests))


def _adb_request(models: tuple[Path, ...], options: dict[str, Any]) -> Any:
    if len(models) != 1:
        raise ConfigError(f"--device adb times one --model per run ({len(models)} given): run it once per file.")
    if options["runner"] is None:
        raise ConfigError("--device adb needs --runner: the Android arm64 benchmark_model (for .tflite) or executor_runner "
                          "(for .pte) binary; README, 'Benchmarking on a phone', says where to get them.")
    request = DeviceRequest(model=models[0], runner=options["runner"], serial=options["serial"], threads=options["threads"] or 4,
                            delegate=options["delegate"], big_cores=options["big_cores"], runs=options["runs"], warmup=options["warmup"],
                            cooldown=options["cooldown"], state_frames=options["state_frames"])
    return request


def _adb(models: tuple[Path, ...], options: dict[str, Any]) -> dict[str, Any]:
    return bench_adb(_adb_request(models, options))
