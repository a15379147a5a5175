"""ONNX: one graph per entry point (``student.init.onnx``, ``student.step.onnx``, or ``student.step_0.onnx``,
``student.step_1.onnx``, ... for a student with several step graphs) and one weights file.

Exported with PyTorch's torch.export-based exporter (``dynamo=True``, which needs onnxscript),
with the contract's input and output names, then simplified with onnxsim (which keeps names and
parity) and checked with ``onnx.checker``. The graphs share their weights: every initializer
of 1 KiB or more is stored once in ``student.weights`` (keyed by dtype, shape and content) and
every graph points into it as ONNX external data, so the weights are on disk once, not per graph.
Quantised variants use onnxruntime's quantisation tools. Runs in onnxruntime
(``mobileseg.runtime.onnxruntime``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mobileseg.artifact.signature import Signature
from mobileseg.export.formats import ExportFormat, Quantization, Written, register_format
from mobileseg.runtime.base import require
from mobileseg.utils.quiet import quiet

OPSET = 18
SHARED_MIN_BYTES = 1024  # smaller tensors (shapes, scales) stay inside the graphs
# int8: the attention read-out and the probability math stay float (measured: faster and closer to fp32)
FLOAT_OPS = {"MatMul", "Softmax", "Sigmoid", "Log", "Div", "Mul"}


def write_onnx(modules: dict[str, torch.nn.Module], signature: Signature, folder: Path, stem: str, options: dict[str, Any],
               quant: Quantization | None = None) -> Written:
    onnx = require("onnx", "onnx", "ONNX export")
    require("onnxscript", "onnx", "ONNX export (the torch.export-based exporter)")
    opset = int(options.get("opset", OPSET))
    simplify = bool(options.get("simplify", True))
    files, nodes, models = {}, {}, {}
    for entry in signature.entry_points:
        path = folder / f"{stem}.{entry.name}.onnx"
        with quiet():
            torch.onnx.export(modules[entry.name], signature.example(entry), str(path), dynamo=True, opset_version=opset,
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
        models[entry.name] = model
    info: dict[str, Any] = {"opset": opset, "simplified": simplify}
    if quant is not None:
        models = quantize_onnx(models, signature, quant)
        info["quantizer"] = {"tool": "onnxruntime.quantization", "precision": quant.precision}
    weights = f"{stem}.weights"
    info["shared_weights"] = {"file": weights, "bytes": share_weights(models, folder, weights)}
    for entry in signature.entry_points:
        path = folder / f"{stem}.{entry.name}.onnx"
        onnx.save_model(models[entry.name], str(path))
        onnx.checker.check_model(str(path), full_check=True)  # the path form resolves the external weights
        files[entry.name] = path.name
        nodes[entry.name] = dict(sorted(Counter(node.op_type for node in models[entry.name].graph.node).items()))
    files["weights"] = weights
    return Written(files, {**info, "ops": nodes})


def share_weights(models: dict[str, Any], folder: Path, weights: str) -> int:
    """Move every initializer of ``SHARED_MIN_BYTES`` or more into ``folder/weights``, each distinct
    tensor once (64-byte aligned), and point the graphs at it; returns the file's size."""
    from onnx import TensorProto, numpy_helper  # optional toolchain ([onnx] extra)

    stored: dict[tuple[int, tuple[int, ...], str], tuple[int, int]] = {}
    offset = 0
    with open(folder / weights, "wb") as fh:
        for model in models.values():
            for tensor in model.graph.initializer:
                data = np.ascontiguousarray(numpy_helper.to_array(tensor)).tobytes()
                if len(data) < SHARED_MIN_BYTES:
                    continue
                key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(data).hexdigest())
                if key not in stored:
                    padding = -offset % 64
                    fh.write(b"\0" * padding + data)
                    stored[key] = (offset + padding, len(data))
                    offset += padding + len(data)
                start, length = stored[key]
                for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
                    tensor.ClearField(name)
                del tensor.external_data[:]
                for k, v in (("location", weights), ("offset", str(start)), ("length", str(length))):
                    item = tensor.external_data.add()
                    item.key, item.value = k, v
                tensor.data_location = TensorProto.EXTERNAL
    return offset


def quantize_onnx(models: dict[str, Any], signature: Signature, quant: Quantization) -> dict[str, Any]:
    """fp16: weights and math in float16 with float32 inputs and outputs. dynamic-int8: uint8
    weights, activations quantised on the fly. int8: QDQ with per-channel int8 weights and uint8
    activations calibrated on the recorded inputs (the real state fed back); the attention read-out
    and the probability math stay float (``FLOAT_OPS``)."""
    import onnx  # optional toolchain ([onnx] extra)

    if quant.precision == "fp16":
        float16 = require("onnxruntime.transformers.float16", "onnx", "ONNX fp16")
        return {name: sort_nodes(float16.convert_float_to_float16(model, keep_io_types=True)) for name, model in models.items()}
    ort_quant = require("onnxruntime.quantization", "onnx", "ONNX quantisation")
    out = {}
    with tempfile.TemporaryDirectory(prefix="mobileseg-onnx-quant-") as work:
        for entry in signature.entry_points:
            source, target = Path(work) / f"{entry.name}.onnx", Path(work) / f"{entry.name}.q.onnx"
            onnx.save_model(models[entry.name], str(source))
            with quiet():
                if quant.precision == "dynamic-int8":
                    ort_quant.quantize_dynamic(str(source), str(target), weight_type=ort_quant.QuantType.QUInt8)
                else:
                    if quant.calibration is None:
                        raise ValueError("int8 needs calibration samples")
                    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry  # optional toolchain ([onnx] extra)

                    recorded = quant.calibration.samples(entry.name)
                    reader = _reader([{n: t.numpy() for n, t in zip(entry.inputs, sample)} for sample in recorded], ort_quant)
                    ort_quant.quantize_static(str(source), str(target), reader, quant_format=ort_quant.QuantFormat.QDQ,
                                              per_channel=True, activation_type=ort_quant.QuantType.QUInt8,
                                              weight_type=ort_quant.QuantType.QInt8,
                                              op_types_to_quantize=sorted((set(QDQRegistry) | set(QLinearOpsRegistry)) - FLOAT_OPS),
                                              calibrate_method=ort_quant.CalibrationMethod.MinMax)
            out[entry.name] = onnx.load(str(target))
    return out


def sort_nodes(model: Any) -> Any:
    """Put the graph's nodes in topological order (the fp16 converter appends the input casts at
    the end, which onnxruntime accepts and ``onnx.checker`` refuses)."""
    graph = model.graph
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [node for node in pending if all(name in known for name in node.input)]
        if not ready:
            raise RuntimeError(f"ONNX graph has a cycle or a missing input near node {pending[0].name!r}")
        for node in ready:
            known.update(node.output)
        ordered += ready
        taken = {id(node) for node in ready}
        pending = [node for node in pending if id(node) not in taken]
    del graph.node[:]
    graph.node.extend(ordered)
    return model


def _reader(samples: list[dict[str, np.ndarray]], ort_quant: Any) -> Any:
    """A CalibrationDataReader over recorded inputs."""

    class Reader(ort_quant.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(samples)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    return Reader()


ONNX = register_format(ExportFormat(
    name="onnx", extra="onnx", modules=("onnx", "onnxscript", "onnxsim", "onnxruntime"),
    runtime="onnxruntime", entry_points="`student.init.onnx` and `student.step.onnx` (+ `student.weights`)", write=write_onnx,
    notes="opset 18, simplified with onnxsim; names as in the contract; weights stored once in `student.weights`",
    precisions=("fp16", "dynamic-int8", "int8"),
))
