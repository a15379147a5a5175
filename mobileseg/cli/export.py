"""``mobileseg export`` and ``mobileseg verify``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from mobileseg.cli.types import SIZE
from mobileseg.errors import ConfigError
from mobileseg.export.android import check_app_dir, install_into_app
from mobileseg.export.parity import PARITY_FRAMES, Tolerance
from mobileseg.export.pipeline import DEFAULT_SIZE, AccuracyGateError, ExportError, ExportRequest, export_checkpoint, model_for, verify_artifact
from mobileseg.export.recipes import Recipe, load_recipe

TARGETS = ("onnx", "tflite", "executorch", "coreml", "all")


# What --android exports when --quantize is not given: TFLite int8 (weights and activations, the memory readout in
# float) runs the full student's step in 0.50x of TFLite fp32's time at 480x864, 2 threads (benchmarks/README.md, "fast"),
# and XNNPACK's int8 kernels are what phones are fast with. It is held to --max-jf-drop like any int8 file; when it
# fails the gate, the app gets the fp32 file instead, and the command says so.
ANDROID_PRECISION = "int8"


@click.command("export")
@click.option("--checkpoint", required=True, type=click.Path(path_type=Path, dir_okay=False), help="A student checkpoint from `mobileseg train` (RUN_DIR/best.pt).")
@click.option("--target", "targets", multiple=True, type=click.Choice(TARGETS),
              help="onnx, tflite, executorch, coreml or all (every target whose toolchain is installed); repeatable.  [default: all, or the recipe's]")
@click.option("--size", type=SIZE, default=None, help="Input HxW the files are made for (multiples of 16).  [default: 480x864, or the recipe's]")
@click.option("--objects", type=click.IntRange(min=1), default=None, help="Objects per graph (batch of the mask/prob/mem_value tensors).  [default: 1]")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("export/out"), show_default=True,
              help="Folder for student.<suffix> and student.<suffix>.json (the contract).")
@click.option("--recipe", type=click.Path(path_type=Path, dir_okay=False), help="YAML recipe (export/recipes/*.yaml); command-line options override it.")
@click.option("--parity-frames", type=click.IntRange(min=2), default=None, help="Frames of the parity video.  [default: 30]")
@click.option("--max-abs-prob", type=float, default=None, help="Parity tolerance: largest |prob difference| on any frame (>= 0).  [default: 1e-3]")
@click.option("--min-iou", type=float, default=None, help="Parity tolerance: smallest mask IoU on any frame (0 to 1).  [default: 0.999]")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Runtime threads for the parity check.  [default: 2]")
@click.option("--quantize", type=click.Choice(["fp32", "fp16", "dynamic-int8", "int8"]), default=None,
              help="fp32: no quantisation. Else write student-<precision>.<suffix>: fp16 weights, int8 weights (dynamic-int8) or int8 weights and "
                   "activations calibrated on real state (int8). Its accuracy is measured in its runtime against fp32 "
                   "and gated by --max-jf-drop. export/README.md lists the pairs each target offers.  [default: fp32; "
                   "with --android: int8, and fp32 if the int8 file fails the gate]")
@click.option("--calibration-data", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="int8: a dataset folder (DAVIS / YouTube-VOS / SynthVOS layout) whose videos calibrate the activations, "
                   "the tracker running with its state fed back.  [default: generated SynthVOS videos]")
@click.option("--calibration-frames", type=click.IntRange(min=1), default=64, show_default=True, help="int8: step frames to calibrate on.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Quantised exports: measure J&F on this dataset's val split, beside the fp32 J&F.  [default: a generated SynthVOS set]")
@click.option("--max-jf-drop", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Quantised exports: J&F points (0-100 scale) the file may lose against the fp32 checkpoint.")
@click.option("--allow-accuracy-drop", is_flag=True, help="Write a quantised file even when it loses more than --max-jf-drop (or cannot be measured here).")
@click.option("--android", "android", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also copy the .tflite and its contract into this Android app's assets (android_demo), after checking the "
                   "contract with the app's own rules (target tflite, one object). Without --target it exports tflite only; "
                   "without --quantize, int8 (the fastest TFLite file; fp32 if int8 loses more than --max-jf-drop).")
@click.option("--overwrite", is_flag=True, help="Write into an --out that holds files mobileseg did not write (files of the same names "
              "are replaced). Without it such a folder is refused.")
@click.option("--no-memory-check", is_flag=True, help="Skip the check that --size fits in this machine's memory (an estimate).")
def export_command(checkpoint: Path, targets: tuple[str, ...], size: tuple[int, int] | None, objects: int | None,
                   out: Path, recipe: Path | None, parity_frames: int | None, max_abs_prob: float | None, min_iou: float | None,
                   threads: int | None, quantize: str | None, calibration_data: Path | None, calibration_frames: int,
                   data: Path | None, max_jf_drop: float, allow_accuracy_drop: bool, android: Path | None,
                   overwrite: bool, no_memory_check: bool) -> None:
    """Export a student with its memory as explicit state: init(frame, mask) and step(frame, *state).

    Every file is loaded into its real runtime and checked against PyTorch over a whole generated
    video (each side feeding back its own state); a file that misses the tolerance is not
    written. Core ML cannot run on Linux: its saved spec is checked instead. Beside each file a
    contract JSON names every input, output and shape, and which outputs to feed back.
    """

    plan = load_recipe(recipe) if recipe is not None else Recipe()
    defaults = Tolerance()
    request = ExportRequest(
        checkpoint=checkpoint, targets=list(targets) or plan.targets or ["all"], out=out,
        size=size or plan.size or DEFAULT_SIZE, objects=objects or plan.objects or 1,
        tolerance=Tolerance(max_abs_prob if max_abs_prob is not None else plan.max_abs_prob or defaults.max_abs_prob,
                            min_iou if min_iou is not None else plan.min_iou or defaults.min_iou),
        parity_frames=parity_frames or plan.parity_frames or PARITY_FRAMES, threads=threads or plan.threads or 2,
        options=plan.options, precision=quantize or "fp32", calibration_data=calibration_data,
        calibration_frames=calibration_frames, data=data, max_jf_drop=max_jf_drop, allow_accuracy_drop=allow_accuracy_drop,
        overwrite=overwrite, no_memory_check=no_memory_check,
    )
    android_default = android is not None and quantize is None and not allow_accuracy_drop
    if android is not None:
        check_app_dir(android)
        if not targets and not plan.targets:
            request.targets = ["tflite"]
        if quantize is None:
            request.precision = ANDROID_PRECISION
        if not {"tflite", "all"} & set(request.targets):
            raise ConfigError(f"--android copies the TFLite file into the app, but the targets are {', '.join(request.targets)}; add --target tflite.")
        if request.objects != 1:
            raise ConfigError(f"--android: the app tracks one object (the box the user draws); --objects {request.objects} is not allowed with it.")
    try:
        results = export_checkpoint(request)
    except AccuracyGateError as exc:
        if not android_default:
            raise
        click.echo(f"android    {exc}\nandroid    the app gets the fp32 file instead (pass --quantize int8 --allow-accuracy-drop "
                   "to keep int8).", err=True)
        results = export_checkpoint(replace(request, precision="fp32"))
    if not results:
        raise ConfigError("no target could be exported: none of their toolchains is installed (pip install 'mobileseg[all]').")
    for result in results:
        figures = result.parity
        if figures.get("kind") == "agreement":
            check = figures["summary"] + ("" if figures["gate"]["passed"] else " (above --max-jf-drop, kept by --allow-accuracy-drop)")
        elif figures.get("kind") == "video":
            check = f"max |dprob| {figures['max_abs_prob']:.1e}, IoU min {figures['iou_min']:.4f} over {figures['frames']} frames"
        else:
            check = "spec checked (no Core ML runtime on this OS)" + ("; accuracy NOT measured" if figures.get("measured") is False else "")
        click.echo(f"{result.target:<10} {result.artifact}  {result.bytes / 1e6:.2f} MB  {result.seconds:.1f} s  {check}")
        outside = result.info.get("outside_delegate")
        if outside:
            for method, ops in outside.items():
                listed = ", ".join(f"{op.split('.')[-2] if op.count('.') >= 2 else op} x{n}" for op, n in ops.items()) or "none"
                click.echo(f"{'':<10} outside XNNPACK in {method}: {listed}")
    if android is not None:
        tflite = [result for result in results if result.target == "tflite"]
        if not tflite:
            raise ConfigError("--android: no TFLite file was exported (its toolchain is missing: pip install 'mobileseg[tflite]').")
        copied = install_into_app(tflite[0].contract, android)
        click.echo(f"android    copied {', '.join(p.name for p in copied)} into {copied[0].parent}; build the app "
                   f"(see {android / 'README.md'}).")


@click.command("verify")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False), help="The student checkpoint it came from.  [default: the one its contract names]")
@click.option("--frames", type=click.IntRange(min=2), default=30, show_default=True, help="Frames of the parity video.")
@click.option("--max-abs-prob", type=float, default=1e-3, show_default=True, help="Tolerance: largest |prob difference| on any frame (>= 0).")
@click.option("--min-iou", type=float, default=0.999, show_default=True, help="Tolerance: smallest mask IoU on any frame (0 to 1).")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Runtime threads.")
@click.option("--data", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Quantised files: J&F on this dataset's val split.  [default: a generated SynthVOS set]")
@click.option("--max-jf-drop", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Quantised files: J&F points (0-100) the file may lose against its fp32 checkpoint.")
def verify_command(artifact: Path, checkpoint: Path | None, frames: int, max_abs_prob: float, min_iou: float, threads: int,
                   data: Path | None, max_jf_drop: float) -> None:
    """Re-run the whole-video parity check of an exported file (or its Core ML spec check).

    ARTIFACT is the exported file (student.tflite, student.pte, student.onnx, student.mlpackage) or its .json.
    A quantised file (student-int8.tflite, ...) is checked on its accuracy instead: agreement with
    the fp32 tracker and its J&F drop against --max-jf-drop. Exits with status 1 when the file
    misses the tolerance.
    """

    tolerance = Tolerance(max_abs_prob, min_iou)  # checked before anything is loaded
    figures = verify_artifact(artifact, model_for(artifact, checkpoint), threads, frames, tolerance, data, max_jf_drop)
    if figures.get("kind") == "spec":
        click.echo(f"{artifact}: {figures['checked']}: passed")
        return
    click.echo(f"{artifact}: {figures['summary']}")
    if not figures["passed"]:
        what = f"loses more than --max-jf-drop {max_jf_drop} J&F points" if figures.get("kind") == "agreement" else "misses the parity tolerance"
        raise ExportError(f"{artifact} {what} (see above)")
