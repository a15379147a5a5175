"""TFLite (LiteRT): one ``.tflite`` holding a signature per entry point (``init`` and ``step``, or
``step_0``, ``step_1``, ... for a student with several step graphs), via litert-torch.

litert-torch converts from torch.export without TensorFlow. Signature inputs are named by the
keyword arguments given at conversion and outputs by the keys of a returned dict, so each entry
point is wrapped to take its inputs by name and return ``{name: tensor}``. Shapes stay NCHW as in PyTorch. Runs in
ai-edge-litert (``mobileseg.runtime.litert``), XNNPACK by default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mobileseg.artifact.signature import EntryPoint, Signature
from mobileseg.export.formats import ExportFormat, Quantization, Written, register_format
from mobileseg.runtime.base import require
from mobileseg.utils.quiet import quiet


class NamedOutputs(nn.Module):
    """An entry point whose forward takes keyword inputs and returns ``{output name: tensor}``."""

    def __init__(self, inner: nn.Module, entry: EntryPoint) -> None:
        super().__init__()
        self.inner, self.inputs, self.names = inner, entry.inputs, entry.outputs

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(self.names, self.inner(*(inputs[name] for name in self.inputs))))


def write_tflite(modules: dict[str, nn.Module], signature: Signature, folder: Path, stem: str, options: dict[str, Any],
                 quant: Quantization | None = None) -> Written:
    with quiet():
        litert_torch = require("litert_torch", "tflite", "TFLite export")
        converter = litert_torch
        for entry in signature.entry_points:
            sample = dict(zip(entry.inputs, signature.example(entry)))
            converter = converter.signature(entry.name, NamedOutputs(modules[entry.name], entry).eval(), sample_kwargs=sample)
        edge = converter.convert()
    path = folder / f"{stem}.tflite"
    info: dict[str, Any] = {"signatures": [entry.name for entry in signature.entry_points], "converter": "litert-torch"}
    if quant is None:
        edge.export(str(path))
    else:
        float_path = folder / f".{stem}.float.tflite"
        edge.export(str(float_path))
        info["quantizer"] = quantize_tflite(float_path, path, signature, quant)
        float_path.unlink()
    return Written({entry.name: path.name for entry in signature.entry_points}, info)


# Ops an int8 file keeps in float32 (ai-edge-quantizer's names). The graph inputs and outputs keep the app's
# interface and state feedback; SUM and DIV are the decomposed object softmax. BATCH_MATMUL and SOFTMAX are
# the memory readout (query x memory affinity, its softmax, the weighted sum of values): XNNPACK takes no
# int8 batch matmul of two activations, so in int8 they ran in TFLite's own single-threaded kernels and, being
# quadratic in the frame area, cost more than the whole int8 network at 480x864; in float XNNPACK runs them
# (benchmarks/README.md, "fast": the diagnosis and the op counts).
INT8_FLOAT_OPS: tuple[str, ...] = ("INPUT", "OUTPUT", "SUM", "DIV", "BATCH_MATMUL", "SOFTMAX")
# Op scopes (regexes over an op's output tensor names, which carry the PyTorch module path) an int8 file
# keeps in float32 whatever the op: the whole memory read-out (mobileseg.models.memory.MemoryReader), not
# only its matmuls and softmax. In int8 its affinity logits (2 q.m - |m|^2 over a calibrated range of thousands:
# ~15 per int8 step) were rounded before the softmax, which turned a 27 dB signal-to-noise ratio into 5 dB in
# the weights (benchmarks/README.md, "fast", TFLite int8 accuracy).
INT8_FLOAT_SCOPES: tuple[str, ...] = ("MemoryReader_reader",)
# Each tensor's int8 range is its min/max over every calibration frame, as ONNX Runtime's MinMax calibration
# keeps it. ai-edge-quantizer's calibrate() keeps a moving average of the per-frame min/max instead (smoothing
# 0.95), so frames late in the recorded videos set the ranges and earlier frames' extremes clip; the global
# range lost 1.30 / 1.05 J&F points where the moving average lost 3.27 / 1.29 (benchmarks/README.md, tflite_int8).
INT8_GLOBAL_RANGE = True


def ranges_record(global_range: bool) -> str:
    """How an int8 file's ranges were calibrated, as its contract records it (``export.quantizer.ranges``)."""
    return "min/max over all calibration frames" if global_range else "moving average of per-frame min/max"


