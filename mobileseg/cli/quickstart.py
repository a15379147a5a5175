"""``mobileseg quickstart``: the whole pipeline on a small generated dataset."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--out", default=Path("mobileseg-quickstart"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the data, results and summary (reused by a second run).")
@click.option("--budget", default="standard", show_default=True, type=click.Choice(["standard", "tiny"]),
              help="standard: ~6 min on 2 CPU cores; tiny: the same pipeline with toy sizes (about a minute, for tests).")
def quickstart(out: Path, budget: str) -> None:
    """Run every stage on a small SynthVOS dataset and print one table.

    Generates the data, trains a small teacher (unbounded memory) and a small student (two
    memory slots), segments the val videos with both and with the copy-first-mask baseline,
    scores them with J&F and prints model, parameters, J&F and ms/frame on this host. A second
    run reuses what is done and resumes a killed training run.
    """
    from mobileseg.quickstart import run_quickstart  # imports torch: keep `--help` fast

    result = run_quickstart(out, budget)
    click.echo("")
    click.echo(result.table())
    click.echo("")
    click.echo(f"data:    {result.data}")
    for role, path in result.runs.items():
        click.echo(f"{role + ':':8} {path}")
    click.echo(f"results: {result.out / 'results'}")
    click.echo(f"summary: {result.out / 'summary.json'} and {result.out / 'summary.md'}")
    click.echo(f"done in {result.seconds:.0f} s")
