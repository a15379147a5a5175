"""ai-edge-litert over a ``.tflite`` with the signatures ``init`` and ``step`` (XNNPACK, N threads)."""

from __future__ import annotations

import numpy as np

from mobileseg.export.contract import ContractError, LoadedContract
from mobileseg.export.quiet import quiet
from mobileseg.export.signature import ENTRY_POINTS
from mobileseg.runtime.base import RUNTIMES, RuntimeModel, require


@RUNTIMES.register("tflite")
class LiteRTModel(RuntimeModel):
    target = "tflite"

    def __init__(self, contract: LoadedContract, threads: int = 2) -> None:
        super().__init__(contract, threads)
        with quiet():
            interpreter_module = require("ai_edge_litert.interpreter", "tflite", "running TFLite files")
        path = contract.file("step")
        try:
            with quiet():  # "Created TensorFlow Lite XNNPACK delegate" on stderr
                self.interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ContractError(f"ai-edge-litert cannot load {path}: {exc}") from None
        signatures = self.interpreter.get_signature_list()
        self.runners = {}
        for entry in ENTRY_POINTS:
            found = signatures.get(entry.name)
            expected = {t["name"] for t in contract.inputs(entry.name)}, {t["name"] for t in contract.outputs(entry.name)}
            if found is None or (set(found["inputs"]), set(found["outputs"])) != expected:
                raise ContractError(f"{path.name} has signatures {signatures}, but its contract expects {entry.name!r} with "
                                    f"inputs {sorted(expected[0])} and outputs {sorted(expected[1])}. Export again.")
            self.runners[entry.name] = self.interpreter.get_signature_runner(entry.name)

    def run(self, entry: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(self.runners[entry](**feeds))
