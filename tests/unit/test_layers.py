"""The package's layers, written once here: every import points down, none is hidden in a function.

A unit is a subpackage of ``mobileseg`` (``models``, ``export``, ...) or a module at its root
(``tracker``, ``checkpoint``, ...). ``LAYERS`` lists them from the bottom up; a unit may import
units of lower layers only (units of one layer do not import each other). Every import counts:
module level, inside functions, under ``TYPE_CHECKING``. An import inside a function is allowed
for an optional toolchain only (its reason on the line), never for a ``mobileseg`` module: an
import that has to hide in a function to avoid a cycle is a layer in the wrong place.
docs/ARCHITECTURE.md explains each layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mobileseg"

LAYERS: list[set[str]] = [
    {"errors", "_compat"},
    {"utils", "registry"},
    {"data", "tracker"},
    {"models"},
    {"artifact"},
    {"checkpoint"},
    {"runtime"},
    {"sources"},
    {"eval", "distill"},
    {"train"},
    {"export"},
    {"bench", "demo"},
    {"quickstart"},
    {"cli"},
    {"__main__"},
]
FACE = "__init__"  # mobileseg/__init__.py: the package's face, may import what it presents


def _layer(unit: str) -> int:
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"mobileseg.{unit} is in no layer of tests/unit/test_layers.py: add it to LAYERS")


def _unit(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1 or not ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return FACE  # mobileseg itself, or a name it defines (from mobileseg import __version__)
    return parts[1]


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """``(imported module, line, inside a function)`` of every import of ``mobileseg`` in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    local = {id(node) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
             for node in ast.walk(fn) if isinstance(node, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or ""]
            if names == ["mobileseg"]:  # from mobileseg import x: the submodules named
                names = [f"mobileseg.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, node.lineno, id(node) in local) for name in names if name.split(".")[0] == "mobileseg"]
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def _edges() -> list[tuple[str, str, str]]:
    return [(_unit(_module(path)), _unit(name), f"{path.relative_to(PACKAGE.parent)}:{line}")
            for path in SOURCES for name, line, _ in _imports(path)]


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module(path)) for path in SOURCES} - {FACE}
    for unit in units:
        _layer(unit)


def test_every_import_points_down() -> None:
    upward = [f"{where}: mobileseg.{source} (layer {_layer(source)}) imports mobileseg.{target} (layer {_layer(target)})"
              for source, target, where in _edges()
              if source != target and FACE not in (source, target) and _layer(target) >= _layer(source)]
    assert not upward, "imports that do not point down:\n" + "\n".join(upward)


def test_no_mobileseg_import_hides_in_a_function() -> None:
    hidden = [f"{path.relative_to(PACKAGE.parent)}:{line}: {name}" for path in SOURCES
              for name, line, local in _imports(path) if local]
    assert not hidden, "imports of mobileseg inside functions (move them to the top of the file):\n" + "\n".join(hidden)


# the extras' toolchains (pyproject.toml): imported where they are used, so `import mobileseg` needs none of them
OPTIONAL = {"onnx", "onnxruntime", "onnxsim", "onnxscript", "litert_torch", "ai_edge_litert", "ai_edge_quantizer", "executorch",
            "coremltools", "av", "matplotlib"}


def test_an_import_inside_a_function_is_an_optional_toolchain_with_its_reason() -> None:
    wrong = []
    for path in SOURCES:
        source = path.read_text()
        lines = source.splitlines()
        for function in ast.walk(ast.parse(source)):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    where = f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {lines[node.lineno - 1].strip()}"
                    if any(name.split(".")[0] not in OPTIONAL for name in names):
                        wrong.append(f"{where}  (not an optional toolchain: import it at the top)")
                    elif "#" not in lines[node.end_lineno - 1]:  # type: ignore[operator]
                        wrong.append(f"{where}  (give the reason on the line)")
    assert not wrong, "imports inside functions:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source, target", [("runtime", "export"), ("distill", "train"), ("eval", "train")])
def test_the_rule_catches_an_upward_import(source: str, target: str) -> None:
    assert _layer(target) >= _layer(source)  # what test_every_import_points_down would report
