"""`visionflow autolabel` and `visionflow predict`: thin shells over visionflow.models.autolabel
and visionflow.models.predict (models and onnxruntime are imported only when a command runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.report import Report
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt,
                  InputOpt, OptionOpt, OverwriteOpt, SkipOpt, command, errors_flag,
                  parse_options)

ModelOpt = Annotated[str, typer.Option(
    "--model", "-m", help="A registry model (centernet, nanodet, movenet: `visionflow models "
    "list`), an exported .onnx with its sidecar .json, or a Hugging Face id / folder of an "
    "open-vocabulary detector (OWLv2, Grounding DINO: --classes are then its prompts).")]
ClassesOpt = Annotated[Optional[str], typer.Option(
    "--classes", "-c", help="Which model classes (or prompts) become which dataset classes: "
    "'raccoon=bear,dog,cat' (several to one), 'person,car' (as they are), ';' between "
    "entries ('raccoon=bear; person'), or a YAML/JSON file {class: [model classes]}.")]
EngineOpt = Annotated[str, typer.Option(
    help="local (this process: decode on threads, one model session on every core) or ray "
    "(Ray Data actors; image files on a filesystem the workers share).")]
AddressOpt = Annotated[Optional[str], typer.Option(
    help="Ray cluster address for --engine ray (default: a local Ray instance).")]
WorkersOpt = Annotated[Optional[int], typer.Option(
    help="CPUs for a local Ray instance (default: all).")]
WorkspaceOpt = Annotated[Optional[Path], typer.Option(
    "--workspace", "-w", help="Workspace: SRC is then a version, and the new objects are "
    "stored as its prediction set --name (for evaluate, mistakes and the web app).")]


def _summary(result, dst: Path | None, workspace: Path | None, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    render.print_report(result.report)
    classes = ", ".join(f"{k}: {v}" for k, v in result.per_class.items()) or "none"
    skipped = (f", {render.plural(result.skipped_labelled, 'labelled image')} left alone"
               if result.skipped_labelled else "")
    render.err.print(render.text(
        (result.model.name, "green"),
        f" found {render.plural(result.objects, 'object')} ({classes}) on "
        f"{render.plural(result.labelled, 'image')}{skipped} in {result.seconds:.1f} s "
        f"({result.images_per_second:.1f} images/s)"), highlight=False, soft_wrap=True)
    if dst is not None and result.report.written is not None:
        render.print_written(result.report, dst)
    if result.prediction_set is not None:
        ps = result.prediction_set
        render.err.print(render.text(
            ("stored", "green"), f" prediction set {ps['name']!r} of version {ps['version']!r} "
            f"({render.plural(ps['predictions'], 'prediction')}); evaluate it: visionflow "
            f"evaluate {ps['version']} {ps['name']} -w {workspace}"), highlight=False,
            soft_wrap=True)


# Options autolabel and predict share (as the cli.app aliases for every command).
NameOpt = Annotated[Optional[str], typer.Option(
    "--name", "-n", help="Name of the prediction set stored with -w (default: the model's "
    "name).")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print the counts, throughput and what was written as JSON.")]

@command
def autolabel(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to label; "
                                        "with -w a version of the workspace.")],
    dst: Annotated[Optional[Path], typer.Argument(
        help="Output folder for the labelled dataset (created; must be empty or absent). "
        "Optional with -w.")] = None,
    model: ModelOpt = "centernet",
    classes: ClassesOpt = None,
    threshold: Annotated[float, typer.Option(
        help="Keep detections scoring at least this (0..1).")] = 0.3,
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Output format (default: the source's).")] = None,
    masks: Annotated[Optional[str], typer.Option(
        help="Outline each box with a segmenter: grabcut (no weights), selfie (people), or a "
        "SAM model id/folder; polygons are written where the format holds them.")] = None,
    only_unlabelled: Annotated[bool, typer.Option(
        "--only-unlabelled", help="Run the model only on images without any annotation.")
    ] = False,
    name: NameOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
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
):
    """Label a dataset with a model: its detections, mapped to your classes by --classes, are
    added to the ground truth (kept as it is), each new object with its score and the
    attribute source=MODEL so a review can tell them apart.

    Without --classes every model class is kept under its own name. Images that cannot be
    decoded stop the run (--skip-errors: reported and left out). The source is never modified.

    Examples:

      visionflow models pull centernet

      visionflow autolabel raccoon/ labelled/ --model centernet --classes "raccoon=bear"

      visionflow autolabel data/ out/ --classes "person,car" --threshold 0.5 --to yolo

      visionflow autolabel data/ out/ -c "raccoon=bear,dog,cat" --only-unlabelled --masks grabcut

      visionflow autolabel v1 -w my-ws --classes "raccoon=bear" --name centernet

      visionflow autolabel data/ out/ --model student.onnx --engine ray
    """
    from ..models.autolabel import autolabel as run
    findings = Report()
    result = run(src, dst, model, classes, threshold=threshold, to=to, masks=masks,
                 only_unlabelled=only_unlabelled, name=name, workspace=workspace,
                 engine=engine, workers=workers, address=address, images=images,
                 overwrite=overwrite, force=force, errors=errors_flag(errors, skip_errors),
                 format=from_, report=findings, progress=render.progress_bar,
                 write_options=parse_options(option), read_options=parse_options(input_option),
                 images_dir=images_dir, follow_links=follow_links)
    _summary(result, dst, workspace, as_json)


@command
def predict(
    model: Annotated[str, typer.Argument(
        help="A registry model (centernet, nanodet, movenet), an exported .onnx with its "
        "sidecar .json (what `visionflow distill` writes), or an open-vocabulary model's "
        "Hugging Face id / folder (with --classes as prompts).")],
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file; with -w a "
                                        "version of the workspace.")],
    dst: Annotated[Optional[Path], typer.Argument(
        help="Output folder for the predictions (a dataset whose objects carry scores; "
        "annotations only unless --images copy). Optional with -w.")] = None,
    classes: ClassesOpt = None,
    threshold: Annotated[float, typer.Option(
        help="Lowest score kept; low, so that evaluate sees the whole precision-recall curve."
    )] = 0.01,
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Output format (default: the source's when it holds scores, else "
        "coco; coco and visionflow keep scores).")] = None,
    name: NameOpt = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
    images: Annotated[str, typer.Option(
        help="Images in DST: none (default: predictions only), copy or link.")] = "none",
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    from_: FromOpt = None,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Run a model over a dataset and keep its detections, with scores, as predictions: then
    `visionflow evaluate` scores them against the ground truth and `visionflow mistakes` ranks
    what to fix.

    Examples:

      visionflow predict centernet raccoon/ preds/ --classes "raccoon=bear" --to coco

      visionflow evaluate raccoon/ preds/ --pred-format coco

      visionflow predict student.onnx v2 -w my-ws --name student

      visionflow mistakes v2 student -w my-ws --tag review
    """
    from ..models.predict import predict as run
    findings = Report()
    result = run(model, src, dst, classes=classes, threshold=threshold, to=to, name=name,
                 workspace=workspace, engine=engine, workers=workers, address=address,
                 images=images, overwrite=overwrite, force=force,
                 errors=errors_flag(errors, skip_errors), format=from_, report=findings,
                 progress=render.progress_bar, write_options=parse_options(option),
                 read_options=parse_options(input_option), images_dir=images_dir,
                 follow_links=follow_links)
    _summary(result, dst, workspace, as_json)
