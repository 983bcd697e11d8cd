"""`visionflow dedup`: a thin shell over visionflow.embeddings.dedup."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from ..core.report import Report
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt,
                  InputOpt, IntoSourceOpt, OptionOpt, OverwriteOpt, SkipOpt, command,
                  errors_flag, parse_options)


@command
def dedup(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder for the deduplicated dataset "
                                        "(created; must be empty or absent).")],
    method: Annotated[str, typer.Option(
        help="hash (perceptual hash, no extra needed) or embedding (a model's vectors, "
        "pip install 'visionflow[embed]').")] = "hash",
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="phash, dhash or whash for --method hash (default phash); a "
        "Hugging Face CLIP/SigLIP/DINOv2 model or a .onnx file for --method embedding.")
    ] = None,
    threshold: Annotated[Optional[float], typer.Option(
        help="Most differing bits for hashes (default 14 of 64 with --confirm, 10 without), or "
        "most cosine distance for embeddings (default 0.05).")] = None,
    keep: Annotated[str, typer.Option(
        help="Which image of a group stays: largest (most pixels), first (dataset order) or "
        "most-labelled (most annotations).")] = "largest",
    merge_labels: Annotated[bool, typer.Option(
        "--merge-labels", help="Move the annotations of removed images onto the kept image "
        "(scaled when sizes differ; ones already there are skipped). Without it they are "
        "left out of DST and listed (on stderr, and in --report).")] = False,
    confirm: Annotated[str, typer.Option(
        help="Confirm each candidate pair on pixels of 32x32 grey thumbnails: ssim "
        "(structural similarity >= 0.6), pixels (grey-level correlation >= 0.7) or none; "
        "auto: ssim for hashes, none for model embeddings.")] = "auto",
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Output format (default: the source's).")] = None,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write a self-contained HTML report (groups with thumbnails, what "
        "was kept and why, the annotations of removed images) to this file.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print {"groups": [[file name, ...]], "kept": [...], "removed": [...]} '
        "on stdout (the kept image first in each group).")] = False,
    images: ImagesOpt = "copy",
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
    into_source: IntoSourceOpt = False,
):
    """Find near-duplicate images and write the dataset without them.

    Candidate pairs come from an index over perceptual hashes (exact within --threshold bits)
    or model embeddings (approximate nearest neighbours), never from all pairs; images with the
    same bytes are always one group. Embeddings are stored per image content, so a second run
    only reads them back. The removed images' annotations are never silently lost: they are
    merged into the kept image (--merge-labels) or listed (on stderr, and in --report).

    Examples:

      visionflow dedup scraped/ clean/ --report duplicates.html

      visionflow dedup data/ out/ --keep most-labelled --merge-labels --to coco

      visionflow dedup data/ out/ --method embedding --model openai/clip-vit-base-patch32

      visionflow dedup data/ out/ --threshold 14 --confirm ssim --json > groups.json
    """
    from ..embeddings.dedup import dedup_path
    findings = Report()
    result = dedup_path(src, dst, method=method, model=model, threshold=threshold, keep=keep,
                        merge_labels=merge_labels, confirm=confirm, to=to, html=report,
                        images=images, overwrite=overwrite, force=force, format=from_,
                        errors=errors_flag(errors, skip_errors), images_dir=images_dir,
                        follow_links=follow_links, into_source=into_source,
                        write_options=parse_options(option), report=findings,
                        progress=render.progress_bar, **parse_options(input_option))
    notes = result.notes
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
    render.print_report(findings)
    lost = 0 if merge_labels else len(result.removed_annotations)
    render.err.print(render.text(
        ("dedup", "green"), f" {render.plural(len(result.groups), 'group')} of near-duplicates"
        f" ({result.method}, {result.model}, threshold {result.threshold:g}): kept "
        f"{len(result.kept)}, removed {render.plural(len(result.removed), 'image')}"
        + (f"; {render.plural(lost, 'annotation')} of removed images left out (listed "
           f"{'in the report' if report else 'below'})" if lost else "")),
        highlight=False, soft_wrap=True)
    for note in notes[:20]:
        render.err.print(f"  {note}", highlight=False, soft_wrap=True)
    if lost and report is None:
        _print_left_out(result)
    render.print_written(findings, dst)
    if report is not None:
        render.err.print(render.text((f"wrote {report}", "green")), highlight=False)


def _print_left_out(result, limit: int = 10) -> None:
    """Without --report, the images whose annotations were left out, on stderr: never a silent
    loss, even when nobody asked for the report."""
    counts = np.bincount(result.dataset.annotations.image_index,
                         minlength=len(result.dataset.images))
    lines = [(r, g[0]) for g in result.groups for r in g[1:] if counts[r]]
    for r, kept in lines[:limit]:
        n = render.plural(int(counts[r]), "annotation")
        render.err.print(f"  left out: {result.name(r)} ({n}), a duplicate of "
                         f"{result.name(kept)}", highlight=False, soft_wrap=True)
    more = f"{len(lines) - limit} more images; " if len(lines) > limit else ""
    render.err.print(f"  ({more}--report FILE.html lists them all, --merge-labels keeps them)",
                     highlight=False, soft_wrap=True)
