"""Commands that build a training-ready dataset: transform (a recipe), resize, tile, split."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import Error
from . import render
from .app import (ErrorsOpt, FollowLinksOpt, ForceOpt, FromOpt, ImagesDirOpt, ImagesOpt, InputOpt,
                  OptionOpt,
                  OverwriteOpt, SkipOpt, as_flags, command, errors_flag,
                  parse_options)

ToOpt = Annotated[Optional[str], typer.Option(
    "--to", "-t", help="Output format (default: the input's format).")]
SeedOpt = Annotated[int, typer.Option(help="Seed: same input + recipe + seed = same bytes.")]
EngineOpt = Annotated[str, typer.Option(help="local (all cores of this machine) or ray.")]
AddressOpt = Annotated[Optional[str], typer.Option(
    help="Ray cluster address (e.g. ray://head:10001); default: start a local Ray.")]
WorkersOpt = Annotated[Optional[int], typer.Option(help="Worker processes (default: all cores).")]
StrictOpt = Annotated[bool, typer.Option(help="Stop at the first unreadable image instead of "
                                         "reporting and skipping it.")]


def _op_options(op_name: str, *, required: tuple[str, ...] = ()):
    """One --option per parameter of a recipe operation, generated from its declaration (via
    cli/_op_options.py, so that the CLI starts without importing transforms); the command gets
    them as `params` for the library function, which builds the operation. Unset options take
    the operation's defaults; a bad value is one line naming the option."""
    from ._op_options import OPTIONS
    kinds = {"str": str, "int": int, "float": float}
    declared = OPTIONS[op_name]

    def deco(fn):
        sig = inspect.signature(fn, eval_str=True)
        extra, hints = [], {}
        for name, kind, text, default in sorted(declared, key=lambda d: d[0] not in required):
            t = kinds[kind] if name in required else Optional[kinds[kind]]
            if default is not None and name not in required:
                text = f"{text[:-2]}; default {default})."
            hints[name] = Annotated[t, typer.Option(help=text)]
            extra.append(inspect.Parameter(
                name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=hints[name],
                default=inspect.Parameter.empty if name in required else None))
        kept = [p for p in sig.parameters.values() if p.name != "params"]
        cut = sum(1 for p in kept if p.default is inspect.Parameter.empty)  # SRC, DST first

        @functools.wraps(fn)
        def run(*args, **kwargs):
            from ..transforms.ops import InvalidStep
            given = {n: kwargs.pop(n) for n, *_ in declared}
            try:
                return fn(*args, params=given, **kwargs)
            except InvalidStep as e:
                if e.op != op_name:
                    raise
                problem = as_flags(e.problem, {}, bare=tuple(n for n, *_ in declared))
                raise Error(f"{op_name}: {problem}") from None

        run.__signature__ = sig.replace(parameters=[*kept[:cut], *extra, *kept[cut:]])
        run.__annotations__ = {k: v for k, v in fn.__annotations__.items()
                               if k != "params"} | hints
        return run
    return deco


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
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Preprocess, augment, tile and split a dataset from a recipe.

    A recipe lists `preprocess` steps (every split) and `augment` steps (the train split, or
    every image of a dataset without splits; `copies` outputs per image); each step is
    {operation: {parameters}}. Same input, recipe and seed give byte-identical output, with
    either engine. The source is never modified and
    DST appears complete or not at all.

    Examples:

      visionflow transform data/ out/ --recipe recipe.yaml --seed 7

      visionflow transform data/ out/ --recipe recipe.yaml --engine ray --to yolo
    """
    from ..commands import transform as run
    report = run(src, dst, recipe, seed=seed, to=to, format=from_, engine=engine,
                 address=address, workers=workers, strict=strict,
                 errors=errors_flag(errors, skip_errors), overwrite=overwrite, force=force,
                 images_dir=images_dir, follow_links=follow_links,
                 write_options=parse_options(option), progress=render.progress_bar,
                 read_options=parse_options(input_option))
    render.print_report(report)
    render.print_written(report, dst)


@command
@_op_options("resize", required=("size",))
def resize(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    params=None,
    workers: WorkersOpt = None,
    to: ToOpt = None,
    from_: FromOpt = None,
    strict: StrictOpt = False,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Resize every image (up or down); boxes, polygons, masks and keypoints follow.

    The options are the `resize` recipe operation's parameters (see 'visionflow ops resize').

    Examples:

      visionflow resize data/ out/ --size 640x640 --mode letterbox --color gray

      visionflow resize data/ out/ --size 1024x768 --mode fit --to coco
    """
    from ..commands import resize as run
    report = run(src, dst, **params, to=to, format=from_, workers=workers, strict=strict,
                 errors=errors_flag(errors, skip_errors), overwrite=overwrite, force=force,
                 images_dir=images_dir, follow_links=follow_links,
                 write_options=parse_options(option), progress=render.progress_bar,
                 read_options=parse_options(input_option))
    render.print_report(report)
    render.print_written(report, dst)


@command
@_op_options("tile")
def tile(
    src: Annotated[Path, typer.Argument(help="Dataset folder or annotation file to read.")],
    dst: Annotated[Path, typer.Argument(help="Output folder (created; must be empty or absent).")],
    params=None,
    workers: WorkersOpt = None,
    to: ToOpt = None,
    from_: FromOpt = None,
    strict: StrictOpt = False,
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Cut images into tiles; objects are clipped per tile.

    The options are the `tile` recipe operation's parameters (see 'visionflow ops tile'); give
    --grid or --tile-size.

    Examples:

      visionflow tile data/ out/ --grid 2x2

      visionflow tile aerial/ tiles/ --tile-size 640x640 --overlap 64 --min-visibility 0.3
    """
    from ..commands import tile as run
    report = run(src, dst, **params, to=to, format=from_, workers=workers, strict=strict,
                 errors=errors_flag(errors, skip_errors), overwrite=overwrite, force=force,
                 images_dir=images_dir, follow_links=follow_links,
                 write_options=parse_options(option), progress=render.progress_bar,
                 read_options=parse_options(input_option))
    render.print_report(report)
    render.print_written(report, dst)


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
    images: ImagesOpt = "copy",
    errors: ErrorsOpt = None,
    skip_errors: SkipOpt = False,
    overwrite: OverwriteOpt = False,
    force: ForceOpt = False,
    option: OptionOpt = None,
    input_option: InputOpt = None,
    images_dir: ImagesDirOpt = None,
    follow_links: FollowLinksOpt = False,
):
    """Assign images to train/val/test by ratio (seeded); images are copied, never re-encoded.

    Ids numbered per split (Roboflow numbers each split from 0) are renumbered 1..N, and said
    so. Near-duplicate images stay on one side; when that keeps the split from the ratios, a
    warning gives the requested and the reached ratios.

    Examples:

      visionflow split data/ out/ --ratios 70,20,10 --seed 1 --stratify

      visionflow split data/ out/ --ratios 80,20 --rebalance
    """
    from ..commands import split as run
    report = run(src, dst, ratios, seed=seed, stratify=stratify,
                 near_duplicates=near_duplicates, rebalance=rebalance, to=to, format=from_,
                 images=images, errors=errors_flag(errors, skip_errors), overwrite=overwrite,
                 force=force, images_dir=images_dir, follow_links=follow_links,
                 write_options=parse_options(option), progress=render.progress_bar,
                 read_options=parse_options(input_option))
    render.print_report(report)
    counts = ", ".join(f"{s}: {n}" for s, n in report.written["splits"].items())
    render.print_written(report, dst, counts)
