"""`visionflow check` and `visionflow fix`: thin shells over visionflow.checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ..checks.config import CheckConfig
from ..core.errors import Error
from . import render
from .app import (FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt, IntoSourceOpt,
                  InputOpt, OptionOpt, OverwriteOpt, command, parse_options)

_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}
_DEFAULTS = CheckConfig()


@command
def check(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to check.")],
    from_: FromOpt = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the findings and statistics as JSON on stdout.")] = False,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write a self-contained HTML report (charts, heatmaps, thumbnails "
        "of the offending images) to this file (not inside the dataset unless "
        "--into-source).")] = None,
    fail_on: Annotated[str, typer.Option(
        "--fail-on", help="Exit with status 1 when a finding of this severity or worse "
        "exists: error, warning or never.")] = "never",
    min_size: Annotated[float, typer.Option(
        help="Objects with a side under this many pixels after resizing to --input-size are "
        "tiny.")] = _DEFAULTS.min_size,
    input_size: Annotated[int, typer.Option(
        help="The model's input size (longer side, pixels).")] = _DEFAULTS.input_size,
    iou: Annotated[float, typer.Option(
        help="Boxes of one class in one image with this IoU or more are duplicates.")
    ] = _DEFAULTS.iou,
    imbalance_ratio: Annotated[float, typer.Option(
        help="Most/fewest annotations per class from which classes are imbalanced.")
    ] = _DEFAULTS.imbalance_ratio,
    near_dup_distance: Annotated[int, typer.Option(
        help="Most differing bits (of 64) between perceptual hashes of near-duplicate images; "
        "-1 turns the search off.")] = _DEFAULTS.near_dup_distance,
    whole_image: Annotated[float, typer.Option(
        help="A box covering this fraction of its image or more covers the whole image.")
    ] = _DEFAULTS.whole_image,
    edge_tolerance: Annotated[float, typer.Option(
        help="Pixels a box may reach past the image edge before it is out of bounds.")
    ] = _DEFAULTS.edge_tolerance,
    max_aspect_ratio: Annotated[float, typer.Option(
        help="Boxes longer than this many times their width (or the reverse) are flagged.")
    ] = _DEFAULTS.max_aspect_ratio,
    images: Annotated[bool, typer.Option(
        "--images/--no-images", help="Read the image files (headers, truncation, EXIF, "
        "hashes); --no-images checks the annotations only.")] = True,
    hashes: Annotated[bool, typer.Option(
        "--hash/--no-hash", help="Hash image contents to find exact and near duplicates and "
        "split leakage (decodes pixels at reduced size).")] = True,
    workers: Annotated[Optional[int], typer.Option(
        help="Processes reading images (default: one per CPU).")] = None,
    limit: Annotated[int, typer.Option(
        help="Findings listed one by one in the terminal (all go to --json and --report).")
    ] = 20,
    into_source: IntoSourceOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Check a dataset's health: files, geometry, class distribution, duplicates and leakage.

    Reads the dataset leniently (defects the reader would refuse are found, not fatal) and
    prints a summary per kind of finding. Exit status: 0, or 1 with --fail-on when a finding
    of that severity or worse exists (also 1 when the dataset cannot be read at all).

    Examples:

      visionflow check data/

      visionflow check data/ --report health.html

      visionflow check data/ --json --fail-on error > findings.json

      visionflow check data/ --no-images --iou 0.9 --min-size 8 --input-size 1280
    """
    from ..checks.run import FAIL_LEVELS
    from ..commands import check as run

    if fail_on not in FAIL_LEVELS:
        raise Error(f"--fail-on must be one of {', '.join(FAIL_LEVELS)}, got {fail_on!r}")
    config = CheckConfig(min_size=min_size, input_size=input_size, iou=iou,
                         imbalance_ratio=imbalance_ratio, near_dup_distance=near_dup_distance,
                         whole_image=whole_image, edge_tolerance=edge_tolerance,
                         max_aspect_ratio=max_aspect_ratio, read_images=images,
                         hash_images=images and hashes, workers=workers)
    result = run(src, config, format=from_, html=report, into_source=into_source,
                 images_dir=images_dir, follow_links=follow_links, progress=render.progress_bar,
                 read_options=parse_options(input_option))
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        _print_check(result, limit)
    if report is not None:
        render.err.print(render.text((f"wrote {report}", "green")), highlight=False)
    if result.fails(fail_on):
        raise typer.Exit(1)


