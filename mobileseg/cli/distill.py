"""``mobileseg distill``: a student taught by a frozen teacher (or the no-KD baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mobileseg.cli.train import ModelOption, build_config, given_options, model_kwargs, require_for_new_run, training_options
from mobileseg.errors import ConfigError

if TYPE_CHECKING:
    from mobileseg.train.loop import TrainResult

DISTILL_OPTIONS = ("omega", "tau", "samples", "dilation", "sampling", "repr_weight", "logit_weight")


@click.command("distill")
@click.option("--teacher", type=click.Path(path_type=Path, dir_okay=False),
              help="Frozen teacher: a teacher checkpoint from `mobileseg train` or the STCN authors' stcn.pth.")
@click.option("--student", cls=ModelOption, help="Registered student network. Required unless --resume.")
@click.option("--distiller", default="mobilevos", show_default=True, type=click.Choice(["mobilevos", "none"]),
              help="mobilevos: representation + boundary logit distillation; none: the supervised baseline with identical settings.")
@click.option("--omega", default=0.95, show_default=True, type=click.FloatRange(0, 1),
              help="Target C = omega * C_teacher + (1 - omega) * Y Y^T: 1 = pure distillation, 0 = supervised pixel-wise contrastive learning.")
@click.option("--tau", default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Temperature of the boundary logit KL.")
@click.option("--samples", default=256, show_default=True, type=click.IntRange(min=2), help="Pixels per object-frame that enter the distillation losses.")
@click.option("--dilation", default=1, show_default=True, type=click.IntRange(min=0), help="Grow the boundary by this many pixels (stride-4 map) before sampling.")
@click.option("--sampling", default="boundary", show_default=True, type=click.Choice(["boundary", "random"]),
              help="boundary: pixels on the object boundary, topped up at random; random: anywhere (ablation).")
@click.option("--repr-weight", default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the representation loss (the paper's formula has a 1/N; from scratch at small budgets --repr-weight 256 = N worked better, see benchmarks/README.md).")
@click.option("--logit-weight", default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the boundary logit distillation (at tau 0.1 its gradient is ~9x the Poly-1 loss's; --logit-weight 0.01 = tau^2, Hinton's scaling, worked better from scratch, see benchmarks/README.md).")
@click.option("--pretrained", default=None, help="Student backbone weights: 'imagenet' or a folder of torchvision .pth files.")
@click.option("--slots", type=click.IntRange(min=1), default=None, help="Student memory slots (default 2).")
@click.option("--pin-first/--no-pin-first", default=None, help="Keep the first frame in slot 0 (default) or use a pure FIFO.")
@training_options(poly_epsilon=1.0)
@click.pass_context
def distill_command(ctx: click.Context, teacher: Path | None, student: str | None, distiller: str, omega: float, tau: float, samples: int, dilation: int,
                    sampling: str, repr_weight: float, logit_weight: float, pretrained: str | None, slots: int | None,
                    pin_first: bool | None, **options: Any) -> None:
    """Train a student with a fixed two-slot memory, taught by a frozen unbounded-memory teacher.

    The teacher runs over the same clips with its own memory (every earlier frame); the student
    with its slots. MobileVOS matches their per-pixel representations at boundary pixels
    (order-2 Renyi mutual information with the label-coupled target), adds a KL on the class
    logits at the same pixels and Poly-1 cross-entropy. Same checkpoints, --resume, torchrun and
    progress as `mobileseg train`.
    """
    from mobileseg.train.loop import resume_run, train

    if options["resume"]:
        renamed = {name: f"distill_options.{name}" for name in DISTILL_OPTIONS}
        _report(resume_run(options["out"], given_options(ctx, ctx.params, renamed)))
        return
    require_for_new_run(student=student, data=options["data"])
    assert student is not None
    if distiller != "none" and teacher is None:
        raise ConfigError(f"--distiller {distiller} needs --teacher (a teacher checkpoint or STCN's stcn.pth); "
                          "or use --distiller none for the baseline.")
    values = dict(omega=omega, tau=tau, samples=samples, dilation=dilation, sampling=sampling, repr_weight=repr_weight, logit_weight=logit_weight)
    options_of = {"mobilevos": {name: values[name] for name in DISTILL_OPTIONS}, "none": {}}[distiller]
    config = build_config(student, model_kwargs(student, slots, pin_first, None), pretrained, options,
                          teacher=str(teacher) if teacher is not None and distiller != "none" else None,
                          distiller=distiller, distill_options=options_of)
    _report(train(config))


def _report(result: "TrainResult") -> None:
    best = f"{result.best_score:.4f}" if result.best_score is not None else "n/a"
    click.echo(f"{'distilled' if result.config.distiller != 'none' else 'trained'} {result.config.model} for {result.step} steps in {result.seconds:.0f} s; "
               f"best val J&F {best}\nbest: {result.best}\nlast: {result.last}")
