"""Trackers over exported files (onnxruntime, ai-edge-litert, executorch), same protocol as PyTorch.

Each runtime module imports its package inside its functions; importing this package registers
them all without importing any toolchain.
"""

from mobileseg.runtime import executorch, litert, onnxruntime  # noqa: F401  (register the runtimes)
from mobileseg.runtime.base import RUNTIMES, RuntimeModel, RuntimeTracker, ToolchainError, open_runtime

__all__ = ["RUNTIMES", "RuntimeModel", "RuntimeTracker", "ToolchainError", "open_runtime"]
