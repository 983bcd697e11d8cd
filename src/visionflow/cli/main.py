"""The `visionflow` command: a thin shell over the library. Each command parses its arguments,
calls one library function and renders the result; a user's mistake is one line on stderr and
exit status 1, never a traceback."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..core.report import Report
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt, InputOpt,
                  IntoSourceOpt, OptionOpt, OverwriteOpt, SkipOpt, app, command, errors_flag,
                  parse_options)


@command
def convert(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    to: Annotated[str, typer.Option("--to", "-t", help="Target format, e.g. coco, voc, yolo, "
                                    "yolo-darknet.")],
    from_: FromOpt = None,
    images: ImagesOpt = "copy",
    strict: Annotated[bool, typer.Option(
        help="Fail if the target format cannot hold everything (polygons into VOC, ...), or "
             "if the source uses classes it does not declare.")] = False,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Convert a dataset to another format, through the canonical model.

    Output is written to a temporary folder beside DST and renamed when complete; the source
    is never modified, and DST may not be, contain or lie inside it. What the target format
    cannot hold is reported (once per kind).

    Examples:

      visionflow convert raccoon/ raccoon-coco/ --to coco

      visionflow convert coco/annotations/instances_val.json val-yolo/ --to yolo --images link

      visionflow convert export/ out/ --to voc --strict
    """
    report = api.convert(src, dst, to, from_format=from_, images=images, strict=strict,
                         overwrite=overwrite, force=force,
                         errors=errors_flag(errors, skip_errors), images_dir=images_dir,
                         follow_links=follow_links, read_options=parse_options(input_option),
                         write_options=parse_options(option), progress=render.progress_bar)
    render.print_report(report)
    render.print_written(report, dst)


@command
def info(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file.")],
    from_: FromOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Summarize a dataset: images, annotations per class and split, kinds of geometry.

    Examples:

      visionflow info data/

      visionflow info data/annotations/instances_train.json --json
    """
    from ..commands import info as run
    report = Report()
    data = run(src, from_, errors=errors_flag(errors, skip_errors), images_dir=images_dir,
               follow_links=follow_links, report=report, progress=render.progress_bar,
               **parse_options(input_option))
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return
    render.print_report(report)
    for table in render.info_tables({k: v for k, v in data.items() if k != "problems"}):
        render.out.print(table)


@command
def show(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write (not inside the "
                                      "dataset unless --into-source).")],
    from_: FromOpt = None,
    limit: Annotated[int, typer.Option(help="Most images to draw.")] = 16,
    class_name: Annotated[Optional[str], typer.Option(
        "--class", help="Only images with an annotation of this class.")] = None,
    tile_size: Annotated[int, typer.Option(help="Tile size in pixels.")] = 320,
    columns: Annotated[Optional[int], typer.Option(help="Tiles per row.")] = None,
    random: Annotated[bool, typer.Option(help="A random sample instead of the first images.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for --random.")] = 0,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    into_source: IntoSourceOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Draw boxes, polygons, masks and keypoints with class names over the images, in a grid.

    One color per class, so a misplaced box after a conversion is visible at a glance.

    Examples:

      visionflow show data/ --out grid.png

      visionflow show out-yolo/ --out cats.png --class cat --limit 9
    """
    from ..commands import show as run
    report = Report()
    grid = run(src, out, format=from_, limit=limit, class_name=class_name, tile_size=tile_size,
               columns=columns, random=random, seed=seed,
               errors=errors_flag(errors, skip_errors), images_dir=images_dir,
               follow_links=follow_links, into_source=into_source, report=report,
               read_options=parse_options(input_option))
    render.print_report(report)
    render.err.print(render.text((f"wrote {out}", "green"),
                                 f" ({grid.image.width}x{grid.image.height})"), highlight=False)


@command
def detect(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
):
    """Tell which format a dataset is in, with confidence and reasons.

    Exits 1 when no format matches or when two are equally likely (then pass --from).

    Examples:

      visionflow detect data/
    """
    found = api.detect(src)  # detection runs once: found.best decides from these candidates
    if as_json:
        sys.stdout.write(json.dumps([{"format": d.format, "confidence": round(d.confidence, 3),
                                      "reasons": list(d.reasons)} for d in found], indent=2) + "\n")
    else:
        for d in found:
            render.out.print(f"{d.format:14} {d.confidence:.2f}  {'; '.join(d.reasons)}",
                             highlight=False, soft_wrap=True)
    found.best  # noqa: B018  (raises NotDetected / AmbiguousFormat -> exit 1)


@command
def formats(as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False):
    """List every format with what it can hold, whether it can be read and written, and its
    writer (-O) and reader (-I) options; --json gives each option's type, default, choices
    and help.

    Examples:

      visionflow formats

      visionflow formats --json
    """
    rows = [{"name": f.name, "read": f.read is not None, "write": f.write is not None,
             "supports": sorted(f.supports), "aliases": list(f.aliases),
             "description": f.description,
             "options": {o.name: o.help for o in f.write_options},  # the older listing
             "write_options": [o.describe() for o in f.write_options],
             "read_options": [o.describe() for o in f.read_options]} for f in api.formats()]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    from rich.table import Table
    table = Table(title="Formats", title_justify="left")
    for col in ("name", "read", "write", "holds", "options", "description"):
        table.add_column(col, overflow="fold" if col == "options" else "ellipsis")
    geometry = ("boxes", "polygons", "masks", "keypoints", "oriented_boxes", "labels")
    for r in rows:
        held = [g.replace("_", " ") for g in geometry if g in r["supports"]]
        options = [f"{flag} {o['name']}={'|'.join(o['choices']) or o['type']}"
                   for flag, key in (("-O", "write_options"), ("-I", "read_options"))
                   for o in r[key]]
        table.add_row(r["name"], "yes" if r["read"] else "-", "yes" if r["write"] else "-",
                      ", ".join(held), "\n".join(options) or "-", r["description"])
    render.out.print(table)


def _terminate(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt


# Command groups beyond the core ones register themselves on import (one line each).
from . import transform  # noqa: E402,F401
from . import check  # noqa: E402,F401
from . import versions  # noqa: E402,F401
from . import evaluate  # noqa: E402,F401
from . import ops  # noqa: E402,F401
from . import embed  # noqa: E402,F401
from . import search  # noqa: E402,F401
from . import dedup  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import autolabel  # noqa: E402,F401
from . import segment  # noqa: E402,F401
from . import distill  # noqa: E402,F401
from . import webapp  # noqa: E402,F401


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)  # clean up temporary output like Ctrl-C does
    app()
