"""Output folders a command may write into: new, empty, or marked as its own.

Every command that writes a folder (``run``, ``train``, ``distill``, ``export``, ``eval
--results``, ``quickstart``) first *claims* it with :func:`claim_output`. A folder that does not
exist or is empty is claimed by writing a marker file (:data:`MARKER`, a small JSON naming the
kind of output and the command that made it); a folder that already carries a marker of the same
kind is the command's own and is written again. Anything else -- a folder holding files
mobileseg did not write, or another kind of mobileseg output -- is refused with a message that
names what is there, unless the user consents with ``--overwrite`` (named in the message). So
no command replaces a file it did not write without being told to, and a later command can tell
its own folders (which it may remove or redo) from a user's.

The marker's ``by`` records a command that claimed the folder for a run inside its own output
(the quickstart's training runs): :func:`owned_by` lets that command remove such a run, and
never one the user trained there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mobileseg.errors import OutputError
from mobileseg.utils.fsio import check_writable_folder, write_json_atomic

log = logging.getLogger(__name__)

MARKER = ".mobileseg-output.json"
# what mobileseg itself leaves in a folder while it works: the run lock, atomic-write temporaries, staging folders
_OWN_HIDDEN = re.compile(r"^(\.lock|\..+\.tmp|\..+\.(staging|partial)-\d+)$")
_SHOWN = 4


def read_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of ``folder``, or None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


def owned_by(folder: str | os.PathLike[str], kind: str, by: str) -> bool:
    """True when ``folder`` carries a marker of ``kind`` written for ``by`` (see the module docstring)."""
    marker = read_marker(folder)
    return marker is not None and marker["kind"] == kind and marker.get("by") == by


def foreign_entries(folder: Path) -> list[str]:
    """The entries of ``folder`` that mobileseg did not leave there itself (sorted)."""
    return sorted(p.name for p in folder.iterdir() if p.name != MARKER and not _OWN_HIDDEN.match(p.name))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f" and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def _blocking(folder: Path, kind: str) -> str | None:
    """What in ``folder`` keeps a ``kind`` command from claiming it without consent, or None."""
    if not folder.is_dir():
        return None
    marker = read_marker(folder)
    if marker is not None:
        return None if marker["kind"] == kind else f"a mobileseg {marker['kind']} output ({MARKER})"
    foreign = foreign_entries(folder)
    return f"files mobileseg did not write: {_listing(foreign)}" if foreign else None


def _refusal(folder: Path, flag: str, what: str, consent: str | None) -> OutputError:
    todo = (f"choose another {flag}, or pass {consent} to write into it anyway (files of the same names are replaced; "
            "nothing else is touched)") if consent else "move them away, or give the command another output folder"
    return OutputError(f"{flag} {folder} already holds {what}. This command writes only into a new or empty folder, or one it "
                       f"wrote itself, so nothing of yours is replaced: {todo}.")


def check_claimable(folder: str | os.PathLike[str], kind: str, flag: str = "--out", consent: str = "--overwrite") -> None:
    """The refusal of :func:`claim_output`, without writing anything (to fail before slow work starts)."""
    what = _blocking(Path(folder), kind)
    if what is not None:
        raise _refusal(Path(folder), flag, what, consent)


def claim_output(folder: str | os.PathLike[str], kind: str, flag: str = "--out", *, overwrite: bool = False,
                 by: str | None = None, consent: str | None = "--overwrite") -> Path:
    """Make ``folder`` this command's ``kind`` of output, or raise OutputError before any work.

    New or empty: created and marked. Marked with ``kind``: the command's own, used as is.
    Otherwise refused, naming what is there, unless ``overwrite`` (the user's ``consent`` flag):
    then marked, and files of the same names as the command's outputs will be replaced (logged).
    ``by`` is recorded in a new marker (a run claimed by the quickstart for itself); ``consent`` None:
    the caller offers no way to consent (the message says only to choose another folder).
    """
    folder = Path(folder)
    check_writable_folder(folder, flag)
    if (read_marker(folder) or {}).get("kind") == kind:
        return folder  # its own: nothing to write
    what = _blocking(folder, kind)
    if what is not None:
        if not overwrite:
            raise _refusal(folder, flag, what, consent)
        log.warning("%s %s: writing into a folder that holds %s (%s given); files of the same names are replaced",
                    flag, folder, what, consent)
    return mark_output(folder, kind, by)


def mark_output(folder: Path, kind: str, by: str | None = None) -> Path:
    """Write the marker that makes ``folder`` (created if missing) a ``kind`` output of mobileseg's."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / MARKER, {"kind": kind, "by": by, "note": "written by mobileseg: this folder is its output"})
    return folder


@contextlib.contextmanager
def claimed(folder: str | os.PathLike[str], kind: str, flag: str = "--out", *, overwrite: bool = False,
            by: str | None = None) -> Iterator[Path]:
    """:func:`claim_output` for a ``with`` block; when the block fails before writing anything, a
    folder that the claim created (or found empty) is removed again, marker and all."""
    folder = Path(folder)
    fresh = not folder.exists() or not any(folder.iterdir())
    claimed_folder = claim_output(folder, kind, flag, overwrite=overwrite, by=by)
    try:
        yield claimed_folder
    except BaseException:
        if fresh and not foreign_entries(folder) and not any(p.is_dir() for p in folder.iterdir()):
            with contextlib.suppress(OSError):
                (folder / MARKER).unlink()
                folder.rmdir()
        raise


def check_report_file(path: str | os.PathLike[str], flag: str, what: str, is_ours: Callable[[dict[str, Any]], bool]) -> None:
    """OutputError, before any work, when the JSON report ``path`` cannot be written or names an existing
    file that is not ``what`` (``is_ours`` recognises one): replacing a user's file of that name would lose it."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{flag} {path} is a folder; give a file name such as report.json.")
    check_writable_folder(path.absolute().parent, f"{flag} {path}: its folder")
    if path.exists():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = None
        if not (isinstance(data, dict) and is_ours(data)):
            raise OutputError(f"{flag} {path} exists and is not {what}; it is left as it is. Give another {flag} file name "
                              "(or move that file away).")
