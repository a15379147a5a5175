"""``mobileseg train``: supervised training (a teacher, or a student baseline without KD)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from mobileseg.cli.types import SIZE
from mobileseg.errors import ConfigError
from mobileseg.models import MODELS, ROLES
from mobileseg.train.config import OPTIMIZERS, SCHEDULES, TrainConfig
from mobileseg.train.loop import resume_run, train

_D = TrainConfig(model="", data="", out="")
DETERMINISTIC_HELP = ("Bit-identical runs on this machine at a given thread count: the same command gives the same weights, and "
                      "a killed run resumed with --resume ends like an uninterrupted one (see README, Reproducibility). "
                      "Costs about 6% of training speed (0.94x the clips/s of --no-deterministic on a 2-core Xeon; "
                      "benchmarks/README.md, determinism). On CUDA, kernels without a deterministic version warn instead.")


TEACHER_FLAGS = {"memory_every": "--memory-every", "top_k": "--top-k", "include_last": "--include-last"}


def model_kwargs(model: str, slots: int | None, pin_first: bool | None, teacher: dict[str, Any] | None = None) -> dict[str, Any]:
    """Architecture options of the CLI turned into builder kwargs, checked against the model's role.

    ``teacher``: the teacher tracker's options by builder keyword (None = not given); ``top_k`` 0 = every position.
    """
    MODELS.get(model)
    role = ROLES[model]
    kwargs: dict[str, Any] = {}
    given = {name: value for name, value in (teacher or {}).items() if value is not None}
    if role == "student":
        if given:
            flags = ", ".join(TEACHER_FLAGS[name] for name in given)
            raise ConfigError(f"{flags}: teacher options; {model} is a student (use --slots / --no-pin-first).")
        if slots is not None:
            kwargs["slots"] = slots
        if pin_first is not None:
            kwargs["pin_first"] = pin_first
    else:
        if slots is not None or pin_first is not None:
            raise ConfigError(f"--slots / --pin-first are student options; {model} is a teacher with unbounded memory.")
        kwargs.update(given)
        if kwargs.get("top_k") == 0:
            kwargs["top_k"] = None  # read every memory position
    return kwargs


def training_options(poly_epsilon: float = _D.poly_epsilon, clip_frames: int = _D.clip_frames,
                     max_skip: int = _D.max_skip) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options shared by ``train`` and ``distill`` (data, schedule, clips, validation, output), with the
    command's own defaults where they differ (distill: Poly-1, and clips long enough for the teacher's memory)."""
    return lambda func: _add_training_options(func, poly_epsilon, clip_frames, max_skip)


