"""``mobileseg quickstart``: the whole pipeline on a small generated dataset."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", default=Path("mobileseg-quickstart"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the data, results and summary (reused by a second run).")
def quickstart(out: Path) -> None:
    """Run every stage that exists on a small SynthVOS dataset and print one table.

    Generates the data (reused when it is already there), segments the val videos with each
    model, scores them with J&F and prints model, parameters, J&F and ms/frame on this host.
    """
    from mobileseg.quickstart import run_quickstart  # imports torch: keep `--help` fast

    result = run_quickstart(out)
    click.echo("")
    click.echo(result.table())
    click.echo("")
    click.echo(f"data:    {result.data}")
    click.echo(f"results: {result.out / 'results'}")
    click.echo(f"summary: {result.out / 'summary.json'} and {result.out / 'summary.md'}")
    click.echo(f"done in {result.seconds:.0f} s")
