"""ONNX: one file per entry point (``student.init.onnx``, ``student.step.onnx``), opset 18.

Exported with PyTorch's torch.export-based exporter (``dynamo=True``, which needs onnxscript),
with the contract's input and output names, then simplified with onnxsim (which keeps names and
parity) and checked with ``onnx.checker``. Runs in onnxruntime (``mobileseg.runtime.onnxruntime``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch

from mobileseg.export.formats import ExportFormat, Written, register_format
from mobileseg.export.quiet import quiet
from mobileseg.export.signature import ENTRY_POINTS, InitEntry, Signature, StepEntry
from mobileseg.runtime.base import require

OPSET = 18


def write_onnx(init: InitEntry, step: StepEntry, signature: Signature, folder: Path, stem: str, options: dict[str, Any]) -> Written:
    onnx = require("onnx", "onnx", "ONNX export")
    require("onnxscript", "onnx", "ONNX export (the torch.export-based exporter)")
    opset = int(options.get("opset", OPSET))
    simplify = bool(options.get("simplify", True))
    files, nodes = {}, {}
    for entry, module in zip(ENTRY_POINTS, (init, step)):
        path = folder / f"{stem}.{entry.name}.onnx"
        with quiet():
            torch.onnx.export(module, signature.example(entry), str(path), dynamo=True, opset_version=opset,
                              input_names=list(entry.inputs), output_names=list(entry.outputs), external_data=False, verbose=False)
        model = onnx.load(str(path))
        if simplify:
            onnxsim = require("onnxsim", "onnx", "ONNX simplification")
            with quiet():
                model, ok = onnxsim.simplify(model)
            if not ok:
                raise RuntimeError(f"onnxsim could not validate the simplified {entry.name} graph; export with simplify: false")
        onnx.checker.check_model(model, full_check=True)
        names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
        if names != (list(entry.inputs), list(entry.outputs)):
            raise RuntimeError(f"ONNX {entry.name} has inputs/outputs {names}, expected {entry.inputs} -> {entry.outputs}")
        onnx.save(model, str(path))
        files[entry.name] = path.name
        nodes[entry.name] = dict(sorted(Counter(node.op_type for node in model.graph.node).items()))
    return Written(files, {"opset": opset, "simplified": simplify, "ops": nodes})


ONNX = register_format(ExportFormat(
    name="onnx", title="ONNX", suffix=".onnx", extra="onnx", modules=("onnx", "onnxscript", "onnxsim", "onnxruntime"),
    runtime="onnxruntime", entry_points="`student.init.onnx` and `student.step.onnx`", write=write_onnx,
    notes="opset 18, simplified with onnxsim; names as in the contract",
))
