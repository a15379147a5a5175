"""Distillation methods, one per file, looked up by the name ``--distiller`` takes.

Importing this package registers every method (``none``, ``mobilevos``, ``cirkd``, ``lgd``, ``online``, ``tdnet``).
"""

from mobileseg.distill import cirkd, lgd, mobilevos, online, tdnet  # noqa: F401  (registers the methods)
from mobileseg.distill.base import DISTILLERS, Distiller, NoDistillation, StepOutputs, describe, option_defaults

__all__ = ["DISTILLERS", "Distiller", "NoDistillation", "StepOutputs", "describe", "option_defaults"]
