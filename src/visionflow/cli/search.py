"""`visionflow search`, `visionflow sample` and `visionflow map`: the embedding commands that
find images, pick what to label next and draw the dataset on a plane."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.report import Report
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt,
                  InputOpt, IntoSourceOpt, OptionOpt, OverwriteOpt, SkipOpt, command, errors_flag,
                  parse_options)

TEXT_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_MODEL = "phash"

ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="Embedder: phash, dhash or whash (no model needed), a Hugging Face "
    "hub id or local folder (CLIP, SigLIP, DINOv2), or a .onnx file.")]
WsOpt = Annotated[Optional[Path], typer.Option(
    "--workspace", "-w", help="Read SRC as a version (or SOURCE@N) of this workspace; its "
    "embeddings are kept in the workspace.")]
ToOpt = Annotated[Optional[str], typer.Option(
    "--to", "-t", help="Format of the written dataset (default: the source's format).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@command
def search(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file (with -w: a "
                                        "workspace version).")],
    query: Annotated[Optional[str], typer.Argument(
        help="What to look for, in words (needs a text model: CLIP, SigLIP).")] = None,
    like: Annotated[Optional[Path], typer.Option(
        "--like", help="Look for images like this image file instead of words.")] = None,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", help="Embedder: a Hugging Face hub id or folder (CLIP or SigLIP for "
        f"words; DINOv2 with --like), a .onnx file, or phash/dhash/whash with --like. Default: "
        f"{TEXT_MODEL} for words, {DEFAULT_MODEL} with --like.")] = None,
    top: Annotated[int, typer.Option(help="How many results.")] = 50,
    patches: Annotated[bool, typer.Option(
        "--patches", help="Search the objects (box crops) instead of whole images.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write the matching images, with their annotations, as a dataset "
        "in this folder (to look at or label them).")] = None,
    to: ToOpt = None,
    images: ImagesOpt = "copy",
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    as_json: JsonOpt = False,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    workspace: WsOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Find the images (or objects) closest to some words or to an example image.

    Images are embedded once and kept (see 'visionflow embed'); the query is embedded with the
    same model. Prints a table, or with --json a list of {file_name, score, split} (and
    object_row, label with --patches).

    Examples:

      visionflow search data/ "a raccoon at night" --top 20

      visionflow search data/ --like query.jpg --model facebook/dinov2-small --json

      visionflow search data/ "a person on a bicycle" --out review/ --to cvat

      visionflow search data/ --like dup.jpg --model phash --top 5
    """
    from ..embeddings.search import find_images
    report = Report()
    hits = find_images(src, query, like=like, model=model, top=top, patches=patches, out=out,
                       to=to, images=images, overwrite=overwrite, force=force, format=from_,
                       errors=errors_flag(errors, skip_errors), images_dir=images_dir,
                       follow_links=follow_links, workspace=workspace,
                       write_options=parse_options(option), report=report,
                       progress=render.progress_bar, read_options=parse_options(input_option))
    if as_json:
        sys.stdout.write(json.dumps([h.to_json() for h in hits], indent=2,
                                    ensure_ascii=False) + "\n")
    else:
        _print_hits(hits, patches)
    render.print_report(report)
    if out is not None:
        render.print_written(report, out)


def _print_hits(hits, patches: bool) -> None:
    from rich.table import Table
    table = Table(title=f"{len(hits)} closest {'objects' if patches else 'images'}",
                  title_justify="left")
    for col in ("#", "score", "image", "split") + (("class", "object") if patches else ()):
        table.add_column(col, justify="right" if col in ("#", "score", "object") else "left")
    for k, h in enumerate(hits, 1):
        table.add_row(str(k), f"{h.score:.4f}", h.file_name, h.split or "-",
                      *((h.label or "?", str(h.object_row)) if patches else ()))
    render.out.print(table)


