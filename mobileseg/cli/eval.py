"""``mobileseg eval``: J&F of predicted masks against a dataset."""

from __future__ import annotations

from pathlib import Path

import click

from mobileseg.cli.types import SIZE
from mobileseg.data.datasets import AUTO, DATASET_KINDS, open_dataset
from mobileseg.errors import ConfigError
from mobileseg.eval.davis import FIRST_STARTS, VOID_POLICIES, EvalReport, evaluate_results
from mobileseg.eval.predict import RESULTS_KIND, check_results_folder, predict_dataset
from mobileseg.sources import artifact_source, checkpoint_source
from mobileseg.utils.fsio import write_json_atomic
from mobileseg.utils.owned import check_claimable, check_report_file
from mobileseg.utils.table import format_table

SUMMARY_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def print_report(report: EvalReport) -> None:
    rows = [{"sequence": name, **scores} for name, scores in report.per_sequence().items()]
    click.echo(format_table(rows, ("sequence", "objects", "J&F-Mean", "J-Mean", "F-Mean")))
    click.echo("")
    started = report.started_from()
    if started is not None:
        click.echo(started)
    click.echo(report.void_rule())
    click.echo(format_table([report.summary()], SUMMARY_COLUMNS))


@click.command("eval")
@click.option("--data", "data_root", required=True, type=click.Path(path_type=Path),
              help="Dataset folder (DAVIS 2017, DAVIS 2016 or SynthVOS; the layout is detected).")
@click.option("--results", type=click.Path(path_type=Path),
              help="Predictions in the DAVIS results layout (RESULTS/<sequence>/<frame>.png, palette PNGs of object "
                   "ids). Alone: score this folder. With --checkpoint: write the predictions here.")
@click.option("--checkpoint", type=click.Path(path_type=Path, dir_okay=False),
              help="Predict with this `mobileseg train` checkpoint (one joint state for the objects that start together), then score.")
@click.option("--model", "artifact", type=click.Path(path_type=Path),
              help="Predict with an exported file in its runtime (student.onnx, .tflite, .pte), then score: the J&F of the deployed file.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="Runtime threads with --model.")
@click.option("--first", default="mask", show_default=True, type=click.Choice(list(FIRST_STARTS)),
              help="With --checkpoint or --model: start each object's tracker from its first-frame mask, or from that mask's "
                   "bounding box (as the app does when the user drags a box). Scoring is the same either way (the first "
                   "frame is not scored); the summary and --json say which start was used.")
@click.option("--void", default="background", show_default=True, type=click.Choice(list(VOID_POLICIES)),
              help="What void ground-truth pixels (255) count as: background, as the official DAVIS 2017 semi-supervised "
                   "evaluation does (a prediction over them is a false positive), or ignore (left out of J and F).")
@click.option("--split", default="val", show_default=True, help="Which list of the dataset to score (ImageSets/<year>/<split>.txt).")
@click.option("--kind", default=AUTO, show_default=True, type=click.Choice((AUTO, *DATASET_KINDS)),
              help="Dataset layout; auto detects it from the folder.")
@click.option("--resolution", default="480p", show_default=True, help="DAVIS frame folder: 480p or full.")
@click.option("--size", type=SIZE, default=None,
              help="With --checkpoint: network input HxW (multiples of 16); default: each video's size rounded to multiples of 16.")
@click.option("--no-memory-check", is_flag=True, help="Skip the check that --size fits in this machine's memory (an estimate).")
@click.option("--overwrite", is_flag=True, help="With --checkpoint/--model: write predictions into a --results folder that holds files "
              "mobileseg did not write (files of the same names are replaced). Without it such a folder is refused.")
@click.option("--max-videos", type=click.IntRange(min=1), default=None, help="With --checkpoint: only the first N videos.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write every number (summary, per sequence, per object) to this JSON file.")
def eval_command(data_root: Path, results: Path | None, checkpoint: Path | None, artifact: Path | None, threads: int, first: str,
                 void: str, split: str, kind: str, resolution: str, size: tuple[int, int] | None, max_videos: int | None, json_path: Path | None,
                 no_memory_check: bool, overwrite: bool) -> None:
    """J&F with the DAVIS 2017 semi-supervised protocol, of a results folder or of a checkpoint.

    J is the region IoU, F the boundary F-measure (tolerance 0.008 x image diagonal); both are
    averaged per object over all frames but the first and the last, then over objects. Recall
    is the share of frames scoring above 0.5, decay the drop from the first to the last quarter.
    With --checkpoint or --model, the objects that start on the same frame are tracked with one
    joint state, as in training (an exported file takes them --objects at a time).
    """
    if checkpoint is not None and artifact is not None:
        raise ConfigError("give --checkpoint (PyTorch) or --model (an exported file), not both.")
    if results is None and checkpoint is None and artifact is None:
        raise ConfigError("give --results DIR (score saved predictions), --checkpoint FILE or --model FILE (predict and score).")
    if first != "mask" and checkpoint is None and artifact is None:
        raise ConfigError(f"--first {first} chooses how trackers are started, so it needs --checkpoint FILE or --model FILE; "
                          "a --results folder alone was predicted already (score it without --first).")
    if size is not None and (size[0] % 16 or size[1] % 16):
        raise ConfigError(f"--size {size[0]}x{size[1]}: both sides must be multiples of 16.")
    dataset = open_dataset(data_root, split=split, kind=kind, resolution=resolution)
    if json_path is not None:
        check_report_file(json_path, "--json", "a `mobileseg eval` report", lambda data: str(data.get("protocol", "")).startswith("DAVIS"))
    if checkpoint is None and artifact is None:
        assert results is not None  # one of the three, checked above
        report = evaluate_results(dataset, results, void)
    else:

        if results is not None:  # before any prediction: never write into the dataset, over a user's files, or fail at the end
            check_results_folder(dataset, results)
            if not overwrite:
                check_claimable(results, RESULTS_KIND, "--results")
        if checkpoint is not None:
            source = checkpoint_source(checkpoint)
        else:
            assert artifact is not None  # the branch above takes neither
            source = artifact_source(artifact, threads)
        if source.size is not None and size is not None and size != source.size:
            raise ConfigError(f"{artifact} takes {source.size[0]}x{source.size[1]} inputs only; drop --size or export again at {size[0]}x{size[1]}.")
        source.check_size(size, no_memory_check)
        run = predict_dataset(source.make, dataset, results, size or source.size, source.multiple, max_videos=max_videos, desc=source.name,
                              first=first, void=void, overwrite=overwrite)
        assert run.report is not None
        report = run.report
        click.echo(f"{source.name}: {source.params / 1e6:.2f} M parameters, {run.tracker_ms_per_frame:.1f} ms per frame (all objects) on this host")
    print_report(report)
    if json_path is not None:
        write_json_atomic(json_path, report.to_dict())
        click.echo(f"wrote {json_path}")
