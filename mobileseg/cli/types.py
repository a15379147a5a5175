"""Click parameter types shared by the commands: ``HxW`` sizes and ``K`` / ``A-B`` ranges."""

from __future__ import annotations

import click


class SizeType(click.ParamType):
    """``HxW`` (e.g. ``240x432``) -> ``(240, 432)``."""

    name = "HxW"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value  # a default given as a tuple
        text = str(value).lower().replace("×", "x")
        parts = text.split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            self.fail(f"{value!r} is not a size; write HEIGHTxWIDTH, e.g. 240x432.", param, ctx)
        height, width = (int(p) for p in parts)
        if height <= 0 or width <= 0:
            self.fail(f"{value!r} has a zero side; both HEIGHT and WIDTH must be positive.", param, ctx)
        return height, width


class RangeType(click.ParamType):
    """``K`` -> ``(K, K)``; ``A-B`` -> ``(A, B)`` with ``A <= B``."""

    name = "K|A-B"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        parts = str(value).split("-")
        if not 1 <= len(parts) <= 2 or not all(p.strip().isdigit() for p in parts):
            self.fail(f"{value!r} is not a count; write a number (2) or a range (1-3).", param, ctx)
        low, high = int(parts[0]), int(parts[-1])
        if low > high:
            self.fail(f"{value!r} is an empty range; write LOW-HIGH with LOW <= HIGH.", param, ctx)
        return low, high


SIZE = SizeType()
RANGE = RangeType()
