"""``mobileseg export``: a student checkpoint -> files per target, each verified over a whole video.

For every target: the format writes its files into a staging folder, the contract is built from
the signature, the file is loaded into its real runtime and run against the PyTorch tracker over
a generated video (``parity``); only a file that passes is moved into the output folder, next to
its ``.json`` contract holding the parity figures, as one set (:mod:`mobileseg.artifact.publish`:
a kill leaves the old export or the new one). The output folder is claimed first
(:mod:`mobileseg.utils.owned`): one holding files mobileseg did not write needs ``overwrite``. Core ML cannot run on Linux: its saved spec
(functions, input and output names and shapes) is checked against the contract instead.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobileseg.artifact.contract import Contract, load_contract, sha256
from mobileseg.artifact.publish import digest, publish, staging_folder
from mobileseg.artifact.signature import signature_of
from mobileseg.checkpoint import student_from_checkpoint
from mobileseg.errors import ConfigError, MobilesegError
from mobileseg.export.formats import FORMATS, ExportFormat, Quantization
from mobileseg.export.parity import PARITY_FRAMES, Tolerance, compare_trackers, parity_video
from mobileseg.export.quantize import CALIBRATION_FRAMES, check_precision, measure_accuracy, record_calibration, stem_for
from mobileseg.models import NetworkTracker, count_parameters
from mobileseg.models.base import STRIDE
from mobileseg.models.footprint import check_fits
from mobileseg.models.spec import Student
from mobileseg.runtime.base import RUNTIMES, ToolchainError
from mobileseg.utils.fsio import check_free_space, check_writable_folder
from mobileseg.utils.owned import claimed
from mobileseg.utils.timing import Stopwatch

log = logging.getLogger(__name__)

KIND = "export"  # the marker kind of an export --out (mobileseg.utils.owned)
DEFAULT_SIZE = (480, 864)  # DAVIS 480p, width rounded up to a multiple of 16
ALL = "all"


class ExportError(MobilesegError):
    """An export could not be written or failed its parity check."""


class AccuracyGateError(ExportError):
    """A quantised file lost more J&F against fp32 than --max-jf-drop allows (nothing was written)."""

FP32 = Tolerance()  # the fp32 parity rule (frozen: one shared default)

@dataclass
class ExportRequest:
    checkpoint: Path
    targets: list[str]
    out: Path
    size: tuple[int, int] = DEFAULT_SIZE
    objects: int = 1
    tolerance: Tolerance = field(default_factory=Tolerance)
    parity_frames: int = PARITY_FRAMES
    threads: int = 2
    stem: str = "student"
    options: dict[str, dict[str, Any]] = field(default_factory=dict)  # per target
    precision: str = "fp32"  # or fp16 | dynamic-int8 | int8 (mobileseg.export.quantize)
    calibration_data: Path | None = None  # int8: a dataset folder; None: generated videos
    calibration_frames: int = CALIBRATION_FRAMES
    data: Path | None = None  # quantised: J&F on this dataset's val split; None: a generated set
    max_jf_drop: float = 1.0  # J&F points (0-100) a quantised file may lose against fp32
    allow_accuracy_drop: bool = False
    measure_jf: bool = True  # False (benchmarks of random weights): agreement only, no J&F, no gate; needs allow_accuracy_drop
    overwrite: bool = False  # write into an --out holding files mobileseg did not write (mobileseg.utils.owned)
    no_memory_check: bool = False  # skip the estimate of whether --size fits in memory (mobileseg.models.footprint)


@dataclass
class ExportResult:
    target: str
    artifact: Path
    contract: Path
    bytes: int
    seconds: float
    parity: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)  # what the format recorded (opset, delegation, ...)


def check_size(size: tuple[int, int]) -> None:
    if size[0] <= 0 or size[1] <= 0 or size[0] % STRIDE or size[1] % STRIDE:
        raise ConfigError(f"--size {size[0]}x{size[1]}: height and width must be positive multiples of {STRIDE} "
                          f"(the network works at stride {STRIDE}); e.g. 480x864 or 256x448.")


def resolve_targets(targets: list[str]) -> list[ExportFormat]:
    """Registered formats for ``targets``; ``all`` takes every format whose toolchain is installed."""
    if ALL in targets:
        chosen = [FORMATS.get(name) for name in FORMATS.names()]
        for fmt in chosen:
            if fmt.missing():
                log.warning("%s: skipped, its toolchain is missing (%s); pip install 'mobileseg[%s]'", fmt.name, ", ".join(fmt.missing()), fmt.extra)
        return [fmt for fmt in chosen if not fmt.missing()]
    chosen = [FORMATS.get(name) for name in dict.fromkeys(targets)]
    for fmt in chosen:
        if fmt.missing():
            raise ToolchainError(f"target {fmt.name!r} needs {', '.join(fmt.missing())}, which is not installed; "
                                 f"pip install 'mobileseg[{fmt.extra}]' (or make install for every toolchain).")
    return chosen


def _bytes(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _model_info(model: Student, payload: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    return {"name": payload["model"], "role": payload["role"], "params": count_parameters(model),
            "kwargs": payload.get("model_kwargs", {}), "checkpoint": str(checkpoint.resolve()),
            "checkpoint_sha256": sha256(checkpoint), "trained_steps": payload.get("train", {}).get("step")}


def _memory_info(model: Student) -> dict[str, Any]:
    memory = model.spec().memory
    return {"slots": memory.slots, "pin_first": memory.pin_first, "policy": memory.describe()}


def verify_artifact(artifact: str | os.PathLike[str], model: Student, threads: int = 2, frames: int = PARITY_FRAMES,
                    tolerance: Tolerance = FP32, data: Path | None = None, max_jf_drop: float = 1.0) -> dict[str, Any]:
    """Whole-video parity of ``artifact`` against ``model`` in the artifact's real runtime, or the
    spec check of a format that cannot run here. A quantised file is held to its accuracy instead:
    agreement with fp32 and the J&F drop (on ``data``'s val split or a generated set) against
    ``max_jf_drop``. Returns the figures (``passed`` among them)."""
    contract = load_contract(artifact)
    fmt = FORMATS.get(contract.target)
    if fmt.runtime is None:
        if fmt.check_spec is None:
            raise ExportError(f"{fmt.name} has neither a runtime nor a spec check; nothing would verify it.")
        return {"kind": "spec", **fmt.check_spec(contract)}
    if contract.data.get("export", {}).get("precision", "fp32") != "fp32":
        figures = measure_accuracy(contract.path, model, threads=threads, parity_frames=frames, data=data)
        return {**figures, "passed": figures["jf_drop"] <= max_jf_drop, "max_jf_drop": max_jf_drop}
    runtime = RUNTIMES.get(fmt.name)(contract, threads)
    video, first = parity_video(*contract.size, objects=contract.objects, frames=frames)
    report = compare_trackers(NetworkTracker(model), runtime.tracker(), video, first, tolerance)
    return {"kind": "video", **report.to_dict(), "summary": report.describe()}


def _check_quantised(fmt: ExportFormat, contract_file: Path, model: Student, request: ExportRequest) -> dict[str, Any]:
    """A quantised file's measured accuracy and the J&F gate; raises ExportError when it fails the gate."""
    gate = {"max_jf_drop": request.max_jf_drop, "allowed_drop": request.allow_accuracy_drop}
    if fmt.runtime is None:
        if not request.allow_accuracy_drop:
            raise ExportError(f"{fmt.name} {request.precision}: its accuracy cannot be measured here (no {fmt.title} runtime on "
                              "this OS), and mobileseg never assumes it. Nothing is written; pass --allow-accuracy-drop to write "
                              "it unmeasured, then measure it where it runs.")
        figures = verify_artifact(contract_file, model, request.threads)  # the spec check
        return {**figures, "measured": False, "gate": {**gate, "passed": None}, "summary": "accuracy not measured (no runtime here)"}
    figures = measure_accuracy(contract_file, model, threads=request.threads, parity_frames=request.parity_frames, data=request.data,
                               jf=request.measure_jf)
    if not request.measure_jf:
        if not request.allow_accuracy_drop:
            raise ExportError("measure_jf=False leaves the J&F gate unchecked; it needs allow_accuracy_drop=True")
        return {**figures, "gate": {**gate, "passed": None}}
    passed = figures["jf_drop"] <= request.max_jf_drop
    figures["gate"] = {**gate, "passed": passed}
    if not passed and not request.allow_accuracy_drop:
        raise AccuracyGateError(f"{fmt.name} {request.precision}: {figures['summary']}, more than --max-jf-drop {request.max_jf_drop}. "
                          "Nothing is written. Calibrate on your own data (--calibration-data, more --calibration-frames), "
                          "try another precision, or pass --allow-accuracy-drop to keep it anyway.")
    return figures


def export_one(fmt: ExportFormat, model: Student, payload: dict[str, Any], request: ExportRequest,
               quant: Quantization | None = None) -> ExportResult:
    began = Stopwatch()
    signature = signature_of(model, *request.size, objects=request.objects)
    stem = stem_for(request.stem, request.precision)
    staging = staging_folder(request.out, f"{stem}{fmt.suffix}")
    try:
        written = fmt.write(signature.modules(model), signature, staging, stem, request.options.get(fmt.name, {}), quant)
        precision: dict[str, Any] = {"precision": request.precision}
        if quant is not None and quant.calibration is not None:
            precision["calibration"] = quant.calibration.describe()
        contract = Contract(fmt.name, written.files, signature, _model_info(model, payload, request.checkpoint),
                            _memory_info(model), export={"seconds": round(began.elapsed(), 2), **precision, **written.info},
                            sha256={item.name: digest(item) for item in sorted(staging.iterdir())})  # every file the export wrote
        contract_file = contract.write(staging / f"{stem}{fmt.suffix}.json")
        if quant is None:
            contract.parity = verify_artifact(contract_file, model, request.threads, request.parity_frames, request.tolerance)
            if contract.parity.get("passed") is False:
                raise ExportError(f"{fmt.name}: {contract.parity['summary']}. The file is not written; loosen the tolerance "
                                  "(--max-abs-prob / --min-iou, or the recipe's tolerance) only if you accept the difference, "
                                  "or report the mismatch.")
        else:
            contract.parity = _check_quantised(fmt, contract_file, model, request)
        contract.write(contract_file)
        publish(staging, request.out, f"{stem}{fmt.suffix}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    artifact = request.out / f"{stem}{fmt.suffix}"
    seconds = began.elapsed()
    size = sum(_bytes(request.out / name) for name in set(written.files.values()))
    summary = contract.parity.get("summary", f"spec check passed ({contract.parity.get('checked', 'spec')})")
    log.info("%s: %s (%.2f MB) in %.1f s; %s", fmt.name, artifact, size / 1e6, seconds, summary)
    return ExportResult(fmt.name, artifact, request.out / f"{stem}{fmt.suffix}.json", size, seconds, contract.parity, written.info)


def export_checkpoint(request: ExportRequest) -> list[ExportResult]:
    """Export the student in ``request.checkpoint`` to every requested target; see the module docstring."""
    check_size(request.size)
    if request.objects < 1:
        raise ConfigError(f"--objects must be >= 1, got {request.objects}")
    check_writable_folder(request.out, "--out")
    formats = resolve_targets(request.targets)
    if request.precision != "fp32":
        if ALL in request.targets:  # all: every installed target that offers the precision
            formats = [fmt for fmt in formats if request.precision in fmt.precisions]
        for fmt in formats:
            check_precision(request.precision, fmt.name, fmt.precisions)
    with claimed(request.out, KIND, overwrite=request.overwrite):  # before the long work (calibration): a refused folder says so now
        return _export_all(request, formats)


def _export_all(request: ExportRequest, formats: list[ExportFormat]) -> list[ExportResult]:
    model, payload = student_from_checkpoint(request.checkpoint)
    weights = sum(p.numel() * 4 for p in model.parameters())
    # each target's files hold the weights about twice (graphs + staging copy while it is checked), plus converter scratch
    check_free_space(request.out, len(formats) * (2 * weights + (8 << 20)), "--out", f"exporting {len(formats)} target(s)")
    if not request.no_memory_check:
        check_fits(model, request.size, request.objects)
    quant = None
    if request.precision != "fp32":
        calibration = None
        if request.precision == "int8":
            calibration = record_calibration(model, request.size, request.objects, request.calibration_frames, request.calibration_data)
            log.info("int8 calibration: %d step frames from %s", len(calibration.step), calibration.source)
        quant = Quantization(request.precision, calibration)
    return [export_one(fmt, model, payload, request, quant) for fmt in formats]


def model_for(artifact: str | os.PathLike[str], checkpoint: str | os.PathLike[str] | None = None) -> Student:
    """The PyTorch student an artifact was exported from: ``checkpoint``, or the one its contract names
    (refused when that file changed since the export)."""
    contract = load_contract(artifact)
    if checkpoint is None:
        recorded = contract.data.get("model", {})
        checkpoint = Path(recorded.get("checkpoint", ""))
        if not checkpoint.is_file():
            raise ExportError(f"{contract.path.name} was exported from {checkpoint}, which is gone; pass --checkpoint.")
        if sha256(checkpoint) != recorded.get("checkpoint_sha256"):
            raise ExportError(f"{checkpoint} changed since {contract.path.name} was exported (sha256 differs); pass the "
                              "checkpoint it came from with --checkpoint, or export again.")
    model, _ = student_from_checkpoint(checkpoint)
    return model
