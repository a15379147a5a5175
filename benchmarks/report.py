"""Shared by the benchmark suites: keep one generated table per suite in benchmarks/README.md.

Each suite owns the text between ``<!-- suite:NAME -->`` and ``<!-- /suite:NAME -->``; running the
suite replaces it, and leaves everything else in the README as written.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


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
