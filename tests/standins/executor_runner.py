"""A stand-in for ExecuTorch's ``executor_runner`` used by the tests: not the real tool.

It takes the real tool's flags, runs the method of the ``.pte`` for real on this machine with
the executorch runtime (each ``--inputs`` file must have exactly the byte size of the method's
input at that position) and prints the real tool's log lines (shared/TOOLS.md).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
from executorch.runtime import Runtime

PREFIX = "I 00:00:00.000000 executorch:executor_runner.cpp:0]"


def main(args: list[str]) -> int:
    options = dict(arg[2:].split("=", 1) for arg in args if arg.startswith("--") and "=" in arg)
    program = Runtime.get().load_program(options["model_path"])
    print(f"{PREFIX} Model file {options['model_path']} is loaded.")
    name = options.get("method_name") or sorted(program.method_names)[0]
    print(f"{PREFIX} Using method {name}")
    meta = program.metadata(name)
    files = [f for f in options.get("inputs", "").split(",") if f]
    if len(files) != meta.num_inputs():
        print(f"E executor_runner: method {name} takes {meta.num_inputs()} inputs, {len(files)} files given", file=sys.stderr)
        return 1
    inputs = []
    for i, path in enumerate(files):
        shape = tuple(meta.input_tensor_meta(i).sizes())
        data = np.fromfile(path, dtype="<f4")
        if data.size != int(np.prod(shape)):
            print(f"E executor_runner: {path} holds {data.size} values, input {i} needs {shape}", file=sys.stderr)
            return 1
        inputs.append(torch.from_numpy(data.reshape(shape)))
    method = program.load_method(name)
    count = int(options.get("num_executions", "1"))
    total = 0.0
    for i in range(count):
        began = time.perf_counter()
        method.execute(inputs)
        elapsed = 1000 * (time.perf_counter() - began)
        total += elapsed
        print(f"{PREFIX} Iteration {i + 1} of {count}: {elapsed:f} ms")
    print(f"{PREFIX} Model executed successfully {count} time(s) in {total:f} ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
