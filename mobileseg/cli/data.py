"""``mobileseg data``: make datasets."""

from __future__ import annotations

from pathlib import Path

import click

from mobileseg.cli.types import RANGE, SIZE
from mobileseg.data.synth import SynthConfig, generate_synthvos
from mobileseg.utils.timing import Stopwatch

_DEFAULT = SynthConfig()


@click.group()
def data() -> None:
    """Make datasets (SynthVOS, the embedded synthetic VOS dataset)."""


@data.command("synth")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to write the dataset into (created; must be new, empty, or an earlier SynthVOS with --overwrite).")
@click.option("--videos", default=_DEFAULT.videos, show_default=True, type=click.IntRange(min=1),
              help="Number of videos (sequences).")
@click.option("--frames", default=_DEFAULT.frames, show_default=True, type=click.IntRange(min=3),
              help="Frames per video.")
@click.option("--size", default=f"{_DEFAULT.height}x{_DEFAULT.width}", show_default=True, type=SIZE,
              help="Frame size HEIGHTxWIDTH in pixels.")
@click.option("--objects", default=f"{_DEFAULT.objects[0]}-{_DEFAULT.objects[1]}", show_default=True, type=RANGE,
              help="Annotated objects per video: a number (2) or a range drawn per video (1-3).")
@click.option("--distractors", default=f"{_DEFAULT.distractors[0]}-{_DEFAULT.distractors[1]}", show_default=True,
              type=RANGE, help="Look-alike objects per video that are NOT annotated (number or range).")
@click.option("--seed", default=_DEFAULT.seed, show_default=True, type=click.IntRange(min=0),
              help="Random seed; the same settings and seed give byte-identical files.")
@click.option("--val-fraction", default=_DEFAULT.val_fraction, show_default=True, type=click.FloatRange(0, 1, max_open=True),
              help="Share of videos listed in ImageSets/2017/val.txt (the last ones); the rest go to train.txt.")
@click.option("--jpeg-quality", default=_DEFAULT.jpeg_quality, show_default=True, type=click.IntRange(1, 100),
              help="JPEG quality of the frames.")
@click.option("--overwrite", is_flag=True, help="Replace an existing SynthVOS dataset at --out.")
def synth(out: Path, videos: int, frames: int, size: tuple[int, int], objects: tuple[int, int],
          distractors: tuple[int, int], seed: int, val_fraction: float, jpeg_quality: int, overwrite: bool) -> None:
    """Generate SynthVOS: textured, deforming, occluding objects over a moving textured background.

    Written in the DAVIS 2017 layout (JPEGImages/480p, palette Annotations/480p, ImageSets/2017
    train.txt and val.txt), so every reader, trainer and evaluator treats it like DAVIS.
    """
    config = SynthConfig(videos=videos, frames=frames, height=size[0], width=size[1], objects=objects,
                         distractors=distractors, seed=seed, val_fraction=val_fraction, jpeg_quality=jpeg_quality)
    began = Stopwatch()
    root = generate_synthvos(out, config, overwrite=overwrite)
    click.echo(f"SynthVOS: {videos} videos x {frames} frames at {size[0]}x{size[1]} in {root} "
               f"({began.elapsed():.1f} s)")
