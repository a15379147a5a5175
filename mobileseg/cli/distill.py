"""``mobileseg distill``: a student taught by a frozen teacher (or the no-KD baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from mobileseg.cli.train import ModelOption, build_config, given_options, model_kwargs, require_for_new_run, training_options
from mobileseg.distill import DISTILLERS, OptionSpec, describe, option_defaults, option_specs
from mobileseg.errors import ConfigError
from mobileseg.train.config import DISTILL_CLIP_FRAMES, DISTILL_MAX_SKIP
from mobileseg.train.loop import resume_run, train

if TYPE_CHECKING:
    from mobileseg.train.loop import TrainResult

GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


class DistillerOption(click.Option):
    """``--distiller``: its help lists every registered method with its one-line description."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        lines = [f"{name}: {describe(DISTILLERS.get(name))}." for name in DISTILLERS.names()]
        self.help = "Distillation method, one of the registered:\n\n" + "\n\n".join(lines)
        return super().get_help_record(ctx)


class DistillOption(click.Option):
    """A flag made from the option of that name of every registered distiller that has one (``owners``)."""

    def __init__(self, name: str, owned: list[tuple[str, OptionSpec]]) -> None:
        specs = [spec for _, spec in owned]
        same = all(spec.default == specs[0].default and type(spec.default) is type(specs[0].default) for spec in specs)
        self.owners = sorted(method for method, _ in owned)
        super().__init__([_flag(name)], default=specs[0].default if same else None, show_default=same,
                         type=_click_type(specs), help=f"[{', '.join(self.owners)}] {_help(owned, same)}")


def _click_type(specs: list[OptionSpec]) -> click.ParamType:
    """The flag's type: the option's own (with its range or choices) when every owner declares the same,
    else the plain type and each method checks its values itself."""
    first = specs[0]
    if any((spec.type, spec.allowed) != (first.type, first.allowed) for spec in specs):
        kinds = {spec.type for spec in specs}
        return click.FLOAT if kinds == {int, float} else click.STRING if len(kinds) > 1 else click.types.convert_type(first.type)
    allowed = first.allowed
    if allowed.choices is not None:
        return click.Choice(list(allowed.choices))
    if first.type in (int, float) and (allowed.low is not None or allowed.high is not None):
        if first.type is int:
            return click.IntRange(min=None if allowed.low is None else int(allowed.low), max=None if allowed.high is None else int(allowed.high),
                                  min_open=allowed.low_open, max_open=allowed.high_open)
        return click.FloatRange(min=allowed.low, max=allowed.high, min_open=allowed.low_open, max_open=allowed.high_open)
    return click.types.convert_type(first.type)


def _help(owned: list[tuple[str, OptionSpec]], same_default: bool) -> str:
    """One help text, or each owner's (grouped where equal, with its default where the defaults differ)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for method, spec in sorted(owned, key=lambda item: item[0]):
        groups.setdefault((spec.help, "" if same_default else f" (default {spec.default})"), []).append(method)
    if len(groups) == 1 and same_default:
        return owned[0][1].help
    return " ".join(f"{', '.join(methods)}{default}: {text}" for (text, default), methods in groups.items())


_FLAGS: dict[tuple[tuple[str, type], ...], list[DistillOption]] = {}


def distill_flags(taken: frozenset[str] = frozenset()) -> list[DistillOption]:
    """One flag per option name of the registered distillers, in registration order (made again when the
    registry changes, so a method registered later has its flags). ``taken``: the command's own names."""
    key = tuple((name, DISTILLERS.get(name)) for name in DISTILLERS.in_order())
    if key not in _FLAGS:
        owned: dict[str, list[tuple[str, OptionSpec]]] = {}
        for name, method in key:
            for spec in option_specs(method):
                owned.setdefault(spec.name, []).append((name, spec))
        clash = sorted(set(owned) & taken)
        if clash:
            raise TypeError(f"distiller options {', '.join(clash)} ({'; '.join(f'{n}: {m}' for n in clash for m, _ in owned[n])}) "
                            f"have the names of `mobileseg distill` options; rename them")
        _FLAGS.clear()
        _FLAGS[key] = [DistillOption(name, methods) for name, methods in owned.items()]
    return _FLAGS[key]


class DistillCommand(click.Command):
    """``mobileseg distill``: after ``--distiller``, the flags of the registered methods' options, made when the
    parameters are listed (parsing, help, --resume), not when the module is imported."""

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        at = next(i for i, p in enumerate(params) if p.name == "distiller") + 1
        return [*params[:at], *distill_flags(frozenset(p.name for p in params if p.name)), *params[at:]]


