"""`visionflow distill`: a thin shell over visionflow.models.distill (PyTorch is imported only
when the command runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from . import render
from .app import ForceOpt, command


@command
def distill(
    src: Annotated[Path, typer.Argument(help="Teacher labels: a dataset with train and val (or "
                                        "test) splits, e.g. `visionflow autolabel`'s output "
                                        "(with -w: a workspace version).")],
    out: Annotated[Path, typer.Argument(help="Run folder: checkpoint, student.onnx + .json, "
                                        "report.json / report.md (created; must be empty or "
                                        "absent unless --resume or --overwrite).")],
    student: Annotated[str, typer.Option(help="Student architecture.")
                       ] = "mobilenetv2-detector",
    epochs: Annotated[int, typer.Option(help="Passes over the train split.")] = 30,
    input_size: Annotated[int, typer.Option(
        "--input-size", help="Square network input in pixels (a multiple of 32).")] = 224,
    batch: Annotated[int, typer.Option(help="Images per step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak learning rate of the head (AdamW, warm-up "
                                      "then cosine decay).")] = 1e-2,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue OUT's run from its last checkpoint (same settings).")
    ] = False,
    gt: Annotated[Optional[Path], typer.Option(
        "--gt", help="Human labels of the same images: the report adds student vs human and "
        "teacher vs human.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the head's initial weights, the order "
                                      "and the flips: the same seed gives the same model.")
                    ] = 0,
    backbone: Annotated[str, typer.Option(
        help="Pretrained backbone: a registry model (`visionflow models pull mobilenetv2`) or "
        "a folder of nsfwjs' MobileNetV2 TF.js files, or none to train from scratch (random "
        "weights: students from scratch overfit small sets).")] = "mobilenetv2",
    finetune: Annotated[int, typer.Option(
        help="How many of the backbone's top blocks (0-4) learn too; 0, the head alone, "
        "generalised best on small sets.")] = 0,
    threads: Annotated[Optional[int], typer.Option(
        help="CPU threads for PyTorch (default: PyTorch's; on a busy shared machine 1 can be "
        "faster).")] = None,
    tflite: Annotated[bool, typer.Option(
        "--tflite/--no-tflite", help="Also export TF Lite (float and int8) when onnx2tf is "
        "installed.")] = True,
    workspace: Annotated[Optional[Path], typer.Option(
        "--workspace", "-w", help="Read SRC as a version of this workspace.")] = None,
    overwrite: Annotated[bool, typer.Option(
        help="Start afresh in a non-empty OUT that visionflow wrote: its old run waits "
        "beside OUT and is removed once the new one is complete (put back if it fails or is "
        "interrupted).")
    ] = False,
    force: ForceOpt = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
):
    """Train a small student detector on a teacher's labels, on CPU, and export it.

    The student is MobileNetV2 (nsfwjs' pretrained weights) with a CenterNet head. It trains
    on SRC's train split with a checkpoint after every epoch (--resume continues an
    interrupted run exactly), is evaluated on the val (else test) split against SRC's labels
    and, with --gt, against human labels next to the teacher, then exported to
    OUT/student.onnx with its sidecar OUT/student.json (runs with `visionflow predict`).

    Examples:

      visionflow models pull mobilenetv2

      visionflow autolabel raccoon/ teacher/ --model centernet --classes "raccoon=bear"

      visionflow distill teacher/ run/ --epochs 60 --gt raccoon/

      visionflow distill teacher/ run/ --epochs 60 --resume

      visionflow predict run/student.onnx new-images/ predictions/
    """
    from ..models.distill import distill as run

    def line(stats):
        render.err.print(render.text(
            f"epoch {stats.epoch}/{stats.epochs}  loss {stats.loss:.4f}  "
            f"{stats.seconds_per_step:.3f} s/step"))

    result = run(src, out, student=student, epochs=epochs, input_size=input_size,
                 batch=batch, lr=lr, resume=resume, seed=seed, gt=gt, workspace=workspace,
                 backbone=backbone, finetune=finetune, threads=threads, tflite=tflite,
                 overwrite=overwrite, force=force, progress=render.progress_bar, on_epoch=line)
    if as_json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return
    _print(result)


def _print(result) -> None:
    from rich.table import Table
    ev = result.report["evaluation"]
    table = Table(title=f"student on {result.report['val_images']} "
                  f"{result.report['val_split']} images", title_justify="left")
    for col in ("comparison", "AP", "AP50", "AP75"):
        table.add_column(col, justify="left" if col == "comparison" else "right")
    for key, what in (("student_vs_teacher", "student vs teacher"),
                      ("student_vs_human", "student vs human"),
                      ("teacher_vs_human", "teacher vs human")):
        if key in ev:
            table.add_row(what, *(f"{ev[key][k]:.3f}" if ev[key][k] is not None else "-"
                                  for k in ("AP", "AP50", "AP75")))
    render.out.print(table)
    render.out.print(render.text(f"ONNX: {result.onnx}"))
    for kind, value in result.tflite.items():
        render.out.print(render.text(f"TF Lite {kind}: {value}"))
    render.out.print(render.text(f"report: {result.out / 'report.md'}"))
