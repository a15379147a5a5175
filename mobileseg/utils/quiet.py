"""Silence the converters' and runtimes' chatter (import notices, progress lines, C++ logs).

The toolchains print from Python and from C++ (straight to file descriptors 1 and 2), at import
and while converting. Inside :func:`quiet` both descriptors go to a temporary file: on success it
is dropped (mobileseg prints one line per export), on an exception its tail is written to stderr
before the exception propagates, so nothing that explains a failure is lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator

_LOGGERS = ("torchao", "torch.utils._pytree", "torch.onnx", "torch._export", "coremltools", "absl", "onnxscript")
_TAIL = 20_000  # characters of captured output shown when a conversion fails


def quiet_environment() -> None:
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def _descriptors_to(sink: int) -> Iterator[None]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    os.dup2(sink, 1)
    os.dup2(sink, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Run a conversion or a toolchain import without its output (see the module docstring)."""
    quiet_environment()
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"  # coremltools draws a bar per conversion pass
    with tempfile.TemporaryFile() as sink:
        try:
            with _descriptors_to(sink.fileno()), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except BaseException:
            sink.seek(0)
            captured = sink.read().decode(errors="replace")
            if captured.strip():
                sys.stderr.write(f"--- toolchain output ---\n{captured[-_TAIL:]}\n------------------------\n")
            raise
        finally:
            if previous is None:
                os.environ.pop("TQDM_DISABLE", None)
            else:
                os.environ["TQDM_DISABLE"] = previous
