"""One writer per folder: an advisory ``flock`` on ``FOLDER/.lock`` held for a whole run.

The lock belongs to the open file, so the operating system releases it when the process ends in
any way (exit, exception, ``kill -9``): a lock file left behind by a killed run never blocks the
next one. The file holds the PID of the process that holds the lock, for the message of a second
process that finds the folder taken. The file stays when the run has written anything (removing it
could let two processes lock two different files of the same name); a folder that the lock itself
created and that holds nothing else when the run ends is removed again.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from mobileseg.errors import MobilesegError
from mobileseg.utils.owned import MARKER as OUTPUT_MARKER

LOCK_NAME = ".lock"


class FolderLockedError(MobilesegError):
    """Another process is writing into the same folder (a second run on the same --out)."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "unknown"
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str], flag: str = "--out") -> Iterator[Path]:
    """Hold the lock of ``folder`` (created if missing) for the ``with`` block.

    Raises :class:`FolderLockedError` at once, naming the folder and the PID of the holder, when
    another process holds it; ``flag`` is the option that named the folder.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        raise FolderLockedError(
            f"{flag} {folder} is in use by another run (PID {_holder(path)} holds {path}). Two runs in one folder would "
            f"overwrite each other's checkpoints: wait for that run to end (or stop it), or choose another {flag}."
        ) from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        if created and {p.name for p in folder.iterdir()} <= {LOCK_NAME, OUTPUT_MARKER}:  # a run that failed before writing anything
            with contextlib.suppress(OSError):
                path.unlink()
                (folder / OUTPUT_MARKER).unlink(missing_ok=True)
                folder.rmdir()
        os.close(fd)  # releases the lock
