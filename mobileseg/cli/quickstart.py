"""``mobileseg quickstart``: the whole pipeline on a small generated dataset."""

from __future__ import annotations

import textwrap
from pathlib import Path

import click
import torch

from mobileseg.quickstart import TIMING_CAPTION, caption, run_quickstart


@click.command()
@click.option("--out", default=Path("mobileseg-quickstart"), show_default=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Folder for the data, results and summary (reused by a second run).")
@click.option("--budget", default="standard", show_default=True, type=click.Choice(["standard", "tiny"]),
              help="standard: about 8 min on 2 CPU cores; tiny: the same pipeline with toy sizes (about a minute, for tests).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Seed of the three training runs (the dataset is the same at every seed).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads of the teacher's training, the runtimes and the timings (each student trains on one). "
                   "[default: torch's, usually the number of cores]")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes for the two students (trained side by side, one thread each), the exports and the J&F rows; "
                   "1 runs everything here, one after the other. [default: 2]")
@click.option("--overwrite", is_flag=True,
              help="Run in an --out that holds files mobileseg did not write (files of the names it writes are replaced). "
                   "Without it such a folder is refused; a training run there that the quickstart did not write is never removed.")
def quickstart(out: Path, budget: str, seed: int, threads: int | None, workers: int | None, overwrite: bool) -> None:
    """Run every stage on a small SynthVOS dataset and print one table.

    Generates the data, trains a small teacher (unbounded memory) and a small two-slot student
    twice with the same data, steps and seed: without distillation and distilled from the
    teacher (MobileVOS). Exports the distilled student to every installed target (each checked
    against PyTorch over a whole video), segments the val videos with the copy-first-mask
    baseline, the teacher, both students and every exported file in its runtime, scores them
    with J&F and prints model, parameters, J&F and file size (the same table every run: training
    is deterministic), then the ms/frame of the teacher, the student and each exported file at
    frames 10 and 500 of a video on this host. A second run reuses what is done (each verified
    export on its own) and resumes a killed training run.

    An export target that fails its check is a "failed: <reason>" row of the table; the other
    stages still run, and the command ends with a one-line summary and exit status 1.
    """

    if threads is not None:

        torch.set_num_threads(threads)
    result = run_quickstart(out, budget, seed=seed, threads=threads, workers=workers, overwrite=overwrite)
    click.echo("")
    click.echo(result.table())
    click.echo("")
    click.echo(textwrap.fill(caption(budget), width=100))
    click.echo("")
    click.echo(textwrap.fill(TIMING_CAPTION, width=100))
    click.echo(result.timings())
    click.echo("")
    click.echo(f"{'data:':17} {result.data}")
    for role, path in result.runs.items():
        click.echo(f"{role + ':':17} {path}")
    click.echo(f"{'results:':17} {result.out / 'results'}")
    click.echo(f"{'summary:':17} {result.out / 'summary.json'} and {result.out / 'summary.md'}")
    click.echo(f"done in {result.seconds:.0f} s")
    failed = result.failure_line()
    if failed is not None:  # every other stage ran and is in the table; the exit status says something failed
        raise click.ClickException(failed)
