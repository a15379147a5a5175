"""The small protocol every export format implements, and the registry ``--target`` looks up.

One format per file (``onnx.py``, ``tflite.py``, ``executorch.py``, ``coreml.py``). A format
imports its toolchain inside its functions, so ``import mobileseg`` never needs them; a missing
toolchain raises :class:`~mobileseg.runtime.base.ToolchainError` naming the pip extra. Formats
never call each other.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from mobileseg.artifact.contract import LoadedContract
from mobileseg.artifact.signature import Signature
from mobileseg.artifact.targets import TARGETS
from mobileseg.export.quantize import PRECISIONS, Calibration
from mobileseg.registry import Registry


@dataclass
class Written:
    """What a format wrote: entry point -> file name (in the output folder) and facts for the contract."""

    files: dict[str, str]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Quantization:
    """What a quantised export asks of a format: the precision and, for ``int8``, the recorded inputs."""

    precision: str  # fp16 | dynamic-int8 | int8 (mobileseg.export.quantize.PRECISIONS)
    calibration: Calibration | None = None


@dataclass(frozen=True)
class ExportFormat:
    """A registered target. ``write(modules, signature, folder, stem, options, quant)`` makes the files of
    every entry point in ``signature.entry_points`` from ``modules`` (entry name -> the module to trace,
    :meth:`Signature.modules`; ``quant`` None: fp32); ``precisions`` lists the quantised precisions it can write."""

    name: str  # a row of mobileseg.artifact.targets.TARGETS (its title and file suffix)
    extra: str  # the pip extra with its toolchain
    modules: tuple[str, ...]  # importable modules the converter needs
    runtime: str | None  # runtime package that runs it here, or None (spec check only)
    entry_points: str  # how init and step are packaged
    write: Callable[[dict[str, nn.Module], Signature, Path, str, dict[str, Any], Quantization | None], Written]
    # formats without a runtime here (Core ML on Linux) validate the saved file against its contract
    check_spec: Callable[[LoadedContract], dict[str, Any]] | None = None
    notes: str = ""
    precisions: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return TARGETS[self.name].title

    @property
    def suffix(self) -> str:
        """What the user passes to verify/eval: ``<stem><suffix>``."""
        return TARGETS[self.name].suffix

    def missing(self) -> list[str]:
        """Modules of the toolchain that are not importable here."""

        return [m for m in self.modules if importlib.util.find_spec(m) is None]


FORMATS: Registry[ExportFormat] = Registry("export target")


def register_format(fmt: ExportFormat) -> ExportFormat:
    if fmt.name not in TARGETS:
        raise ValueError(f"export format {fmt.name!r} has no row in mobileseg.artifact.targets.TARGETS (its title and file suffix)")
    return FORMATS.register(fmt.name)(fmt)


def support_table() -> str:
    """The Markdown format-support table, generated from the registered formats."""
    lines = ["| target | files and entry points | contract | converter (extra) | runs here with | notes |", "|---|---|---|---|---|---|"]
    for name in FORMATS.names():
        fmt = FORMATS.get(name)
        lines.append(f"| `{name}` ({fmt.title}) | {fmt.entry_points} | `student{fmt.suffix}.json` | "
                     f"{', '.join(fmt.modules)} (`[{fmt.extra}]`) | {fmt.runtime or 'nothing on Linux: spec check'} | {fmt.notes} |")
    return "\n".join(lines)


def precision_table() -> str:
    """Which ``--quantize`` precisions each target writes, generated from the registered formats."""

    quantised = PRECISIONS[1:]
    lines = ["| target | " + " | ".join(quantised) + " | accuracy measured here |", "|---|" + "---|" * (len(quantised) + 1)]
    for name in FORMATS.names():
        fmt = FORMATS.get(name)
        cells = [f"yes: `student-{p}{fmt.suffix}`" if p in fmt.precisions else "no" for p in quantised]
        measured = "yes, in its runtime (agreement + J&F)" if fmt.runtime else "no (no runtime on Linux): needs --allow-accuracy-drop"
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {measured} |")
    return "\n".join(lines)
