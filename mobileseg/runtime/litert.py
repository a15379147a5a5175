"""ai-edge-litert over a ``.tflite`` with a signature per entry point, ``init`` and ``step`` (or ``step_0``, ...), XNNPACK, N threads."""

from __future__ import annotations

import numpy as np

from mobileseg.artifact.contract import ContractError, LoadedContract
from mobileseg.runtime.base import RUNTIMES, RuntimeModel, require
from mobileseg.utils.quiet import quiet


@RUNTIMES.register("tflite")
class LiteRTModel(RuntimeModel):
    target = "tflite"

    def __init__(self, contract: LoadedContract, threads: int = 2) -> None:
        super().__init__(contract, threads)
        with quiet():
            interpreter_module = require("ai_edge_litert.interpreter", "tflite", "running TFLite files")
        path = contract.file("init")
        try:
            with quiet():  # "Created TensorFlow Lite XNNPACK delegate" on stderr
                self.interpreter = interpreter_module.Interpreter(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ContractError(f"ai-edge-litert cannot load {path}: {exc}") from None
        signatures = self.interpreter.get_signature_list()
        self.runners = {}
        for entry in contract.entries:
            if entry not in signatures:
                raise ContractError(f"{path.name} has the signatures {sorted(signatures)}; its contract needs {entry!r}. "
                                    f"Which side changed: {contract.blame(entry)}. Export again.")
            runner = self.interpreter.get_signature_runner(entry)
            self.check_file(entry, [(name, tuple(int(d) for d in spec["shape"])) for name, spec in runner.get_input_details().items()],
                            [(name, tuple(int(d) for d in spec["shape"])) for name, spec in runner.get_output_details().items()])
            self.runners[entry] = runner

    def run(self, entry: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(self.runners[entry](**feeds))
