"""``mobileseg train``: supervised training of a registered network on video clips.

Resumable exactly: clips are drawn by index (``mobileseg.data.clips``), the learning rate is a
function of the step, and ``last.pt`` holds the model, optimiser, step, RNG state, history and
the distiller's state (its head and memory banks, if it has any);
``--resume`` continues from it as if the run had never stopped. Distributed with torchrun
(DistributedDataParallel, gloo on CPU, nccl on GPU); rank 0 validates and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler

from mobileseg.checkpoint import (
    load_checkpoint,
    load_distiller_state,
    load_model_state,
    save_checkpoint,
)
from mobileseg.data.clips import ClipDataset
from mobileseg.data.datasets import open_dataset
from mobileseg.data.sequence import VideoDataset
from mobileseg.errors import ConfigError, MobilesegError, OutputError
from mobileseg.eval.predict import predict_dataset
from mobileseg.models import ROLES, NetworkTracker, build_model
from mobileseg.models.base import MemoryNetwork
from mobileseg.models.clip import ClipRunner
from mobileseg.train.config import TrainConfig, learning_rate
from mobileseg.train.distributed import Dist, barrier, mean_over_ranks, setup, teardown
from mobileseg.train.interrupt import StopRequest, TrainingInterrupted, stop_on_signal
from mobileseg.train.objective import Objective
from mobileseg.train.reproducible import Reproducibility, reproducible
from mobileseg.train.resume import (
    Given,
    given_from_config,
    merge,
    require_last,
    stored_run,
)
from mobileseg.utils.fsio import check_free_space, check_writable_folder, write_json_atomic
from mobileseg.utils.lock import folder_lock
from mobileseg.utils.owned import check_claimable, claim_output, owned_by
from mobileseg.utils.progress import progress
from mobileseg.utils.timing import Stopwatch

log = logging.getLogger(__name__)
RUN_KIND = "training run"  # the marker kind of a train/distill --out (mobileseg.utils.owned)


class TrainingError(MobilesegError):
    """Training cannot go on (a diverging loss, an existing run without --resume, ...)."""


class StepSampler(Sampler[int]):
    """Clip indices for steps ``start..steps-1``: step s, rank r takes ``(s*world + r)*batch + j``."""

    def __init__(self, start: int, steps: int, batch: int, env: Dist) -> None:
        self.start, self.steps, self.batch, self.env = start, steps, batch, env

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start, self.steps):
            first = (step * self.env.world + self.env.rank) * self.batch
            yield from range(first, first + self.batch)

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.batch


@dataclass
class RunState:
    step: int = 0
    best: dict[str, Any] = field(default_factory=dict)  # {"score": J&F, "step": s}
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainResult:
    config: TrainConfig
    out: Path
    best: Path
    last: Path
    step: int
    best_score: float | None
    seconds: float


def _set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:  # STCN trains with frozen batch-norm statistics on top of pretrained encoders
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


BN_SEED_OFFSET = 1_000_003  # clips for re-estimating batch-norm statistics come from another stream


@torch.no_grad()
def recalibrate_batchnorm(runner: nn.Module, clips: ClipDataset, batches: int, batch_size: int, device: torch.device) -> None:
    """Re-estimate batch-norm running statistics with the current weights ("precise BN").

    During a short run from scratch the weights move faster than the running averages follow,
    and the stale statistics cost J&F at inference; averaging over ``batches`` fresh batches of
    training clips (a fixed, deterministic stream) removes that lag. Weights are untouched.
    """
    norms = [m for m in runner.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or batches <= 0:
        return
    saved = [(m.momentum, m.training) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration batches
        m.train()
    for b in range(batches):
        samples = [clips[BN_SEED_OFFSET + b * batch_size + j] for j in range(batch_size)]
        batch = {k: torch.stack([s[k] for s in samples]).to(device) for k in samples[0]}
        runner(batch["frames"], batch["masks"], batch["selector"], batch.get("init_masks"), phase=b)
    for m, (momentum, training) in zip(norms, saved):
        m.momentum = momentum
        m.train(training)


def validate(model: MemoryNetwork, dataset: VideoDataset, config: TrainConfig) -> float:
    """J&F-Mean of ``model`` on ``dataset`` through the tracker protocol (as at inference)."""
    with torch.no_grad():
        run = predict_dataset(lambda: NetworkTracker(model), dataset, size=config.val_size, multiple=16,
                              max_videos=config.val_videos, desc="validating")
    assert run.report is not None
    return run.report.summary()["J&F-Mean"]


def _payload(model: MemoryNetwork, config: TrainConfig, state: RunState, optimizer: torch.optim.Optimizer | None,
             distiller: nn.Module | None = None) -> dict[str, Any]:
    """A checkpoint; with ``optimizer`` (last.pt) also what resuming needs: optimiser, RNG, distiller state."""
    train: dict[str, Any] = {"config": config.to_dict(), "step": state.step, "best": state.best, "history": state.history,
                             "reproducibility": Reproducibility(config.threads or torch.get_num_threads(), config.deterministic).record()}
    if optimizer is not None:
        train.update(optimizer=optimizer.state_dict(), rng=torch.get_rng_state())
        if distiller is not None:
            train["distiller"] = {k: v.detach().cpu() for k, v in distiller.state_dict().items()}
    state_dict = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"model": config.model, "role": ROLES[config.model], "model_kwargs": config.model_kwargs,
            "model_state": state_dict, "train": train}


def prepare_run(config: TrainConfig, by: str) -> Literal["finished", "resume", "new"]:
    """What to do with ``config.out`` before training ``config`` again (the quickstart, benchmarks):
    ``finished`` (reuse its best.pt), ``resume`` (a killed run with the same settings) or ``new``.

    ``by`` names the caller: the folder is claimed for it (new, empty, or its own; see
    :mod:`mobileseg.utils.owned`). A run it trained itself with other settings is removed and
    trained again; a run anybody else trained there is refused, never removed.
    """
    run = Path(config.out)
    if not (run / "last.pt").is_file():
        claim_output(run, RUN_KIND, f"the {by}'s run folder", by=by, consent=None)
        return "new"
    stored = load_checkpoint(run / "last.pt")["train"]
    # through from_dict: a run stored before a setting existed has that setting's default
    if TrainConfig.from_dict(stored["config"]).to_dict() != config.resolved().to_dict():
        if not owned_by(run, RUN_KIND, by):
            raise OutputError(f"{run} holds a training run with other settings that the {by} did not write; it is left as it is. "
                              f"Move it away, or give the {by} another --out.")
        log.info("%s was trained by the %s with other settings; training again", run, by)
        shutil.rmtree(run)
        claim_output(run, RUN_KIND, by=by)
        return "new"
    finished = stored["step"] == config.steps and (run / "best.pt").is_file()
    if not finished and not owned_by(run, RUN_KIND, by):  # reusing a finished run only reads it; resuming writes
        raise OutputError(f"{run} holds an unfinished training run that the {by} did not write; the {by} does not resume it. "
                          f"Resume it yourself (mobileseg train --out {run} --resume), move it away, or give the {by} another --out.")
    return "finished" if finished else "resume"


def train(config: TrainConfig, resume: bool = False, overwrite: bool = False) -> TrainResult:
    """Train ``config.model`` into ``config.out``; with ``resume`` continue the run there.

    A resumed run keeps its stored settings; ``config`` must agree with them except where
    :mod:`mobileseg.train.resume` allows a change (``steps`` may extend the run). A new run claims
    ``config.out`` (:func:`mobileseg.utils.owned.claim_output`): a folder holding files mobileseg did
    not write is refused unless ``overwrite``. Training runs
    at ``config.threads`` threads and, with ``config.deterministic``, bit-identically
    (:mod:`mobileseg.train.reproducible`).
    """
    if resume:
        return resume_run(config.out, given_from_config(config))
    config.check()
    config = config.resolved()
    check_writable_folder(config.out, "--out")
    last = Path(config.out) / "last.pt"
    if last.exists():
        raise TrainingError(f"{config.out} already holds a run ({last}); pass --resume to continue it, or choose another --out.")
    if not overwrite:  # before the lock file is written into a folder that may be a user's
        check_claimable(config.out, RUN_KIND)
    with _run_lock(config.out):
        if os.environ.get("RANK", "0") == "0":  # under torchrun the writing rank claims the folder
            claim_output(config.out, RUN_KIND, overwrite=overwrite)
        return _run(config, None)


def resume_run(out: str | Path, given: Given | None = None) -> TrainResult:
    """Continue the run in ``out`` from its last.pt with its stored settings and the allowed ``given`` options."""
    require_last(out)
    check_writable_folder(out, "--out")
    with _run_lock(out):
        stored, payload = stored_run(out)
        config = merge(stored, given or {}, out, payload["train"]["step"])
        config.check()
        return _run(config, payload)


def _run_lock(out: str | Path) -> contextlib.AbstractContextManager[object]:
    """RUN/.lock for the whole run, so a second run on the same folder fails at once. Under torchrun
    only rank 0 (the one that writes) takes it."""
    return folder_lock(out, "--out") if os.environ.get("RANK", "0") == "0" else contextlib.nullcontext()


def _run(config: TrainConfig, payload: dict[str, Any] | None) -> TrainResult:
    env = setup(config.device)
    try:
        with reproducible(Reproducibility(config.threads or torch.get_num_threads(), config.deterministic), config.device.startswith("cuda")):
            return _train(config, payload, env)
    finally:
        teardown(env)


def _train(config: TrainConfig, payload: dict[str, Any] | None, env: Dist) -> TrainResult:
    began = Stopwatch()
    out = Path(config.out)
    device = torch.device(f"cuda:{env.local_rank}" if config.device.startswith("cuda") else config.device)
    torch.manual_seed(config.seed)
    try:
        model = build_model(config.model, pretrained=config.pretrained, **config.model_kwargs).to(device)
    except ValueError as exc:  # an architecture setting the network refuses (--slots 1 with the first frame pinned, ...)
        raise ConfigError(f"--model {config.model} with {config.model_kwargs or 'its defaults'}"
                          f"{f' and --pretrained {config.pretrained}' if config.pretrained else ''}: {exc}") from None
    if env.main:  # room for last.pt (weights, optimiser moments) and best.pt, each written beside its old copy
        check_free_space(out, 8 * sum(p.numel() * 4 for p in model.parameters()) + (4 << 20), "--out", "training (checkpoints)")
    objective = Objective(config)
    runner: nn.Module = objective.runner(model, device)  # resolves the teacher, sets the distiller up on the device
    distiller = objective.distiller
    # one parameter group: for a parameterless distiller it is the student's alone, as in checkpoints from before
    optimizer_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_cls([*model.parameters(), *distiller.parameters()], lr=config.lr, weight_decay=config.weight_decay)
    state = RunState()
    if payload is not None:
        load_model_state(model, payload["model_state"], config.model, out / "last.pt")
        load_distiller_state(distiller, payload["train"].get("distiller"), config.distiller, out / "last.pt")
        optimizer.load_state_dict(payload["train"]["optimizer"])
        torch.set_rng_state(payload["train"]["rng"])
        state = RunState(payload["train"]["step"], payload["train"]["best"], payload["train"]["history"])
        log.info("resuming %s at step %d of %d (%d threads%s)", out, state.step, config.steps, torch.get_num_threads(),
                 ", deterministic" if config.deterministic else "")
    if env.enabled:
        # find_unused_parameters: the representation head only gets gradients from distillation
        runner = DistributedDataParallel(runner, device_ids=[env.local_rank] if device.type == "cuda" else None,
                                         find_unused_parameters=True)
        if any(p.requires_grad for p in distiller.parameters()):
            # its own DDP: the distiller runs outside the runner's forward. Its banks are kept identical by
            # the distiller itself (it gathers what every process pushes), so buffers are not broadcast.
            objective.step_distiller = DistributedDataParallel(distiller, device_ids=None, find_unused_parameters=True,
                                                               forward_sync_buffers=False)
    train_set = open_dataset(config.data, split=config.train_split)
    val_set = open_dataset(config.data, split=config.val_split) if config.val_every > 0 else None
    clips = ClipDataset(train_set, config.clip_config(env.world), seed=config.seed)
    loader = DataLoader(clips, batch_size=config.batch_size, sampler=StepSampler(state.step, config.steps, config.batch_size, env),
                        num_workers=config.workers, pin_memory=device.type == "cuda")
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "config.json", config.to_dict())
        teacher = "" if config.distiller == "none" else f", distilled ({config.distiller})" + (f" from {config.teacher}" if config.teacher else ", no teacher checkpoint")
        log.info("training %s (%s) on %s: %d steps of %d clips x %d frames, world size %d, %d threads%s%s -> %s",
                 config.model, ROLES[config.model], config.data, config.steps, config.batch_size, config.clip_frames, env.world,
                 torch.get_num_threads(), ", deterministic" if config.deterministic else "", teacher, out)
    freeze_bn = config.freeze_bn if config.freeze_bn is not None else config.pretrained is not None
    _set_train_mode(model, freeze_bn)
    distiller.train()
    _loop(config, env, model, runner, objective, optimizer, loader, val_set, state, freeze_bn, device, resumed=payload is not None)
    return TrainResult(config, out, out / "best.pt", out / "last.pt", state.step, state.best.get("score"), began.elapsed())


def clip_gradients(model: nn.Module, distiller: nn.Module, max_norm: float) -> None:
    """Clip the student's gradients to ``max_norm`` (their global L2 norm), and apart from them the
    distiller's trainable parameters' (an online teacher, heads, adapters), each set to ``max_norm``:
    a large teacher gradient must not shrink the student's step. With a parameterless distiller the
    student alone is clipped, exactly as when there were no distillers."""
    student = list(model.parameters())
    torch.nn.utils.clip_grad_norm_(student, max_norm)
    ids = {id(p) for p in student}
    own = [p for p in distiller.parameters() if p.grad is not None and id(p) not in ids]  # never the student's twice
    if own:
        torch.nn.utils.clip_grad_norm_(own, max_norm)


def _loop(config: TrainConfig, env: Dist, model: MemoryNetwork, runner: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer,
          loader: DataLoader, val_set: VideoDataset | None, state: RunState, freeze_bn: bool, device: torch.device,
          resumed: bool = False) -> None:
    bar = progress(range(state.step, config.steps), desc=f"train {config.model}", total=config.steps - state.step, unit="step") if env.main else None
    with stop_on_signal(enabled=not env.enabled) as stop:
        _steps(config, env, model, runner, objective, optimizer, loader, val_set, state, freeze_bn, device, resumed, bar, stop)


def _steps(config: TrainConfig, env: Dist, model: MemoryNetwork, runner: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer,
           loader: DataLoader, val_set: VideoDataset | None, state: RunState, freeze_bn: bool, device: torch.device,
           resumed: bool, bar: Any, stop: StopRequest) -> None:
    batches = iter(loader)
    clips = loader.dataset
    assert isinstance(clips, ClipDataset)
    since_log, logged = Stopwatch(), state.step  # the interval's clock and the step it began after
    first = state.step if resumed else None
    for _ in bar if bar is not None else range(state.step, config.steps):
        batch = {k: v.to(device, non_blocking=True) for k, v in next(batches).items()}
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, state.step)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp):
            outputs = runner(batch["frames"], batch["masks"], batch["selector"], batch.get("init_masks"), phase=state.step)
        losses = objective(outputs, batch, state.step, env.rank)
        if not torch.isfinite(losses["total"]):
            raise TrainingError(_diverged(config, state.step, float(losses["total"].item()), state.step == first))
        optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        clip_gradients(model, objective.distiller, config.grad_clip)
        optimizer.step()
        state.step += 1
        if state.step % config.log_every == 0 or state.step == config.steps:
            since_log = _log_step(config, env, state, losses, bar, since_log, state.step - logged)
            logged = state.step
        _checkpoints(config, env, model, objective.distiller, optimizer, val_set, state, freeze_bn, clips, device)
        if stop and state.step < config.steps:
            if bar is not None:
                bar.close()
            _interrupted(config, model, objective.distiller, optimizer, state, stop)


def _interrupted(config: TrainConfig, model: MemoryNetwork, distiller: nn.Module, optimizer: torch.optim.Optimizer, state: RunState,
                 stop: StopRequest) -> None:
    """Save the step just finished as last.pt (what --save-every would have written) and stop with the resume command."""
    last = Path(config.out) / "last.pt"
    if state.step % config.save_every:
        save_checkpoint(last, _payload(model, config, state, optimizer, distiller))
    command = "train" if config.distiller == "none" else "distill"
    raise TrainingInterrupted(f"{stop.name} at step {state.step} of {config.steps}: the step was finished and saved in {last}. "
                              f"Continue the run with: mobileseg {command} --out {config.out} --resume")


def _diverged(config: TrainConfig, step: int, loss: float, first_after_resume: bool) -> str:
    """What to do after a non-finite loss: resume with a lower rate, unless last.pt is itself diverged."""
    if not (Path(config.out) / "last.pt").is_file():  # diverged before the first checkpoint: nothing to resume
        return (f"the loss became {loss} at step {step}, before the first checkpoint (--save-every {config.save_every}), so there is "
                f"nothing to resume. Start again with a lower learning rate (now --lr {config.lr:g}; try --lr {min(config.lr / 10, TrainConfig.lr):g}) "
                f"or gradient clip (--grad-clip {config.grad_clip:g}); the same --out {config.out} can be used.")
    if first_after_resume:
        return (f"the loss is {loss} at step {step}, the first step after resuming: the weights stored in {Path(config.out) / 'last.pt'} "
                f"have diverged already (this step's loss does not depend on the learning rate), so resuming cannot recover the run. "
                f"Start a new run with a lower --lr than the one that diverged, in another --out (or delete {config.out} first).")
    return (f"the loss became {loss} at step {step}. Resume from the last checkpoint with a lower learning rate or gradient clip "
            f"(now --lr {config.lr:g}, --grad-clip {config.grad_clip:g}): --out {config.out} --resume --lr {config.lr / 10:g}; the new rate "
            "takes effect from the resumed step on. If the loss is not finite again at once, last.pt holds diverged weights: "
            "start a new run with the lower rate instead.")


def _log_step(config: TrainConfig, env: Dist, state: RunState, losses: dict[str, torch.Tensor], bar: Any, since: Stopwatch,
              steps: int) -> Stopwatch:
    """Log the step's losses and the clips/s of the ``steps`` steps since the last log (fewer than ``log_every`` at the
    end of a run or after resuming mid-interval); a new stopwatch for the next interval."""
    seconds, next_interval = since.elapsed(), Stopwatch()
    values = {name: mean_over_ranks(env, float(value.detach())) for name, value in losses.items()}
    speed = steps * config.batch_size * env.world / max(seconds, 1e-9)
    record = {"step": state.step, "lr": learning_rate(config, state.step - 1), "clips_per_s": speed, **values}
    if env.main:
        state.history.append(record)
        with open(Path(config.out) / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if bar is not None and not bar.disable:
            bar.set_postfix(loss=f"{values['total']:.4f}", clips_s=f"{speed:.1f}")
        elif state.step % max(config.log_every, config.steps // 10) == 0:
            log.info("step %d/%d loss %.4f (%.1f clips/s)", state.step, config.steps, values["total"], speed)
    return next_interval


def _checkpoints(config: TrainConfig, env: Dist, model: MemoryNetwork, distiller: nn.Module, optimizer: torch.optim.Optimizer,
                 val_set: VideoDataset | None, state: RunState, freeze_bn: bool, clips: ClipDataset, device: torch.device) -> None:
    done = state.step == config.steps
    validate_now = val_set is not None and (state.step % config.val_every == 0 or done)
    save_now = state.step % config.save_every == 0 or done or validate_now
    if env.main and not freeze_bn and (validate_now or (done and val_set is None)):
        recalibrate_batchnorm(ClipRunner(model), clips, config.bn_batches, config.batch_size, device)
    if env.main and validate_now and val_set is not None:
        score = validate(model, val_set, config)
        _set_train_mode(model, freeze_bn)
        log.info("step %d: val J&F %.4f (best %s)", state.step, score, f"{state.best['score']:.4f}" if state.best else "-")
        state.history.append({"step": state.step, "val_jf": score})
        if not state.best or score > state.best["score"] or math.isnan(state.best["score"]):
            state.best = {"score": score, "step": state.step}
            save_checkpoint(Path(config.out) / "best.pt", _payload(model, config, state, None))
    if env.main and done and val_set is None:
        save_checkpoint(Path(config.out) / "best.pt", _payload(model, config, state, None))
    if env.main and save_now:
        save_checkpoint(Path(config.out) / "last.pt", _payload(model, config, state, optimizer, distiller))
    if validate_now or save_now:
        barrier(env)
