"""`visionflow evaluate` and `visionflow mistakes`: thin shells over visionflow.evaluation."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from . import render
from .app import (FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt, IntoSourceOpt,
                  InputOpt, OptionOpt, OverwriteOpt, app, command, parse_options)

PredFormatOpt = Annotated[Optional[str], typer.Option(
    "--pred-format", help="Format of PRED: coco-results, yolo-conf (YOLO txt with a trailing "
    "confidence), map-txt (the mAP tool's '<image>.txt': class confidence left top right "
    "bottom), or any dataset format name (default: a JSON list is coco-results, otherwise "
    "detected).")]
MatchOpt = Annotated[str, typer.Option(
    "--match", help="How prediction images find ground-truth images: auto (file name, base "
    "name, stem, then id: the first that places every one), file_name, name, stem or id.")]
SplitOpt = Annotated[Optional[str], typer.Option(
    "--split", help="Evaluate this split of the ground truth only (needed when splits number "
    "their images from 0 and PRED is a COCO results file).")]
IouTypeOpt = Annotated[str, typer.Option(
    "--iou-type", help="bbox, segm (mask IoU; needs polygons or masks on both sides and "
    "pycocotools) or keypoints (OKS).")]
WsOpt = Annotated[Optional[Path], typer.Option(
    "--workspace", "-w", help="Read GT as a version of this workspace and PRED as one of its "
    "prediction sets (see 'visionflow predictions import').")]
ConfOpt = Annotated[float, typer.Option(
    "--confidence", help="Score from which a prediction counts in the confusion matrix and "
    "per-class precision / recall / F1.")]


@command
def evaluate(
    gt: Annotated[Path, typer.Argument(help="Ground-truth dataset (folder or annotation file).")],
    pred: Annotated[Path, typer.Argument(help="Predictions: a COCO results file, a dataset "
                                         "with scores, or a folder of prediction .txt files.")],
    iou: Annotated[Optional[str], typer.Option(
        "--iou", help="IoU thresholds: LO:HI[:STEP] (COCO default 0.5:0.95), one number, or a "
        "comma list. With --metric voc: one number (default 0.5).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print one JSON object: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, "
        "ARs, ARm, ARl and per_class (COCO); mAP and per_class (VOC).")] = False,
    metric: Annotated[str, typer.Option("--metric", help="coco or voc.")] = "coco",
    interpolation: Annotated[str, typer.Option(
        "--interpolation", help="VOC AP: all (all-point, VOC2010+) or 11 (11-point, "
        "VOC2007).")] = "all",
    iou_type: IouTypeOpt = "bbox",
    confidence: ConfOpt = 0.25,
    report: Annotated[Optional[Path], typer.Option(
        "--report", help="Write a self-contained offline HTML report (PR curves, confusion "
        "matrix, per-class table, galleries of the worst images) to this file.")] = None,
    objects: Annotated[Optional[Path], typer.Option(
        "--objects", help="Write every prediction's and object's outcome (TP, FP, FN, ignored),"
        " matched partner and IoU, one JSON object a line, to this .jsonl file.")] = None,
    from_: FromOpt = None,
    pred_format: PredFormatOpt = None,
    match: MatchOpt = "auto",
    split: SplitOpt = None,
    workspace: WsOpt = None,
    into_source: IntoSourceOpt = False,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Evaluate a model's predictions against ground truth: COCO AP exactly as pycocotools, or
    Pascal VOC AP; confusion matrix; per-class precision, recall and F1.

    Exit status 0, or 1 with one line when the input is wrong (predictions for unknown images
    or classes, boxes of NaN or negative size, missing scores, a results file for another
    dataset).

    Examples:

      visionflow evaluate data/ results.json

      visionflow evaluate data/ results.json --json > metrics.json

      visionflow evaluate voc/ preds/ --metric voc --iou 0.5 --interpolation 11

      visionflow evaluate data/ runs/predict/labels --pred-format yolo-conf --report eval.html

      visionflow evaluate v1 model-a -w my-workspace
    """
    from ..commands import evaluate as run
    result = run(gt, pred, metric=metric, iou=iou, iou_type=iou_type,
                 interpolation=interpolation, confidence=confidence, match=match,
                 gt_format=from_, pred_format=pred_format, split=split, workspace=workspace,
                 html=report, objects=objects, into_source=into_source, images_dir=images_dir,
                 follow_links=follow_links, read_options=parse_options(input_option))
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    else:
        _print(result)
    if report is not None:
        render.err.print(render.text((f"wrote {report}", "green")), highlight=False)


