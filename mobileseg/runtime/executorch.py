"""executorch.runtime over a ``.pte`` with a method per entry point, ``init`` and ``step`` (or ``step_0``, ...).

The ``.pte`` has no tensor names: inputs are passed and outputs read in the contract's order,
which is the order the entry points were traced with. ExecuTorch's thread pool is one per
process and can only be sized before the first method is loaded, so the first model loaded
in a process fixes the thread count.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from mobileseg.artifact.contract import ContractError, LoadedContract
from mobileseg.runtime.base import RUNTIMES, RuntimeModel, require
from mobileseg.utils.quiet import quiet

log = logging.getLogger(__name__)
_POOL_THREADS: int | None = None  # the thread count the process-wide pool was given


def _size_thread_pool(threads: int) -> None:
    global _POOL_THREADS
    if _POOL_THREADS is None:
        portable = require("executorch.extension.pybindings.portable_lib", "executorch", "running ExecuTorch files")
        portable._unsafe_reset_threadpool(threads)  # safe only before any method is loaded
        _POOL_THREADS = threads
    elif _POOL_THREADS != threads:
        log.warning("ExecuTorch's thread pool already has %d threads in this process; %d requested", _POOL_THREADS, threads)


@RUNTIMES.register("executorch")
class ExecuTorchModel(RuntimeModel):
    target = "executorch"

    def __init__(self, contract: LoadedContract, threads: int = 2) -> None:
        super().__init__(contract, threads)
        with quiet():
            runtime = require("executorch.runtime", "executorch", "running ExecuTorch files")
            _size_thread_pool(threads)
        path = contract.file("init")
        try:
            with quiet():
                program = runtime.Runtime.get().load_program(str(path))
        except Exception as exc:  # noqa: BLE001 - the runtime raises plain RuntimeError/ValueError
            raise ContractError(f"executorch cannot load {path}: {exc}") from None
        self.methods, self.order = {}, {}
        for entry in contract.entries:
            if entry not in program.method_names:
                raise ContractError(f"{path.name} has methods {sorted(program.method_names)}; its contract needs {entry!r}. "
                                    f"Which side changed: {contract.blame(entry)}. Export again.")
            meta = program.metadata(entry)
            self.check_file(entry, [(None, tuple(meta.input_tensor_meta(i).sizes())) for i in range(meta.num_inputs())],
                            [(None, tuple(meta.output_tensor_meta(i).sizes())) for i in range(meta.num_outputs())])
            with quiet():
                self.methods[entry] = program.load_method(entry)
            self.order[entry] = ([t["name"] for t in contract.inputs(entry)], [t["name"] for t in contract.outputs(entry)])

    def run(self, entry: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        inputs, outputs = self.order[entry]
        values = self.methods[entry].execute([torch.from_numpy(feeds[name]) for name in inputs])
        return {name: value.numpy() for name, value in zip(outputs, values)}
