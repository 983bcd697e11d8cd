"""The Typer app and the rule every command follows. Command modules register on `app` with
`@command`; main.py imports them."""

from __future__ import annotations

import functools
import inspect
import os
import re
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from ..core.errors import DataWarning, Error
from ..io.atomic import WRITE_ERRNOS
from . import render
from ._format_options import READ_HELP, WRITE_HELP

app = typer.Typer(
    name="visionflow",
    help="The ETL layer of computer vision: read any annotation format, check it, convert it "
         "to any training format, version it, evaluate models against it, find its "
         "near-duplicates and what to label next, and see the result.\n\n"
         "Examples:\n\n"
         "  visionflow detect data/\n\n"
         "  visionflow info data/\n\n"
         "  visionflow convert data/ out/ --to yolo\n\n"
         "  visionflow dedup data/ clean/ --report duplicates.html\n\n"
         "  visionflow show out/ --out grid.png\n\n"
         "Documentation: docs/ (make docs), or each command's --help.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FromOpt = Annotated[Optional[str], typer.Option(
    "--from", "-f", help="Source format; skips detection (see 'visionflow formats').")]
SkipOpt = Annotated[bool, typer.Option(
    "--skip-errors", help="Same as --errors skip.")]
# --errors on every command that reads a dataset, resolved with --skip-errors by errors_flag.
ErrorsOpt = Annotated[Optional[str], typer.Option(
    "--errors", metavar="raise|skip|keep",
    help="Bad records: raise (stop at the first; default), skip (report them and leave them "
    "out) or keep (report them and keep those the model can hold, e.g. a box outside its "
    "image).")]
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
    "--input-option", "-I", help=READ_HELP)]
# -O on every command that writes a dataset; the help lists each format's declared options.
OptionOpt = Annotated[Optional[list[str]], typer.Option("--option", "-O", help=WRITE_HELP)]


INTERNAL_ERROR_EXIT = 70  # EX_SOFTWARE (sysexits.h): a bug in visionflow, not in the data
DEBUG_ENV = "VISIONFLOW_DEBUG"


def command(fn=None, *, on: typer.Typer | None = None, name: str | None = None):
    """app.command() plus the one rule of the CLI: a visionflow.Error is one line on stderr and
    exit status 1; Ctrl-C or SIGTERM leave no partial output and exit 130. Anything else is a
    bug: one "internal error" line asking for a report and exit status 70, the traceback only
    with VISIONFLOW_DEBUG=1 (users never see one; bugs stay visible and distinguishable). `on`
    registers on a sub-app (e.g. `visionflow version ...`) under `name`."""
    def register(fn):
        sig = inspect.signature(fn, eval_str=True)
        # Every command that reads a dataset (it takes --from) takes --images-dir and
        # --follow-links and passes them to the library function it calls (explicitly: there
        # is no side channel). One that does not declare them yet gets the options here and
        # refuses them in one line rather than ignoring them.
        missing = ([n for n in ("images_dir", "follow_links") if n not in sig.parameters]
                   if "from_" in sig.parameters else [])
        flags = _flags(sig)

        @functools.wraps(fn)
        def run(*args, **kwargs):
            for n in missing:
                if kwargs.pop(n, None):
                    render.err.print(render.text(("error:", "red"), f" {flags[n]} is not "
                                                 "supported by this command yet"),
                                     highlight=False)
                    raise typer.Exit(1)
            try:
                with warnings.catch_warnings():
                    warnings.showwarning = _show_warning
                    return fn(*args, **kwargs)
            except Error as e:
                render.err.print(render.text(("error:", "red"), f" {as_flags(str(e), flags)}"),
                                 highlight=False, soft_wrap=True)
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
        if missing:
            hints = {"images_dir": ImagesDirOpt, "follow_links": FollowLinksOpt}
            extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY,
                                       default=None if n == "images_dir" else False,
                                       annotation=hints[n]) for n in missing]
            run.__signature__ = sig.replace(parameters=[*sig.parameters.values(), *extra])
            run.__annotations__ = {**fn.__annotations__, **{n: hints[n] for n in missing}}
        return (on or app).command(name)(run)
    return register(fn) if fn is not None else register


# Library messages name parameters in backquotes (`images_dir`, `errors="skip"`); the CLI says
# the flag instead. A parameter is the flag of the command's own parameter of that name; the
# library names below are spelt differently on the command line.
LIBRARY_NAMES = {"format": "from_", "gt_format": "from_", "html": "report",
                 'errors="skip"': "skip_errors", "errors='skip'": "skip_errors"}
_QUOTED = re.compile(r"`([^`\s]+)`")


def _flags(sig: inspect.Signature) -> dict[str, str]:
    """Parameter name -> the flag the user types (its first long option), for one command."""
    flags = {}
    for p in sig.parameters.values():
        decls = [d for m in getattr(p.annotation, "__metadata__", ())
                 for d in (getattr(m, "param_decls", None) or ()) if d.startswith("--")]
        flags[p.name] = (decls[0].split("/")[0] if decls
                         else "--" + p.name.rstrip("_").replace("_", "-"))
    return {"images_dir": "--images-dir", "follow_links": "--follow-links", **flags}


def as_flags(message: str, flags: dict[str, str], *, bare: tuple[str, ...] = ()) -> str:
    """A library message with each `parameter` said as the command's flag (`images_dir` ->
    --images-dir, `html` -> --report, `images="none"` -> --images none); a name the command
    has no flag for is left as written, without the quotes. bare: parameters named without
    quotes (a recipe operation's messages), said as their flags where they stand as words."""
    for name in bare:
        said = flags.get(name, "--" + name.replace("_", "-"))
        message = re.sub(rf"(?<![\w/.-]){name}(?![\w/.-])", said, message)

    def flag(m: re.Match) -> str:
        token = m.group(1)
        if LIBRARY_NAMES.get(token) in flags:  # errors="skip" -> --skip-errors
            return flags[LIBRARY_NAMES[token]]
        name, _, value = token.partition("=")
        param = LIBRARY_NAMES.get(name, name)
        if param not in flags:
            return token
        value = value.strip("'\"")
        return flags[param] + (f" {value}" if value and value != "True" else "")
    return _QUOTED.sub(flag, message)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A DataWarning (what the library skipped, when a command passes it no report) is one
    "warning:" line like the report's; other warnings as Python shows them."""
    if issubclass(category, DataWarning):
        render.err.print(render.text(("warning", "yellow"), f": {message}"), highlight=False,
                         soft_wrap=True)
        return
    _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


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


def errors_flag(errors: str | None, skip_errors: bool = False) -> str:
    """The `errors` value of --errors and its alias --skip-errors (= --errors skip): checked,
    and refused in one line when the two disagree."""
    from ..api import errors_mode
    if skip_errors and errors not in (None, "skip"):
        raise Error(f"--skip-errors means --errors skip, but --errors {errors} was given too; "
                    "give one of them")
    return errors_mode("skip" if skip_errors else (errors or "raise"))


def parse_options(pairs: list[str] | None) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise Error(f"--option expects KEY=VALUE, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


