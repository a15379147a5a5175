"""onnxruntime over one graph per entry point, ``student.init.onnx`` / ``student.step.onnx`` (``student.step_0.onnx``, ...
for a student with several step graphs), CPU execution provider."""

from __future__ import annotations

import numpy as np

from mobileseg.artifact.contract import ContractError, LoadedContract
from mobileseg.runtime.base import RUNTIMES, RuntimeModel, require
from mobileseg.utils.quiet import quiet


@RUNTIMES.register("onnx")
class OnnxRuntimeModel(RuntimeModel):
    target = "onnx"

    def __init__(self, contract: LoadedContract, threads: int = 2) -> None:
        super().__init__(contract, threads)
        with quiet():
            ort = require("onnxruntime", "onnx", "running ONNX files")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.sessions = {}
        for entry in contract.entries:
            path = contract.file(entry)
            try:
                session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
                raise ContractError(f"onnxruntime cannot load {path}: {exc}") from None
            self.check_file(entry, [(i.name, tuple(i.shape)) for i in session.get_inputs()],
                            [(o.name, tuple(o.shape)) for o in session.get_outputs()])
            self.sessions[entry] = session

    def run(self, entry: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self.sessions[entry]
        values = session.run(None, feeds)
        return {output.name: value for output, value in zip(session.get_outputs(), values)}
