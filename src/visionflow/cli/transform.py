"""Commands that build a training-ready dataset: transform (a recipe), resize, tile, split."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import api
from ..core.errors import Error, OutputError
from ..core.report import Report
from ..io.atomic import check_destination
from ..io.paths import is_inside
from . import render
from .app import FromOpt, SkipOpt, command

ToOpt = Annotated[Optional[str], typer.Option(
    "--to", "-t", help="Output format (default: the input's format).")]
SeedOpt = Annotated[int, typer.Option(help="Seed: same input + recipe + seed = same bytes.")]
EngineOpt = Annotated[str, typer.Option(help="local (all cores of this machine) or ray.")]
AddressOpt = Annotated[Optional[str], typer.Option(
    help="Ray cluster address (e.g. ray://head:10001); default: start a local Ray.")]
WorkersOpt = Annotated[Optional[int], typer.Option(help="Worker processes (default: all cores).")]
StrictOpt = Annotated[bool, typer.Option(help="Stop at the first unreadable image instead of "
                                         "reporting and skipping it.")]
OverwriteOpt = Annotated[bool, typer.Option(help="Replace a non-empty DST.")]


def _apply(src: Path, dst: Path, recipe, *, from_: str | None, to: str | None, seed: int,
           engine: str = "local", address: str | None = None, workers: int | None = None,
           strict: bool = False, skip_errors: bool = False, overwrite: bool = False) -> None:
    """load -> run the recipe into a work folder beside DST -> write DST atomically."""
    from ..transforms import run
    src_root = src if src.is_dir() else src.parent
    dst = dst.absolute()
    if src.exists() and is_inside(dst, src_root):
        raise OutputError(f"{dst}: destination lies inside the source dataset {src}; the source "
                          "is never modified, choose a folder outside it")
    check_destination(dst, overwrite=overwrite)
    report = Report()
    ds = api.load(src, from_, skip_errors=skip_errors, report=report, progress=render.progress_bar)
    fmt = to or ds.source_format
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.parent))
    except OSError as e:
        raise OutputError(f"{dst}: cannot write here ({e.strerror or e})") from None
    try:
        out = run(ds, recipe, work, seed=seed, engine=engine, address=address, workers=workers,
                  progress=render.progress_bar, strict=strict, report=report)
        api.write(out, dst, fmt, report=report, overwrite=overwrite, skip_errors=skip_errors,
                  progress=render.progress_bar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    render.print_report(report)
    render.err.print(f"[green]wrote {len(out.images)} images, {len(out.annotations)} annotations "
                     f"({fmt}) to {dst}[/]", highlight=False)


@command
def transform(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    recipe: Annotated[Path, typer.Option("--recipe", "-r", help="Recipe file (YAML or JSON).")],
    seed: SeedOpt = 0,
    engine: EngineOpt = "local",
    address: AddressOpt = None,
    workers: WorkersOpt = None,
    to: ToOpt = None,
    from_: FromOpt = None,
    strict: StrictOpt = False,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
):
    """Preprocess, augment, tile and split a dataset from a recipe.

    A recipe lists `preprocess` steps (every split) and `augment` steps (the train split,
    `copies` outputs per image); each step is {operation: {parameters}}. Same input, recipe
    and seed give byte-identical output, with either engine. The source is never modified and
    DST appears complete or not at all.

    Examples:

      visionflow transform data/ out/ --recipe recipe.yaml --seed 7

      visionflow transform data/ out/ --recipe recipe.yaml --engine ray --to yolo
    """
    from ..transforms import Recipe
    _apply(src, dst, Recipe.load(recipe), from_=from_, to=to, seed=seed, engine=engine,
           address=address, workers=workers, strict=strict, skip_errors=skip_errors,
           overwrite=overwrite)


@command
def resize(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    size: Annotated[str, typer.Option(help="Target size WIDTHxHEIGHT, e.g. 640x640.")],
    mode: Annotated[str, typer.Option(help="stretch, fit (within), letterbox (fit + pad) or "
                                      "fill (cover + center crop).")] = "stretch",
    color: Annotated[str, typer.Option(help="Letterbox color: black, white, gray or #rrggbb.")] = "black",
    workers: WorkersOpt = None,
    to: ToOpt = None,
    from_: FromOpt = None,
    strict: StrictOpt = False,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
):
    """Resize every image (up or down); boxes, polygons, masks and keypoints follow.

    Examples:

      visionflow resize data/ out/ --size 640x640 --mode letterbox --color gray

      visionflow resize data/ out/ --size 1024x768 --mode fit --to coco
    """
    from ..transforms import OPS, Recipe
    recipe = Recipe(preprocess=(OPS["resize"](size=size, mode=mode, color=color),))
    _apply(src, dst, recipe, from_=from_, to=to, seed=0, workers=workers, strict=strict,
           skip_errors=skip_errors, overwrite=overwrite)


@command
def tile(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    grid: Annotated[Optional[str], typer.Option(help="COLUMNSxROWS, e.g. 2x2.")] = None,
    tile_size: Annotated[Optional[str], typer.Option(help="Tile WIDTHxHEIGHT, e.g. 640x640.")] = None,
    overlap: Annotated[int, typer.Option(help="Overlap between neighbouring tiles, pixels.")] = 0,
    min_visibility: Annotated[Optional[float], typer.Option(
        help="Drop object pieces keeping less than this fraction of their area (0..1).")] = None,
    workers: WorkersOpt = None,
    to: ToOpt = None,
    from_: FromOpt = None,
    strict: StrictOpt = False,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
):
    """Cut images into tiles; objects are clipped per tile.

    Examples:

      visionflow tile data/ out/ --grid 2x2

      visionflow tile aerial/ tiles/ --tile-size 640x640 --overlap 64 --min-visibility 0.3
    """
    from ..transforms import OPS, Recipe
    if (grid is None) == (tile_size is None):
        raise Error("give exactly one of --grid COLUMNSxROWS or --tile-size WIDTHxHEIGHT")
    params: dict = {"overlap": overlap, "min_visibility": min_visibility}
    params["grid" if grid is not None else "tile_size"] = grid if grid is not None else tile_size
    recipe = Recipe(preprocess=(OPS["tile"](**params),))
    _apply(src, dst, recipe, from_=from_, to=to, seed=0, workers=workers, strict=strict,
           skip_errors=skip_errors, overwrite=overwrite)


@command
def split(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    ratios: Annotated[str, typer.Option(help="train,val,test percentages, e.g. 70,20,10.")] = "70,20,10",
    seed: SeedOpt = 0,
    stratify: Annotated[bool, typer.Option(help="Split every class in the ratios.")] = False,
    near_duplicates: Annotated[bool, typer.Option(
        help="Keep near-duplicate images (perceptual hash) on the same side.")] = True,
    rebalance: Annotated[bool, typer.Option(
        help="Move as few images as possible between the existing splits instead.")] = False,
    to: ToOpt = None,
    from_: FromOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
):
    """Assign images to train/val/test by ratio (seeded); images are linked, not re-encoded.

    Examples:

      visionflow split data/ out/ --ratios 70,20,10 --seed 1 --stratify

      visionflow split data/ out/ --ratios 80,20 --rebalance
    """
    from .. import transforms
    report = Report()
    ds = api.load(src, from_, skip_errors=skip_errors, report=report, progress=render.progress_bar)
    if rebalance:
        out = transforms.rebalance(ds, ratios, seed=seed)
    else:
        out = transforms.split(ds, ratios, seed=seed, stratify=stratify,
                               near_duplicates=near_duplicates)
    fmt = to or ds.source_format
    api.write(out, dst, fmt, report=report, overwrite=overwrite, skip_errors=skip_errors,
              progress=render.progress_bar)
    render.print_report(report)
    counts = ", ".join(f"{s}: {int((out.images.split == s).sum())}" for s in out.images.splits())
    render.err.print(f"[green]wrote {fmt} to {dst}[/] ({counts})", highlight=False)
