"""Progress bars for long work (tqdm on stderr).

By default a bar is drawn when stderr is a terminal and left out of logs and pipes; set
``MOBILESEG_PROGRESS=always`` or ``never`` to force either.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _disabled() -> bool | None:
    mode = os.environ.get("MOBILESEG_PROGRESS", "auto").lower()
    if mode == "always":
        return False
    if mode == "never":
        return True
    return None  # tqdm: disable when stderr is not a terminal


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> tqdm:
    """Wrap ``iterable`` in a progress bar described by ``desc``."""
    return tqdm(iterable, desc=desc, total=total, unit=unit, disable=_disabled(), dynamic_ncols=True)
