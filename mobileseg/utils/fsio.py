"""Atomic writes, and the checks every command runs on its output folders before working.

Everything that must survive a kill (checkpoints, exports, result JSON) is written to a temporary
file in the same folder, flushed to disk, then renamed over the target with :func:`os.replace`.
:func:`check_writable_folder` and :func:`paths_overlap` / :func:`is_within` let a command refuse,
before any work, an output folder it cannot write or one that would overwrite its own inputs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mobileseg.errors import OutputError


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


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself, or the nearest folder above it that exists (where mkdir would create it)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_folder(folder: str | os.PathLike[str], flag: str) -> None:
    """OutputError unless ``folder`` exists as a writable folder or can be created.

    Checked before any work so that a long computation does not end in a failed write. ``flag``
    is the option that named the folder (``--out``), for the message.
    """

    target = Path(folder)
    existing = _existing_ancestor(target)
    if not existing.is_dir():
        where = "is a file" if existing == target else f"cannot be created: {existing} is a file, not a folder"
        raise OutputError(f"{flag} {folder} {where}. Give a folder path (new or existing) that you can write to.")
    try:  # a real probe: os.access says yes to root on a read-only mount's folder or in /proc
        probe = tempfile.mkdtemp(prefix=".probe.", suffix=".tmp", dir=existing)
    except OSError as exc:
        what = "is not writable" if existing == target else f"cannot be created: {existing} is not writable"
        raise OutputError(f"{flag} {folder} {what} ({exc.strerror or exc}: permission denied, a read-only file system, "
                          "or a folder nothing can be created in). Give a folder you can write to.") from None
    os.rmdir(probe)


def check_free_space(folder: str | os.PathLike[str], need: int, flag: str, what: str) -> None:
    """OutputError when the disk of ``folder`` (or of the folder it would be created in) has less than
    ``need`` bytes free: checked before long work, and before converters that abort the whole process
    on a full disk (TFLite's MLIR writer ends in ``LLVM ERROR: IO failure``)."""

    existing = _existing_ancestor(Path(folder).absolute())
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return
    if free < need:
        raise OutputError(f"{flag} {folder}: {what} needs about {need / 1e6:,.0f} MB of free disk space, and {existing} has "
                          f"{free / 1e6:,.1f} MB free. Free some space or choose a folder on another disk.")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (the owner of a ``*-PID`` staging folder)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: str | os.PathLike[str], pattern: re.Pattern[str]) -> None:
    """Remove the folders in ``folder`` whose name ``pattern`` matches, with a ``pid`` group naming a
    process that has ended (staging a kill left behind)."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for item in folder.iterdir():
        match = pattern.match(item.name)
        if match and item.is_dir() and not pid_alive(int(match["pid"])):
            shutil.rmtree(item, ignore_errors=True)


# write failures that are the machine's, not a bug: one clear line instead of a traceback
WRITE_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up", errno.EROFS: "the file system is read-only",
                errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EFBIG: "the file is larger than allowed"}


def write_failure(exc: BaseException) -> str | None:
    """One line for an OSError from writing (disk full, read-only, permission), else None."""
    if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS:
        where = f" while writing {exc.filename}" if exc.filename else ""
        return (f"{WRITE_ERRNOS[exc.errno]}{where} ({exc.strerror}). Nothing half-written was kept (files are written "
                "atomically); free space or choose an output folder on another disk you can write to, then run the command again.")
    return None


def save_failed(path: str | os.PathLike[str], exc: RuntimeError) -> BaseException:
    """torch.save reports a full disk as a RuntimeError of its zip writer: the OSError it is (else ``exc``)."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = -1
    if free < 64 << 20 or "unexpected pos" in str(exc) or "failed writing" in str(exc):
        return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
    return exc
