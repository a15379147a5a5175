"""ExecuTorch: one ``.pte`` with a method per entry point (``init`` and ``step``, or ``step_0``,
``step_1``, ... for a student with several step graphs), lowered to XNNPACK.

Each entry point goes through ``torch.export``; all are lowered together with the XNNPACK
partitioner. Ops the delegate does not take stay on ExecuTorch's portable kernels: they are
counted per method and recorded in the contract (``export.outside_delegate``) and the log. The
``.pte`` keeps no tensor names, so the contract JSON is the only place they live. Runs in
``executorch.runtime`` (``mobileseg.runtime.executorch``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from mobileseg.artifact.signature import Signature
from mobileseg.export.formats import ExportFormat, Quantization, Written, register_format
from mobileseg.runtime.base import require
from mobileseg.utils.quiet import quiet

_PLUMBING = {"executorch_call_delegate", "getitem"}


def outside_delegate(graph_module: torch.fx.GraphModule) -> dict[str, int]:
    """Operator -> count of the nodes no delegate took (they run on portable kernels)."""
    names = (getattr(node.target, "__name__", str(node.target)) for node in graph_module.graph.nodes if node.op == "call_function")
    return dict(sorted(Counter(name for name in names if name not in _PLUMBING).items()))


def write_executorch(modules: dict[str, torch.nn.Module], signature: Signature, folder: Path, stem: str, options: dict[str, Any],
                     quant: Quantization | None = None) -> Written:
    with quiet():
        exir = require("executorch.exir", "executorch", "ExecuTorch export")
        partitioner = require("executorch.backends.xnnpack.partition.xnnpack_partitioner", "executorch", "ExecuTorch export")
        programs = {entry.name: torch.export.export(modules[entry.name], signature.example(entry), strict=False)
                    for entry in signature.entry_points}
        if quant is not None:
            programs = quantize_programs(programs, signature, quant)
        edge = exir.to_edge_transform_and_lower(programs, partitioner=[partitioner.XnnpackPartitioner()])
        left = {name: outside_delegate(edge.exported_program(name).graph_module) for name in programs}
        program = edge.to_executorch()
    path = folder / f"{stem}.pte"
    with open(path, "wb") as fh:
        program.write_to_file(fh)
    info: dict[str, Any] = {"delegate": "XNNPACK", "outside_delegate": left}
    if quant is not None:
        info["quantizer"] = {"tool": "PT2E (torchao) with XNNPACKQuantizer", "precision": quant.precision,
                             "scheme": "symmetric, per-channel int8 weights, int8 activations"}
    return Written({name: path.name for name in programs}, info)


def quantize_programs(programs: dict[str, Any], signature: Signature, quant: Quantization) -> dict[str, Any]:
    """Static int8 for XNNPACK through PT2E: each entry point is prepared with the XNNPACK quantizer,
    run over its recorded calibration inputs (the real state fed back), converted and exported again.
    Inputs and outputs stay float32; XNNPACK runs the quantised convolutions."""
    quantizer_module = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer", "executorch", "ExecuTorch int8")
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e", "executorch", "ExecuTorch int8 (torchao)")
    if quant.precision != "int8" or quant.calibration is None:
        raise ValueError(f"ExecuTorch writes int8 with calibration only, not {quant.precision}")
    quantised = {}
    for entry in signature.entry_points:
        config = quantizer_module.get_symmetric_quantization_config(is_per_channel=True)
        quantizer = quantizer_module.XNNPACKQuantizer().set_global(config)
        prepared = pt2e.prepare_pt2e(programs[entry.name].module(), quantizer)
        with torch.no_grad():
            for sample in quant.calibration.samples(entry.name):
                prepared(*sample)
        converted = pt2e.convert_pt2e(prepared)
        quantised[entry.name] = torch.export.export(converted, signature.example(entry), strict=False)
    return quantised


EXECUTORCH = register_format(ExportFormat(
    name="executorch", extra="executorch", modules=("executorch",),
    runtime="executorch", entry_points="`student.pte`, methods `init` and `step`", write=write_executorch,
    notes="XNNPACK delegate; ops left outside it are listed in the contract",
    precisions=("int8",),
))
