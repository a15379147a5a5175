"""Video input and overlay output for ``mobileseg run``.

Input: a folder of frames (``.jpg``/``.jpeg``/``.png``, sorted by name), an animated GIF
(Pillow), or a video file (``.mp4``, ``.mov``, ``.avi``, ``.mkv``, ``.webm`` through PyAV, the
``video`` extra). Output: the overlay as an animated GIF (Pillow) or MP4 (PyAV).
Frames are ``uint8 [H, W, 3]`` RGB.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageSequence

from mobileseg.data.io import davis_palette, load_frame
from mobileseg.errors import ConfigError, DatasetError
from mobileseg.utils.fsio import atomic_path

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")
_PALETTE = np.frombuffer(davis_palette(), dtype=np.uint8).reshape(256, 3)


def frame_files(folder: str | os.PathLike[str]) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"frame folder not found: {folder}; pass --frames pointing at a folder of .jpg/.png frames.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise DatasetError(f"{folder} holds no frames ({', '.join(FRAME_SUFFIXES)}).")
    return files


def _av() -> Any:  # PyAV is optional: imported when a video is read
    try:
        import av  # optional toolchain ([video] extra)
    except ImportError:
        raise ConfigError("reading or writing video files needs PyAV: pip install 'mobileseg[video]' "
                          "(or pass --frames with a folder of images / write a GIF overlay).") from None
    return av


def read_video(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decode every frame of a GIF or video file as RGB, in order.

    A file that cannot be decoded, decodes to no frame, or ends before the frames its header
    declares (a truncated download or copy) raises DatasetError naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"video not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".gif":
        yield from _read_gif(path)
        return
    if suffix not in VIDEO_SUFFIXES:
        raise ConfigError(f"cannot read {path}: the video formats are .gif, {', '.join(VIDEO_SUFFIXES)}; or pass --frames DIR.")
    yield from _read_av(path, _av())


_BROKEN = "the file is truncated or corrupt; copy or export it again, or pass --frames with a folder of its frames."


def _read_gif(path: Path) -> Iterator[np.ndarray]:
    try:
        with Image.open(path) as gif:
            for frame in ImageSequence.Iterator(gif):
                yield np.asarray(frame.convert("RGB"), dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:  # Pillow's errors for a broken GIF (a truncated one: IndexError)
        raise DatasetError(f"cannot read the GIF {path} ({exc}): {_BROKEN}") from None


def _read_av(path: Path, av: Any) -> Iterator[np.ndarray]:
    decoded, declared = 0, 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DatasetError(f"{path} holds no video stream: {_BROKEN}")
            declared = container.streams.video[0].frames  # from the header; 0 when the format does not say
            for frame in container.decode(video=0):
                decoded += 1
                yield frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise DatasetError(f"cannot decode {path} ({exc}): {_BROKEN}") from None
    if decoded == 0:
        raise DatasetError(f"no frame of {path} could be decoded: {_BROKEN}")
    if decoded < declared:
        raise DatasetError(f"{path} declares {declared} frames but only the first {decoded} could be decoded: {_BROKEN}")


def read_frames(folder: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    for path in frame_files(folder):
        yield load_frame(path)


def overlay(frame: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Objects tinted with their DAVIS palette colour and outlined, over ``frame``."""
    colours = _PALETTE[labels].astype(np.float32)
    objects = (labels > 0)[..., None]
    mixed = np.where(objects, (1 - alpha) * frame + alpha * colours, frame)
    edge = np.zeros_like(labels, dtype=bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[1:, :] |= labels[1:, :] != labels[:-1, :]
    mixed[edge] = 255
    return mixed.astype(np.uint8)


class OverlayWriter:
    """Collects overlay frames and writes ``.gif`` (Pillow) or ``.mp4`` (PyAV) on :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path = Path(path)
        self.fps = fps
        if self.path.suffix.lower() not in (".gif", ".mp4"):
            raise ConfigError(f"overlay {self.path}: write .gif or .mp4")
        if self.path.suffix.lower() == ".mp4":
            _av()
        self.frames: list[np.ndarray] = []

    def add(self, frame: np.ndarray) -> None:
        self.frames.append(frame)

    def close(self) -> Path:
        """Write the file atomically: a kill or a full disk leaves the old file (or none), never half of one."""
        with atomic_path(self.path) as tmp:
            self._write(tmp)
        return self.path

    def _write(self, path: Path) -> None:
        if self.path.suffix.lower() == ".gif":
            images = [Image.fromarray(f) for f in self.frames]
            images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / self.fps), loop=0)
            return
        av = _av()
        with av.open(str(path), mode="w", format="mp4") as container:
            stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=int(round(self.fps)))
            height, width = self.frames[0].shape[:2]
            stream.width, stream.height, stream.pix_fmt = width - width % 2, height - height % 2, "yuv420p"
            for frame in self.frames:
                video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[: stream.height, : stream.width]), format="rgb24")
                container.mux(stream.encode(video_frame))
            container.mux(stream.encode())
