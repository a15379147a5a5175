"""Bit-identical training runs on one machine at a given thread count.

What made CPU training irreproducible (measured on a 2-core Xeon, torch 2.13.0+cpu with MKL):
the *first* call of an MKL vector-math (VML) function in a process, made by two OpenMP threads
at once, sometimes (about 1 process in 6 with another process loading the CPU, never on a
quiet machine) computes one thread's half of the tensor with a different code path: e.g.
``torch.log`` in the soft aggregation differed by up to 4e-5 on half of the pixels in the first
training step only. Every later call is exact, so the run then continues from slightly other
weights, and the difference grows (0.93 after 200 steps). A resumed run makes its first calls
at another step than the uninterrupted one, which is why "kill and --resume" missed by ~2e-5.
The cure is to make each of those first calls once on a single thread before training
(:func:`warm_up_vector_math`); with it, 24 of 24 loaded processes gave identical first steps
(4 of 24 differed without it; ``MKL_CBWR`` alone did not help). Everything else we tested
(convolutions, batch norm, bmm, softmax, interpolation, their backward passes) is exact run to
run at a fixed thread count.

:func:`apply` also fixes the thread count (reductions split work by thread, so another count
gives other rounding), turns on ``torch.use_deterministic_algorithms`` (an error, not a silent
difference, if a non-deterministic kernel is ever reached) and oneDNN's deterministic mode.
What stays irreproducible: another thread count, another CPU type or instruction set, another
torch/MKL build, and GPUs beyond what cuDNN's deterministic mode covers: on CUDA some kernels the
networks need have no deterministic version (bilinear upsampling's backward pass), so there
``use_deterministic_algorithms`` only warns, and CUDA runs are close, not bit-identical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from mobileseg.utils.machine import cpu_name

# The torch functions that call MKL's VML on float tensors (ATen/cpu/vml.h, IMPLEMENT_VML_MKL).
VML_FUNCTIONS = ("acos", "asin", "atan", "cos", "erf", "erfc", "erfinv", "exp", "log", "log10", "log2", "sin", "sqrt",
                 "tan", "tanh", "trunc")


@dataclass(frozen=True)
class Reproducibility:
    """The settings a run was trained with; stored in its checkpoint and restored on resume."""

    threads: int
    deterministic: bool

    def record(self) -> dict[str, Any]:
        """What a checkpoint stores: the settings and what else bit-identity depends on."""
        return {"threads": self.threads, "deterministic": self.deterministic, "torch": str(torch.__version__),
                "cpu": cpu_name(), "cpu_capability": torch.backends.cpu.get_cpu_capability()}


def warm_up_vector_math() -> None:
    """Make the first call of every MKL VML function torch uses on one thread (see module docstring)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for dtype in (torch.float32, torch.float64):
                x = torch.linspace(0.05, 0.95, 4096, dtype=dtype)
                for name in VML_FUNCTIONS:
                    getattr(torch, name)(x)
    finally:
        torch.set_num_threads(threads)


@contextmanager
def reproducible(settings: Reproducibility, cuda: bool = False) -> Iterator[None]:
    """Train with ``settings`` inside the block (threads always; the rest when deterministic).

    ``cuda``: training runs on a GPU, where a kernel without a deterministic version warns
    instead of stopping the run (see the module docstring). The process-wide switches are
    restored afterwards, so a library caller (the quickstart, a test) gets its own settings back.
    """
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.backends.mkldnn.deterministic,
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.set_num_threads(settings.threads)
    if settings.deterministic:
        warm_up_vector_math()
        # cuBLAS needs a fixed workspace for deterministic matmuls; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=cuda)
        torch.backends.mkldnn.deterministic = True  # type: ignore[assignment]  # torch's stubs type this flag as its descriptor
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        threads, algorithms, warn_only, mkldnn, cudnn, benchmark = saved
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.mkldnn.deterministic = mkldnn
        torch.backends.cudnn.deterministic = cudnn
        torch.backends.cudnn.benchmark = benchmark
