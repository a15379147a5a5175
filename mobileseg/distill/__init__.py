"""Distillation methods, one per file, looked up by the name ``--distiller`` takes.

Importing this package registers every method (``none``, ``mobilevos``, ``cirkd``, ``lgd``, ``online``, ``tdnet``),
in this order: ``mobileseg distill --help`` lists the flags in it (the default method's first).
"""

from mobileseg.distill import mobilevos  # noqa: F401  (registers the methods; the default first)

# isort: split
from mobileseg.distill import cirkd, lgd, online, tdnet  # noqa: F401
from mobileseg.distill.base import (
    DISTILLERS,
    Allowed,
    Distiller,
    DistillOptions,
    Networks,
    NoDistillation,
    OptionSpec,
    StepOutputs,
    TeacherMode,
    describe,
    option,
    option_defaults,
    option_specs,
    parse_options,
)

__all__ = ["DISTILLERS", "Allowed", "Distiller", "DistillOptions", "Networks", "NoDistillation", "OptionSpec", "StepOutputs",
           "TeacherMode", "describe", "option", "option_defaults", "option_specs", "parse_options"]
