"""The library function behind each CLI command, with the command's parameters.

`visionflow convert|info|show|transform|resize|tile|split|check|fix|evaluate|mistakes` each
parse their arguments, call one function here (or `api.convert` / `api.detect`, or one
`Workspace` method) and render what it returns; a notebook or a web app calls the same
function and gets the same output. Parameters keep the command's names except where the CLI
spells a flag (`from_` is `format`, `--report FILE` is `html`, `--skip-errors` is
`errors="skip"`). Outputs are atomic and checked against the source by
`io.atomic.guard_destination` / `guard_file`, here and nowhere in the CLI.

Heavy modules (transforms, checks, evaluation, drawing) are imported inside the functions, so
that `import visionflow` stays light.

The commands of the optional floors have their function in their own package, where the
extra they need is imported: `embed|search|dedup|sample|map` in `visionflow.embeddings`;
`models list|pull|info` in `visionflow.models.registry` (`list_models`, `model_info`) and
`visionflow.models.pull.pull`; `autolabel` in `visionflow.models.autolabel.autolabel`;
`predict` in `visionflow.models.predict.predict`; `segment` in
`visionflow.models.segment.segment_image`; `distill` in `visionflow.models.distill.distill`;
`app` in `visionflow.app.server.serve` (over `visionflow.app.state.AppState`).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import errors_mode, image_folders, load, source_folders, warn_findings, write
from .core.dataset import Dataset
from .core.errors import Error
from .core.report import Report
from .io.atomic import (guard_destination, guard_file, make_temp_dir, output_errors,
                        source_root, write_bytes_atomic)

if TYPE_CHECKING:
    from .checks.fixes import FixOptions, FixResult
    from .checks.run import CheckConfig, CheckResult
    from .evaluation.mistakes import Mistakes
    from .evaluation.run import Evaluation
    from .transforms.recipe import Recipe
    from .viz.draw import Grid

PICTURES = (".png", ".jpg", ".jpeg", ".webp")


def info(src: str | Path, format: str | None = None, *, errors: str = "raise",
         images_dir: str | Path | None = None, follow_links: bool = False,
         report: Report | None = None, progress=None, **read_options: Any) -> dict[str, Any]:
    """`visionflow info`: what a dataset holds.

    Returns Dataset.info() (format, images, annotations, categories, splits, annotations per
    class and split, geometry counts) plus "problems": the read's findings as dicts (also in
    `report` when given). Read parameters as for `vf.load`. Raises what `vf.load` raises.
    """
    own = report if report is not None else Report()
    ds = load(src, format, errors=errors, report=own, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **read_options)
    return {**ds.info(), "problems": own.to_list()}


def show(src: str | Path | Dataset, out: str | Path | None = None, *, format: str | None = None,
         limit: int = 16, class_name: str | None = None, tile_size: int = 320,
         columns: int | None = None, random: bool = False, seed: int = 0,
         errors: str = "raise", images_dir: str | Path | None = None,
         follow_links: bool = False, into_source: bool = False,
         report: Report | None = None, read_options: dict | None = None) -> Grid:
    """`visionflow show`: boxes, polygons, masks and keypoints drawn with class names over up
    to `limit` images (a random sample with `random`, drawn with `seed`), in one grid.

    out: a .png/.jpg/.webp file to write atomically (not inside the dataset's folders unless
    into_source, and never over one of its files); None: only returned. read_options: the
    reader's options (as for `vf.load`). Returns the Grid:
    `image` (a PIL image) and `problems`, one line per image that could not be drawn (also
    "show.unreadable" warnings in `report`). Raises Error (bad parameters), OutputError
    (`out`), and what `vf.load` raises.
    """
    from PIL import Image

    from .viz.draw import render_grid
    if out is not None:
        out = Path(out)
        if out.suffix.lower() not in PICTURES:
            raise Error(f"{out}: `out` must end in .png, .jpg or .webp")
        if not isinstance(src, Dataset):
            guard_file(out, sources=source_root(src), into_source=into_source)  # before reading
    own = report if report is not None else Report()
    ds = src if isinstance(src, Dataset) else load(
        src, format, errors=errors, report=own, images_dir=images_dir,
        follow_links=follow_links, **(read_options or {}))
    if out is not None:
        guard_file(out, sources=[*source_folders(ds), *image_folders(ds)],
                   into_source=into_source)
    grid = render_grid(ds, limit=limit, class_name=class_name, columns=columns,
                       tile_size=tile_size, order="random" if random else "dataset", seed=seed)
    for problem in grid.problems:
        own.add("warning", "show.unreadable", problem)
    if out is not None:
        import io
        encoded = io.BytesIO()
        grid.image.save(encoded, format=Image.registered_extensions()[out.suffix.lower()])
        with output_errors(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(out.absolute(), encoded.getvalue())
    if report is None:
        warn_findings(own, f"drawing {src if not isinstance(src, Dataset) else 'the dataset'}")
    return grid


def transform(src: str | Path, dst: str | Path, recipe: Recipe | str | Path | dict, *,
              seed: int = 0, to: str | None = None, format: str | None = None,
              engine: str = "local", address: str | None = None, workers: int | None = None,
              strict: bool = False, errors: str = "raise", overwrite: bool = False,
              force: bool = False, images_dir: str | Path | None = None,
              follow_links: bool = False, write_options: dict | None = None,
              report: Report | None = None, progress=None,
              skip_errors: bool | None = None, read_options: dict | None = None) -> Report:
    """`visionflow transform`: load `src`, run `recipe` (a Recipe, a YAML/JSON file or a
    parsed mapping) with `seed`, write the result to `dst` in format `to` (default: the
    source's).

    Same input, recipe and seed give byte-identical output with either engine ("local" or
    "ray", at `address`). strict: an unreadable image stops the run instead of being
    reported and skipped. errors, images_dir, follow_links, read_options (the reader's
    options): as for `vf.load` (errors also holds for the write). The images are processed into a work folder beside `dst`, which
    appears complete or not at all. Returns the report (report.written: what was written).
    Raises RecipeError, OutputError, and what `vf.load` / `vf.write` raise.
    """
    from .transforms import Recipe, run
    errors = errors_mode(errors, skip_errors=skip_errors)
    if not isinstance(recipe, Recipe):
        recipe = Recipe.load(recipe)
    dest = guard_destination(dst, sources=source_root(src), overwrite=overwrite, force=force)
    report = report if report is not None else Report()
    ds = load(src, format, errors=errors, report=report, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **(read_options or {}))
    fmt = to  # None: the source's own format, written back as it was read
    # The work folder is beside DST: checked against every folder the dataset was read from.
    guard_destination(dest, sources=source_folders(ds), images=image_folders(ds),
                      overwrite=overwrite, force=force)
    with output_errors(dest):
        work = make_temp_dir(dest, ".work")
    try:
        with output_errors(dest):
            out = run(ds, recipe, work, seed=seed, engine=engine, address=address,
                      workers=workers, progress=progress, strict=strict, report=report)
        # The work folder's files are this run's own (never the source's): link them.
        write(out, dest, fmt, images="link", report=report, overwrite=overwrite, force=force,
              errors=errors, progress=progress, **(write_options or {}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return report


def resize(src: str | Path, dst: str | Path, size: Any, *, to: str | None = None,
           format: str | None = None, workers: int | None = None, strict: bool = False,
           errors: str = "raise", overwrite: bool = False, force: bool = False,
           images_dir: str | Path | None = None, follow_links: bool = False,
           write_options: dict | None = None, report: Report | None = None, progress=None,
           read_options: dict | None = None, **params: Any) -> Report:
    """`visionflow resize`: every image resized to `size` ("640x640" or [w, h]); boxes,
    polygons, masks and keypoints follow. **params: the `resize` operation's other
    parameters (mode, color: see `visionflow ops resize`). The rest as for `transform`.
    Returns the report, as `transform`. Raises InvalidStep for a bad parameter (named as
    here), and what `transform` raises."""
    return _one_op("resize", {"size": size, **params}, src, dst, to=to, format=format,
                   workers=workers, strict=strict, errors=errors, overwrite=overwrite,
                   force=force, images_dir=images_dir, follow_links=follow_links,
                   write_options=write_options, report=report, progress=progress,
                   read_options=read_options)


def tile(src: str | Path, dst: str | Path, *, to: str | None = None, format: str | None = None,
         workers: int | None = None, strict: bool = False, errors: str = "raise",
         overwrite: bool = False, force: bool = False, images_dir: str | Path | None = None,
         follow_links: bool = False, write_options: dict | None = None,
         report: Report | None = None, progress=None, read_options: dict | None = None,
         **params: Any) -> Report:
    """`visionflow tile`: images cut into tiles, objects clipped per tile. **params: the
    `tile` operation's parameters (grid or tile_size, overlap, min_visibility: see
    `visionflow ops tile`). The rest as for `transform`. Returns the report, as `transform`.
    Raises InvalidStep for a bad parameter (named as here), and what `transform` raises."""
    return _one_op("tile", params, src, dst, to=to, format=format, workers=workers,
                   strict=strict, errors=errors, overwrite=overwrite, force=force,
                   images_dir=images_dir, follow_links=follow_links,
                   write_options=write_options, report=report, progress=progress,
                   read_options=read_options)


def _one_op(name: str, params: dict[str, Any], src, dst, **kwargs: Any) -> Report:
    """A recipe of one preprocessing operation, built from its parameters (None: default)."""
    from .transforms import OPS, Recipe
    op = OPS[name](**{k: v for k, v in params.items() if v is not None})
    return transform(src, dst, Recipe(preprocess=(op,)), seed=0, **kwargs)


def split(src: str | Path, dst: str | Path, ratios: str | Any = "70,20,10", *, seed: int = 0,
          stratify: bool = False, near_duplicates: bool = True, rebalance: bool = False,
          to: str | None = None, format: str | None = None, images: str = "copy",
          errors: str = "raise", overwrite: bool = False, force: bool = False,
          images_dir: str | Path | None = None, follow_links: bool = False,
          write_options: dict | None = None, report: Report | None = None, progress=None,
          skip_errors: bool | None = None, read_options: dict | None = None) -> Report:
    """`visionflow split`: images assigned to train/val/test by `ratios` ("70,20,10" or
    fractions) with `seed`, written to `dst` (format `to`, default the source's).

    stratify: every class split in the ratios; near_duplicates: near-duplicate images stay
    on one side; rebalance: move as few images as possible between the existing splits
    instead. Images are copied (`images`), never re-encoded; read_options: the reader's
    options (as for `vf.load`). Returns the report;
    report.written["splits"] holds the images per split. Raises what `transforms.split`,
    `vf.load` and `vf.write` raise.
    """
    from . import transforms
    errors = errors_mode(errors, skip_errors=skip_errors)
    dest = guard_destination(dst, sources=source_root(src), overwrite=overwrite, force=force)
    report = report if report is not None else Report()
    ds = load(src, format, errors=errors, report=report, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **(read_options or {}))
    if rebalance:
        out = transforms.rebalance(ds, ratios, seed=seed, report=report)
    else:
        out = transforms.split(ds, ratios, seed=seed, stratify=stratify,
                               near_duplicates=near_duplicates, report=report)
    write(out, dest, to, images=images, report=report,
          overwrite=overwrite, force=force, errors=errors, progress=progress,
          **(write_options or {}))
    report.written = {**(report.written or {}), "splits": {
        s: int((out.images.split == s).sum()) for s in out.images.splits()}}
    return report


def check(src: str | Path | Dataset, config: CheckConfig | None = None, *,
          format: str | None = None, html: str | Path | None = None,
          into_source: bool = False, images_dir: str | Path | None = None,
          follow_links: bool = False, progress=None, read_options: dict | None = None,
          **options: Any) -> CheckResult:
    """`visionflow check`: a dataset's health (files, geometry, class distribution,
    duplicates, leakage). Nothing is printed.

    src: a folder or file, read leniently (errors="keep": defects the reader would refuse are
    findings, not errors), or a Dataset in memory. config: thresholds (CheckConfig); keyword
    options override its fields, e.g. `check(ds, iou=0.9, read_images=False)`. html: write the
    self-contained HTML report there (not inside the dataset unless into_source).
    read_options: the reader's options (as for `vf.load`).
    Returns a CheckResult: findings (iterating it gives them, errors first), statistics,
    dataset, `to_dict()`, `fails(level)`. Raises what `vf.load` raises when the dataset
    cannot be read at all, OutputError for `html`.

    Examples:
        >>> import visionflow as vf
        >>> images = vf.Images.build(["a.jpg"], [100], [50])
        >>> ann = vf.Annotations.build([0], [1], [[10, 10, 120, 40]])
        >>> ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat"]))
        >>> [f.code for f in vf.check(ds, read_images=False)]
        ['box.out_of_bounds']
    """
    from .checks.config import CheckConfig
    from .checks.run import CheckResult, check_path, sort_findings, statistics
    from .checks.run import check as check_dataset
    if html is not None:
        html = Path(html)
        if html.suffix.lower() not in (".html", ".htm"):
            raise Error(f"{html}: `html` must end in .html")
        if not isinstance(src, Dataset):
            guard_file(html, sources=source_root(src), into_source=into_source)  # early
    if isinstance(src, Dataset):
        config = (config or CheckConfig()).replace(**options) if options else \
            (config or CheckConfig())
        result = CheckResult(src, sort_findings(check_dataset(src, config, progress=progress)),
                             statistics(src, config), config,
                             source=str(src.meta.get("source_root") or ""))
    else:
        result = check_path(src, config, format=format, progress=progress,
                            images_dir=images_dir, follow_links=follow_links,
                            read_options=read_options, **options)
    if html is not None:
        from .checks.report_html import render_html
        guard_file(html, sources=[*source_folders(result.dataset),
                                  *image_folders(result.dataset)], into_source=into_source)
        write_text(html, render_html(result))
    return result


def fix(src: str | Path | Dataset, dst: str | Path | None = None,
        options: FixOptions | None = None, *, to: str | None = None, format: str | None = None,
        images: str = "copy", overwrite: bool = False, force: bool = False,
        report_json: str | Path | None = None, into_source: bool = False,
        images_dir: str | Path | None = None, follow_links: bool = False,
        write_options: dict | None = None, image_dir: str | Path | None = None, scan=None,
        progress=None, read_options: dict | None = None, **fixes: Any) -> FixResult:
    """`visionflow fix`: a fixed copy of a dataset, with only safe fixes, every change listed.

    src: a folder or file (read leniently, as `check` does) written fixed to the folder `dst`
    (format `to`, default the source's; `images` as for `vf.write`); or a Dataset, fixed in
    memory when `dst` is None (image_dir: where images whose EXIF orientation is applied are
    re-encoded; without it EXIF is not applied). options: a FixOptions; keyword **fixes
    override its fields (remap, drop_classes, apply_exif, clip, drop_degenerate,
    drop_duplicate_boxes, drop_duplicate_images, renumber_ids). report_json: also write every
    change as JSON there (not inside the dataset unless into_source). read_options: the
    reader's options (as for `vf.load`). Returns a FixResult:
    dataset, changes, report (the write's), destination. Raises OutputError, and what
    `vf.load` / `vf.write` raise.

    Examples:
        >>> import visionflow as vf
        >>> images = vf.Images.build(["a.jpg"], [100], [50])
        >>> ann = vf.Annotations.build([0, 0], [1, 1], [[10, 10, 120, 40], [5, 5, 5, 9]])
        >>> out = vf.fix(vf.Dataset(images, ann, vf.Categories.from_names(["cat"])))
        >>> [c.code for c in out.changes]
        ['fix.drop_box', 'fix.clip_box']
    """
    from .checks.fixes import FixOptions, fix_path
    from .checks.fixes import fix as fix_dataset
    opts = options or FixOptions()
    if fixes:
        unknown = sorted(set(fixes) - {f.name for f in dataclasses.fields(FixOptions)})
        if unknown:
            raise Error(f"fix: unknown parameter(s) {', '.join(unknown)} (fixes: "
                        f"{', '.join(f.name for f in dataclasses.fields(FixOptions))})")
        opts = dataclasses.replace(opts, **fixes)
    if isinstance(src, Dataset) and dst is None:
        return fix_dataset(src, opts, image_dir=image_dir, scan=scan, progress=progress)
    if dst is None:
        raise Error("fix: `dst` (the folder for the fixed dataset) is needed to fix a dataset "
                    "on disk")
    if isinstance(src, Dataset):
        raise Error("fix: a Dataset in memory is fixed in memory (leave `dst` out; write the "
                    "result with vf.write)")
    if report_json is not None:
        guard_file(report_json, sources=source_root(src), into_source=into_source)
    result = fix_path(src, dst, opts, to=to, from_format=format, images=images,
                      overwrite=overwrite, force=force, progress=progress,
                      other_outputs=[report_json] if report_json is not None else [],
                      into_source=into_source, images_dir=images_dir,
                      follow_links=follow_links, write_options=write_options,
                      read_options=read_options)
    if report_json is not None:
        import json
        write_text(Path(report_json), json.dumps(result.to_dict(), indent=2,
                                                 ensure_ascii=False) + "\n")
    return result


def evaluate(gt: str | Path | Dataset, pred: str | Path | Dataset, *, metric: str = "coco",
             iou: Any = None, iou_type: str = "bbox", interpolation: str = "all",
             confidence: float = 0.25, match: str = "auto", gt_format: str | None = None,
             pred_format: str | None = None, split: str | None = None,
             workspace: str | Path | None = None, html: str | Path | None = None,
             objects: str | Path | None = None, into_source: bool = False,
             images_dir: str | Path | None = None, follow_links: bool = False,
             read_options: dict | None = None) -> Evaluation:
    """`visionflow evaluate`: predictions against ground truth: COCO AP exactly as
    pycocotools (metric "coco"), or Pascal VOC AP ("voc", `interpolation` "all" or "11");
    confusion matrix and per-class precision / recall / F1 at `confidence`.

    gt, pred: datasets (paths or Dataset), a COCO results file, a folder of prediction .txt
    files (pred_format); with `workspace`, gt is a version and pred one of its prediction
    sets. iou: thresholds ("LO:HI[:STEP]", a number, a comma list, or an array). html: write
    the offline HTML report there; objects: write every prediction's and object's outcome
    as JSON lines (.jsonl) there (neither inside the ground truth's folder unless
    into_source). read_options: the ground truth reader's options (as for `vf.load`).
    Returns an Evaluation (`to_json()`, `object_records()`). Raises Error,
    ValidationError (predictions for unknown images or classes, missing scores, ...).
    """
    from .evaluation.run import evaluate as run
    if workspace is not None:
        from .evaluation.stored import load_stored
        from .versioning import Workspace
        with Workspace.open(workspace) as ws:
            gt, pred = load_stored(ws, str(gt), str(pred))
    sources = source_root(gt) if isinstance(gt, (str, Path)) else []
    if html is not None:
        html = Path(html)
        if html.suffix.lower() not in (".html", ".htm"):
            raise Error(f"{html}: `html` must end in .html")
        if isinstance(pred, (str, Path)) and Path(pred).exists() and \
                html.resolve() == Path(pred).resolve():
            raise Error(f"{html}: is the predictions file; write the report elsewhere")
        guard_file(html, sources=sources, into_source=into_source)
    if objects is not None:
        objects = Path(objects)
        if objects.suffix.lower() != ".jsonl":
            raise Error(f"{objects}: `objects` must end in .jsonl")
        guard_file(objects, sources=sources, into_source=into_source)
    result = run(gt, pred, metric=metric, iou=iou, iou_type=iou_type,
                 interpolation=interpolation, confidence=confidence, match=match,
                 gt_format=gt_format, pred_format=pred_format, split=split,
                 images_dir=images_dir, follow_links=follow_links, read_options=read_options)
    if objects is not None:
        import orjson
        path = objects.absolute()
        with output_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(path, b"".join(orjson.dumps(r) + b"\n"
                                              for r in result.object_records()))
    if html is not None:
        from .evaluation.report_html import render_html
        write_text(html, render_html(result))
    return result


def find_mistakes(gt: Any, pred: str | Path | Dataset | None = None, *,
                  confidence: float = 0.5, loose_iou: float = 0.75, iou: float = 0.5,
                  iou_type: str = "bbox", gt_format: str | None = None,
                  pred_format: str | None = None, match: str = "auto",
                  split: str | None = None, top: int = 200, out: str | Path | None = None,
                  to: str | None = None, images: str = "copy", overwrite: bool = False,
                  force: bool = False, workspace: str | Path | None = None,
                  tag: str | None = None, images_dir: str | Path | None = None,
                  follow_links: bool = False, write_options: dict | None = None,
                  report: Report | None = None, read_options: dict | None = None) -> Mistakes:
    """`visionflow mistakes`: the images and objects to review: likely missing labels, wrong
    classes, loose boxes (a match below `loose_iou`) and hard images, ranked.

    gt: an Evaluation (then only ranked, by confidence and loose_iou), or the ground truth as
    for `evaluate` (with `workspace`: a version, SOURCE@N, or a folder imported as a source;
    pred then a stored prediction set of the version, or predictions on disk). Predictions
    count from `confidence` and match from `iou`. out: write the `top` images with their
    ground truth as a dataset there (format `to`, default the ground truth's, written back the
    way it was read; `write_options` as for `vf.write`; `read_options`, the ground truth
    reader's, as for `vf.load`). tag: add this
    tag to the `top` images in a new revision of their workspace source(s) (needs
    `workspace`). Returns Mistakes (images, objects, image_rows, `to_json(top)`), with
    `tagged` (one dict per source revised, or None) and `report` (the write's, or None).
    Raises Error (bad parameters), OutputError (`out`), and what `evaluate` raises.
    """
    from contextlib import ExitStack

    from .evaluation.mistakes import Mistakes, tag_in_workspace
    from .evaluation.mistakes import find_mistakes as rank
    from .evaluation.run import Evaluation
    from .evaluation.run import evaluate as run
    if isinstance(gt, Evaluation):
        if pred is not None or out is not None or tag is not None or workspace is not None \
                or read_options:
            raise Error("find_mistakes: an Evaluation is only ranked; pass the ground truth "
                        "and predictions themselves to use `out`, `tag` or `workspace`")
        return rank(gt, confidence=confidence, loose_iou=loose_iou)
    if pred is None:
        raise Error("find_mistakes: `pred` (the predictions) is needed unless `gt` is an "
                    "Evaluation")
    if top < 1:
        raise Error(f"`top` must be at least 1, got {top}")
    if tag is not None and workspace is None:
        raise Error("`tag` needs `workspace`: tags are recorded as a new revision of a "
                    "workspace source; use `out` for a folder")
    tagged = None
    with ExitStack() as stack:
        ref, gt_in, pred_in = None, gt, pred
        ws = None
        if workspace is not None:
            from .versioning import Workspace
            ws = stack.enter_context(Workspace.open(workspace))
            gt_in, pred_in, ref = _workspace_pair(ws, str(gt), Path(pred))
        result = run(gt_in, pred_in, iou=str(iou), iou_type=iou_type, confidence=confidence,
                     match=match, gt_format=gt_format, pred_format=pred_format, split=split,
                     images_dir=images_dir, follow_links=follow_links,
                     read_options=read_options)
        found: Mistakes = rank(result, confidence=confidence, loose_iou=loose_iou)
        if tag is not None:
            if out is not None:  # refuse a bad out before a revision is recorded
                subset = result.gt.select_images(found.image_rows[:top])
                guard_destination(out, sources=source_folders(subset),
                                  images=image_folders(subset),
                                  keep=tuple(source_folders(result.pred)),
                                  overwrite=overwrite, force=force)
                if write_options:  # a misspelt option too
                    from .formats import registry
                    from .formats.base import parse_options
                    parse_options(registry.get(to or result.gt.source_format or "coco"),
                                  write_options, "writer")
            tagged = tag_in_workspace(ws, result.gt, found.image_rows[:top], tag, ref=ref,
                                      folder=None if ref is not None else gt)
    written = None
    if out is not None:
        subset = result.gt.select_images(found.image_rows[:top])
        written = report if report is not None else Report()
        # to None: the ground truth's own format and layout (COCO for one built in memory)
        write(subset, out, to if to is not None or result.gt.source_format else "coco",
              images=images, overwrite=overwrite, force=force, report=written,
              keep=tuple(source_folders(result.pred)), **(write_options or {}))
    return dataclasses.replace(found, tagged=tagged, report=written)


def _workspace_pair(ws, gt: str, pred: Path):
    """(ground truth, predictions, workspace ref or None) for find_mistakes with a workspace:
    GT a version (PRED a stored prediction set of it unless PRED is on disk), SOURCE@N, or a
    folder on disk (a source's import folder, found when tagging)."""
    from .evaluation.stored import load_stored
    is_version = "@" not in gt and gt in {v["name"] for v in ws.versions()}
    if is_version and not pred.exists():
        g, p = load_stored(ws, gt, str(pred))
        return g, p, gt
    if is_version or "@" in gt:
        return ws.load(gt), pred, gt
    if not Path(gt).exists():
        ws.version(gt)          # names the versions there are
    return Path(gt), pred, None


def write_text(path: Path, text: str) -> None:
    """Write a text file via a temporary sibling (never half-written)."""
    path = Path(path).absolute()
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, text.encode("utf-8"))
