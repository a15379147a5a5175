"""Regenerate the format-support table in export/README.md from the registered formats.

    python -m mobileseg.export.readme [path/to/export/README.md]

A test fails when the README's table and the registry disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mobileseg.export import support_table

START, END = "<!-- formats:start -->", "<!-- formats:end -->"


def render(text: str) -> str:
    """``text`` with the block between the markers replaced by the current table."""
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{support_table()}\n{END}{tail}"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("export/README.md")
    path.write_text(render(path.read_text()))
    print(f"wrote the format table into {path}")


if __name__ == "__main__":
    main()
