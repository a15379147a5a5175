"""Export with explicit memory state: ONNX, TFLite, ExecuTorch, Core ML; contract; parity.

Importing this package registers every format (no toolchain is imported until a format runs).
"""

from mobileseg.export import coreml, executorch, onnx, tflite  # noqa: F401  (register the formats)
from mobileseg.export.formats import FORMATS, ExportFormat, support_table

__all__ = ["FORMATS", "ExportFormat", "support_table"]
