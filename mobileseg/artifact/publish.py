"""Publishing an export as one set: after a kill at any moment, the old export or the new one, never a mix.

A target's files (graphs, weights, the contract) are written into a staging folder beside the
output, ``.<artifact>.staging-<pid>``, and checked there. Publishing then

1. writes a journal, ``.<artifact>.publish.json``, naming the staging folder and its files
   (atomically: before it exists nothing in the output has changed, and a kill leaves a stale
   staging folder that the next export removes);
2. moves each file into the output, the contract last;
3. removes the journal and the staging folder.

A kill during step 2 leaves the journal: :func:`recover` (run by every export and by
:func:`~mobileseg.artifact.contract.load_contract` before it reads a contract) finishes the moves
from the staging folder, which still holds every file not yet moved. Whatever the order of events,
the files a contract names are those it was exported with; the sha256 of each, recorded in the
contract and checked at load, catches anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

from mobileseg.utils.fsio import remove_stale, write_json_atomic

_STAGING = re.compile(r"^\.(?P<name>.+)\.staging-(?P<pid>\d+)$")
_JOURNAL = ".{name}.publish.json"


def digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a file; of a folder (a Core ML package), over its files' relative paths and digests."""
    path = Path(path)
    if path.is_dir():
        lines = "".join(f"{p.relative_to(path).as_posix()}\0{digest(p)}\n" for p in sorted(path.rglob("*")) if p.is_file())
        return hashlib.sha256(lines.encode()).hexdigest()
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def staging_folder(out: Path, name: str) -> Path:
    """A fresh staging folder for the artifact ``name`` in ``out`` (stale ones cleaned first)."""
    recover(out)
    staging = out / f".{name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def publish(staging: Path, out: Path, name: str) -> None:
    """Move every file or package of ``staging`` into ``out`` as one set (module docstring); ``name``
    is the artifact's file name (``student.onnx``), whose contract ``name.json`` moves last."""
    items = sorted((p.name for p in staging.iterdir()), key=lambda item: item == f"{name}.json")
    journal = out / _JOURNAL.format(name=name)
    write_json_atomic(journal, {"staging": staging.name, "items": items})
    _finish(out, journal)


def _finish(out: Path, journal: Path) -> None:
    record = json.loads(journal.read_text())
    staging = out / record["staging"]
    for item in record["items"]:
        source, target = staging / item, out / item
        if not source.exists() and not source.is_symlink():
            continue  # moved before a kill
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):  # another process finishing the same journal moved it first
            os.replace(source, target)
    with contextlib.suppress(FileNotFoundError):
        journal.unlink()
    shutil.rmtree(staging, ignore_errors=True)


def recover(out: str | os.PathLike[str]) -> None:
    """Finish publishing that a kill interrupted, and remove staging folders of ended processes."""
    out = Path(out)
    if not out.is_dir():
        return
    for journal in sorted(out.glob(_JOURNAL.format(name="*"))):
        with contextlib.suppress(ValueError, KeyError, FileNotFoundError):  # gone: another process finished it
            _finish(out, journal)
    remove_stale(out, _STAGING)


def pending(out: str | os.PathLike[str]) -> bool:
    """True when ``out`` holds an interrupted publish (a journal)."""
    out = Path(out)
    return out.is_dir() and any(out.glob(_JOURNAL.format(name="*")))
