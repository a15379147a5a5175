"""Regenerate the format-support and precision tables in export/README.md from the registered formats.

    python -m mobileseg.export.readme [path/to/export/README.md]

A test fails when the README's tables and the registry disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mobileseg.export import support_table
from mobileseg.export.formats import precision_table

BLOCKS = {"formats": support_table, "precisions": precision_table}


def render(text: str) -> str:
    """``text`` with the block between each pair of markers replaced by the current table."""
    for name, table in BLOCKS.items():
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{table()}\n{end}{tail}"
    return text


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("export/README.md")
    path.write_text(render(path.read_text()))
    print(f"wrote the format and precision tables into {path}")


if __name__ == "__main__":
    main()
