"""Safe fixes into a new dataset: every change listed, the source never touched.

What `fix` does (each step can be turned off in FixOptions):
- remap or merge classes (`remap={"car": "vehicle"}`; a name used by several ids is merged
  into its first one with `remap={"Mask": "Mask"}`) and drop classes with their annotations;
- apply EXIF orientation: the pixels are re-encoded upright (only those images) and, when the
  declared size shows the annotations follow the stored pixels, every box, polygon, polyline,
  keypoint, oriented box and mask is turned the same way; annotations already in the upright
  frame stay;
- drop annotations of unknown classes, boxes of NaN, negative or zero size, degenerate polygon
  rings (and objects left with no ring), polyline paths of fewer than 2 distinct points (and
  objects left with nothing), RLE masks that do not fit their image;
- drop images whose file is unreadable or truncated, or whose declared size is not the
  file's (before or after EXIF orientation), with their annotations: a strict read refuses
  them and no rule can place their boxes;
- clip boxes and polygon vertices to the image (a box left with no area is dropped), and
  polylines as open paths with transforms' `clip_path` (a path leaving and re-entering the
  image becomes two; a polyline-only object gets the bounds of what is left as its box and is
  dropped when nothing is left);
- drop exact duplicate boxes (same image, class and coordinates) and exact duplicate images
  (same bytes; the copy in train is kept) when their annotations agree; otherwise both stay
  and the reason is listed;
- give duplicated image or annotation ids new ones.

Near duplicates, self-intersecting polygons, imbalance or leakage through near duplicates are
reported by `check` but never "fixed": no rule is safe for them.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ..core.annotations import Polygons, Polylines
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error
from ..core.geometry import mask_to_rle, pad_degenerate, points_bounds, rle_problem, rle_to_mask
from ..core.report import Report
from ..io.atomic import guard_destination, guard_file, make_temp_dir, output_errors
from .findings import Builder, CheckFinding, fmt_box
from ..transforms.functional import clip_path
from .geometry import duplicate_box_pairs, path_defects, ring_defects, ring_table
from .scan import MISSING, OK, ImageScan, scan_images

# EXIF orientation -> Pillow transpose method (as ImageOps.exif_transpose applies it)
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
_JPEG_QUALITY = 95


@dataclass(frozen=True)
class FixOptions:
    """Which safe fixes to apply (all by default) and how to remap classes.

    remap: old class name -> new name; a new name that exists merges the classes.
    drop_classes: class names whose category and annotations are removed.
    """

    remap: Mapping[str, str] = field(default_factory=dict)
    drop_classes: Sequence[str] = ()
    apply_exif: bool = True
    drop_degenerate: bool = True
    clip: bool = True
    drop_duplicate_boxes: bool = True
    drop_duplicate_images: bool = True
    renumber_ids: bool = True


@dataclass
class FixResult:
    """The fixed dataset and every change, as findings with codes "fix.*"."""

    dataset: Dataset
    changes: list[CheckFinding]
    report: Report = field(default_factory=Report)
    destination: str | None = None

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.code] = out.get(c.code, 0) + c.count
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"destination": self.destination, "counts": self.counts(),
                "changes": [c.to_dict() for c in self.changes],
                "write_report": self.report.to_list()}


def fix(ds: Dataset, options: FixOptions | None = None, *, image_dir: str | Path | None = None,
        scan: ImageScan | None = None, progress=None) -> FixResult:
    """Apply the safe fixes to `ds`; returns a new Dataset and the list of changes.

    image_dir: an existing folder where images whose EXIF orientation is applied are
    re-encoded (their Images.path points there). Without it, EXIF is not applied (listed).

    Examples:
        >>> import visionflow as vf
        >>> images = vf.Images.build(["a.jpg"], [100], [50])
        >>> ann = vf.Annotations.build([0, 0], [1, 1], [[10, 10, 120, 40], [5, 5, 5, 9]])
        >>> out = vf.fix(vf.Dataset(images, ann, vf.Categories.from_names(["cat"])))
        >>> out.dataset.annotations.xyxy.tolist(), [c.code for c in out.changes]
        ([[10.0, 10.0, 100.0, 40.0]], ['fix.drop_box', 'fix.clip_box'])
    """
    opts = options or FixOptions()
    state = _State(ds)
    _remap_classes(state, opts)
    need_scan = len(ds.images) > 0
    if scan is None and need_scan and any(p is not None for p in ds.images.path):
        scan = scan_images(ds, hash_images=opts.drop_duplicate_images)
    if scan is not None:
        _fill_invalid_sizes(state, scan)
    if opts.apply_exif:
        _apply_exif(state, scan, image_dir)
    if opts.drop_degenerate:
        _drop_unknown_classes(state)
        _drop_degenerate(state)
        _drop_unfit_masks(state)
        if scan is not None:
            _drop_broken_images(state, scan)
    if opts.clip:
        _clip(state)
    if opts.drop_duplicate_boxes:
        _drop_duplicate_boxes(state)
    if opts.drop_duplicate_images and scan is not None and scan.hashed:
        _drop_duplicate_images(state, scan)
    if opts.renumber_ids:
        _renumber_ids(state)
    return FixResult(state.result(), state.changes)


def fix_path(src: str | Path, dst: str | Path, options: FixOptions | None = None, *,
             to: str | None = None, from_format: str | None = None, images: str = "copy",
             overwrite: bool = False, force: bool = False, progress=None,
             other_outputs: Sequence[str | Path] = (), into_source: bool = False,
             images_dir: str | Path | None = None, follow_links: bool = False,
             write_options: dict | None = None, read_options: dict | None = None) -> FixResult:
    """Read `src` leniently, fix it and write the new dataset to `dst` (format `to`, default
    the source's). Records the reader could not represent at all are listed as dropped.
    images_dir, follow_links, read_options (the reader's options): as for `vf.load`;
    write_options: the writer's options."""
    from ..api import image_folders, load, source_folders, write
    read_report = Report()
    ds = load(src, from_format, errors="keep", report=read_report, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **(read_options or {}))
    fmt = to  # None: the source's own format, written back as it was read
    # Checked before the staging folder is made beside it (write checks again).
    sources, images_in = source_folders(ds), image_folders(ds)
    dest = guard_destination(dst, sources=sources, images=images_in, overwrite=overwrite,
                             force=force)
    for path in other_outputs:  # files the caller writes afterwards (--report-json)
        guard_file(path, sources=[*sources, *images_in], into_source=into_source)
    with output_errors(dest):
        staging = make_temp_dir(dest, ".fix-images")
    try:
        result = fix(ds, options, image_dir=staging, progress=progress)
        skipped = [CheckFinding("warning", "fix.drop_record", f.message, f.count, f.where)
                   for f in read_report.findings if f.code != "invalid"]
        result.changes[:0] = skipped
        # errors="skip": an image file that is missing is reported and left out (with its
        # annotations): the output never points at a file it does not hold
        write(result.dataset, dest, fmt, images=images, overwrite=overwrite, force=force,
              report=result.report, progress=progress, errors="skip", **(write_options or {}))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.destination = str(dest)
    return result


# --- the state being fixed -------------------------------------------------------------------

class _State:
    """Mutable working copy: columns are copied once, rows are dropped at the end."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self.b = Builder(ds)
        ann = ds.annotations
        self.categories = ds.categories
        self.category_id = ann.category_id.copy()
        self.ann_id = ann.id.copy()
        self.xyxy = ann.xyxy.copy()
        self.rings: list[list[np.ndarray]] | None = (
            ann.polygons.to_lists() if ann.polygons is not None else None)
        self.paths: list[list[np.ndarray]] | None = (
            ann.polylines.to_lists() if ann.polylines is not None else None)
        self.keypoints = None if ann.keypoints is None else ann.keypoints.copy()
        self.obb = None if ann.obb is None else ann.obb.copy()
        self.rle = None if ann.rle is None else ann.rle.copy()
        self.keep_ann = np.ones(len(ann), bool)
        self.changed_geometry = np.zeros(len(ann), bool)
        imgs = ds.images
        self.width, self.height = imgs.width.copy(), imgs.height.copy()
        self.path = imgs.path.copy()
        self.image_id = imgs.id.copy()
        self.keep_img = np.ones(len(imgs), bool)
        self.changes: list[CheckFinding] = []

    def ann_change(self, code: str, row: int, message: str, **details: Any) -> None:
        self.changes.append(self.b.annotation("info", code, row, message, details=details))

    def img_change(self, code: str, row: int, message: str, **details: Any) -> None:
        self.changes.append(self.b.image("info", code, row, message, details=details))

    def alive(self) -> np.ndarray:
        return self.keep_ann & self.keep_img[self.ds.annotations.image_index]

    def result(self) -> Dataset:
        ds = self.ds
        ann = ds.annotations
        attrs = dict(ann.attrs)
        if "coco.area" in attrs and self.changed_geometry.any():
            area = attrs["coco.area"].copy()
            area[self.changed_geometry] = None  # the writer recomputes it from the geometry
            attrs["coco.area"] = area
        new_ann = ann.replace(
            category_id=self.category_id, id=self.ann_id, xyxy=self.xyxy,
            polygons=Polygons.from_lists(self.rings) if self.rings is not None else None,
            polylines=Polylines.from_lists(self.paths) if self.paths is not None else None,
            keypoints=self.keypoints, obb=self.obb, rle=self.rle, attrs=attrs)
        images = ds.images.replace(width=self.width, height=self.height, path=self.path,
                                   id=self.image_id)
        out = Dataset(images, new_ann[self.keep_ann], self.categories, dict(ds.meta))
        return out.select_images(self.keep_img) if not self.keep_img.all() else out


# --- classes ---------------------------------------------------------------------------------

def _remap_classes(s: _State, opts: FixOptions) -> None:
    cats = list(s.categories)
    for old, new in dict(opts.remap).items():
        sources = [c for c in cats if c.name == old]
        if not sources:
            raise Error(f"--remap {old}={new}: no class named {old!r} (classes: "
                        f"{', '.join(sorted({c.name for c in cats}))})")
        existing = [c for c in cats if c.name == new]
        used = set(np.unique(s.category_id[s.keep_ann]).tolist())
        # merging into a name: its first class that has annotations (not an empty parent)
        target = next((c for c in existing if c.id in used), existing[0] if existing else
                      next((c for c in sources if c.id in used), sources[0]))
        if not existing:
            renamed = type(target)(target.id, new, target.supercategory, target.keypoints,
                                   target.skeleton)
            cats = [renamed if c is target else c for c in cats]
            s.changes.append(s.b.dataset("info", "fix.remap_class",
                                         f"class {old!r} (id {target.id}) renamed to {new!r}",
                                         count=1, details={"from": old, "to": new,
                                                           "id": target.id}))
            target = renamed
        for c in sources:
            if c.id == target.id:
                continue
            rows = s.category_id == c.id
            s.category_id[rows] = target.id
            cats = [x for x in cats if x.id != c.id]
            s.changes.append(s.b.dataset(
                "info", "fix.remap_class", f"class {old!r} (id {c.id}) merged into {new!r} "
                f"(id {target.id}): {int(rows.sum())} annotations", count=1,
                details={"from": old, "from_id": c.id, "to": new, "to_id": target.id,
                         "annotations": int(rows.sum())}))
    for name in opts.drop_classes:
        gone = [c for c in cats if c.name == name]
        if not gone:
            raise Error(f"--drop-class {name}: no class named {name!r} (classes: "
                        f"{', '.join(sorted({c.name for c in cats}))})")
        for c in gone:
            rows = (s.category_id == c.id) & s.keep_ann
            s.keep_ann[rows] = False
            cats = [x for x in cats if x.id != c.id]
            s.changes.append(s.b.dataset(
                "info", "fix.drop_class", f"class {name!r} (id {c.id}) dropped with its "
                f"{int(rows.sum())} annotations", count=1,
                details={"class": name, "id": c.id, "annotations": int(rows.sum())}))
    s.categories = Categories(cats)


def _drop_unknown_classes(s: _State) -> None:
    known = np.isin(s.category_id, np.asarray(s.categories.ids, np.int64))
    for r in np.flatnonzero(~known & s.keep_ann):
        s.keep_ann[r] = False
        s.ann_change("fix.drop_annotation", r, f"dropped: category id {s.category_id[r]} is "
                     "not a class of the dataset")


# --- image sizes and EXIF orientation --------------------------------------------------------

def _fill_invalid_sizes(s: _State, scan: ImageScan) -> None:
    """A declared size of 0 or less says nothing: take the file's (upright) size."""
    upright = scan.upright_size()
    rows = np.flatnonzero(((s.width <= 0) | (s.height <= 0)) & (scan.status == OK))
    for r in rows:
        old = f"{s.width[r]}x{s.height[r]}"
        s.width[r], s.height[r] = (int(v) for v in upright[r])
        s.img_change("fix.image_size", r, f"declared size {old} replaced by the image's "
                     f"{s.width[r]}x{s.height[r]}", old=old, new=[int(s.width[r]),
                                                                  int(s.height[r])])


def orient_points(xy: np.ndarray, orientation: int, width: float, height: float) -> np.ndarray:
    """Points on the stored pixels (width x height) -> the same points once the image is
    turned upright for EXIF `orientation` (continuous pixel coordinates)."""
    x, y = xy[..., 0], xy[..., 1]
    w, h = width, height
    new = {1: (x, y), 2: (w - x, y), 3: (w - x, h - y), 4: (x, h - y), 5: (y, x),
           6: (h - y, x), 7: (h - y, w - x), 8: (y, w - x)}[orientation]
    return np.stack(new, axis=-1)


def _apply_exif(s: _State, scan: ImageScan | None, image_dir: str | Path | None) -> None:
    if scan is None:
        return
    rows = np.flatnonzero((scan.status == OK) & (scan.orientation > 1) & s.keep_img)
    if len(rows) and image_dir is None:
        for r in rows:
            s.img_change("fix.exif_skipped", r, f"EXIF orientation {scan.orientation[r]} not "
                         "applied (no folder for re-encoded images was given)")
        return
    ann_rows_of = _rows_by_image(s.ds.annotations.image_index, len(s.ds.images))
    for r in rows:
        o = int(scan.orientation[r])
        raw_w, raw_h = (int(v) for v in scan.raw_size[r])
        up_w, up_h = (raw_h, raw_w) if o >= 5 else (raw_w, raw_h)
        declared = (int(s.width[r]), int(s.height[r]))
        if declared == (up_w, up_h):
            move = False
        elif declared == (raw_w, raw_h):
            move = True
        else:
            s.img_change("fix.exif_skipped", r, f"EXIF orientation {o} not applied: declared "
                         f"size {declared[0]}x{declared[1]} matches neither the stored "
                         f"{raw_w}x{raw_h} nor the upright {up_w}x{up_h} pixels")
            continue
        dest = Path(image_dir) / (s.ds.images.split[r] or "_") / s.ds.images.file_name[r]
        try:
            _write_upright(s.path[r], dest)
        except (OSError, ValueError, SyntaxError) as e:
            s.img_change("fix.exif_skipped", r, f"EXIF orientation {o} not applied: cannot "
                         f"re-encode the image ({e})")
            continue
        s.path[r] = str(dest)
        s.width[r], s.height[r] = up_w, up_h
        moved = 0
        if move:
            for a in ann_rows_of[r]:
                _orient_annotation(s, int(a), o, raw_w, raw_h)
                moved += 1
        what = (f"{moved} annotations turned with them" if move else
                "annotations already followed the upright view")
        s.img_change("fix.exif", r, f"EXIF orientation {o} applied: pixels re-encoded upright "
                     f"({up_w}x{up_h}), {what}", orientation=o, annotations_moved=moved)


def _orient_annotation(s: _State, a: int, o: int, w: int, h: int) -> None:
    box = s.xyxy[a]
    if np.isfinite(box).all():
        corners = orient_points(np.array([[box[0], box[1]], [box[2], box[3]]]), o, w, h)
        s.xyxy[a] = [*corners.min(axis=0), *corners.max(axis=0)]
    if s.rings is not None and s.rings[a]:
        s.rings[a] = [orient_points(ring, o, w, h) for ring in s.rings[a]]
    if s.paths is not None and s.paths[a]:
        s.paths[a] = [orient_points(path, o, w, h) for path in s.paths[a]]
    if s.keypoints is not None:
        kp = s.keypoints[a]
        ok = np.isfinite(kp[:, :2]).all(axis=1)
        kp[ok, :2] = orient_points(kp[ok, :2], o, w, h)
    if s.obb is not None and np.isfinite(s.obb[a]).all():
        s.obb[a] = orient_points(s.obb[a], o, w, h)
    if s.rle is not None and isinstance(s.rle[a], dict):
        mask = Image.fromarray(rle_to_mask(s.rle[a]).astype(np.uint8) * 255)
        s.rle[a] = mask_to_rle(np.asarray(mask.transpose(_TRANSPOSE[o])) > 0)
    s.changed_geometry[a] = True


def _write_upright(src: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        fmt = im.format
        icc = im.info.get("icc_profile")
        upright = ImageOps.exif_transpose(im)
    exif = upright.getexif()
    exif.pop(0x0112, None)
    params: dict[str, Any] = {}
    if fmt in ("JPEG", "MPO"):
        fmt = "JPEG"
        params = {"quality": _JPEG_QUALITY, "exif": exif.tobytes()}
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
    elif fmt in ("PNG", "WEBP"):
        params = {"exif": exif.tobytes()}
    if icc:
        params["icc_profile"] = icc
    upright.save(dest, format=fmt, **params)


# --- degenerate shapes and clipping ----------------------------------------------------------

def _drop_degenerate(s: _State) -> None:
    b = s.xyxy
    label = np.isnan(b).all(axis=1)
    with np.errstate(invalid="ignore"):
        nan = ~np.isfinite(b).all(axis=1) & ~label
        neg = ~nan & ~label & ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
        zero = ~nan & ~label & ~neg & ((b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1]))
    for mask, why in ((nan, "has a NaN or infinite coordinate"), (neg, "has negative size"),
                      (zero, "has zero width or height")):
        for r in np.flatnonzero(mask & s.alive()):
            s.keep_ann[r] = False
            s.ann_change("fix.drop_box", r, f"dropped: box {fmt_box(b[r])} {why}")
    _drop_degenerate_rings(s)
    _drop_degenerate_paths(s)


def _drop_unfit_masks(s: _State) -> None:
    """Annotations whose RLE mask cannot be the image's (wrong size, counts past the mask,
    garbage): no pixel of it can be trusted, and a strict read refuses it."""
    if s.rle is None:
        return
    image_index = s.ds.annotations.image_index
    for r in np.flatnonzero(s.alive()):
        rle, img = s.rle[r], image_index[r]
        problem = None if rle is None else rle_problem(rle, int(s.width[img]),
                                                       int(s.height[img]))
        if problem is not None:
            s.keep_ann[r] = False
            s.ann_change("fix.drop_annotation", r, f"dropped: {problem}")


def _drop_broken_images(s: _State, scan: ImageScan) -> None:
    """Images whose file is unreadable or truncated, or whose declared size is neither the
    file's size nor its size before EXIF orientation (every box would land wrong): dropped
    with their annotations, since no output can use them and a strict read refuses them."""
    upright = scan.upright_size()
    for r in np.flatnonzero(s.keep_img & (scan.status != OK) & (scan.status != MISSING)):
        s.keep_img[r] = False
        s.img_change("fix.drop_image", r, f"dropped with its annotations: {scan.problem[r]}")
    for r in np.flatnonzero(s.keep_img & (scan.status == OK)):
        declared = (int(s.width[r]), int(s.height[r]))
        if (declared[0] > 0 and declared[1] > 0 and declared != tuple(upright[r])
                and declared != tuple(scan.raw_size[r]) and s.path[r] == s.ds.images.path[r]):
            s.keep_img[r] = False
            s.img_change("fix.drop_image", r, f"dropped with its annotations: declared size "
                         f"{declared[0]}x{declared[1]} is not the file's "
                         f"{upright[r][0]}x{upright[r][1]}")


def _drop_degenerate_rings(s: _State) -> None:
    if s.rings is None:
        return
    polys = Polygons.from_lists(s.rings)
    if not len(polys.coords):
        return
    t = ring_table(polys)
    bad, _ = ring_defects(polys, t)
    bad_by_owner: dict[int, list[int]] = {}
    for ring in np.flatnonzero(bad):
        owner = int(t["owner"][ring])
        bad_by_owner.setdefault(owner, []).append(int(ring - polys.object_offsets[owner]))
    alive = s.alive()
    for a, local in bad_by_owner.items():
        if not alive[a]:
            continue
        s.rings[a] = [ring for k, ring in enumerate(s.rings[a]) if k not in set(local)]
        s.changed_geometry[a] = True
        if not s.rings[a]:
            s.keep_ann[a] = False
            s.ann_change("fix.drop_polygon", a, "dropped: every polygon ring is degenerate "
                         "(fewer than 3 distinct vertices or no area)")
        else:
            s.ann_change("fix.drop_ring", a, f"dropped {len(local)} degenerate polygon "
                         "ring(s)", rings=local)


def _only_polyline(s: _State, a: int) -> bool:
    """The object's box is the bounds of its paths: no polygon, mask or oriented box."""
    return not ((s.rings is not None and s.rings[a])
                or (s.rle is not None and s.rle[a] is not None)
                or (s.obb is not None and not np.isnan(s.obb[a]).all()))


def _drop_degenerate_paths(s: _State) -> None:
    if s.paths is None:
        return
    lines = Polylines.from_lists(s.paths)
    if not len(lines.coords):
        return
    bad = path_defects(lines)
    owner = np.repeat(np.arange(len(lines)), lines.counts())
    alive = s.alive()
    for a in np.unique(owner[bad]):
        if not alive[a]:
            continue
        local = [k for k in range(len(s.paths[a])) if bad[lines.object_offsets[a] + k]]
        s.paths[a] = [p for k, p in enumerate(s.paths[a]) if k not in set(local)]
        s.changed_geometry[a] = True
        if not s.paths[a] and _only_polyline(s, a):
            s.keep_ann[a] = False
            s.ann_change("fix.drop_polyline", a, "dropped: every polyline path is degenerate "
                         "(fewer than 2 distinct points)")
        else:
            s.ann_change("fix.drop_path", a, f"dropped {len(local)} degenerate polyline "
                         "path(s)", paths=local)


def _clip_paths(s: _State, w: np.ndarray, h: np.ndarray) -> None:
    """Polylines clipped as open paths (the same `clip_path` transforms use); paths already
    inside are left untouched, so clipping never moves a vertex by rounding."""
    if s.paths is None:
        return
    for a in np.flatnonzero(s.alive() & (w > 0) & (h > 0)):
        paths = s.paths[a]
        limit = np.array([w[a], h[a]])
        with np.errstate(invalid="ignore"):
            off = [~(np.isfinite(p).all(axis=1) & (p >= 0).all(axis=1) & (p <= limit).all(axis=1))
                   for p in paths]
        moved = sum(int(o.sum()) for o in off)
        if not moved:
            continue
        rect = (0.0, 0.0, float(w[a]), float(h[a]))
        # clip_path's crossings can miss the edge by an ulp (-4e-16): snapped onto it
        new = [np.clip(piece, 0, limit) if o.any() else piece for p, o in zip(paths, off)
               for piece in (clip_path(p, rect) if o.any() else [p])]
        s.paths[a] = new
        s.changed_geometry[a] = True
        if _only_polyline(s, a):
            if not new:
                s.keep_ann[a] = False
                s.ann_change("fix.drop_polyline", a, "dropped: polyline lies outside the "
                             f"{w[a]:.0f}x{h[a]:.0f} image", vertices=moved)
                continue
            box = pad_degenerate(points_bounds(np.concatenate(new)))[0]
            s.xyxy[a] = np.clip(box, 0, [w[a], h[a], w[a], h[a]])
        s.ann_change("fix.clip_polyline", a, f"polyline clipped to the image: {moved} vertices "
                     f"lay outside, {len(new)} path(s) left", vertices=moved, paths=len(new))


def _clip(s: _State) -> None:
    idx = s.ds.annotations.image_index
    w = s.width[idx].astype(np.float64)
    h = s.height[idx].astype(np.float64)
    _clip_paths(s, w, h)
    b = s.xyxy
    good = s.alive() & np.isfinite(b).all(axis=1) & (w > 0) & (h > 0)
    limit = np.stack([w, h, w, h], axis=1)
    clipped = np.clip(b, 0, limit)
    changed = good & (clipped != b).any(axis=1)
    for r in np.flatnonzero(changed):
        before = b[r].copy()
        s.xyxy[r] = clipped[r]
        s.changed_geometry[r] = True
        c = clipped[r]
        if c[2] <= c[0] or c[3] <= c[1]:
            s.keep_ann[r] = False
            s.ann_change("fix.drop_box", r, f"dropped: box {fmt_box(before)} lies outside the "
                         f"{w[r]:.0f}x{h[r]:.0f} image", before=before.tolist())
        else:
            s.ann_change("fix.clip_box", r, f"box {fmt_box(before)} clipped to {fmt_box(c)}",
                         before=before.tolist(), after=c.tolist())
    if s.rings is None:
        return
    alive = s.alive()
    for a in np.flatnonzero(alive & (w > 0) & (h > 0)):
        rings = s.rings[a]
        if not rings:
            continue
        new = [np.clip(r, 0, [w[a], h[a]]) for r in rings]
        moved = sum(int((n != r).any(axis=1).sum()) for n, r in zip(new, rings))
        if moved:
            s.rings[a] = new
            s.changed_geometry[a] = True
            s.ann_change("fix.clip_polygon", a, f"{moved} polygon vertices moved onto the "
                         "image edge", vertices=moved)
    _drop_degenerate_rings(s)


# --- duplicates ------------------------------------------------------------------------------

def _drop_duplicate_boxes(s: _State) -> None:
    alive = np.flatnonzero(s.alive() & np.isfinite(s.xyxy).all(axis=1))
    probe = s.ds.replace(annotations=s.ds.annotations.replace(
        xyxy=s.xyxy, category_id=s.category_id))
    later, earlier, _ = duplicate_box_pairs(probe, 1.0, alive)
    for r, e in zip(later.tolist(), earlier.tolist()):
        if not np.array_equal(s.xyxy[r], s.xyxy[e]) or not _same_extras(s, r, e):
            continue
        s.keep_ann[r] = False
        s.ann_change("fix.drop_duplicate_box", r, f"dropped: same class and box as annotation "
                     f"{s.ann_id[e]}", other_id=int(s.ann_id[e]))


def _same_extras(s: _State, a: int, b: int) -> bool:
    if s.rings is not None:
        ra, rb = s.rings[a], s.rings[b]
        if len(ra) != len(rb) or any(not np.array_equal(x, y) for x, y in zip(ra, rb)):
            return False
    if s.paths is not None:
        pa, pb = s.paths[a], s.paths[b]
        if len(pa) != len(pb) or any(not np.array_equal(x, y) for x, y in zip(pa, pb)):
            return False
    if s.keypoints is not None and not np.array_equal(s.keypoints[a], s.keypoints[b],
                                                      equal_nan=True):
        return False
    if s.rle is not None and s.rle[a] != s.rle[b]:
        return False
    return True


def _drop_duplicate_images(s: _State, scan: ImageScan) -> None:
    from .duplicates import exact_duplicate_pairs, precedence
    rows, firsts = exact_duplicate_pairs(scan, precedence(s.ds))
    by_image = _rows_by_image(s.ds.annotations.image_index, len(s.ds.images))
    alive = s.alive()

    def signature(img: int) -> list:
        rows_ = [a for a in by_image[img] if alive[a]]
        return sorted((int(s.category_id[a]), tuple(np.round(s.xyxy[a], 3).tolist()))
                      for a in rows_)

    for r, f in zip(rows.tolist(), firsts.tolist()):
        if not s.keep_img[f] or not s.keep_img[r]:
            continue
        mine = signature(r)
        if s.ds.images.path[r] is not None and s.ds.images.path[r] == s.ds.images.path[f]:
            if not mine:
                s.keep_img[r] = False
                s.img_change("fix.drop_duplicate_image", r, "dropped: a second listing of the "
                             f"file of {s.b.label(f)!r}, without annotations of its own",
                             other_image=s.b.file_name(f), other_split=s.b.split(f))
            continue
        if mine and mine != signature(f):
            s.img_change("fix.kept_duplicate_image", r, f"same bytes as {s.b.label(f)!r} but "
                         "different annotations: both kept, review them",
                         other_image=s.b.file_name(f))
            continue
        s.keep_img[r] = False
        s.img_change("fix.drop_duplicate_image", r, f"dropped: same bytes as {s.b.label(f)!r}"
                     + (f" ({len(mine)} identical annotations)" if mine else ""),
                     other_image=s.b.file_name(f), other_split=s.b.split(f))


def _renumber_ids(s: _State) -> None:
    from .files import _codes, _repeats
    split_code = _codes(s.ds.images.split)
    img_rows = np.flatnonzero(s.keep_img)
    dup, first = _repeats(np.stack([split_code[img_rows], s.image_id[img_rows]], axis=1))
    next_id = int(s.image_id.max()) + 1 if len(s.image_id) else 1
    for k, f in zip(dup.tolist(), first.tolist()):
        r = img_rows[k]
        old = int(s.image_id[r])
        s.image_id[r] = next_id
        s.img_change("fix.renumber_id", r, f"image id {old} was also used by "
                     f"{s.b.label(img_rows[f])!r}; new id {next_id}", old=old, new=next_id)
        next_id += 1
    ann_rows = np.flatnonzero(s.alive())
    if not len(ann_rows):
        return
    ann_split = split_code[s.ds.annotations.image_index[ann_rows]]
    dup, first = _repeats(np.stack([ann_split, s.ann_id[ann_rows]], axis=1))
    next_id = int(s.ann_id.max()) + 1
    for k in dup.tolist():
        r = ann_rows[k]
        old = int(s.ann_id[r])
        s.ann_id[r] = next_id
        s.ann_change("fix.renumber_id", r, f"annotation id {old} was used twice; new id "
                     f"{next_id}", old=old, new=next_id)
        next_id += 1


def _rows_by_image(image_index: np.ndarray, n_images: int) -> list[np.ndarray]:
    order = np.argsort(image_index, kind="stable")
    bounds = np.searchsorted(image_index[order], np.arange(n_images + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_images)]
