"""Core ML: one multifunction ``.mlpackage`` (ML program, iOS 18+) with a function per entry point
(``init`` and ``step``, or ``step_0``, ``step_1``, ... for a student with several step graphs).

Each entry point goes through ``torch.export`` (ATen decompositions); its inputs are given the
contract's names (coremltools names them after the graph's placeholders, and a step graph takes
the state as ``*state``) and its concatenations lose their empty inputs (which coremltools
mis-sizes); it is converted by coremltools in float32 with the contract's output names, and the
programs are merged into one package whose weights are stored once.
Core ML predictions run only on Apple platforms: on Linux :func:`check_spec` validates the
saved package instead (every function present, every input and output with the contract's name
and shape).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from torch.export.graph_signature import InputKind

from mobileseg.artifact.contract import ContractError, LoadedContract
from mobileseg.artifact.signature import Signature
from mobileseg.export.formats import ExportFormat, Quantization, Written, register_format
from mobileseg.runtime.base import require
from mobileseg.utils.quiet import quiet


def _register_alias() -> None:
    """coremltools 9.0 has no converter for ``aten.alias`` (a no-op view torch.export emits, e.g.
    for a full slice over a single object); it is an identity."""
    from coremltools.converters.mil import Builder as mb  # optional toolchain ([coreml] extra)
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs  # optional toolchain, as above
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op  # optional toolchain, as above

    if "alias" in _TORCH_OPS_REGISTRY:
        return

    def alias(context: Any, node: Any) -> None:
        context.add(mb.identity(x=_get_inputs(context, node, expected=1)[0], name=node.name))

    register_torch_op(alias)


def _name_inputs(program: Any, names: tuple[str, ...]) -> Any:
    """Rename the user-input placeholders of the exported ``program`` to ``names`` (in order)."""

    specs = [spec for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
    if len(specs) != len(names):
        raise RuntimeError(f"the exported graph takes {len(specs)} inputs, the contract lists {list(names)}")
    placeholders = {node.name: node for node in program.graph.nodes if node.op == "placeholder"}
    for spec, name in zip(specs, names):
        if spec.arg.name != name:
            node = placeholders[spec.arg.name]
            node._rename(name)
            if node.name != name:
                raise RuntimeError(f"cannot name input {spec.arg.name!r} {name!r}: the graph already has a node of that name")
            spec.arg.name = name
    program.graph_module.recompile()
    return program


def _drop_empty_concat_inputs(program: Any) -> Any:
    """Drop the zero-size inputs of every ``aten.cat`` (``x[:, 1:]`` of a size-1 dimension: the FIFO of a
    TDNet student with 2 sub-networks). coremltools 9 converts such an empty slice to one element, so the
    concatenation comes out one entry too long; without the empty input the result is the same tensor."""
    graph = program.graph_module.graph
    for node in graph.nodes:
        if node.op != "call_function" or node.target is not torch.ops.aten.cat.default:
            continue
        parts = list(node.args[0])
        kept = [part for part in parts
                if not (isinstance(part, torch.fx.Node) and isinstance(part.meta.get("val"), torch.Tensor) and part.meta["val"].numel() == 0)]
        if kept and len(kept) < len(parts):
            node.args = (kept, *node.args[1:])
    graph.eliminate_dead_code()
    program.graph_module.recompile()
    return program


def write_coreml(modules: dict[str, torch.nn.Module], signature: Signature, folder: Path, stem: str, options: dict[str, Any],
                 quant: Quantization | None = None) -> Written:
    half = quant is not None and quant.precision == "fp16"
    with quiet():
        ct = require("coremltools", "coreml", "Core ML export")
        _register_alias()
        descriptor = ct.utils.MultiFunctionDescriptor()
        parts = []
        for entry in signature.entry_points:
            program = torch.export.export(modules[entry.name], signature.example(entry), strict=False).run_decompositions({})
            program = _drop_empty_concat_inputs(_name_inputs(program, entry.inputs))
            model = ct.convert(program, outputs=[ct.TensorType(name=name) for name in entry.outputs], convert_to="mlprogram",
                               minimum_deployment_target=ct.target.iOS18,
                               compute_precision=ct.precision.FLOAT16 if half else ct.precision.FLOAT32)
            part = folder / f".{entry.name}.mlpackage"
            model.save(str(part))
            parts.append(part)
            descriptor.add_function(str(part), src_function_name="main", target_function_name=entry.name)
        descriptor.default_function_name = signature.steps[0]
        path = folder / f"{stem}.mlpackage"
        ct.utils.save_multifunction(descriptor, str(path))
    for part in parts:
        shutil.rmtree(part)
    return Written({entry.name: path.name for entry in signature.entry_points},
                   {"program": "mlprogram", "minimum_deployment_target": "iOS18", "compute_precision": "float16" if half else "float32"})


def _features(features: Any) -> dict[str, list[int]]:
    return {f.name: [int(d) for d in f.type.multiArrayType.shape] for f in features}


def check_spec(contract: LoadedContract) -> dict[str, Any]:
    """Compare the saved package's functions, names and shapes with the contract (no prediction)."""
    with quiet():
        ct = require("coremltools", "coreml", "Core ML spec check")
    path = contract.file("init")
    spec = ct.utils.load_spec(str(path))
    functions = {fn.name: (_features(fn.input), _features(fn.output)) for fn in spec.description.functions}
    problems = []
    for entry in contract.entries:
        if entry not in functions:
            problems.append(f"function {entry!r} missing (found {sorted(functions)})")
            continue
        inputs, outputs = functions[entry]
        for expected, found in ((contract.inputs(entry), inputs), (contract.outputs(entry), outputs)):
            for tensor in expected:
                if found.get(tensor["name"]) != list(tensor["shape"]):
                    problems.append(f"{entry}.{tensor['name']}: contract {tensor['shape']}, package {found.get(tensor['name'], 'missing')}")
            extra = sorted(set(found) - {t["name"] for t in expected})
            if extra:
                problems.append(f"{entry}: unexpected features {extra}")
    if problems:

        raise ContractError(f"{path.name} does not match its contract: " + "; ".join(problems))
    return {"checked": "spec (names, shapes, functions); Core ML prediction needs macOS/iOS",
            "functions": {name: {"inputs": ins, "outputs": outs} for name, (ins, outs) in functions.items()},
            "passed": True}


COREML = register_format(ExportFormat(
    name="coreml", extra="coreml", modules=("coremltools",),
    runtime=None, entry_points="`student.mlpackage` (multifunction), functions `init` and `step`", write=write_coreml,
    check_spec=check_spec, notes="ML program, float32, iOS 18+; predictions need macOS/iOS, Linux checks the spec",
    precisions=("fp16",),
))
