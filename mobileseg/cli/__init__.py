"""The ``mobileseg`` command line: thin click commands over the library.

Each command parses its options, builds the library's arguments and calls one function. Any
:class:`~mobileseg.errors.MobilesegError` becomes one ``Error: ...`` line and exit status 1.
"""

from __future__ import annotations

import importlib
import logging
import signal

import click

from mobileseg import __version__
from mobileseg.errors import MobilesegError
from mobileseg.utils.fsio import write_failure

# name -> (module, attribute, its line in `mobileseg --help`), in the pipeline's order. A command's module is
# imported when the command runs (or shows its own --help), so `mobileseg --help` does not import torch.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("mobileseg.cli.data", "data", "generate SynthVOS videos + masks (DAVIS 2017 layout)"),
    "train": ("mobileseg.cli.train", "train_command", "train a student or teacher network on video clips"),
    "distill": ("mobileseg.cli.distill", "distill_command", "train a student taught by a teacher; its --help lists the methods"),
    "eval": ("mobileseg.cli.eval", "eval_command", "J&F (DAVIS 2017 protocol) of predicted masks, a checkpoint or an exported file"),
    "export": ("mobileseg.cli.export", "export_command", "ONNX / TFLite / ExecuTorch / Core ML with explicit memory state"),
    "verify": ("mobileseg.cli.export", "verify_command", "re-check an exported file against PyTorch over a whole video"),
    "bench": ("mobileseg.cli.bench", "bench_command", "per-frame latency on this host or on an Android phone over adb"),
    "run": ("mobileseg.cli.run", "run_command", "segment a video from its first-frame mask; masks + overlay"),
    "demo": ("mobileseg.cli.demo", "demo_command", "segment the camera live in a browser with an exported .tflite (LiteRT.js)"),
    "quickstart": ("mobileseg.cli.quickstart", "quickstart", "every stage above on a small generated dataset, one table"),
}

class _Group(click.Group):
    """The commands of :data:`COMMANDS`, loaded when used; library errors become clean messages (no traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, line) for name, (_, _, line) in COMMANDS.items()])

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

    One command per stage of the pipeline, listed in the order they run; quickstart runs them all
    on a small generated dataset. Run `mobileseg COMMAND --help` for the options of a stage.
    """
    logging.basicConfig(format="%(message)s", level=logging.WARNING if quiet else logging.INFO, force=True)



def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends like Ctrl-C: every cleanup (staging folders, locks) runs on the way out


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="mobileseg")