@command
def fix(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder for the fixed dataset (created; "
                                        "must be empty or absent).")],
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Output format (default: the source's).")] = None,
    from_: FromOpt = None,
    remap: Annotated[Optional[list[str]], typer.Option(
        "--remap", help="OLD=NEW: rename class OLD, or merge it into NEW when NEW exists "
        "(NAME=NAME merges classes sharing a name). Repeatable.")] = None,
    drop_class: Annotated[Optional[list[str]], typer.Option(
        "--drop-class", help="Remove this class and its annotations. Repeatable.")] = None,
    exif: Annotated[bool, typer.Option(
        "--exif/--no-exif", help="Apply EXIF orientation to pixels and annotations together "
        "(re-encodes only the rotated images).")] = True,
    clip: Annotated[bool, typer.Option(
        "--clip/--no-clip", help="Clip boxes, polygons and polylines to the image.")] = True,
    degenerate: Annotated[bool, typer.Option(
        "--drop-degenerate/--keep-degenerate", help="Drop NaN, negative and zero-size boxes, "
        "degenerate polygon rings and polyline paths and annotations of unknown classes.")] = True,
    dedupe: Annotated[bool, typer.Option(
        "--dedupe/--no-dedupe", help="Drop exact duplicate boxes and exact duplicate images "
        "(same bytes, same annotations).")] = True,
    images: ImagesOpt = "copy",
    option: OptionOpt = None,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    report_json: Annotated[Optional[Path], typer.Option(
        "--report-json", help="Write every change as JSON to this file (not inside the "
        "dataset unless --into-source).")] = None,
    limit: Annotated[int, typer.Option(help="Changes listed one by one in the terminal.")] = 20,
    into_source: IntoSourceOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Write a fixed copy of a dataset: only safe fixes, every change listed.

    Clips boxes to the image, drops zero-area and degenerate shapes, drops exact duplicate
    boxes and images, applies EXIF orientation to pixels and annotations together, remaps or
    drops classes when told. The source is never modified; DST appears complete or not at all.

    Examples:

      visionflow fix data/ data-fixed/

      visionflow fix data/ fixed/ --to yolo --remap Mask=Mask --drop-class background

      visionflow fix export/ fixed/ --report-json changes.json
    """
    mapping: dict[str, str] = {}
    for pair in remap or []:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise Error(f"--remap expects OLD=NEW, got {pair!r}")
        mapping[old.strip()] = new.strip()
    from ..commands import fix as run
    result = run(src, dst, to=to, format=from_, images=images,
                 write_options=parse_options(option), overwrite=overwrite, force=force,
                 report_json=report_json, into_source=into_source, images_dir=images_dir,
                 follow_links=follow_links, progress=render.progress_bar, remap=mapping,
                 read_options=parse_options(input_option),
                 drop_classes=tuple(drop_class or ()), apply_exif=exif, clip=clip,
                 drop_degenerate=degenerate, drop_duplicate_boxes=dedupe,
                 drop_duplicate_images=dedupe)
    _print_changes(result.changes, limit)
    render.print_report(result.report)
    render.print_written(result.report, dst, f"{len(result.changes)} changes")


# --- rendering -------------------------------------------------------------------------------

def _print_check(result, limit: int) -> None:
    ds = result.dataset
    counts = result.counts()
    render.out.print(render.text(
        f"checked {result.source} ({ds.source_format}, {len(ds.images)} images, "
        f"{len(ds.annotations)} annotations): ", (f"{counts['error']} errors", "red"), ", ",
        (f"{counts['warning']} warnings", "yellow"), f", {counts['info']} infos"), highlight=False)
    if not result.findings:
        render.out.print(render.text(("no findings", "green")))
        return
    render.out.print(_grouped_table("Findings", result.findings))
    shown = [f for f in result.findings if f.severity != "info"][:limit]
    for f in shown:
        render.out.print(render.text((f.severity, _STYLE[f.severity]), " ", (f.code, "dim"),
                                     f" {f.where + ': ' if f.where else ''}{f.message}"),
                         highlight=False, soft_wrap=True)
    rest = sum(1 for f in result.findings if f.severity != "info") - len(shown)
    if rest > 0:
        render.out.print(f"... and {rest} more (see --json or --report)", highlight=False)


def _print_changes(changes, limit: int) -> None:
    if not changes:
        render.out.print("no changes: nothing needed fixing")
        return
    render.out.print(_grouped_table("Changes", changes))
    for c in changes[:limit]:
        render.out.print(render.text((c.code, "dim"),
                                     f" {c.where + ': ' if c.where else ''}{c.message}"),
                         highlight=False, soft_wrap=True)
    if len(changes) > limit:
        render.out.print(f"... and {len(changes) - limit} more (see --report-json)",
                         highlight=False)


def _grouped_table(title: str, findings) -> Table:
    from ..checks.findings import SEVERITY_RANK

    groups: dict[tuple[str, str], list] = {}
    for f in findings:
        groups.setdefault((f.severity, f.code), []).append(f)
    table = Table(title=title, title_justify="left")
    for col, justify in (("severity", "left"), ("code", "left"), ("count", "right"),
                         ("example", "left")):
        table.add_column(col, justify=justify, overflow="fold")
    for (sev, code), fs in sorted(groups.items(), key=lambda kv: (SEVERITY_RANK[kv[0][0]],
                                                                 kv[0][1])):
        f = fs[0]
        example = f"{f.where}: {f.message}" if f.where else f.message
        table.add_row(render.text((sev, _STYLE[sev])), code, str(len(fs)),
                      example if len(example) <= 140 else example[:139] + "…")
    return table

