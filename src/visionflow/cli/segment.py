"""`visionflow segment`: a thin shell over visionflow.models.segment (OpenCV and the models are
imported only when the command runs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import UsageError
from . import render
from .app import command


def _numbers(text: str, n: int, what: str, example: str) -> list[float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != n:
        raise UsageError(f"{what} {text!r}: expected {n} numbers, e.g. {example}")
    return values


def _click(text: str) -> tuple[float, float, int]:
    """x,y (on the object), x,y,+ (on the object) or x,y,- (background)."""
    parts = [p.strip() for p in text.split(",")]
    label = 1
    if len(parts) == 3:
        if parts[2] not in ("+", "-", "1", "0"):
            raise UsageError(f"--point {text!r}: the third value is + (object) or - "
                             "(background), e.g. 120,80,+")
        label = 1 if parts[2] in ("+", "1") else 0
        parts = parts[:2]
    x, y = _numbers(",".join(parts), 2, "--point", "120,80,+")
    return x, y, label


@command
def segment(
    image: Annotated[Path, typer.Argument(help="The image file to cut an object out of.")],
    box: Annotated[Optional[str], typer.Option(
        "--box", "-b", help="The object's box x1,y1,x2,y2 in pixels of the upright image.")
    ] = None,
    point: Annotated[Optional[list[str]], typer.Option(
        "--point", "-p", help="A click x,y,+ on the object or x,y,- on the background (x,y "
        "alone means +); repeat it for several clicks.")] = None,
    model: Annotated[str, typer.Option(
        "--model", "-m", help="grabcut (OpenCV, no weights), selfie (person mask: `visionflow "
        "models pull selfie`) or a SAM model by Hugging Face id or folder.")] = "grabcut",
    tolerance: Annotated[float, typer.Option(
        help="Polygon simplification in pixels (0 keeps every corner of the mask).")] = 1.0,
    min_area: Annotated[float, typer.Option(
        help="Pieces of the mask smaller than this many pixels are dropped.")] = 16.0,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Also write the mask as a PNG (255 object, 0 background).")
    ] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='Print {"polygons": [[x, y, x, y, ...], ...], "area", "score", "xyxy", '
        '"width", "height", "model"} on stdout.')] = False,
):
    """Cut one object out of an image from a box and/or clicks, and print its polygons.

    The model turns the prompt into a mask; the mask's outline becomes polygons (one per
    separate piece, largest first; holes are filled, as COCO and YOLO polygons cannot hold
    them: use --out for the exact mask). Without --json each polygon is printed as one line of
    x,y pairs. GrabCut needs no weights and works everywhere (a box is much better than a
    click alone); SAM, when you have it, is better still.

    Examples:

      visionflow segment photo.jpg --box 40,60,320,400

      visionflow segment photo.jpg --point 180,220 --point 30,40,- --json

      visionflow segment photo.jpg --box 40,60,320,400 --point 200,90,- --out mask.png

      visionflow segment team.jpg --model selfie --box 300,20,520,470

      visionflow segment photo.jpg --model facebook/sam-vit-base --point 180,220
    """
    from ..models.segment import segment_image, write_mask
    prompt_box = _numbers(box, 4, "--box", "40,60,320,400") if box is not None else None
    clicks = [_click(p) for p in point or []]
    result = segment_image(image, box=prompt_box, points=clicks or None, model=model,
                           tolerance=tolerance, min_area=min_area)
    written = write_mask(result, out, image_path=image) if out is not None else None
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    else:
        for ring in result.to_dict()["polygons"]:
            render.out.print(" ".join(f"{ring[i]:g},{ring[i + 1]:g}"
                                      for i in range(0, len(ring), 2)),
                             highlight=False, soft_wrap=True)
    score = f", score {result.score:.2f}" if result.score is not None else ""
    what = (f"{render.plural(len(result.polygons), 'polygon')}, {result.area} pixels{score}"
            if result.polygons else "nothing found (no polygon)")
    render.err.print(render.text((result.model, "green"), f" {what}"), highlight=False,
                     soft_wrap=True)
    if written is not None:
        render.err.print(render.text((f"wrote {written}", "green")), highlight=False)
