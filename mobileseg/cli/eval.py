"""``mobileseg eval``: J&F of predicted masks against a dataset."""

from __future__ import annotations

from pathlib import Path

import click

from mobileseg.data.datasets import AUTO, DATASET_KINDS, open_dataset
from mobileseg.eval.davis import EvalReport, evaluate_results
from mobileseg.utils.fsio import write_json_atomic
from mobileseg.utils.table import format_table

SUMMARY_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def print_report(report: EvalReport) -> None:
    rows = [{"sequence": name, **scores} for name, scores in report.per_sequence().items()]
    click.echo(format_table(rows, ("sequence", "objects", "J&F-Mean", "J-Mean", "F-Mean")))
    click.echo("")
    click.echo(format_table([report.summary()], SUMMARY_COLUMNS))


@click.command("eval")
@click.option("--data", "data_root", required=True, type=click.Path(path_type=Path),
              help="Dataset folder (DAVIS 2017, DAVIS 2016 or SynthVOS; the layout is detected).")
@click.option("--results", required=True, type=click.Path(path_type=Path),
              help="Predictions in the DAVIS results layout: RESULTS/<sequence>/<frame>.png, palette PNGs of object ids.")
@click.option("--split", default="val", show_default=True, help="Which list of the dataset to score (ImageSets/<year>/<split>.txt).")
@click.option("--kind", default=AUTO, show_default=True, type=click.Choice((AUTO, *DATASET_KINDS)),
              help="Dataset layout; auto detects it from the folder.")
@click.option("--resolution", default="480p", show_default=True, help="DAVIS frame folder: 480p or full.")
@click.option("--json", "json_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write every number (summary, per sequence, per object) to this JSON file.")
def eval_command(data_root: Path, results: Path, split: str, kind: str, resolution: str, json_path: Path | None) -> None:
    """Score predicted masks with the DAVIS 2017 semi-supervised protocol.

    J is the region IoU, F the boundary F-measure (tolerance 0.008 x image diagonal); both are
    averaged per object over all frames but the first and the last, then over objects. Recall
    is the share of frames scoring above 0.5, decay the drop from the first to the last quarter.
    """
    dataset = open_dataset(data_root, split=split, kind=kind, resolution=resolution)
    report = evaluate_results(dataset, results)
    print_report(report)
    if json_path is not None:
        write_json_atomic(json_path, report.to_dict())
        click.echo(f"wrote {json_path}")
