"""The model registry: ``--model NAME`` looks up a builder here.

A builder takes keyword arguments (architecture settings, ``pretrained``) and returns a
:class:`~mobileseg.models.base.MemoryNetwork`. ``ROLES[name]`` says whether it is a ``student``
(fixed memory, exportable) or a ``teacher`` (unbounded memory, PyTorch only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from mobileseg.models.spec import check_student_builder
from mobileseg.registry import Registry

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Builder)

MODELS: Registry[Builder] = Registry("model")
ROLES: dict[str, str] = {}


def register_model(name: str, role: str) -> Callable[[B], B]:
    """``@register_model("mobilevos_r18_mv2", role="student")`` over a builder function."""
    if role not in ("student", "teacher"):
        raise ValueError(f"role must be 'student' or 'teacher', got {role!r}")

    def add(builder: B) -> B:
        if role == "student":
            check_student_builder(name, builder)  # a clear error now, not an AttributeError in export
        MODELS.register(name)(builder)
        ROLES[name] = role
        return builder

    return add
