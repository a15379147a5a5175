"""Which ops of a ``.tflite`` signature XNNPACK runs, and which are left to TFLite's own kernels.

ai-edge-litert applies the XNNPACK delegate when it loads a file and prints nothing about what it
took. This reads it back: the signature's subgraph is moved first in a copy of the file held in memory (the
interpreter lists nodes of subgraph 0 only), the copy is loaded with XNNPACK as the app loads it,
and every node past the graph's own ops is a delegate kernel, one per XNNPACK partition. The ops
behind each partition are found by walking back from its outputs to its inputs; every other op
runs in TFLite's kernels, between partitions.
"""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mobileseg.runtime.base import require
from mobileseg.utils.quiet import quiet


@dataclass(frozen=True)
class Op:
    index: int
    name: str  # builtin operator name (CONV_2D, ...)
    dtypes: tuple[str, ...]  # of its activation inputs (not weights), then of its output (INT8, FLOAT32, ...)
    shape: tuple[int, ...]  # of its first output
    scope: str = ""  # its first output's tensor name: the converter writes the PyTorch module path into it

    def describe(self) -> str:
        return f"#{self.index} {self.name} {'/'.join(self.dtypes)} {'x'.join(map(str, self.shape))}"


@dataclass(frozen=True)
class XnnpackPlan:
    signature: str
    ops: list[Op]
    partitions: int  # XNNPACK delegate kernels
    left: list[Op] = field(default_factory=list)  # ops TFLite's own kernels run

    def count(self, ops: list[Op] | None = None) -> dict[str, int]:
        """``{"CONV_2D INT8": n, ...}``: ops by name and output type."""
        return dict(collections.Counter(f"{op.name} {op.dtypes[-1]}" for op in (self.ops if ops is None else ops)).most_common())

    def summary(self) -> dict[str, Any]:
        return {"signature": self.signature, "ops": len(self.ops), "xnnpack_partitions": self.partitions,
                "left_to_tflite": len(self.left), "left_by_type": self.count(self.left), "ops_by_type": self.count(),
                "left": [op.describe() for op in self.left]}


def _names(enum: type) -> dict[int, str]:
    return {value: key for key, value in vars(enum).items() if not key.startswith("_")}


def _constant(model: Any, tensor: Any) -> bool:
    data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
    return data is not None and len(data) > 0


def xnnpack_plan(path: str | os.PathLike[str], signature: str = "step") -> XnnpackPlan:
    """The ops of ``signature`` in ``path`` and which of them XNNPACK (default settings) takes."""
    with quiet():
        schema = require("ai_edge_litert.schema_py_generated", "tflite", "reading TFLite files")
        interpreter_module = require("ai_edge_litert.interpreter", "tflite", "running TFLite files")
        flatbuffers = require("flatbuffers", "tflite", "writing TFLite files")  # ai-edge-litert's own dependency

    raw = Path(path).read_bytes()
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(raw, 0))
    keys = {s.signatureKey.decode(): s.subgraphIndex for s in model.signatureDefs}
    if signature not in keys:
        raise ValueError(f"{Path(path).name} has the signatures {sorted(keys)}, not {signature!r}")
    order = [keys[signature], *(i for i in range(len(model.subgraphs)) if i != keys[signature])]
    model.subgraphs = [model.subgraphs[i] for i in order]
    for sig in model.signatureDefs:
        sig.subgraphIndex = order.index(sig.subgraphIndex)
    for buffer in model.buffers:  # litert-torch stores large buffers after the flatbuffer (offset, size): inline them
        if buffer.offset and buffer.offset > 1:
            buffer.data = np.frombuffer(raw[buffer.offset:buffer.offset + buffer.size], dtype=np.uint8)
            buffer.offset = buffer.size = 0
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    graph = model.subgraphs[0]
    op_names, type_names = _names(schema.BuiltinOperator), _names(schema.TensorType)
    ops = []
    for k, op in enumerate(graph.operators):
        code = model.operatorCodes[op.opcodeIndex]
        tensors = [graph.tensors[i] for i in op.inputs if i >= 0 and not _constant(model, graph.tensors[i])]
        output = graph.tensors[op.outputs[0]]
        ops.append(Op(k, op_names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM"),
                      tuple(type_names[t.type] for t in [*tensors, output]), tuple(int(d) for d in output.shape),
                      output.name.decode() if isinstance(output.name, bytes) else str(output.name or "")))
    with quiet():
        interpreter = interpreter_module.Interpreter(model_content=bytes(builder.Output()), num_threads=1)
        interpreter.allocate_tensors()
    native = interpreter._interpreter  # node lists: ai-edge-litert exposes them for subgraph 0 only
    kernels = [(list(native.NodeInputs(i)), list(native.NodeOutputs(i))) for i in range(len(ops), native.NumNodes())]
    producer = {t: k for k, op in enumerate(graph.operators) for t in op.outputs}
    delegated: set[int] = set()
    for inputs, outputs in kernels:
        stop, todo = set(inputs), [producer[t] for t in outputs if t in producer]
        while todo:
            k = todo.pop()
            if k not in delegated:
                delegated.add(k)
                todo.extend(producer[t] for t in graph.operators[k].inputs if t >= 0 and t not in stop and t in producer)
    return XnnpackPlan(signature, ops, len(kernels), [op for op in ops if op.index not in delegated])