@command
def sample(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file (with -w: a "
                                        "workspace version).")],
    dst: Annotated[Path, typer.Argument(help="Output folder for the picked images (created; "
                                        "must be empty or absent).")],
    n: Annotated[int, typer.Option("--n", "-n", help="How many images to pick.")],
    strategy: Annotated[str, typer.Option(
        help="diverse (k-center greedy over embeddings: images unlike each other), uncertain "
        "(the model's scores nearest the threshold; needs --predictions) or random.")
    ] = "diverse",
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same images.")] = 0,
    model: ModelOpt = DEFAULT_MODEL,
    from_labelled: Annotated[bool, typer.Option(
        "--from-labelled", help="Pick among the images without annotations only; for diverse, "
        "the ones farthest from the images already labelled.")] = False,
    predictions: Annotated[Optional[str], typer.Option(
        "--predictions", help="For uncertain: a predictions file or folder (a COCO results "
        "file, a dataset with scores), or with -w the name of a stored prediction set.")
    ] = None,
    threshold: Annotated[float, typer.Option(
        help="For uncertain: the score at which a detection is kept.")] = 0.5,
    to: ToOpt = None,
    images: ImagesOpt = "copy",
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    as_json: JsonOpt = False,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    workspace: WsOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Pick which images to label next and write them, with their annotations, as a dataset.

    diverse: k-center greedy (coreset) over image embeddings, each pick the image farthest
    from those picked (with --from-labelled: from those labelled) so far. uncertain: the
    images whose predictions sit nearest the decision threshold (mean of 1 - |2s - 1| per
    image at 0.5). random: a seeded draw. Asking for more images than there are is an error.

    Examples:

      visionflow sample data/ to-label/ --n 500

      visionflow sample data/ to-label/ --n 200 --from-labelled --model facebook/dinov2-small

      visionflow sample data/ to-label/ --n 100 --strategy uncertain --predictions results.json

      visionflow sample v1 to-label/ --n 100 --strategy uncertain --predictions model-a -w ws/
    """
    from ..embeddings.sample import pick
    report = Report()
    ds, rows = pick(src, dst, n, strategy, seed=seed, model=model, from_labelled=from_labelled,
                    predictions=predictions, threshold=threshold, to=to, images=images,
                    overwrite=overwrite, force=force, format=from_,
                    errors=errors_flag(errors, skip_errors), images_dir=images_dir,
                    follow_links=follow_links, workspace=workspace,
                    write_options=parse_options(option), report=report,
                    progress=render.progress_bar, read_options=parse_options(input_option))
    if as_json:
        sys.stdout.write(json.dumps({
            "strategy": strategy, "seed": seed, "n": len(rows), "destination": str(dst),
            "picked": [{"file_name": str(ds.images.file_name[r]),
                        "split": str(ds.images.split[r])} for r in rows.tolist()]},
            indent=2, ensure_ascii=False) + "\n")
    render.print_report(report)
    render.print_written(report, dst, extra=f"{strategy}, seed {seed}")


@command(name="map")
def map_(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file (with -w: a "
                                        "workspace version).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")],
    model: ModelOpt = DEFAULT_MODEL,
    method: Annotated[str, typer.Option(
        help="pca (numpy, always there), umap (umap-learn) or tsne (scikit-learn); the last "
        "two need pip install 'visionflow[map]'.")] = "pca",
    color: Annotated[str, typer.Option(
        "--color", help="Colour points by class (each image's most frequent class) or split.")
    ] = "class",
    seed: Annotated[int, typer.Option(help="Seed for umap and tsne (and which points a very "
                                      "large map draws).")] = 0,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    workspace: WsOpt = None,
    into_source: IntoSourceOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Draw the dataset's embeddings on a plane, in one offline HTML page: a point per image
    coloured by class or split, its file name (and a thumbnail, for small datasets) on hover.

    The coordinates are stored beside the embeddings, so a second run (or the web app) reuses
    them.

    Examples:

      visionflow map data/ --out map.html

      visionflow map data/ --out map.html --model facebook/dinov2-small --method umap

      visionflow map data/ --out splits.html --color split
    """
    from ..embeddings.map2d import write_map
    report = Report()
    rows, _ = write_map(src, out, model=model, method=method, color=color, seed=seed,
                        format=from_, errors=errors_flag(errors, skip_errors),
                        images_dir=images_dir, follow_links=follow_links, workspace=workspace,
                        into_source=into_source, report=report, progress=render.progress_bar,
                        read_options=parse_options(input_option))
    render.print_report(report)
    render.err.print(render.text(("wrote", "green"), f" {out} ({len(rows)} images, {method}, "
                                 f"coloured by {color})"), highlight=False, soft_wrap=True)
