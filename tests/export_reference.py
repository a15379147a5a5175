"""The plain student's export, summarised so that two versions of the code can be compared.

The student's weights are a formula of their position (no random numbers), so the summary is the
same on every machine; ``tests/fixtures/plain_student_export.json`` holds it as the code wrote it
before the redesign, and ``tests/integration/test_export_unchanged.py`` compares.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch

MODEL = "mobilevos_r18_mv2_tiny"
SIZE = (64, 96)
TARGETS = ("onnx", "tflite")
# what differs between two exports of the same weights by the same code: times, versions, paths, measurements
VOLATILE = {"created", "seconds", "toolchain", "parity", "checkpoint", "checkpoint_sha256", "sha256", "files_sha256",
            "bytes", "host", "calibration"}


def formula_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every floating tensor of ``model``'s state as ``0.05 sin(0.37 i + k)`` (variances ``1 + 0.1 |.|``)."""
    state = {}
    for k, (name, value) in enumerate(model.state_dict().items()):
        if not value.is_floating_point():
            state[name] = value
            continue
        wave = torch.sin(torch.arange(value.numel(), dtype=torch.float64) * 0.37 + k).view(value.shape)
        state[name] = (1 + 0.1 * wave.abs() if name.endswith("running_var") else 0.05 * wave).to(value.dtype)
    return state


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in sorted(value.items()) if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def onnx_summary(path: Path) -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=True)
    graph = model.graph

    def io(values: Any) -> list[Any]:
        return [[v.name, [d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim], v.type.tensor_type.elem_type] for v in values]

    return {"inputs": io(graph.input), "outputs": io(graph.output), "ops": [n.op_type for n in graph.node],
            "initializers": {t.name: [list(t.dims), _sha(numpy_helper.to_array(t).tobytes())] for t in graph.initializer}}


# TFLite names every intermediate tensor after the Python modules it was traced through; the entry
# wrappers' module moved (mobileseg.export.signature -> mobileseg.artifact.signature) without changing a graph
WRAPPERS = ("mobileseg.export.signature.", "mobileseg.artifact.signature.")


def tflite_summary(path: Path) -> dict[str, Any]:
    """Every subgraph's tensors (name, shape, type, sha256 of a constant's bytes) and the signatures' names."""
    from ai_edge_litert import schema_py_generated as schema

    data = path.read_bytes()
    model = schema.Model.GetRootAs(data, 0)

    def constant(index: int) -> str | None:
        buffer = model.Buffers(index)
        if buffer.Offset() > 1:
            return _sha(data[buffer.Offset(): buffer.Offset() + buffer.Size()])
        return _sha(buffer.DataAsNumpy().tobytes()) if buffer.DataLength() else None

    def name(tensor: Any) -> str:
        text = tensor.Name().decode()
        for wrapper in WRAPPERS:
            text = text.replace(wrapper, "<entry>.")
        return text

    subgraphs = []
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        tensors = [graph.Tensors(i) for i in range(graph.TensorsLength())]
        subgraphs.append({"tensors": [[name(x), x.ShapeAsNumpy().tolist() if x.ShapeLength() else [], x.Type(), constant(x.Buffer())]
                                      for x in tensors],
                          "operators": [graph.Operators(i).OpcodeIndex() for i in range(graph.OperatorsLength())],
                          "inputs": graph.InputsAsNumpy().tolist(), "outputs": graph.OutputsAsNumpy().tolist()})
    signatures = {}
    for s in range(model.SignatureDefsLength()):
        signature = model.SignatureDefs(s)
        signatures[signature.SignatureKey().decode()] = {
            "subgraph": signature.SubgraphIndex(),
            "inputs": [signature.Inputs(i).Name().decode() for i in range(signature.InputsLength())],
            "outputs": [signature.Outputs(i).Name().decode() for i in range(signature.OutputsLength())]}
    opcodes = [model.OperatorCodes(i).BuiltinCode() for i in range(model.OperatorCodesLength())]
    return {"signatures": signatures, "subgraphs": subgraphs, "opcodes": opcodes}


def export_summary(tmp: Path) -> dict[str, Any]:
    from mobileseg.checkpoint import save_checkpoint
    from mobileseg.export.pipeline import ExportRequest, export_checkpoint
    from mobileseg.models import build_model

    model = build_model(MODEL)
    checkpoint = save_checkpoint(tmp / "student.pt", {"model": MODEL, "model_kwargs": {}, "role": "student",
                                                       "model_state": formula_weights(model)})
    results = export_checkpoint(ExportRequest(checkpoint=checkpoint, targets=list(TARGETS), out=tmp / "out", size=SIZE))
    summary: dict[str, Any] = {}
    for result in results:
        contract = json.loads(Path(f"{result.artifact}.json").read_text())
        entry: dict[str, Any] = {"contract": _stable(contract)}
        if result.target == "onnx":
            entry["files"] = {name: onnx_summary(tmp / "out" / name) for name in sorted(contract["files"].values()) if name.endswith(".onnx")}
        else:
            entry["files"] = {result.artifact.name: tflite_summary(result.artifact)}
        summary[result.target] = entry
    return summary


if __name__ == "__main__":
    import sys
    import tempfile

    torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    with tempfile.TemporaryDirectory() as folder:
        Path(sys.argv[1]).write_text(json.dumps(export_summary(Path(folder)), indent=1, sort_keys=True) + "\n")
