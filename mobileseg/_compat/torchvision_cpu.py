"""Make ``import torchvision`` work on a CPU-only torch.

The only torchvision 0.28.0 on the package registry is the CUDA build. Its compiled extension
(``torchvision/_C.so``) cannot load against the CPU build of torch 2.13.0, and then
``import torchvision`` dies with ``RuntimeError: operator torchvision::nms does not exist``:
``torchvision/_meta_registrations.py`` registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms``, which only exist when the extension loaded.

:func:`import_torchvision` tries to load the extension first. Only when that fails does it
declare the two operator schemas (no kernels) so the import goes through. Models, transforms and
``torch.export`` work afterwards; ``torchvision.ops.nms`` and ``torchvision.io`` image decoding do
not (mobileseg uses neither: images go through Pillow).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import torch

# Kept alive for the whole process: dropping the Library object unregisters the schemas.
_SCHEMA_LIBRARY: torch.library.Library | None = None


def _extension_path() -> Path | None:
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for candidate in sorted(Path(folder).glob("_C*.so")) + sorted(Path(folder).glob("_C*.pyd")):
            return candidate
    return None


def extension_loads() -> bool:
    """True when torchvision's compiled operators load into this torch."""
    path = _extension_path()
    if path is None:
        return False
    try:
        torch.ops.load_library(str(path))
    except (OSError, RuntimeError):
        return False
    return True


def _declare_schemas() -> None:
    global _SCHEMA_LIBRARY
    if _SCHEMA_LIBRARY is not None:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _SCHEMA_LIBRARY = lib


def import_torchvision() -> ModuleType:
    """Import and return ``torchvision``, applying the CPU shim only when it is needed."""
    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    if not extension_loads():
        _declare_schemas()
    return importlib.import_module("torchvision")
