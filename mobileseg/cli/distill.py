"""``mobileseg distill``: a student taught by a frozen teacher (or the no-KD baseline)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from mobileseg.cli.train import ModelOption, build_config, given_options, model_kwargs, require_for_new_run, training_options
from mobileseg.errors import ConfigError
from mobileseg.distill import DISTILLERS, option_defaults, describe
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
    """An option of one or more distillers (a keyword of their ``__init__``); the help names them."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        owners = ", ".join(_owners(self.name or ""))
        if not getattr(self, "_prefixed", False):
            self.help, self._prefixed = f"[{owners}] {self.help or ''}", True
        return super().get_help_record(ctx)


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
    given = {name for name in DISTILL_OPTIONS if ctx.get_parameter_source(name) in GIVEN}
    stray = sorted(given - set(defaults))
    if stray:
        takes = ", ".join(_flag(name) for name in defaults) or "no options"
        owners = "; ".join(f"{_flag(name)}: {', '.join(_owners(name))}" for name in stray)
        raise ConfigError(f"--distiller {distiller} does not take {', '.join(map(_flag, stray))} (it takes {takes}). "
                          f"Drop {'it' if len(stray) == 1 else 'them'}, or choose a distiller that has {'it' if len(stray) == 1 else 'them'} ({owners}).")
    return {name: values[name] if name in given else default for name, default in defaults.items()}


@click.command("distill")
@click.option("--teacher", type=click.Path(path_type=Path, dir_okay=False),
              help="Frozen teacher: a teacher checkpoint from `mobileseg train` or the STCN authors' stcn.pth.")
@click.option("--student", cls=ModelOption, help="Registered student network. Required unless --resume.")
@click.option("--distiller", cls=DistillerOption, default="mobilevos", show_default=True)
@click.option("--omega", cls=DistillOption, default=0.95, show_default=True, type=click.FloatRange(0, 1),
              help="Target C = omega * C_teacher + (1 - omega) * Y Y^T: 1 = pure distillation, 0 = supervised pixel-wise contrastive learning.")
