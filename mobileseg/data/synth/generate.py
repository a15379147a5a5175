"""Write a SynthVOS dataset to disk in the DAVIS 2017 layout.

    OUT/JPEGImages/480p/<seq>/00000.jpg     RGB frames (the folder is named 480p whatever the size)
    OUT/Annotations/480p/<seq>/00000.png    palette PNGs, 0 = background, 1..K = objects
    OUT/ImageSets/2017/train.txt, val.txt   sequence names
    OUT/synthvos.json                       the generator settings (no timestamps)

Video ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so a dataset is a pure function
of its settings: the same settings give byte-identical files, and adding videos keeps the old
ones. The folder is written under a temporary name and renamed at the end, so an interrupted run
never leaves a half dataset where a complete one is expected.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mobileseg.data.io import encode_frame_jpeg, encode_mask_png
from mobileseg.data.synth.build import random_scene
from mobileseg.errors import ConfigError
from mobileseg.utils.fsio import check_writable_folder, remove_stale
from mobileseg.utils.progress import progress

FORMAT_VERSION = 1
MARKER = "synthvos.json"
RESOLUTION = "480p"


@dataclass(frozen=True)
class SynthConfig:
    """Settings of a SynthVOS dataset. Defaults: ~40 s and ~25 MB on a laptop."""

    videos: int = 40
    frames: int = 30
    height: int = 240
    width: int = 432
    objects: tuple[int, int] = (1, 3)  # annotated objects per video, inclusive range
    distractors: tuple[int, int] = (1, 3)  # look-alike, non-annotated objects per video
    seed: int = 0
    val_fraction: float = 0.25
    jpeg_quality: int = 90

    def check(self) -> None:
        """Raise ConfigError naming the first setting outside its allowed range."""
        rules = [
            (self.videos >= 1, f"videos must be >= 1, got {self.videos}"),
            (self.frames >= 3, f"frames must be >= 3 (DAVIS scoring drops first and last), got {self.frames}"),
            (self.height >= 32 and self.width >= 32, f"size must be at least 32x32, got {self.height}x{self.width}"),
            (1 <= self.objects[0] <= self.objects[1] <= 20, f"objects must be a range within 1..20, got {self.objects}"),
            (0 <= self.distractors[0] <= self.distractors[1] <= 20, f"distractors must be within 0..20, got {self.distractors}"),
            (0.0 <= self.val_fraction < 1.0, f"val fraction must be in [0, 1), got {self.val_fraction}"),
            (1 <= self.jpeg_quality <= 100, f"JPEG quality must be in 1..100, got {self.jpeg_quality}"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
        ]
        for ok, message in rules:
            if not ok:
                raise ConfigError(message)


def sequence_name(index: int) -> str:
    return f"synth{index:04d}"


def split_of(index: int, config: SynthConfig) -> str:
    """The last ``round(videos * val_fraction)`` videos (at least one when val_fraction > 0) are val."""
    n_val = 0 if config.val_fraction == 0 else max(1, round(config.videos * config.val_fraction))
    n_val = min(n_val, config.videos - 1) if config.videos > 1 else n_val
    return "val" if index >= config.videos - n_val else "train"


def render_video(index: int, config: SynthConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames ``uint8 [H, W, 3]`` and masks ``uint8 [H, W]`` of video ``index``."""
    rng = np.random.default_rng([config.seed, index])
    targets = int(rng.integers(config.objects[0], config.objects[1] + 1))
    distractors = int(rng.integers(config.distractors[0], config.distractors[1] + 1))
    scene = random_scene(rng, config.height, config.width, config.frames, targets, distractors)
    frames, masks = [], []
    for t in range(config.frames):
        frame, mask = scene.render(t, rng)
        frames.append(frame)
        masks.append(mask)
    return frames, masks


