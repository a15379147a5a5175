"""The model registry: ``--model NAME`` looks up a builder here.

A builder takes keyword arguments (architecture settings, ``pretrained``) and returns a
:class:`~mobileseg.models.base.MemoryNetwork`. ``ROLES[name]`` says whether it is a ``student``
(fixed memory, exportable) or a ``teacher`` (unbounded memory, PyTorch only).
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from mobileseg.registry import Registry

Builder = Callable[..., nn.Module]

MODELS: Registry[Builder] = Registry("model")
ROLES: dict[str, str] = {}


def register_model(name: str, role: str) -> Callable[[Builder], Builder]:
    """``@register_model("mobilevos_r18_mv2", role="student")`` over a builder function."""
    if role not in ("student", "teacher"):
        raise ValueError(f"role must be 'student' or 'teacher', got {role!r}")

    def add(builder: Builder) -> Builder:
        ROLES[name] = role
        return MODELS.register(name)(builder)

    return add
