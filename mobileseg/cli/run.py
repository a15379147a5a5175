"""``mobileseg run``: segment a video with a checkpoint, given the first frame's mask."""

from __future__ import annotations

from pathlib import Path

import click

from mobileseg.cli.types import SIZE
from mobileseg.data.io import load_mask
from mobileseg.data.video import frame_files, read_frames, read_video
from mobileseg.errors import ConfigError
from mobileseg.eval.segment import check_overlay_name, check_run_output, segment_video
from mobileseg.sources import TrackerSource, artifact_source, checkpoint_source


@click.command("run")
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False),
              help="A checkpoint written by `mobileseg train` (RUN_DIR/best.pt), student or teacher.")
@click.option("--model", "artifact", type=click.Path(path_type=Path),
              help="Or an exported file (student.onnx / .tflite / .pte) run in its runtime.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Runtime threads with --model.")
@click.option("--frames", "frames_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Folder of frames (.jpg/.png, sorted by name). Give this or --video.")
@click.option("--video", type=click.Path(path_type=Path, dir_okay=False),
              help="Video file: .gif, or .mp4/.mov/.avi/.mkv/.webm with the 'video' extra (PyAV).")
@click.option("--first-mask", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Palette PNG of the first frame: 0 background, 1..K the objects to track.")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the masks (NNNNN.png, DAVIS palette) and the overlay.")
@click.option("--size", type=SIZE, default=None, help="Network input HxW (multiples of 16); default: the video's size rounded to multiples of 16.")
@click.option("--overlay", default="overlay.gif", show_default=True,
              help="Overlay file name, written inside --out (.gif, or .mp4 with PyAV); 'none' to skip it.")
@click.option("--no-memory-check", is_flag=True, help="Skip the check that --size fits in this machine's memory (an estimate).")
@click.option("--overwrite", is_flag=True, help="Write into an --out that holds files mobileseg did not write (files of the same "
              "names, NNNNN.png and the overlay, are replaced). Without it such a folder is refused.")
@click.option("--fps", default=10.0, show_default=True, type=click.FloatRange(min=0.1), help="Frame rate of the overlay.")
def run_command(checkpoint: Path | None, artifact: Path | None, threads: int, frames_dir: Path | None, video: Path | None, first_mask: Path, out: Path,
                size: tuple[int, int] | None, overlay: str, fps: float, no_memory_check: bool, overwrite: bool) -> None:
    """Segment every frame of a video, starting from the first frame's mask.

    The objects of the mask are tracked together with one joint state, as in training (an
    exported file takes them --objects at a time; further states are combined by soft
    aggregation). Prints where the masks and the overlay went.
    """

    if (checkpoint is None) == (artifact is None):
        raise ConfigError("give exactly one of --checkpoint FILE (PyTorch) or --model FILE (an exported file).")
    if (frames_dir is None) == (video is None):
        raise ConfigError("give exactly one of --frames DIR or --video FILE.")
    if size is not None and (size[0] % 16 or size[1] % 16):
        raise ConfigError(f"--size {size[0]}x{size[1]}: both sides must be multiples of 16 (e.g. 480x864).")
    overlay_path = None if overlay.lower() == "none" else out / check_overlay_name(overlay)
    check_run_output(out, frames_dir, video, overlay_path, first_mask)
    source = _source(checkpoint, artifact, threads)
    if source.size is not None and size is not None and size != source.size:
        raise ConfigError(f"{artifact} takes {source.size[0]}x{source.size[1]} inputs only; drop --size or export again.")
    size = size or source.size
    source.check_size(size, no_memory_check)
    total = len(frame_files(frames_dir)) if frames_dir is not None else None
    if frames_dir is not None:
        frames = read_frames(frames_dir)
    else:
        assert video is not None  # exactly one of them, checked above
        frames = read_video(video)
    result = segment_video(source, frames, load_mask(first_mask), out, size, overlay_path, fps, total, overwrite=overwrite)
    click.echo(f"{source.name}: {result.frames} frames, objects {list(result.objects)}, "
               f"{result.tracker_ms_per_frame:.1f} ms per frame (all objects), {result.seconds:.1f} s in all")
    click.echo(f"masks:   {result.masks}")
    if result.overlay is not None:
        click.echo(f"overlay: {result.overlay}")


def _source(checkpoint: Path | None, artifact: Path | None, threads: int) -> TrackerSource:
    if checkpoint is not None:
        return checkpoint_source(checkpoint)
    assert artifact is not None  # exactly one of them, checked by the command
    return artifact_source(artifact, threads)