def _write_video(root: Path, name: str, frames: list[np.ndarray], masks: list[np.ndarray], quality: int) -> None:
    frame_dir = root / "JPEGImages" / RESOLUTION / name
    mask_dir = root / "Annotations" / RESOLUTION / name
    frame_dir.mkdir(parents=True)
    mask_dir.mkdir(parents=True)
    for t, (frame, mask) in enumerate(zip(frames, masks)):
        (frame_dir / f"{t:05d}.jpg").write_bytes(encode_frame_jpeg(frame, quality))
        (mask_dir / f"{t:05d}.png").write_bytes(encode_mask_png(mask))


def _written_by_generator(out: Path) -> set[Path]:
    """Every file and folder an earlier run wrote into ``out``, from its marker; empty if unreadable."""
    try:
        meta = json.loads((out / MARKER).read_text())
        names = [name for split in ("train", "val") for name in meta["splits"][split]]
        frames = int(meta["config"]["frames"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if meta.get("generator") != "SynthVOS" or not all(isinstance(n, str) and n and "/" not in n for n in names):
        return set()
    paths = {Path(MARKER), Path("ImageSets"), Path("ImageSets/2017"), Path("ImageSets/2017/train.txt"), Path("ImageSets/2017/val.txt")}
    for top, suffix in (("JPEGImages", ".jpg"), ("Annotations", ".png")):
        paths |= {Path(top), Path(top, RESOLUTION)}
        for name in names:
            paths |= {Path(top, RESOLUTION, name), *(Path(top, RESOLUTION, name, f"{t:05d}{suffix}") for t in range(frames))}
    return paths


def _foreign_entry(out: Path) -> Path | None:
    """The first file, folder or link in ``out`` that the generator did not write (None: all its own)."""
    own = _written_by_generator(out)
    if not own:
        return out / MARKER
    for folder, dirs, files in os.walk(out):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder, name)
            if path.relative_to(out) not in own or path.is_symlink():
                return path
    return None


def _prepare_target(out: Path, overwrite: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder path for the dataset.")
    if not any(out.iterdir()):
        return
    if not (out / MARKER).is_file():
        raise ConfigError(
            f"--out {out} exists and is not a SynthVOS dataset (no {MARKER}); refusing to write "
            "into it. Choose a new or empty folder."
        )
    if not overwrite:
        raise ConfigError(f"--out {out} already holds a SynthVOS dataset; pass --overwrite to replace it.")
    foreign = _foreign_entry(out)
    if foreign is not None:
        raise ConfigError(
            f"--out {out} holds {foreign}, which SynthVOS did not write (or {MARKER} is not SynthVOS's), so --overwrite "
            "would delete it. --overwrite replaces only a dataset exactly as the generator wrote it: move your files out of "
            "the folder, or choose another --out."
        )


def generate_synthvos(out: str | os.PathLike[str], config: SynthConfig, overwrite: bool = False) -> Path:
    """Generate the dataset described by ``config`` into ``out``; returns the folder."""
    config.check()
    out = Path(out)
    check_writable_folder(out, "--out")
    check_writable_folder(out.absolute().parent, f"--out {out}: its parent folder")  # the dataset is staged there
    _prepare_target(out, overwrite)
    remove_stale(out.parent, re.compile(rf"^\.{re.escape(out.name)}\.partial-(?P<pid>\d+)$"))  # a killed run's half-written dataset
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    splits: dict[str, list[str]] = {"train": [], "val": []}
    try:
        for index in progress(range(config.videos), desc="SynthVOS", total=config.videos, unit="video"):
            frames, masks = render_video(index, config)
            _write_video(staging, sequence_name(index), frames, masks, config.jpeg_quality)
            splits[split_of(index, config)].append(sequence_name(index))
        lists = staging / "ImageSets" / "2017"
        lists.mkdir(parents=True)
        for split, names in splits.items():
            (lists / f"{split}.txt").write_text("".join(f"{name}\n" for name in names))
        meta = {"generator": "SynthVOS", "format_version": FORMAT_VERSION, "config": asdict(config), "splits": splits}
        (staging / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
