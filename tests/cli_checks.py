"""What the command-line tests share: invoke the CLI in-process, check a one-line error, checksum a folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner, Result

from mobileseg.cli import cli


def invoke(*args: str | Path | int) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_error(result: Result, *fragments: str) -> str:
    """Exit status 1, no traceback, exactly one `Error:` line holding every fragment; returns that line."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (hidden ones too), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}