_SHOWN = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "AR")


@command
def mistakes(
    gt: Annotated[Path, typer.Argument(help="Ground-truth dataset (folder or annotation file); "
                                       "with -w also a version or SOURCE@N.")],
    pred: Annotated[Path, typer.Argument(help="Predictions (as for 'visionflow evaluate').")],
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the ranked images and objects as JSON.")] = False,
    out: Annotated[Optional[Path], typer.Option(
        "--out", help="Write the --top images with their ground truth as a dataset here, for a "
        "labelling tool.")] = None,
    top: Annotated[int, typer.Option("--top", help="How many images (and objects) to list or "
                                     "write.")] = 200,
    to: Annotated[Optional[str], typer.Option(
        "--to", "-t", help="Format of --out (default: the ground truth's).")] = None,
    confidence: Annotated[float, typer.Option(
        "--confidence", help="Predictions from this score count as the model's claims.")] = 0.5,
    iou: Annotated[float, typer.Option(
        "--iou", help="IoU from which a prediction matches a ground truth.")] = 0.5,
    loose_iou: Annotated[float, typer.Option(
        "--loose-iou", help="A match below this IoU is a loose box.")] = 0.75,
    iou_type: IouTypeOpt = "bbox",
    from_: FromOpt = None,
    pred_format: PredFormatOpt = None,
    match: MatchOpt = "auto",
    split: SplitOpt = None,
    images: ImagesOpt = "copy",
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Workspace: GT is one of its versions (PRED then a prediction "
        "set of it, or predictions on disk), a source revision SOURCE@N, or a folder imported "
        "as one of its sources.")] = None,
    tag: Annotated[Optional[str], typer.Option(
        "--tag", help="Add this tag to the --top images (image attribute 'tags') in a NEW "
        "revision of the workspace source(s) they come from; versions stay unchanged. Needs "
        "-w; combines with --out and --json.")] = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Rank the images and objects to review: likely missing labels (confident predictions on
    nothing), wrong classes (confident predictions on an object of another class), loose boxes
    (matches with a low IoU), and hard images (many false positives and misses).

    Examples:

      visionflow mistakes data/ results.json

      visionflow mistakes data/ results.json --json --top 50 > review.json

      visionflow mistakes data/ results.json --out review/ --top 200 --to cvat

      visionflow mistakes v1 model-a -w my-workspace --tag review --top 200
    """
    from ..commands import find_mistakes as run
    found = run(gt, pred, confidence=confidence, loose_iou=loose_iou, iou=iou,
                iou_type=iou_type, gt_format=from_, pred_format=pred_format, match=match,
                split=split, top=top, out=out, to=to, images=images, overwrite=overwrite,
                force=force, workspace=workspace, tag=tag, images_dir=images_dir,
                follow_links=follow_links, write_options=parse_options(option),
                read_options=parse_options(input_option))
    if found.tagged is not None:
        _print_tagged(found.tagged, tag, workspace)
    if found.report is not None:
        render.print_report(found.report)
        render.print_written(found.report, out)
    if as_json:
        sys.stdout.write(json.dumps(found.to_json(top), indent=2, ensure_ascii=False) + "\n")
        return
    shown = min(top, len(found.images))
    table = Table(title=f"{len(found.images)} images to review (first {shown})",
                  title_justify="left")
    for col in ("image", "rank", "FP", "FN", "missing label", "wrong class", "loose box"):
        table.add_column(col, justify="left" if col == "image" else "right")
    for im in found.images[:top]:
        table.add_row(im["image"], f"{im['rank']:.2f}", str(im["false_positives"]),
                      str(im["false_negatives"]), str(im["missing_label"]),
                      str(im["wrong_class"]), str(im["loose_box"]))
    render.out.print(table)


def _print_tagged(tagged: list[dict], tag: str, workspace: Path) -> None:
    if not tagged:
        render.err.print(render.text(("no image to tag", "yellow")), highlight=False)
    for t in tagged:
        what = (f"already tagged {tag!r}: no new revision" if t["unchanged"] else
                f"revision {t['revision']}")
        render.err.print(render.text((f"tagged {t['tagged']} images {tag!r} in source "
                                      f"{t['source']}, {what} (versions unchanged); see "
                                      f"them: visionflow version create -n NAME --sources "
                                      f"{t['source']}@{t['revision']} -w {workspace}, or in "
                                      f"Python ws.load('{t['source']}@{t['revision']}')"
                                      f".filter(tag={tag!r})", "green")), highlight=False)


predictions_app = typer.Typer(help="Prediction sets attached to workspace versions, so several "
                              "models can be compared.", no_args_is_help=True)
app.add_typer(predictions_app, name="predictions")


@command(on=predictions_app, name="import")
def predictions_import(
    pred: Annotated[Path, typer.Argument(help="Predictions (as for 'visionflow evaluate').")],
    version: Annotated[str, typer.Option("--version", "-v", help="Workspace version the "
                                         "predictions were made on.")],
    name: Annotated[str, typer.Option("--name", "-n", help="Name of the prediction set, e.g. "
                                      "model-a.")],
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Workspace folder (default: the nearest one above the "
        "current folder).")] = None,
    pred_format: PredFormatOpt = None,
    match: MatchOpt = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace a prediction set of this name.")
                         ] = False,
):
    """Attach a model's predictions to a workspace version under a name.

    The predictions are matched to the version's images (file name, stem or id) and classes,
    and stored beside the version (which stays unchanged). Evaluate them with
    'visionflow evaluate VERSION NAME -w WS'.

    Examples:

      visionflow predictions import results.json --version v1 --name model-a

      visionflow predictions import runs/labels --pred-format yolo-conf -v v1 -n yolo11s
    """
    from ..evaluation.stored import import_predictions
    from ..versioning import Workspace
    with Workspace.open(workspace) as ws:
        meta = import_predictions(ws, version, pred, name, pred_format=pred_format, match=match,
                                  overwrite=overwrite)
    render.err.print(render.text((f"stored {meta['predictions']} predictions on "
                                  f"{meta['images']} images as {version}/{name}", "green")),
                     highlight=False)


@command(on=predictions_app, name="list")
def predictions_list(
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Workspace folder (default: the nearest one above the "
        "current folder).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
):
    """List the prediction sets of a workspace (version, name, images, predictions, source).

    Examples:

      visionflow predictions list

      visionflow predictions list -w my-workspace --json
    """
    from ..evaluation.stored import list_predictions
    from ..versioning import Workspace
    with Workspace.open(workspace) as ws:
        sets = list_predictions(ws)
    if as_json:
        sys.stdout.write(json.dumps(sets, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"{len(sets)} prediction sets", title_justify="left")
    for col in ("version", "name", "images", "predictions", "source"):
        table.add_column(col)
    for m in sets:
        table.add_row(m["version"], m["name"], str(m["images"]), str(m["predictions"]),
                      m["source"])
    render.out.print(table)


def _fmt(v) -> str:
    return "-" if v is None or v == -1 else f"{v:.3f}"


def _print(result) -> None:
    summary = result.to_json()
    # A class with neither objects nor predictions says nothing (COCO's 80 classes on a
    # small set): left out of the tables, counted under them; --json keeps every class.
    idle = {name for name, c in result.classes.items()
            if c["objects"] == 0 and c["predictions"] == 0}
    table = Table(title=f"{result.metric.upper()} evaluation, {summary['images']} images",
                  title_justify="left")
    if result.metric == "voc":
        table.add_column("class")
        table.add_column(f"AP@{result.iou:g}", justify="right")
        for name, ap in summary["per_class"].items():
            if name not in idle:
                table.add_row(name, _fmt(ap))
        table.add_row("mAP", _fmt(summary["mAP"]), style="bold")
        render.out.print(table)
    else:
        keys = [k for k in result.coco.stats if k in _SHOWN]   # --json has them all
        table.add_column("class")
        for k in keys:
            table.add_column(k, justify="right")
        for name, s in summary["per_class"].items():
            if name not in idle:
                table.add_row(name, *(_fmt(s[k]) for k in keys))
        table.add_row("all", *(_fmt(summary[k]) for k in keys), style="bold")
        render.out.print(table)
    cls = Table(title=f"at confidence {result.confidence:g}, IoU {result.iou:g}",
                title_justify="left")
    for col in ("class", "objects", "predictions", "precision", "recall", "F1", "best F1",
                "at confidence"):
        cls.add_column(col, justify="left" if col == "class" else "right")
    for name, c in result.classes.items():
        if name in idle:
            continue
        cls.add_row(name, str(c["objects"]), str(c["predictions"]), _fmt(c["precision"]),
                    _fmt(c["recall"]), _fmt(c["f1"]), _fmt(c["best_f1"]),
                    "-" if c["best_f1_confidence"] != c["best_f1_confidence"]
                    else f"{c['best_f1_confidence']:.3f}")
    render.out.print(cls)
    if idle:
        render.out.print(f"{len(idle)} classes with neither objects nor predictions not shown "
                         "(--json lists every class)", highlight=False)

