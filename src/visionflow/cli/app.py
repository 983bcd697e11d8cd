"""The Typer app and the rule every command follows. Command modules register on `app` with
`@command`; main.py imports them."""

from __future__ import annotations

import functools
import inspect
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from ..core.errors import Error
from ..formats.base import read_defaults
from ..io.atomic import WRITE_ERRNOS
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
OverwriteOpt = Annotated[bool, typer.Option(
    help="Replace a non-empty DST that visionflow wrote; the old one is removed only once the "
         "new one is complete.")]
ForceOpt = Annotated[bool, typer.Option(
    "--force", help="With --overwrite: replace DST even if visionflow did not write it (no "
    ".visionflow-output file), deleting everything it holds.")]
ImagesOpt = Annotated[str, typer.Option(
    help="How images reach the output: copy (a copy-on-write clone where the filesystem can, "
         "a plain copy otherwise), link (hard links: fast, but editing an output image in "
         "place edits the source too), or none (annotations only). Never re-encoded.")]
IntoSourceOpt = Annotated[bool, typer.Option(
    "--into-source", help="Allow writing the file inside the dataset's folder (adding a file; "
    "never replacing one). The source is otherwise never modified.")]
ImagesDirOpt = Annotated[Optional[Path], typer.Option(
    "--images-dir", help="Folder holding the images when they are not where the format puts "
    "them (a COCO file, CSV or boxes-only TFRecord kept apart from its images); a name is "
    "looked up there as written, else by its last parts (train/x.jpg -> x.jpg).")]
FollowLinksOpt = Annotated[bool, typer.Option(
    "--follow-links", help="Follow symlinks that lead out of the dataset folder (linked image "
    "folders); they are refused otherwise.")]
InputOpt = Annotated[Optional[list[str]], typer.Option(
    "--input-option", "-I", help="Reader option KEY=VALUE, e.g. -I coords=one-based for VOC "
                                 "files in the devkit's 1-based indices.")]


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE (sysexits.h): a bug in visionflow, not in the data
DEBUG_ENV = "VISIONFLOW_DEBUG"


def command(fn=None, *, on: typer.Typer | None = None, name: str | None = None):
    """app.command() plus the one rule of the CLI: a visionflow.Error is one line on stderr and
    exit status 1; Ctrl-C or SIGTERM leave no partial output and exit 130. Anything else is a
    bug: one "internal error" line asking for a report and exit status 70, the traceback only
    with VISIONFLOW_DEBUG=1 (users never see one; bugs stay visible and distinguishable). `on`
    registers on a sub-app (e.g. `visionflow version ...`) under `name`."""
    def register(fn):
        # Every command that reads a dataset (it takes --from) also takes --images-dir and
        # --follow-links, here in one place; they hold for each api.load the command makes.
        sig = inspect.signature(fn, eval_str=True)
        reads = "from_" in sig.parameters

        @functools.wraps(fn)
        def run(*args, **kwargs):
            read = {"images_dir": kwargs.pop("images_dir", None),
                    "follow_links": kwargs.pop("follow_links", False)} if reads else {}
            try:
                with read_defaults(**read):
                    return fn(*args, **kwargs)
            except Error as e:
                render.err.print(render.text(("error:", "red"), f" {e}"), highlight=False,
                                 soft_wrap=True)
                raise typer.Exit(1) from None
            except KeyboardInterrupt:
                render.err.print("interrupted; nothing was written", highlight=False)
                raise typer.Exit(130) from None
            except OSError as e:  # a full disk, a size limit, a read-only or forbidden place
                if e.errno not in WRITE_ERRNOS:
                    _internal_error(e)  # (a bare raise here would skip the handlers below)
                where = e.filename2 or e.filename or ""  # a copy's target, else the file
                render.err.print(render.text(("error:", "red"), f" {where}: {e.strerror or e}"),
                                 highlight=False, soft_wrap=True)
                raise typer.Exit(1) from None
            except _PASS_THROUGH:
                raise  # a command's own exit status, or Typer/Click reporting a usage error
            except Exception as e:  # noqa: BLE001 - the last line of defence, see docstring
                _internal_error(e)
        if reads:
            extra = [inspect.Parameter("images_dir", inspect.Parameter.KEYWORD_ONLY,
                                       default=None, annotation=ImagesDirOpt),
                     inspect.Parameter("follow_links", inspect.Parameter.KEYWORD_ONLY,
                                       default=False, annotation=FollowLinksOpt)]
            run.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])
            run.__annotations__ = {**fn.__annotations__, "images_dir": ImagesDirOpt,
                                   "follow_links": FollowLinksOpt}
        return (on or app).command(name)(run)
    return register(fn) if fn is not None else register


def _pass_through() -> tuple[type[BaseException], ...]:
    """A command's own exit status and usage errors: Typer's classes, and Click's where Click
    is installed (older Typer releases are built on it; newer ones need no Click at all)."""
    kinds: list[type[BaseException]] = [typer.Exit, typer.Abort,
                                        typer.exceptions.TyperException]
    try:
        import click
    except ImportError:
        return tuple(kinds)
    return (*kinds, click.exceptions.Exit, click.exceptions.ClickException,
            click.exceptions.Abort)


_PASS_THROUGH = _pass_through()


def _internal_error(e: BaseException) -> None:
    """One line for a bug (the traceback with VISIONFLOW_DEBUG=1), exit status 70. Called
    while `e` is being handled, so that the traceback printed is its own."""
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        render.err.print_exception(show_locals=False)
    detail = str(e).splitlines()[0] if str(e) else ""
    render.err.print(render.text(
        ("internal error:", "red"), f" {type(e).__name__}" + (f": {detail}" if detail else "")
        + f" (a bug in visionflow {__version__}, not in your data; please report it with the "
        f"output of the same command run with {DEBUG_ENV}=1)"), highlight=False, soft_wrap=True)
    raise typer.Exit(INTERNAL_ERROR_EXIT) from None


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


