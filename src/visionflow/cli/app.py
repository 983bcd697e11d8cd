"""The Typer app and the rule every command follows. Command modules register on `app` with
`@command`; main.py imports them."""

from __future__ import annotations

import functools
from typing import Annotated, Optional

import typer

from .. import __version__
from ..core.errors import Error
from . import render

app = typer.Typer(
    name="visionflow",
    help="The ETL layer of computer vision: read any annotation format, check it, convert it "
         "to any training format, and see the result.\n\n"
         "Examples:\n\n"
         "  visionflow detect data/\n\n"
         "  visionflow info data/\n\n"
         "  visionflow convert data/ out/ --to yolo\n\n"
         "  visionflow show out/ --out grid.png",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FromOpt = Annotated[Optional[str], typer.Option(
    "--from", "-f", help="Source format; skips detection (see 'visionflow formats').")]
SkipOpt = Annotated[bool, typer.Option(
    "--skip-errors", help="Report bad records and go on instead of stopping at the first.")]


def command(fn=None, *, on: typer.Typer | None = None, name: str | None = None):
    """app.command() plus the one rule of the CLI: a visionflow.Error is one line on stderr and
    exit status 1; Ctrl-C or SIGTERM leave no partial output and exit 130. `on` registers on a
    sub-app (e.g. `visionflow version ...`) under `name`."""
    def register(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Error as e:
                render.err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                render.err.print("interrupted; nothing was written", highlight=False)
                raise typer.Exit(130) from None
        return (on or app).command(name)(run)
    return register(fn) if fn is not None else register


def _version(value: bool) -> None:
    if value:
        render.out.print(f"visionflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")] = False):
    pass


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise Error(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


