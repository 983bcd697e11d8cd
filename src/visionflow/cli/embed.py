"""`visionflow embed`: compute (or reuse) the embeddings of a dataset's images and objects."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import Error
from ..core.report import Report
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, FromOpt, ImagesDirOpt, InputOpt, SkipOpt, command,
                  errors_flag, parse_options)


@command
def embed(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file (with -w: a "
                                        "workspace version, or SOURCE@N).")],
    model: Annotated[str, typer.Option(
        "--model", "-m", help="phash, dhash or whash (no extra needed); a Hugging Face CLIP, "
        "SigLIP or DINOv2 model by hub id or folder; or a .onnx file (pip install "
        "'visionflow[embed]').")] = "phash",
    patches: Annotated[bool, typer.Option(
        "--patches", help="Also embed each object's box crop (object search and clustering).")
    ] = False,
    engine: Annotated[str, typer.Option(
        help="local (a thread pool) or ray (Ray Data stages; same rows).")] = "local",
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address for --engine ray (default: a local Ray instance).")] = None,
    batch: Annotated[int, typer.Option(help="Images per batch given to the model.")] = 32,
    workers: Annotated[Optional[int], typer.Option(
        help="Decoding threads (default: all cores).")] = None,
    store: Annotated[Optional[Path], typer.Option(
        "--store", help="Folder for the stored embeddings (default: the workspace's "
        ".visionflow/embeddings for -w, else the visionflow cache).")] = None,
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Read SRC as a version (or SOURCE@N) of this workspace.")
    ] = None,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")
                       ] = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Compute the embeddings of every image (and with --patches every object) of a dataset.

    Each image is embedded once per content and model: rows are stored by the SHA-256 of the
    image file and the model's weights and preprocessing, and reused by every later run,
    search, dedup and sample. Interrupted (Ctrl-C), the rows computed so far are kept: run
    the same command again to compute only the rest.

    Examples:

      visionflow embed data/

      visionflow embed data/ --model openai/clip-vit-base-patch32 --patches

      visionflow embed data/ --model ./dinov2-small --engine ray --address ray://head:10001

      visionflow embed v1 -w my-project --model model.onnx --json
    """
    from ..embeddings import embed_path
    report = Report()
    try:
        emb = embed_path(src, model, patches=patches, engine=engine, address=address,
                         batch=batch, store=store if store is not None else "auto",
                         workers=workers, format=from_, errors=errors_flag(errors, skip_errors),
                         images_dir=images_dir, follow_links=follow_links, workspace=workspace,
                         report=report, progress=render.progress_bar,
                         **parse_options(input_option))
    except KeyboardInterrupt:
        render.err.print("interrupted; the embeddings computed so far are kept: run the same "
                         "command again to compute only the rest", highlight=False)
        raise typer.Exit(130) from None
    except Error:
        render.print_report(report)  # what could not be read, before the error line
        raise
    skipped = sum(f.count for f in report.findings if f.code == "skipped")
    objects = int((emb.object_rows >= 0).sum())
    summary = {"model": emb.info.name, "key": emb.info.key, "kind": emb.info.kind,
               "dim": emb.info.dim, "images": len(emb) - objects, "objects": objects,
               "computed": emb.computed, "reused": emb.reused, "skipped": skipped,
               "store": emb.location}
    if as_json:
        summary["problems"] = report.to_list()
        sys.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        return
    render.print_report(report)
    what = render.plural(summary["images"], "image") + (
        f" and {render.plural(objects, 'object')}" if patches else "")
    where = f" (stored in {emb.location})" if emb.location else " (not stored)"
    render.err.print(render.text(("embedded", "green"), f" {what} with {emb.info.name}: "
                                 f"{emb.computed} computed, {emb.reused} reused{where}"),
                     highlight=False, soft_wrap=True)