@click.option("--tau", cls=DistillOption, default=0.1, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Temperature. mobilevos: of the boundary logit KL; cirkd: of the pixel-relation softmaxes.")
@click.option("--samples", cls=DistillOption, default=256, show_default=True, type=click.IntRange(min=2), help="Pixels per object-frame that enter the distillation losses.")
@click.option("--dilation", cls=DistillOption, default=1, show_default=True, type=click.IntRange(min=0), help="Grow the boundary by this many pixels (stride-4 map) before sampling.")
@click.option("--sampling", cls=DistillOption, default="boundary", show_default=True, type=click.Choice(["boundary", "random"]),
              help="boundary: pixels on the object boundary, topped up at random; random: anywhere (ablation).")
@click.option("--repr-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the representation loss (the paper's formula has a 1/N; from scratch at small budgets --repr-weight 256 = N worked better, see benchmarks/README.md).")
@click.option("--logit-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the logit distillation. mobilevos: at boundary pixels (at tau 0.1 its gradient is ~9x the Poly-1 loss's; --logit-weight 0.01 = tau^2, Hinton's scaling, worked better from scratch, see benchmarks/README.md); cirkd, online, tdnet: the KD over every labelled pixel, at --logit-tau (tdnet: the paper's alpha).")
@click.option("--anchors", cls=DistillOption, default=256, show_default=True, type=click.IntRange(min=2), help="Random pixels per object-frame whose relations are distilled (the paper: every pixel).")
@click.option("--batch-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the mini-batch pixel-to-pixel relations across every pair of object-frames (0 = off).")
@click.option("--pixel-weight", cls=DistillOption, default=0.1, show_default=True, type=click.FloatRange(min=0), help="Weight of the pixel-to-pixel relations against the memory bank of teacher pixels (0 = off, no bank).")
@click.option("--region-weight", cls=DistillOption, default=0.1, show_default=True, type=click.FloatRange(min=0), help="Weight of the pixel-to-region relations against the memory bank of teacher region means (0 = off, no bank).")
@click.option("--pixel-queue", cls=DistillOption, default=20000, show_default=True, type=click.IntRange(min=1), help="Teacher pixel embeddings kept per class (background, object).")
@click.option("--region-queue", cls=DistillOption, default=2000, show_default=True, type=click.IntRange(min=1), help="Teacher region embeddings kept per class.")
@click.option("--pixel-samples", cls=DistillOption, default=4096, show_default=True, type=click.IntRange(min=1), help="Pixel-bank entries drawn per class each step.")
@click.option("--region-samples", cls=DistillOption, default=1024, show_default=True, type=click.IntRange(min=1), help="Region-bank entries drawn per class each step.")
@click.option("--pixel-enqueue", cls=DistillOption, default=16, show_default=True, type=click.IntRange(min=1), help="Teacher pixels each object-frame pushes per class each step.")
@click.option("--logit-tau", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Temperature of the logit KD (the loss is scaled by its square); tdnet: of the grouped KD too.")
@click.option("--label-dim", cls=DistillOption, default=256, show_default=True, type=click.IntRange(min=1), help="Width of the label, appearance and attended object embeddings (a multiple of --heads).")
@click.option("--heads", cls=DistillOption, default=8, show_default=True, type=click.IntRange(min=1), help="Heads of the inter-object relation attention (appearance queries, label keys and values).")
@click.option("--mask-size", cls=DistillOption, default=7, show_default=True, type=click.IntRange(min=0), help="Each object's mask inside its box as an m x m grid in its label descriptor (0 = box, presence and identity only).")
@click.option("--paint-region", cls=DistillOption, default="mask", show_default=True, type=click.Choice(["mask", "box"]),
              help="Where each object's attended embedding is painted on the teacher's map: its mask, or its box (the paper's detection setting).")
@click.option("--distill-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight (lambda) of the MSE between the instance-normalised adapted student readout and teacher features (0 = off).")
@click.option("--teacher-seg-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Weight of the teacher's own segmentation loss. lgd: of the label-guided teacher, decoded by the student's (shared) decoder; online: of the teacher trained beside the student.")
@click.option("--detach-fraction", cls=DistillOption, default=0.33, show_default=True, type=click.FloatRange(0, 1), help="Early phase as a fraction of --steps: the distillation term trains only its adapter, not the student (the paper: 30k of 90k iterations).")
@click.option("--detach-appearance", cls=DistillOption, default=True, show_default=True, type=bool, help="true: the teacher's segmentation loss does not reach the student's readout through the appearance embeddings; false: it does.")
@click.option("--online-teacher", cls=DistillOption, default="stcn_r50_r18_small", show_default=True, help="Registered network trained from scratch as the teacher, beside the student.")
@click.option("--adaptive-rate", cls=DistillOption, default=True, show_default=True, type=bool, help="true: every distillation term is weighted per pixel by how much of the student's loss the teacher has removed there (0 where the teacher is no better); false: weight 1.")
@click.option("--fusion", cls=DistillOption, default=True, show_default=True, type=bool, help="Space-Time Feature Fusion: the student's matched feature gets each object's appearance and position from its memory frames (training only).")
@click.option("--smooth-block", cls=DistillOption, default=True, show_default=True, type=bool, help="true: the adapter to the teacher's width has a residual depthwise 3x3 smoothing branch; false: a 1x1 conv only.")
@click.option("--adversarial-weight", cls=DistillOption, default=0.1, show_default=True, type=click.FloatRange(min=0), help="Weight of the feature discriminator's loss and of the student's loss for fooling it (0 = no discriminator).")
@click.option("--feature-weight", cls=DistillOption, default=1.0, show_default=True, type=click.FloatRange(min=0), help="Weight of the feature matching between the adapted student and the teacher (0 = off).")
@click.option("--group-weight", cls=DistillOption, default=0.5, show_default=True, type=click.FloatRange(min=0), help="Weight (beta) of the grouped KD: each sub-network's stride-8 feature against its group of the teacher's channels (0 = off).")
@click.option("--pretrained", default=None, help="Student backbone weights: 'imagenet' or a folder of torchvision .pth files.")
@click.option("--slots", type=click.IntRange(min=1), default=None, help="Student memory slots (default 2).")
@click.option("--pin-first/--no-pin-first", default=None, help="Keep the first frame in slot 0 (default) or use a pure FIFO.")
@training_options(poly_epsilon=1.0)
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
    Same checkpoints (last.pt also holds a distiller's head, banks, label-guided modules or online teacher),
    --resume, torchrun and progress as `mobileseg train`.
    """

    values = {name: options.pop(name) for name in DISTILL_OPTIONS}
    if options["resume"]:
        renamed = {name: f"distill_options.{name}" for name in DISTILL_OPTIONS}
        _report(resume_run(options["out"], given_options(ctx, {**ctx.params}, renamed)))
        return
    require_for_new_run(student=student, data=options["data"])
    assert student is not None

    chosen = distiller_options(ctx, distiller, values)
    try:
        needs_teacher = DISTILLERS.get(distiller)(**chosen).needs_teacher
    except ValueError as exc:
        raise ConfigError(f"--distiller {distiller}: {exc}") from None
    if needs_teacher and teacher is None:
        raise ConfigError(f"--distiller {distiller} needs --teacher (a teacher checkpoint or STCN's stcn.pth); "
                          "or use --distiller none for the baseline.")
    if not needs_teacher and teacher is not None:  # ignoring it would let a user believe the teacher taught the student
        raise ConfigError(f"--distiller {distiller} (with the options given) uses no teacher checkpoint, but --teacher {teacher} was given. Drop --teacher, "
                          "or choose a distiller that learns from one (mobilevos, cirkd, tdnet).")
    config = build_config(student, model_kwargs(student, slots, pin_first, None), pretrained, options,
                          teacher=str(teacher) if teacher is not None and needs_teacher else None,
                          distiller=distiller, distill_options=chosen)
    _report(train(config, overwrite=options["overwrite"]))


# every distiller option has one flag, shared by the methods that take an option of that name
DISTILL_OPTIONS = tuple(p.name for p in distill_command.params if isinstance(p, DistillOption) and p.name)


def _report(result: "TrainResult") -> None:
    best = f"{result.best_score:.4f}" if result.best_score is not None else "n/a"
    click.echo(f"{'distilled' if result.config.distiller != 'none' else 'trained'} {result.config.model} for {result.step} steps in {result.seconds:.0f} s; "
               f"best val J&F {best}\nbest: {result.best}\nlast: {result.last}")
