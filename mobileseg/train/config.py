"""Training settings: one flat dataclass, stored inside every checkpoint and in RUN_DIR/config.json."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch

from mobileseg.data.clips import ClipConfig
from mobileseg.distill import DISTILLERS
from mobileseg.errors import ConfigError
from mobileseg.models import MODELS, ROLES
from mobileseg.models.backbones import WEIGHTS

# `mobileseg distill`'s clips (train keeps 3 frames): at clip frame t the teacher reads every earlier frame, the
# two-slot student frame 0 and frame t-1, so on 3-frame clips both read the same two frames and the teacher has
# nothing of its memory to teach. 8 frames with gaps up to 10: the teacher reads up to 7 frames spanning up to 70.
DISTILL_CLIP_FRAMES, DISTILL_MAX_SKIP = 8, 10

OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("cosine", "poly", "constant")


@dataclass
class TrainConfig:
    """Everything a training run depends on. Defaults: a CPU-friendly student run on SynthVOS."""

    model: str
    data: str
    out: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None
    train_split: str = "train"
    val_split: str = "val"
    steps: int = 2000
    batch_size: int = 4
    lr: float = 3e-4
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    schedule: str = "cosine"
    warmup: int = 50
    grad_clip: float = 3.0
    poly_epsilon: float = 0.0  # 0 = cross-entropy; 1 = Poly-1
    bootstrap: float = 1.0  # fraction of hardest pixels the loss averages (1 = all; STCN ends at 0.15)
    bootstrap_warmup: int = 0  # steps with the plain mean before bootstrapping starts
    amp: bool = False
    device: str = "cpu"
    clip_frames: int = 3
    max_skip: int = 5
    skip_ramp: int = 0  # steps over which the largest frame gap grows from 1 to max_skip
    crop: tuple[int, int] = (192, 192)
    crop_scale: str = "cover"  # zoom reference of the crops: "native" or "cover" (see ClipConfig)
    max_objects: int = 2
    box_init_prob: float = 0.0  # chance per clip that the memory starts from the objects' boxes (see ClipConfig)
    val_every: int = 500
    val_size: tuple[int, int] | None = None
    val_videos: int | None = None
    save_every: int = 100
    log_every: int = 10
    seed: int = 0
    workers: int = 0
    teacher: str | None = None  # checkpoint of a frozen teacher (mobileseg teacher or STCN's stcn.pth)
    distiller: str = "none"  # a registered distillation method
    distill_options: dict[str, Any] = field(default_factory=dict)  # its options, name -> value (left out: the default)
    freeze_bn: bool | None = None  # None: frozen when pretrained (STCN), trained otherwise
    bn_batches: int = 20  # batches that re-estimate batch-norm statistics before validation
    threads: int | None = None  # CPU threads (None: torch's default here, recorded when the run starts)
    deterministic: bool = True  # bit-identical runs at a given thread count (mobileseg.train.reproducible)

    def clip_config(self, world: int = 1) -> ClipConfig:
        height, width = self.crop
        return ClipConfig(frames=self.clip_frames, max_skip=self.max_skip, skip_ramp=self.skip_ramp * self.batch_size * world,
                          crop=(height, width), max_objects=self.max_objects, scale_reference=self.crop_scale,
                          box_init_prob=self.box_init_prob)

    def check(self) -> None:
        """ConfigError naming the first setting outside what is allowed."""

        MODELS.get(self.model)
        DISTILLERS.get(self.distiller)
        if self.distiller != "none" and ROLES[self.model] != "student":
            raise ConfigError(f"distillation trains a student; {self.model} is a {ROLES[self.model]}.")
        rules = [
            (self.steps >= 1, f"steps must be >= 1, got {self.steps}"),
            (self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}"),
            (self.lr > 0 and math.isfinite(self.lr), f"learning rate must be positive, got {self.lr}"),
            (self.weight_decay >= 0 and math.isfinite(self.weight_decay), f"weight decay must be a number >= 0, got {self.weight_decay}"),
            (self.grad_clip > 0 and math.isfinite(self.grad_clip), f"grad clip must be a positive number, got {self.grad_clip}"),
            (math.isfinite(self.poly_epsilon) and self.poly_epsilon >= -1,
             f"poly epsilon must be a number >= -1 (Poly-1: CE + epsilon * (1 - p_true); 0 is plain cross-entropy), got {self.poly_epsilon}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (3 <= self.clip_frames <= 8, f"clip frames must be in 3..8 (MobileVOS uses 3-5), got {self.clip_frames}"),
            (self.max_skip >= 1, f"max skip must be >= 1, got {self.max_skip}"),
            (all(c % 16 == 0 and c > 0 for c in self.crop), f"crop sides must be positive multiples of 16, got {self.crop}"),
            (self.val_size is None or all(c % 16 == 0 for c in self.val_size), f"val size sides must be multiples of 16, got {self.val_size}"),
            (1 <= self.max_objects <= 8, f"max objects must be in 1..8, got {self.max_objects}"),
            (0 <= self.box_init_prob <= 1, (f"box init prob must be a probability in [0, 1] (0: start every clip from its masks, "
                                            f"1: from the objects' boxes), got {self.box_init_prob}")),
            (0 < self.bootstrap <= 1, f"bootstrap must be a fraction in (0, 1], got {self.bootstrap}"),
            (self.crop_scale in ("native", "cover"), f"crop scale must be native or cover, got {self.crop_scale!r}"),
            (not self.amp or self.device.startswith("cuda"), "--amp needs a CUDA device (--device cuda)"),
            (self.threads is None or self.threads >= 1, f"threads must be >= 1, got {self.threads}"),
        ]
        for ok, message in rules:
            if not ok:
                raise ConfigError(message)
        check_device(self.device)
        check_pretrained(self.pretrained)

    def resolved(self) -> TrainConfig:
        """A copy as it is stored: data and teacher paths absolute, the thread count filled in."""

        config = self.from_dict(self.to_dict())
        config.data = str(Path(config.data).resolve())
        if config.teacher is not None:
            config.teacher = str(Path(config.teacher).resolve())
        if config.threads is None:
            config.threads = torch.get_num_threads()
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        config = cls(**{k: v for k, v in values.items() if k in known})
        config.crop = _pair(config.crop)  # JSON gives lists
        if config.val_size is not None:
            config.val_size = _pair(config.val_size)
        return config


def check_device(device: str) -> None:
    """ConfigError unless ``device`` is ``cpu``, or ``cuda`` / ``cuda:N`` with that GPU present."""

    name, _, index = device.partition(":")
    if name == "cpu" and not index:
        return
    if name != "cuda" or (index and not index.isdigit()):
        raise ConfigError(f"--device {device}: the devices are cpu, cuda and cuda:N (N = GPU number).")
    if not torch.cuda.is_available():
        built = "this PyTorch is built without CUDA" if torch.version.cuda is None else "no GPU is visible to PyTorch here"
        raise ConfigError(f"--device {device}: CUDA is not available ({built}). Use --device cpu.")
    if index and int(index) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} GPU(s), cuda:0 to "
                          f"cuda:{torch.cuda.device_count() - 1}.")


def check_pretrained(pretrained: str | None) -> None:
    """ConfigError naming an empty weights file given to (or found in the folder of) ``--pretrained``."""
    if pretrained is None or pretrained == "imagenet":
        return

    source = Path(pretrained)
    names = {Path(weights.url).name: weights.url for weights in WEIGHTS.values()}
    files = {source: "torchvision's ImageNet weights"} if source.is_file() else {source / name: url for name, url in names.items()}
    for path, origin in files.items():
        if path.is_file() and path.stat().st_size == 0:
            raise ConfigError(f"--pretrained {pretrained}: {path} is empty (0 bytes), an interrupted download? Download "
                              f"{origin} again, pass --pretrained imagenet, or train without --pretrained.")


def learning_rate(config: TrainConfig, step: int) -> float:
    """The rate at ``step``: linear warm-up, then cosine or poly(0.9) decay to zero, or constant."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    if config.schedule == "poly":
        return config.lr * (1 - min(progress, 1.0)) ** 0.9
    return config.lr


def _pair(values: Sequence[int]) -> tuple[int, int]:
    first, second = values
    return int(first), int(second)