def _owners(name: str) -> list[str]:
    """The registered distillers that take option ``name``."""
    return [d for d in DISTILLERS.names() if name in option_defaults(DISTILLERS.get(d))]


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def distiller_options(ctx: click.Context, distiller: str, values: dict[str, Any]) -> dict[str, Any]:
    """The options of ``distiller``: typed on the command line, else the method's own defaults.

    An option typed for a method that does not take it is an error (it would otherwise be ignored).
    """
    defaults = option_defaults(DISTILLERS.get(distiller))
    given = {name for name in values if ctx.get_parameter_source(name) in GIVEN}
    stray = sorted(given - set(defaults))
    if stray:
        takes = ", ".join(_flag(name) for name in defaults) or "no options"
        owners = "; ".join(f"{_flag(name)}: {', '.join(_owners(name))}" for name in stray)
        raise ConfigError(f"--distiller {distiller} does not take {', '.join(map(_flag, stray))} (it takes {takes}). "
                          f"Drop {'it' if len(stray) == 1 else 'them'}, or choose a distiller that has {'it' if len(stray) == 1 else 'them'} ({owners}).")
    return {name: values[name] if name in given else default for name, default in defaults.items()}


@click.command("distill", cls=DistillCommand)
@click.option("--teacher", type=click.Path(path_type=Path, dir_okay=False),
              help="Frozen teacher: a teacher checkpoint from `mobileseg train` or the STCN authors' stcn.pth.")
@click.option("--student", cls=ModelOption, help="Registered student network. Required unless --resume.")
@click.option("--distiller", cls=DistillerOption, default="mobilevos", show_default=True)
@click.option("--pretrained", default=None, help="Student backbone weights: 'imagenet' or a folder of torchvision .pth files.")
@click.option("--slots", type=click.IntRange(min=1), default=None, help="Student memory slots (default 2).")
@click.option("--pin-first/--no-pin-first", default=None, help="Keep the first frame in slot 0 (default) or use a pure FIFO.")
@training_options(poly_epsilon=1.0, clip_frames=DISTILL_CLIP_FRAMES, max_skip=DISTILL_MAX_SKIP)
@click.pass_context
def distill_command(ctx: click.Context, teacher: Path | None, student: str | None, distiller: str, pretrained: str | None,
                    slots: int | None, pin_first: bool | None, **options: Any) -> None:
    """Train a student with a fixed two-slot memory, taught by a frozen unbounded-memory teacher.

    The teacher runs over the same clips with its own memory (every earlier frame); the student
    with its slots. --distiller picks the method: mobilevos matches their per-pixel
    representations at boundary pixels (order-2 Renyi mutual information with the label-coupled
    target) and adds a KL on the class logits there; cirkd distils pixel relations across images
    (mini-batch and memory banks); lgd needs no --teacher: it trains a label-guided teacher from
    the ground truth and the student's own features alongside the student; online needs no
    --teacher either: it trains a teacher network from scratch beside the student and distils
    from it as it learns; tdnet (for tdnet_* students) teaches each sub-network its group of
    the teacher's channels and the fused output the teacher's logits; none is the baseline.
    Poly-1 cross-entropy in every case. Each method's options are marked with its name below.
    Clips default to 8 frames with gaps up to 10 (train's: 3 frames, gaps up to 5): at clip frame t the
    teacher reads every earlier frame and the student its slots, so on clips of slots + 1 frames or
    fewer both read the same frames (a warning says so).
    Same checkpoints (last.pt also holds a distiller's head, banks, label-guided modules or online teacher),
    --resume, torchrun and progress as `mobileseg train`.
    """

    names = [p.name for p in ctx.command.get_params(ctx) if isinstance(p, DistillOption) and p.name]
    values = {name: options.pop(name) for name in names}
    if options["resume"]:
        renamed = {name: f"distill_options.{name}" for name in names}
        _report(resume_run(options["out"], given_options(ctx, {**ctx.params}, renamed)))
        return
    require_for_new_run(student=student, data=options["data"])
    assert student is not None

    chosen = distiller_options(ctx, distiller, values)
    needs_teacher = DISTILLERS.get(distiller)(**chosen).teacher_mode == "checkpoint"  # ConfigError on a bad option
    if needs_teacher and teacher is None:
        raise ConfigError(f"--distiller {distiller} needs --teacher (a teacher checkpoint or STCN's stcn.pth); "
                          "or use --distiller none for the baseline.")
    if not needs_teacher and teacher is not None:  # ignoring it would let a user believe the teacher taught the student
        learners = ", ".join(name for name in DISTILLERS.in_order() if DISTILLERS.get(name)().teacher_mode == "checkpoint")
        raise ConfigError(f"--distiller {distiller} (with the options given) uses no teacher checkpoint, but --teacher {teacher} was given. Drop --teacher, "
                          f"or choose a distiller that learns from one ({learners}).")
    config = build_config(student, model_kwargs(student, slots, pin_first), pretrained, options,
                          teacher=str(teacher) if teacher is not None else None, distiller=distiller, distill_options=chosen)
    _report(train(config, overwrite=options["overwrite"]))


def _report(result: TrainResult) -> None:
    best = f"{result.best_score:.4f}" if result.best_score is not None else "n/a"
    click.echo(f"{'distilled' if result.config.distiller != 'none' else 'trained'} {result.config.model} for {result.step} steps in {result.seconds:.0f} s; "
               f"best val J&F {best}\nbest: {result.best}\nlast: {result.last}")
