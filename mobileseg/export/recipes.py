"""Export recipes: YAML files naming a target, size, objects, tolerances and target options.

    target: tflite            # or a list: [onnx, tflite]; or all
    size: 480x864             # or [480, 864]
    objects: 1
    parity_frames: 30
    tolerance: {max_abs_prob: 1.0e-3, min_iou: 0.999}
    options: {onnx: {opset: 18, simplify: true}}

Recipes are data: read with ``yaml.safe_load``, every key checked, nothing executed. Options
given on the command line override the recipe.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mobileseg.errors import ConfigError

KEYS = {"target", "size", "objects", "parity_frames", "tolerance", "options", "threads", "description"}


@dataclass
class Recipe:
    targets: list[str] = field(default_factory=list)
    size: tuple[int, int] | None = None
    objects: int | None = None
    parity_frames: int | None = None
    threads: int | None = None
    max_abs_prob: float | None = None
    min_iou: float | None = None
    options: dict[str, dict[str, Any]] = field(default_factory=dict)


def _size(value: Any, path: Path) -> tuple[int, int]:
    if isinstance(value, str) and "x" in value.lower():
        parts = value.lower().split("x")
        if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
            return int(parts[0]), int(parts[1])
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise ConfigError(f"recipe {path}: size must be HEIGHTxWIDTH or [height, width], got {value!r}")


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a recipe; ConfigError names the file and the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}. The shipped recipes are in export/recipes/.")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {path} must be a mapping of settings, got {type(data).__name__}")
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise ConfigError(f"recipe {path}: unknown keys {unknown}; allowed: {sorted(KEYS)}")
    recipe = Recipe()
    if "target" in data:
        targets = data["target"]
        recipe.targets = [targets] if isinstance(targets, str) else [str(t) for t in targets]
    if "size" in data:
        recipe.size = _size(data["size"], path)
    for key in ("objects", "parity_frames", "threads"):
        if key in data:
            if not isinstance(data[key], int) or data[key] < 1:
                raise ConfigError(f"recipe {path}: {key} must be a positive integer, got {data[key]!r}")
            setattr(recipe, key, data[key])
    tolerance = data.get("tolerance") or {}
    if not isinstance(tolerance, dict) or set(tolerance) - {"max_abs_prob", "min_iou"}:
        raise ConfigError(f"recipe {path}: tolerance takes max_abs_prob and min_iou, got {tolerance!r}")
    recipe.max_abs_prob = tolerance.get("max_abs_prob")
    recipe.min_iou = tolerance.get("min_iou")
    options = data.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError(f"recipe {path}: options must map a target name to a mapping of its options")
    recipe.options = options
    return recipe
