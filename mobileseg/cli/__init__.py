"""The ``mobileseg`` command line: thin click commands over the library.

Each command parses its options, builds the library's arguments and calls one function. Any
:class:`~mobileseg.errors.MobilesegError` becomes one ``Error: ...`` line and exit status 1.
"""

from __future__ import annotations

import logging
import signal

import click

from mobileseg import __version__
from mobileseg.errors import MobilesegError
from mobileseg.utils.fsio import write_failure
from mobileseg.cli.bench import bench_command
from mobileseg.cli.data import data
from mobileseg.cli.distill import distill_command
from mobileseg.cli.eval import eval_command
from mobileseg.cli.export import export_command, verify_command
from mobileseg.cli.quickstart import quickstart
from mobileseg.cli.run import run_command
from mobileseg.cli.train import train_command


class _Group(click.Group):
    """A group that turns library errors into clean messages (no traceback)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MobilesegError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # a full disk, a read-only mount: the machine's state, not a bug
            line = write_failure(exc)
            if line is None:
                raise
            raise click.ClickException(line) from None
        except MemoryError:
            raise click.ClickException("out of memory: the input size or batch is too large for this machine; choose a "
                                       "smaller --size (or --batch-size), or close other programs.") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mobileseg")
@click.option("-q", "--quiet", is_flag=True, help="Only print warnings, errors and final results.")
def cli(quiet: bool) -> None:
    """mobileseg: train-to-phone video object segmentation.

    \b
    The pipeline, one command per stage:
      data synth   generate SynthVOS videos + masks (DAVIS 2017 layout)
      train        train a student or teacher network on video clips
      distill      train a student from a frozen teacher (MobileVOS, CIRKD), label-guided (LGD) or the no-KD baseline
      eval         J&F (DAVIS 2017 protocol) of predicted masks or of a checkpoint
      export       ONNX / TFLite / ExecuTorch / Core ML with explicit memory state
      verify       re-check an exported file against PyTorch over a whole video
      bench        per-frame latency on this host or on an Android phone over adb
      run          segment a video from its first-frame mask; masks + overlay
      quickstart   every stage above on a small generated dataset, one table

    Run `mobileseg COMMAND --help` for the options of a stage.
    """
    logging.basicConfig(format="%(message)s", level=logging.WARNING if quiet else logging.INFO, force=True)


def _register() -> None:

    cli.add_command(data)
    cli.add_command(train_command)
    cli.add_command(distill_command)
    cli.add_command(eval_command)
    cli.add_command(export_command)
    cli.add_command(verify_command)
    cli.add_command(bench_command)
    cli.add_command(run_command)
    cli.add_command(quickstart)


_register()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends like Ctrl-C: every cleanup (staging folders, locks) runs on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="mobileseg")
