"""Shared by the benchmark suites: keep one generated table per suite in benchmarks/README.md.

Each suite owns the text between ``<!-- suite:NAME -->`` and ``<!-- /suite:NAME -->``; running the
suite replaces it, and leaves everything else in the README as written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
RESULTS = Path(__file__).resolve().parent / "results"


def update_readme(suite: str, body: str) -> None:
    start, end = f"<!-- suite:{suite} -->", f"<!-- /suite:{suite} -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + f"\n\n## {suite}\n\n{block}\n"
    README.write_text(text)


def publish(suite: str, result: dict[str, Any], table: str, quick: bool = False) -> Path:
    """Write ``results/SUITE.json`` and the suite's README table (a ``--quick`` smoke run writes
    ``results/SUITE_quick.json`` and leaves the README alone); prints the table."""
    path = RESULTS / (f"{suite}_quick.json" if quick else f"{suite}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    if not quick:
        update_readme(suite, table)
    print(table)
    return path
