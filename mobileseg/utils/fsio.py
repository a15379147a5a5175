"""Atomic writes, and the checks every command runs on its output folders before working.

Everything that must survive a kill (checkpoints, exports, result JSON) is written to a temporary
file in the same folder, flushed to disk, then renamed over the target with :func:`os.replace`.
:func:`check_writable_folder` and :func:`paths_overlap` / :func:`is_within` let a command refuse,
before any work, an output folder it cannot write or one that would overwrite its own inputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()  # symlinks followed, even in parts that do not exist yet


def is_within(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """True if ``path`` is ``folder`` or lies inside it, after resolving both (symlinks too)."""
    inner, outer = _resolved(path), _resolved(folder)
    return inner == outer or outer in inner.parents


def paths_overlap(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """True if ``a`` and ``b`` are the same folder or one lies inside the other (resolved)."""
    return is_within(a, b) or is_within(b, a)


def check_writable_folder(folder: str | os.PathLike[str], flag: str) -> None:
    """OutputError unless ``folder`` exists as a writable folder or can be created.

    Checked before any work so that a long computation does not end in a failed write. ``flag``
    is the option that named the folder (``--out``), for the message.
    """
    from mobileseg.errors import OutputError

    target = Path(folder)
    existing = target
    while not existing.exists() and existing != existing.parent:  # the folder that mkdir would create it in
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == target else f"cannot be created: {existing} is a file, not a folder"
        raise OutputError(f"{flag} {folder} {where}. Give a folder path (new or existing) that you can write to.")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == target else f"cannot be created: {existing} is not writable"
        raise OutputError(f"{flag} {folder} {what} (permission denied or a read-only file system). "
                          "Give a folder you can write to.")