def _add_training_options(func: Callable[..., Any], poly_epsilon: float, clip_frames: int, max_skip: int) -> Callable[..., Any]:
    options = [
        click.option("--data", type=click.Path(path_type=Path), help="Dataset folder (DAVIS 2017 layout, e.g. SynthVOS; YouTube-VOS and DAVIS 2016 work too). Required unless --resume."),
        click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False), help="Run folder: config.json, log.jsonl, last.pt, best.pt."),
        click.option("--resume", is_flag=True, help="Continue the run in --out from last.pt exactly where it stopped, with its stored settings: "
                     "no other option is needed. --steps may extend the run; --lr, --grad-clip, --device and --threads may change "
                     "(the result then differs from an uninterrupted run); any other option must agree with the stored one."),
        click.option("--overwrite", is_flag=True, help="Start the run in an --out that holds files mobileseg did not write "
                     "(files of the same names are replaced). Without it such a folder is refused."),
        click.option("--steps", type=click.IntRange(min=1), default=None, help=f"Optimiser steps.  [default: {_D.steps}]"),
        click.option("--batch-size", default=_D.batch_size, show_default=True, type=click.IntRange(min=1), help="Clips per step (per process under torchrun)."),
        click.option("--lr", default=_D.lr, show_default=True, type=float, help="Peak learning rate."),
        click.option("--weight-decay", default=_D.weight_decay, show_default=True, type=float, help="Weight decay (>= 0)."),
        click.option("--optimizer", default=_D.optimizer, show_default=True, type=click.Choice(OPTIMIZERS), help="AdamW or Adam."),
        click.option("--schedule", default=_D.schedule, show_default=True, type=click.Choice(SCHEDULES), help="Learning-rate decay after warm-up."),
        click.option("--warmup", default=_D.warmup, show_default=True, type=click.IntRange(min=0), help="Linear warm-up steps."),
        click.option("--grad-clip", default=_D.grad_clip, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Clip the gradient norm to this value (the student's; a distiller's own parameters are clipped to it separately)."),
        click.option("--poly-epsilon", default=poly_epsilon, show_default=True, type=float, help="Poly-1 weight: loss = CE + eps * (1 - p_true); 0 is plain cross-entropy."),
        click.option("--bootstrap", default=_D.bootstrap, show_default=True, type=click.FloatRange(0, 1, min_open=True), help="Average the loss over the hardest fraction of pixels per frame (STCN's bootstrapped CE); 1 = every pixel."),
        click.option("--bootstrap-warmup", default=_D.bootstrap_warmup, show_default=True, type=click.IntRange(min=0), help="Steps with the plain mean before bootstrapping starts."),
        click.option("--clip-frames", default=clip_frames, show_default=True, type=click.IntRange(3, 8), help="Frames per training clip."),
        click.option("--max-skip", default=max_skip, show_default=True, type=click.IntRange(min=1), help="Largest gap between consecutive clip frames."),
        click.option("--skip-ramp", default=_D.skip_ramp, show_default=True, type=click.IntRange(min=0), help="Steps over which the largest frame gap grows from 1 to --max-skip (a curriculum; 0 = none)."),
        click.option("--crop", default=f"{_D.crop[0]}x{_D.crop[1]}", show_default=True, type=SIZE, help="Training crop HxW (multiples of 16)."),
        click.option("--crop-scale", default=_D.crop_scale, show_default=True, type=click.Choice(["native", "cover"]), help="Zoom crops around the frame's own scale (native: objects as large as at inference) or around the scale that just covers the crop."),
        click.option("--max-objects", default=_D.max_objects, show_default=True, type=click.IntRange(1, 8), help="Objects per clip (soft-aggregated together)."),
        click.option("--box-init-prob", default=_D.box_init_prob, show_default=True, type=click.FloatRange(0, 1),
                     help="Chance per clip (all its objects together) that the memory starts from each object's bounding box "
                          "instead of its frame-0 mask, as when the app starts tracking from a dragged box. The loss still uses the "
                          "true masks, and a --teacher still starts from them. 0 leaves the clips exactly as without this option."),
        click.option("--val-split", default=_D.val_split, show_default=True, help="Held-out list for periodic J&F."),
        click.option("--train-split", default=_D.train_split, show_default=True, help="List of training sequences."),
        click.option("--val-every", default=_D.val_every, show_default=True, type=click.IntRange(min=0), help="Validate every N steps (and at the end); 0 disables validation (best.pt = final weights)."),
        click.option("--val-size", type=SIZE, default=None, help="Validation input HxW; default: each video's size rounded to multiples of 16."),
        click.option("--val-videos", type=click.IntRange(min=1), default=None, help="Validate on the first N videos only (default: all)."),
        click.option("--bn-batches", default=_D.bn_batches, show_default=True, type=click.IntRange(min=0), help="Batches of training clips that re-estimate batch-norm statistics before each validation (0: keep the running averages)."),
        click.option("--save-every", default=_D.save_every, show_default=True, type=click.IntRange(min=1), help="Write last.pt every N steps."),
        click.option("--seed", default=_D.seed, show_default=True, type=int, help="Seed of the initial weights and of the clip stream."),
        click.option("--workers", default=_D.workers, show_default=True, type=click.IntRange(min=0), help="DataLoader worker processes."),
        click.option("--device", default=_D.device, show_default=True, help="cpu, cuda or cuda:N."),
        click.option("--threads", type=click.IntRange(min=1), default=None, help="CPU threads for training (default: torch's default here, "
                     "usually the number of cores). Stored in the checkpoint and used again by --resume: results are bit-identical "
                     "only at the same thread count."),
        click.option("--deterministic/--no-deterministic", default=_D.deterministic, show_default=True,
                     help=DETERMINISTIC_HELP),
        click.option("--amp", is_flag=True, help="bfloat16 autocast (CUDA only)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_config(model: str, kwargs: dict[str, Any], pretrained: str | None, options: dict[str, Any], **extra: Any) -> TrainConfig:
    return TrainConfig(**extra,
        model=model, data=str(options["data"]), out=str(options["out"]), model_kwargs=kwargs, pretrained=pretrained,
        steps=options["steps"] or _D.steps, batch_size=options["batch_size"], lr=options["lr"], weight_decay=options["weight_decay"],
        optimizer=options["optimizer"], schedule=options["schedule"], warmup=options["warmup"], grad_clip=options["grad_clip"],
        poly_epsilon=options["poly_epsilon"], bootstrap=options["bootstrap"], bootstrap_warmup=options["bootstrap_warmup"], clip_frames=options["clip_frames"], max_skip=options["max_skip"], skip_ramp=options["skip_ramp"],
        crop=options["crop"], crop_scale=options["crop_scale"], max_objects=options["max_objects"], box_init_prob=options["box_init_prob"], val_split=options["val_split"], train_split=options["train_split"],
        val_every=options["val_every"], val_size=options["val_size"], val_videos=options["val_videos"],
        bn_batches=options["bn_batches"], save_every=options["save_every"], seed=options["seed"], workers=options["workers"], device=options["device"], amp=options["amp"],
        threads=options["threads"], deterministic=options["deterministic"],
    )


# options whose TrainConfig field has another name; the rest map to the field of the same name
RENAMED = {"model": "model", "student": "model", "slots": "model_kwargs.slots", "pin_first": "model_kwargs.pin_first",
           "memory_every": "model_kwargs.memory_every", "top_k": "model_kwargs.top_k", "include_last": "model_kwargs.include_last"}
NOT_SETTINGS = frozenset({"out", "resume", "overwrite"})


def given_options(ctx: click.Context, options: dict[str, Any], renamed: dict[str, str] | None = None) -> dict[str, tuple[str, Any]]:
    """The options typed on the command line (not defaults), as ``{--flag: (TrainConfig path, value)}`` for --resume."""
    names = {**RENAMED, **(renamed or {})}
    given = {}
    for param in ctx.command.get_params(ctx):  # with the flags a command generates (distill: the distillers' options)
        name = param.name
        if name is None or name in NOT_SETTINGS or ctx.get_parameter_source(name) not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        value = options[name]
        given[param.opts[0]] = (names.get(name, name), str(value) if isinstance(value, Path) else value)
    return given


def require_for_new_run(**values: Any) -> None:
    """A new run (no --resume) needs these options; say which are missing."""
    missing = [f"--{name.replace('_', '-')}" for name, value in values.items() if value is None]
    if missing:
        raise click.UsageError(f"Missing option {' and '.join(missing)} (needed to start a run; with --resume the stored settings are used).")


class ModelOption(click.Option):
    """``--model``: its help lists the registered networks, read only when help is shown."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = "Registered network: " + ", ".join(f"{n} ({ROLES[n]})" for n in MODELS.names()) + "."
        return super().get_help_record(ctx)


@click.command("train")
@click.option("--model", cls=ModelOption, help="Registered network.")
@click.option("--pretrained", default=None, help="Backbone weights: 'imagenet' (torchvision, needs the network or its hub cache) or a folder holding torchvision's .pth files.")
@click.option("--slots", type=click.IntRange(min=1), default=None, help="Student memory slots (default 2).")
@click.option("--pin-first/--no-pin-first", default=None, help="Student: keep the first frame in slot 0 (default) or use a pure FIFO.")
@click.option("--memory-every", type=click.IntRange(min=1), default=None, help="Teacher tracker: add every N-th frame to memory (default 5).")
@click.option("--top-k", type=click.IntRange(min=0), default=None,
              help="Teacher in eval mode (tracking, validation, distillation): each pixel reads its K most similar memory "
                   "positions, as STCN's evaluation does (default 20); 0 reads every position. Training reads every position.")
@click.option("--include-last/--no-include-last", default=None,
              help="Teacher tracker: also read the previous frame as a temporary memory entry (STCN's option; default off, as "
                   "in STCN's evaluation).")
@training_options()
@click.pass_context
def train_command(ctx: click.Context, model: str | None, pretrained: str | None, slots: int | None, pin_first: bool | None,
                  memory_every: int | None, top_k: int | None, include_last: bool | None, **options: Any) -> None:
    """Train a network on video clips, frame by frame through its own memory.

    Each clip is a few frames of one video (random crops, flips, affine and colour jitter);
    frame 0 gives the masks and every later frame is segmented from the memory the network
    built so far. Validation J&F on a held-out split picks best.pt; last.pt allows --resume.

    Resume a killed run with only its folder: mobileseg train --out RUN --resume

    Distributed: torchrun --nproc_per_node N -m mobileseg train ...
    """

    if options["resume"]:
        result = resume_run(options["out"], given_options(ctx, ctx.params))
    else:
        require_for_new_run(model=model, data=options["data"])
        assert model is not None
        result = train(build_config(model, model_kwargs(model, slots, pin_first, {"memory_every": memory_every, "top_k": top_k, "include_last": include_last}), pretrained, options), overwrite=options["overwrite"])
    best = f"{result.best_score:.4f}" if result.best_score is not None else "n/a"
    click.echo(f"trained {result.config.model} for {result.step} steps in {result.seconds:.0f} s; best val J&F {best}\n"
               f"best: {result.best}\nlast: {result.last}")
