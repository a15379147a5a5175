"""``--resume``: continue a run with the settings stored in its ``last.pt``.

A resumed run is the run that was started: every setting comes from the checkpoint, so
``mobileseg train --out RUN --resume`` needs nothing else. An option given together with
``--resume`` must agree with the stored value, with these exceptions:

- ``--steps`` may extend the run (not shorten it below the step it has reached);
- ``--workers``, ``--save-every`` and ``--log-every`` never change the weights;
- ``--lr``, ``--grad-clip``, ``--device`` and ``--threads`` may change (to recover from a
  diverging loss, or to move to another machine); the run then no longer equals an
  uninterrupted one, and a warning says so;
- ``--data`` may point elsewhere only when the stored dataset folder no longer exists (a
  moved dataset); otherwise another dataset would silently change the run.

Anything else that contradicts the stored run is refused, naming both values.
"""

from __future__ import annotations

import inspect
import logging
import typing
from pathlib import Path
from typing import Any

from mobileseg.checkpoint import CheckpointError, load_checkpoint
from mobileseg.distill import DISTILLERS, option_defaults
from mobileseg.errors import ConfigError
from mobileseg.models import MODELS
from mobileseg.train.config import TrainConfig

log = logging.getLogger(__name__)

FREE = frozenset({"steps", "workers", "save_every", "log_every"})
CHANGES_RESULT = frozenset({"lr", "grad_clip", "device", "threads"})

# flag -> (path in TrainConfig, value); a path is a field name or "model_kwargs.slots"-style
Given = dict[str, tuple[str, Any]]

_MISSING = object()


def _default_of(owner: Any, key: str) -> Any:
    """The default of keyword ``key`` of a model builder (or of the class it returns)."""
    target = owner
    if inspect.isfunction(owner):
        target = typing.get_type_hints(owner).get("return", owner)
    try:
        parameter = inspect.signature(target).parameters.get(key)
    except (TypeError, ValueError):
        return _MISSING
    return _MISSING if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def stored_value(config: TrainConfig, path: str) -> Any:
    """The value ``config`` holds at ``path``; a model kwarg or distiller option left out means its default."""
    if "." not in path:
        return getattr(config, path)
    field, key = path.split(".", 1)
    values = getattr(config, field)
    if key in values:
        return values[key]
    if field == "model_kwargs":
        return _default_of(MODELS.get(config.model), key)
    return option_defaults(DISTILLERS.get(config.distiller)).get(key, _MISSING)  # distill_options


def _same(path: str, a: Any, b: Any) -> bool:
    if path in ("data", "teacher") and a is not None and b is not None:
        return Path(a).resolve() == Path(b).resolve()
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return bool(a == b)


def _assign(config: TrainConfig, path: str, value: Any) -> None:
    if "." in path:
        field, key = path.split(".", 1)
        setattr(config, field, {**getattr(config, field), key: value})
    else:
        setattr(config, path, value)


def require_last(out: str | Path) -> Path:
    """RUN/last.pt, or CheckpointError saying there is nothing to resume."""
    last = Path(out) / "last.pt"
    if not last.is_file():
        raise CheckpointError(f"nothing to resume: {last} does not exist. Start the run without --resume "
                              "(and with --model/--student and --data).")
    return last


def stored_run(out: str | Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The stored settings and the payload of RUN/last.pt (CheckpointError if there is none)."""
    payload = load_checkpoint(require_last(out))
    return TrainConfig.from_dict(payload["train"]["config"]), payload


def merge(stored: TrainConfig, given: Given, out: str | Path, reached: int) -> TrainConfig:
    """``stored`` with the allowed options of ``given`` applied; ConfigError listing every conflict."""
    config = TrainConfig.from_dict(stored.to_dict())
    config.out = str(out)
    conflicts, changed = [], []
    for flag, (path, value) in sorted(given.items()):
        old = stored_value(stored, path)
        if value is None or _same(path, value, old):
            continue
        if path in FREE:
            _assign(config, path, value)
        elif path in CHANGES_RESULT:
            _assign(config, path, value)
            changed.append(f"{flag} {value} (was {old})")
        elif path == "data" and not Path(str(old)).exists():
            log.warning("the run's dataset %s no longer exists; continuing with --data %s", old, value)
            _assign(config, path, str(Path(value).resolve()))
        else:
            shown = repr(old) if old is not _MISSING else (
                f"--distiller {stored.distiller}, which has no such option" if path.startswith("distill_options.") else "the model's default")
            conflicts.append(f"{flag} {value!r} (the run has {shown})")
    if conflicts:
        raise ConfigError(f"--resume continues {out} with the settings it was started with, and these options contradict "
                          f"them: {'; '.join(conflicts)}. Drop them to resume, or start a new run with another --out.")
    if config.steps < reached:
        raise ConfigError(f"{out} has already reached step {reached}; --steps {config.steps} would end before it. "
                          f"Give --steps >= {reached} (or leave it out).")
    if changed:
        log.warning("resuming %s with %s: the result will differ from an uninterrupted run", out, ", ".join(changed))
    if not Path(config.data).exists():
        raise ConfigError(f"the run's dataset {config.data} does not exist any more; pass --data with its new location.")
    return config


def given_from_config(config: TrainConfig) -> Given:
    """Every setting of a library caller's ``config`` as if given on the command line (threads unset = stored)."""
    given: Given = {}
    for name, value in config.to_dict().items():
        if name == "out" or (name == "threads" and value is None):
            continue
        given[f"--{name.replace('_', '-')}"] = (name, value)
    return given
