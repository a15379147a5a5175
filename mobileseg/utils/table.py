"""Plain-text tables for the terminal and for Markdown reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Row = Mapping[str, object]


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def format_table(rows: Sequence[Row], columns: Sequence[str], digits: int = 3, markdown: bool = False) -> str:
    """Align ``rows`` under ``columns``; numbers right-aligned, floats with ``digits`` decimals."""
    cells = [[_cell(row.get(column), digits) for column in columns] for row in rows]
    widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
    numeric = [all(isinstance(row.get(c), (int, float)) for row in rows) and bool(rows) for c in columns]

    def render(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return ("| " + " | ".join(parts) + " |") if markdown else "  ".join(parts).rstrip()

    lines = [render(list(columns))]
    if markdown:
        lines.append("|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|")
    else:
        lines.append("  ".join("-" * w for w in widths))
    lines.extend(render(line) for line in cells)
    return "\n".join(lines)
