"""Tiny datasets written to a folder in each supported layout, for reader and pipeline tests.

Every writer returns the dataset root. Frames are ``uint8 [H, W, 3]`` gradients (default
24x32 px), masks put object ``k`` in a horizontal band of rows, so any frame/mask pair is valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from mobileseg.data.io import save_frame, save_mask

SIZE = (24, 32)  # (H, W)


def frame_pixels(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """``uint8 [H, W, 3]`` gradient that changes with ``index``."""
    height, width = size
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 7 + index * 11, ys * 9, (xs + ys + index * 5) * 3], axis=-1)
    return (rgb % 256).astype(np.uint8)


def mask_pixels(objects: Iterable[int], size: tuple[int, int] = SIZE, void: bool = False) -> np.ndarray:
    """``uint8 [H, W]``: object ``k`` fills rows ``4k-4 .. 4k-1``; optional 255 border column."""
    mask = np.zeros(size, dtype=np.uint8)
    for obj in objects:
        mask[4 * (obj - 1) : 4 * obj, 2:-2] = obj
    if void:
        mask[:, -1] = 255
    return mask


def write_davis2017(
    root: Path,
    names: Sequence[str] = ("blackswan", "dogs-jump"),
    n_frames: int = 4,
    objects: Sequence[int] = (1, 2),
    split: str = "val",
    resolution: str = "480p",
    size: tuple[int, int] = SIZE,
    year: str = "2017",
) -> Path:
    """DAVIS 2017 layout: ``JPEGImages/<res>/<seq>``, ``Annotations/<res>/<seq>``, ``ImageSets/<year>``."""
    for name in names:
        for i in range(n_frames):
            stem = f"{i:05d}"
            save_frame(root / "JPEGImages" / resolution / name / f"{stem}.jpg", frame_pixels(i, size))
            mask = mask_pixels(objects, size, void=True)
            save_mask(root / "Annotations" / resolution / name / f"{stem}.png", mask)
    add_list(root, year, split, names)
    return root


def add_list(root: Path, year: str, split: str, names: Iterable[str]) -> Path:
    """Write ``ImageSets/<year>/<split>.txt`` with one name per line."""
    path = root / "ImageSets" / year / f"{split}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{name}\n" for name in names))
    return path


def write_davis2016(
    root: Path,
    names: Sequence[str] = ("bear", "cows"),
    n_frames: int = 3,
    split: str = "val",
    resolution: str = "480p",
    mask_mode: str = "P",
    size: tuple[int, int] = SIZE,
) -> Path:
    """Original DAVIS 2016: 0/255 masks (mode ``P`` or ``L``) and a frame-pair list."""
    lines = []
    for name in names:
        for i in range(n_frames):
            frame = f"/JPEGImages/{resolution}/{name}/{i:05d}.jpg"
            mask = f"/Annotations/{resolution}/{name}/{i:05d}.png"
            save_frame(root / frame.lstrip("/"), frame_pixels(i, size))
            binary = np.where(mask_pixels((1,), size) > 0, 255, 0).astype(np.uint8)
            if mask_mode == "P":
                save_mask(root / mask.lstrip("/"), binary)
            else:
                (root / mask.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(binary, mode="L").save(root / mask.lstrip("/"))
            lines.append(f"{frame} {mask}\n")
    list_path = root / "ImageSets" / resolution / f"{split}.txt"
    list_path.parent.mkdir(parents=True, exist_ok=True)
    list_path.write_text("".join(lines))
    return root


# video -> {object id: index (into the frame list) of the frame where it first appears}
YTVOS_VIDEOS: Mapping[str, Mapping[int, int]] = {"0a2f3b": {1: 0, 2: 2}, "1c4d5e": {3: 0}}


def write_youtubevos(
    root: Path,
    split: str = "train",
    videos: Mapping[str, Mapping[int, int]] = YTVOS_VIDEOS,
    n_frames: int = 4,
    size: tuple[int, int] = SIZE,
    all_frames: bool = False,
) -> Path:
    """YouTube-VOS 2019 ``<root>/<split>/``: frames ``00000, 00005, ...``, meta.json.

    ``train`` annotates every written frame; other splits only each object's first frame.
    ``all_frames`` also writes ``valid_all_frames/JPEGImages`` with every frame ``00000..``.
    """
    split_dir = root / split
    meta: dict[str, dict] = {"videos": {}}
    for vid, firsts in videos.items():
        stems = [f"{5 * i:05d}" for i in range(n_frames)]
        for i, stem in enumerate(stems):
            save_frame(split_dir / "JPEGImages" / vid / f"{stem}.jpg", frame_pixels(i, size))
            present = [obj for obj, first in firsts.items() if first <= i]
            if (split == "train" and present) or i in firsts.values():
                save_mask(split_dir / "Annotations" / vid / f"{stem}.png", mask_pixels(present, size))
        objects = {str(obj): {"category": "thing", "frames": stems[first:]} for obj, first in firsts.items()}
        meta["videos"][vid] = {"objects": objects}
        if all_frames:
            all_dir = root / "valid_all_frames" / "JPEGImages" / vid
            for i in range(5 * (n_frames - 1) + 1):
                save_frame(all_dir / f"{i:05d}.jpg", frame_pixels(i, size))
    (split_dir / "meta.json").write_text(json.dumps(meta))
    return root
