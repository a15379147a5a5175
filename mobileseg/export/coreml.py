"""Core ML: one multifunction ``.mlpackage`` (ML program, iOS 18+) with functions ``init`` and ``step``.

Each entry point goes through ``torch.export`` (ATen decompositions), is converted by
coremltools in float32 with the contract's output names (inputs are named after the forward
arguments), and the two programs are merged into one package whose weights are stored once.
Core ML predictions run only on Apple platforms: on Linux :func:`check_spec` validates the
saved package instead (both functions present, every input and output with the contract's name
and shape).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from mobileseg.export.contract import LoadedContract
from mobileseg.export.formats import ExportFormat, Quantization, Written, register_format
from mobileseg.export.quiet import quiet
from mobileseg.export.signature import ENTRY_POINTS, InitEntry, Signature, StepEntry
from mobileseg.runtime.base import require


def _register_alias() -> None:
    """coremltools 9.0 has no converter for ``aten.alias`` (a no-op view torch.export emits, e.g.
    for a full slice over a single object); it is an identity."""
    from coremltools.converters.mil import Builder as mb
    from coremltools.converters.mil.frontend.torch.ops import _get_inputs
    from coremltools.converters.mil.frontend.torch.torch_op_registry import _TORCH_OPS_REGISTRY, register_torch_op

    if "alias" in _TORCH_OPS_REGISTRY:
        return

    def alias(context: Any, node: Any) -> None:
        context.add(mb.identity(x=_get_inputs(context, node, expected=1)[0], name=node.name))

    register_torch_op(alias)


def write_coreml(init: InitEntry, step: StepEntry, signature: Signature, folder: Path, stem: str, options: dict[str, Any],
                  quant: Quantization | None = None) -> Written:
    half = quant is not None and quant.precision == "fp16"
    with quiet():
        ct = require("coremltools", "coreml", "Core ML export")
        _register_alias()
        descriptor = ct.utils.MultiFunctionDescriptor()
        parts = []
        for entry, module in zip(ENTRY_POINTS, (init, step)):
            program = torch.export.export(module, signature.example(entry), strict=False).run_decompositions({})
            model = ct.convert(program, outputs=[ct.TensorType(name=name) for name in entry.outputs], convert_to="mlprogram",
                               minimum_deployment_target=ct.target.iOS18,
                               compute_precision=ct.precision.FLOAT16 if half else ct.precision.FLOAT32)
            part = folder / f".{entry.name}.mlpackage"
            model.save(str(part))
            parts.append(part)
            descriptor.add_function(str(part), src_function_name="main", target_function_name=entry.name)
        descriptor.default_function_name = "step"
        path = folder / f"{stem}.mlpackage"
        ct.utils.save_multifunction(descriptor, str(path))
    for part in parts:
        shutil.rmtree(part)
    return Written({entry.name: path.name for entry in ENTRY_POINTS},
                   {"program": "mlprogram", "minimum_deployment_target": "iOS18", "compute_precision": "float16" if half else "float32"})


def _features(features: Any) -> dict[str, list[int]]:
    return {f.name: [int(d) for d in f.type.multiArrayType.shape] for f in features}


def check_spec(contract: LoadedContract) -> dict[str, Any]:
    """Compare the saved package's functions, names and shapes with the contract (no prediction)."""
    with quiet():
        ct = require("coremltools", "coreml", "Core ML spec check")
    path = contract.file("step")
    spec = ct.utils.load_spec(str(path))
    functions = {fn.name: (_features(fn.input), _features(fn.output)) for fn in spec.description.functions}
    problems = []
    for entry in ENTRY_POINTS:
        if entry.name not in functions:
            problems.append(f"function {entry.name!r} missing (found {sorted(functions)})")
            continue
        inputs, outputs = functions[entry.name]
        for expected, found in ((contract.inputs(entry.name), inputs), (contract.outputs(entry.name), outputs)):
            for tensor in expected:
                if found.get(tensor["name"]) != list(tensor["shape"]):
                    problems.append(f"{entry.name}.{tensor['name']}: contract {tensor['shape']}, package {found.get(tensor['name'], 'missing')}")
            extra = sorted(set(found) - {t["name"] for t in expected})
            if extra:
                problems.append(f"{entry.name}: unexpected features {extra}")
    if problems:
        from mobileseg.export.contract import ContractError

        raise ContractError(f"{path.name} does not match its contract: " + "; ".join(problems))
    return {"checked": "spec (names, shapes, functions); Core ML prediction needs macOS/iOS",
            "functions": {name: {"inputs": ins, "outputs": outs} for name, (ins, outs) in functions.items()},
            "passed": True}


COREML = register_format(ExportFormat(
    name="coreml", title="Core ML", suffix=".mlpackage", extra="coreml", modules=("coremltools",),
    runtime=None, entry_points="`student.mlpackage` (multifunction), functions `init` and `step`", write=write_coreml,
    check_spec=check_spec, notes="ML program, float32, iOS 18+; predictions need macOS/iOS, Linux checks the spec",
    precisions=("fp16",),
))
