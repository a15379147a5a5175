"""Shared by the benchmark suites: keep one generated table per suite in benchmarks/README.md.

Each suite owns the text between ``<!-- suite:NAME -->`` and ``<!-- /suite:NAME -->``; running the
suite replaces it, and leaves everything else in the README as written.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
RESULTS = Path(__file__).resolve().parent / "results"
PACKAGE = Path(__file__).resolve().parents[1] / "mobileseg"


def fingerprint(folders: tuple[str, ...], packages: tuple[str, ...] = (), host: bool = False) -> str:
    """A hash of what made a cached result: the Python sources under ``mobileseg/<folder>`` for each of ``folders``,
    the installed versions of ``packages`` and, with ``host``, this machine's processor and core count. A suite
    reuses a cached file only while its fingerprint is unchanged."""
    digest = hashlib.sha1()
    for folder in folders:
        for source in sorted((PACKAGE / folder).rglob("*.py")):
            digest.update(source.relative_to(PACKAGE).as_posix().encode() + b"\0" + source.read_bytes())
    for package in packages:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{package}=={version}".encode())
    if host:
        from mobileseg.bench.host import cpu_name  # the name bench's results record (imports torch: only when asked)

        digest.update(f"{cpu_name()}:{os.cpu_count()}".encode())
    return digest.hexdigest()


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