def calibrate(quantizer: Any, samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Ranges of every tensor from ``samples`` (per signature): :data:`INT8_GLOBAL_RANGE` calibrates one frame at
    a time and keeps the min/max over all of them; otherwise ai-edge-quantizer's own moving average."""
    if not INT8_GLOBAL_RANGE:
        return quantizer.calibrate(samples, num_threads=1)
    ranges: dict[str, Any] = {}
    for signature, frames in samples.items():
        for frame in frames:
            for name, qsv in quantizer.calibrate({signature: [frame]}, num_threads=1).items():
                if name not in ranges:
                    ranges[name] = dict(qsv)
                elif "min" in qsv and "max" in qsv:
                    ranges[name]["min"] = np.minimum(ranges[name]["min"], qsv["min"])
                    ranges[name]["max"] = np.maximum(ranges[name]["max"], qsv["max"])
    return ranges


def quantize_tflite(source: Path, target: Path, signature: Signature, quant: Quantization) -> dict[str, Any]:
    """Post-training quantisation of the multi-signature file with ai-edge-quantizer.

    fp16: conv / fully-connected weights cast to float16 (compute stays float32). dynamic-int8:
    per-channel int8 weights, float activations. int8: int8 weights and activations, ranges from
    the recorded calibration inputs of each signature (each tensor's min/max over all of them,
    :func:`calibrate`), except :data:`INT8_FLOAT_OPS`: the graph
    inputs and outputs (the app's interface and state feedback do not change), the decomposed
    object softmax, and every op of the memory read-out (:data:`INT8_FLOAT_SCOPES`) stay float32.
    """
    with quiet():
        aeq = require("ai_edge_quantizer", "tflite", "TFLite quantisation")
        from ai_edge_quantizer import qtyping, recipe  # optional toolchain ([tflite] extra), present: require() above
        from ai_edge_quantizer.algorithm_manager import AlgorithmName  # optional toolchain, as above

        ops = qtyping.TFLOperationName
        if quant.precision == "fp16":
            quantizer = aeq.Quantizer(str(source))
            quantizer.add_weight_only_config(regex=".*", operation_name=ops.ALL_SUPPORTED, num_bits=16,
                                             algorithm_key=AlgorithmName.FLOAT_CASTING)
            result = quantizer.quantize()
        elif quant.precision == "dynamic-int8":
            result = aeq.Quantizer(str(source), recipe.dynamic_wi8_afp32()).quantize()
        else:
            calibration = quant.calibration
            if calibration is None:
                raise ValueError("int8 needs calibration samples")
            quantizer = aeq.Quantizer(str(source), recipe.static_wi8_ai8())
            for op in INT8_FLOAT_OPS:
                quantizer.update_quantization_recipe(regex=".*", operation_name=ops[op], algorithm_key=AlgorithmName.NO_QUANTIZE)
            for scope in INT8_FLOAT_SCOPES:
                quantizer.update_quantization_recipe(regex=scope, operation_name=ops.ALL_SUPPORTED, algorithm_key=AlgorithmName.NO_QUANTIZE)
            samples = {entry.name: [{name: t.numpy() for name, t in zip(entry.inputs, sample)} for sample in calibration.samples(entry.name)]
                       for entry in signature.entry_points}
            result = quantizer.quantize(calibrate(quantizer, samples))
        result.export_model(str(target), overwrite=True)
    info: dict[str, Any] = {"tool": "ai-edge-quantizer", "precision": quant.precision,
                            "kept_float": [*INT8_FLOAT_OPS, *INT8_FLOAT_SCOPES] if quant.precision == "int8" else ["activations"]}
    if quant.precision == "int8":
        info["ranges"] = ranges_record(INT8_GLOBAL_RANGE)
    return info


TFLITE = register_format(ExportFormat(
    name="tflite", extra="tflite", modules=("litert_torch", "ai_edge_litert"),
    runtime="ai-edge-litert", entry_points="`student.tflite`, signatures `init` and `step`", write=write_tflite,
    notes="litert-torch (no TensorFlow); NCHW as in PyTorch; XNNPACK at run time",
    precisions=("fp16", "dynamic-int8", "int8"),
))
