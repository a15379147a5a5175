"""Distillation methods, one per file, looked up by the name ``--distiller`` takes.

Importing this package registers every method (``none``, ``mobilevos``).
"""

from mobileseg.distill import mobilevos  # noqa: F401  (registers the method)
from mobileseg.distill.base import DISTILLERS, Distiller, NoDistillation, StepOutputs

__all__ = ["DISTILLERS", "Distiller", "NoDistillation", "StepOutputs"]
