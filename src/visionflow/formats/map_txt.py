"""The plain-text format of the mAP tool (Cartucho/mAP): one `<image stem>.txt` per image.

    input/
      ground-truth/<stem>.txt       <class_name> <left> <top> <right> <bottom> [difficult]
      detection-results/<stem>.txt  <class_name> <confidence> <left> <top> <right> <bottom>
      images-optional/<stem>.jpg    the images (the tool needs them only for its animation)
    classes.txt                     visionflow's sidecar: the class order, one name a line
                                    (outside the .txt folders, which the tool globs)

Layouts read: a folder holding ground-truth/ (or only detection-results/), split folders each
holding one (`train/ground-truth/...`), or the folder of .txt files itself. When both
ground-truth/ and detection-results/ are there the ground truth is read; name detection-results/
to read the predictions (`visionflow evaluate input/ground-truth input/detection-results`).

Rules:
- Ground truth or detections: a folder named ground-truth or detection-results says which;
  otherwise detections when every line has a confidence (at least 6 fields, the last 5
  numbers, the name before them a class of classes.txt when there is one) and none ends in
  `difficult`. Detections get a score, ground truth none. Detection of the format itself
  refuses a folder whose undeclared class names hold numbers (YOLO's, KITTI's lines).
- Class names: the tool splits on whitespace and needs names without spaces (its
  extra/remove_space.py). visionflow reads everything before the numbers as the name, so
  `traffic light 1 2 3 4` is class "traffic light"; the writer writes such names as they are
  and warns (map_txt.spaces), since the tool itself cannot read them.
- Coordinates: left top right bottom are read as pixel edges, x1 = left, x2 = right, as our
  VOC reader reads <bndbox> by default (CVAT, LabelImg and the tool's own converters write
  VOC's numbers straight into these files). The tool's IoU adds 1 to widths and heights
  (inclusive integer pixels): its AP on small boxes can differ slightly from ours; the
  coordinates themselves are never shifted, read or written.
- `difficult` (the 6th field of a ground-truth line) is the annotation attribute "difficult"
  (1 or 0), as VOC's. A detection marked difficult (never made by a model) is written with a
  trailing `difficult`, which visionflow reads back but the tool cannot (warning
  map_txt.difficult_detections).
- Images: the files hold no image size and the model has no "unknown size" (validation refuses
  a size of 0), so reading as a dataset needs every image: beside the .txt file, in
  a sibling images-optional/ or images/ folder, or in --images-dir; else MissingImageError
  (skipped with --skip-errors), as KITTI. As predictions (evaluation.predictions.map_txt) the
  files are placed on the ground truth's images and need none. A .txt file is an image (an
  empty one: no objects).
- Classes: classes.txt (in the dataset folder or beside the .txt folder) gives the order and
  classes without objects; names not in it are added after it (warning map_txt.undeclared).
  Without it, classes are sorted by name. Ids are 1..N in that order.
- Writer: ground-truth/ (detection-results/ when every annotation has a score) and
  images-optional/ per split folder (at the top without splits), an empty .txt file for an
  image without objects (the tool needs one per image), classes.txt at the top.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import FormatError, MissingImageError, OutputError, ParseError
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import text_of
from . import common
from .base import (ATTRIBUTES, BOXES, CLASS_ORDER, SCORES, Detection, Format, ReadContext,
                   WriteContext)
from .writing import placements

GT_DIR = "ground-truth"
DR_DIR = "detection-results"
IMAGES_DIRS = ("images-optional", "images")
CLASSES_FILE = "classes.txt"
DIFFICULT = "difficult"


@dataclass
class Line:
    """One object of a file: class name, confidence (None in ground truth), box, difficult."""
    name: str
    score: float | None
    box: tuple[float, float, float, float]
    difficult: bool
    where: str


@dataclass
class _Image:
    txt: Path
    rel: str                     # the .txt path relative to its folder, without .txt
    split: str
    where: str
    objects: list[Line] = field(default_factory=list)
    path: str | None = None
    file_name: str = ""
    width: int = 0
    height: int = 0


# --- parsing (shared with evaluation.predictions) ---------------------------------------------

def _number(token: str) -> float | None:
    try:
        v = float(token)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def looks_like_detections(lines: list[str], known: set[str] | None = None) -> bool:
    """Every line `name confidence left top right bottom` (and none a difficult ground truth);
    with the class names `known`, only where the name before the five numbers is one."""
    for line in lines:
        t = line.split()
        if not t:
            continue
        if t[-1] == DIFFICULT or len(t) < 6 or any(_number(x) is None for x in t[-5:]):
            return False
        if known and " ".join(t[:-5]) not in known:
            return False
    return True


def parse_lines(lines: list[str], path: Path | str, detections: bool) -> list[Line]:
    """The objects of one file; ParseError naming file and line for anything else."""
    out: list[Line] = []
    need = 5 if detections else 4
    shape = ("'class_name confidence left top right bottom'" if detections else
             "'class_name left top right bottom [difficult]'")
    for n, line in enumerate(lines, 1):
        t = line.split()
        if not t:
            continue
        where = f"{path}:{n}"
        difficult = t[-1] == DIFFICULT
        if difficult:
            t = t[:-1]
        if len(t) < need + 1:
            raise ParseError(where, f"expected {shape}, got \"{line.strip()[:60]}\"")
        values = [_number(x) for x in t[-need:]]
        if any(v is None for v in values):
            raise ParseError(where, f"expected {shape} with finite numbers, got "
                             f"\"{line.strip()[:60]}\"")
        name = " ".join(t[:-need])
        score = values[0] if detections else None
        x1, y1, x2, y2 = values[-4:]
        if x2 < x1 or y2 < y1:
            raise ParseError(where, f"box left {x1:g} top {y1:g} right {x2:g} bottom {y2:g} has "
                             "right < left or bottom < top")
        out.append(Line(name, score, (x1, y1, x2, y2), difficult, where))
    return out


def read_lines(path: Path) -> list[str]:
    try:
        return text_of(path, "utf-8-sig").splitlines()
    except UnicodeDecodeError:
        raise ParseError(path, "not UTF-8 text") from None


def txt_files(folder: Path) -> list[tuple[Path, str]]:
    """(file, its path under folder without .txt) of every .txt file, sorted; nested folders
    included, the layout's own folders and classes.txt left out."""
    out = []
    for p in sorted(folder.rglob("*.txt")):
        rel = p.relative_to(folder).as_posix()
        if rel == CLASSES_FILE or not p.is_file():
            continue
        if rel.split("/")[0] in (GT_DIR, DR_DIR, *IMAGES_DIRS):
            continue
        out.append((p, rel[:-4]))
    return out


def is_detections(folder: Path, files: list[Path], known: set[str] | None = None) -> bool:
    """Detections or ground truth: the tool's folder name, else the lines (see the module)."""
    if folder.name == DR_DIR:
        return True
    if folder.name == GT_DIR:
        return False
    lines = [line for f in files for line in read_lines(f)]
    return any(line.strip() for line in lines) and looks_like_detections(lines, known)


def label_folder(path: Path) -> Path:
    """The .txt folder at `path`: its ground-truth/, else its detection-results/, else itself."""
    for sub in (GT_DIR, DR_DIR):
        if (path / sub).is_dir():
            return path / sub
    return path


# --- detect -----------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    if not path.is_dir():
        return None
    parts = _parts(path)
    if not parts:
        return None
    folder = parts[0][0]
    sample = [f for f, _ in txt_files(folder)[:5]]
    if not sample:
        return None
    try:
        known = set(_class_order(path, parts)[0])
        detections = is_detections(folder, sample, known)
        for f in sample:
            lines = read_lines(f)[:20]
            for obj in parse_lines(lines, f, detections):
                if obj.name not in known and any(_number(tok) is not None
                                                 for tok in obj.name.split()):
                    return None      # YOLO's class index or KITTI's fields, not a name
    except (ParseError, OSError):
        return None
    if folder.name in (GT_DIR, DR_DIR):
        return Detection("map-txt", 0.9, (f"{folder.name}/ of the mAP tool's .txt files",))
    return Detection("map-txt", 0.5, ("<image>.txt files of 'class left top right bottom' lines",))


# --- read -------------------------------------------------------------------------------------

def _parts(path: Path) -> list[tuple[Path, str]]:
    """(.txt folder, split) for a dataset folder, split folders, or a .txt folder."""
    if (path / GT_DIR).is_dir() or (path / DR_DIR).is_dir():
        return [(label_folder(path), UNSPLIT)]
    splits = [(label_folder(d), canonical_split(d.name)) for d in sorted(path.iterdir())
              if d.is_dir() and ((d / GT_DIR).is_dir() or (d / DR_DIR).is_dir())]
    if splits:
        return splits
    if any(f.suffix == ".txt" and f.name != CLASSES_FILE for f in path.iterdir()):
        return [(path, UNSPLIT)]
    return []


def _class_order(path: Path, parts: list[tuple[Path, str]]) -> tuple[list[str], Path | None]:
    for cand in (path / CLASSES_FILE, parts[0][0].parent / CLASSES_FILE):
        if cand.is_file():
            names = [n.strip() for n in read_lines(cand)]
            return [n for n in names if n], cand
    return [], None


def _image_lookup(ctx: ReadContext, folder: Path) -> dict[str, tuple[Path, str]]:
    """stem path -> (base folder, name under it) of every image beside the .txt files, in a
    sibling images-optional/ or images/ folder (the first holding it), or in --images-dir."""
    bases = [ctx.images_dir] if ctx.images_dir is not None else \
        [folder, *(folder.parent / d for d in IMAGES_DIRS)]
    if ctx.images_dir is not None:
        ctx.images_dir_used = True
    found: dict[str, tuple[Path, str]] = {}
    for base in bases:
        if not base.is_dir():
            continue
        for dirpath, dirs, files in os.walk(base, followlinks=ctx.follow_links):
            dirs[:] = sorted(d for d in dirs if Path(dirpath, d) != folder)
            for f in sorted(files):
                if not is_image_file(f):
                    continue
                rel = Path(dirpath, f).relative_to(base).as_posix()
                found.setdefault(str(PurePosixPath(rel).with_suffix("")), (base, rel))
    return found


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    parts = _parts(path) if path.is_dir() else []
    if not parts:
        raise FormatError(f"{path}: no mAP-tool .txt files (expected {GT_DIR}/*.txt, "
                          f"{DR_DIR}/*.txt or a folder of <image>.txt files)")
    order, classes_file = _class_order(path, parts)
    images: list[_Image] = []
    scored = False
    for folder, split in parts:
        files = txt_files(folder)
        detections = is_detections(folder, [f for f, _ in files], set(order))
        scored |= detections
        lookup = _image_lookup(ctx, folder)
        for f, rel in files:
            im = _Image(f, rel, split, str(f))
            try:
                im.objects = parse_lines(read_lines(f), f, detections)
            except ParseError as e:
                ctx.fail(e)
                continue
            hit = lookup.get(rel)
            if hit is None:
                ctx.fail(MissingImageError(im.where, f"no image {rel}.* beside it, in "
                                           f"{folder.parent.name or '.'}/images-optional/ or "
                                           "images/, nor in --images-dir; mAP-tool files hold "
                                           "no image size"))
                continue
            base, name = hit
            im.path = os.path.abspath(common.image_file(ctx, base, name, where=im.where))
            im.file_name = name
            images.append(im)
    sizes = common.read_sizes([im.path for im in images], ctx, where=lambda i: images[i].where)
    for im, (w, h) in zip(images, sizes):
        im.width, im.height = int(w), int(h)
    images = [im for im in images if im.width > 0]
    found = {o.name for im in images for o in im.objects}
    extra = sorted(found - set(order))
    if order and extra:
        first = next(o.where for im in images for o in im.objects if o.name in extra)
        common.undeclared(ctx, "map_txt.undeclared", first, f"classes not in {classes_file} "
                          f"were added: {', '.join(extra)}", count=len(extra))
    names = order + extra
    cat_id = {n: i for i, n in enumerate(names, 1)}
    objects = [(i, o) for i, im in enumerate(images) for o in im.objects]
    table = Images.build([im.file_name for im in images], [im.width for im in images],
                         [im.height for im in images], split=[im.split for im in images],
                         path=[im.path for im in images])
    columns: dict[str, Any] = {}
    if scored:
        columns["score"] = np.array([math.nan if o.score is None else o.score
                                     for _, o in objects], np.float64)
    difficult = np.empty(len(objects), object)
    difficult[:] = [int(o.difficult) for _, o in objects]
    ann = Annotations.build([i for i, _ in objects], [cat_id[o.name] for _, o in objects],
                            np.array([o.box for _, o in objects], np.float64).reshape(-1, 4),
                            attrs={DIFFICULT: difficult} if objects else {}, **columns)
    ds = Dataset(table, ann, Categories.from_names(names))
    return common.finish_read(ds, ctx, where_annotation=lambda k: objects[k][1].where,
                              where_image=lambda k: images[k].where)


# --- write ------------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    common.refuse_names(ds.categories.names, "class name", f"{CLASSES_FILE} and the .txt lines "
                        "(fields split on whitespace)", padded=True)
    for name in ds.categories.names:
        if " ".join(str(name).split()) != str(name):
            raise OutputError(f"class name {name!r} holds a tab or several spaces in a row, "
                              "which mAP-tool lines cannot hold (fields split on whitespace); "
                              "rename it")
        if _number(str(name).split()[0]) is not None or str(name).split()[-1] == DIFFICULT:
            raise OutputError(f"class name {name!r} would read back as a number or the "
                              "difficult flag in mAP-tool lines; rename it")
    spaced = [n for n in ds.categories.names if " " in str(n)]
    if spaced:
        ctx.report.add("warning", "map_txt.spaces", f"{len(spaced)} class name(s) hold spaces "
                       f"(e.g. {spaced[0]!r}): visionflow reads them back, the mAP tool needs "
                       "its extra/remove_space.py first", count=len(spaced))
    ann = ds.annotations
    boxes = ann[~ann.is_label]
    scored = boxes.score is not None and len(boxes) > 0 and bool(np.isfinite(boxes.score).all())
    if boxes.score is not None and not scored:
        ctx.loss("scores", int(np.isfinite(boxes.score).sum()), "confidence scores (only some "
                 "objects have one; written as ground truth)")
    diff_col = boxes.attrs.get(DIFFICULT)
    difficult = np.zeros(len(boxes), bool) if diff_col is None else np.array(
        [bool(v) and v not in ("0", "false", "False") for v in diff_col], bool)
    if scored and difficult.any():
        ctx.report.add("warning", "map_txt.difficult_detections", f"{int(difficult.sum())} "
                       "scored object(s) marked difficult are written with a trailing "
                       "'difficult', which visionflow reads back but the mAP tool cannot",
                       count=int(difficult.sum()))
    names = {c.id: str(c.name) for c in ds.categories}
    imgs = ds.images
    splits = [str(s) for s in imgs.split]
    for s in set(splits) - {UNSPLIT}:
        clean_relative(s, where=f"split {s!r}")
    labels = DR_DIR if scored else GT_DIR
    dest, txts = placements(
        imgs.file_name, splits, shared="one mAP-tool file",
        image=lambda rel, s: f"{s}/{IMAGES_DIRS[0]}/{rel}" if s else f"{IMAGES_DIRS[0]}/{rel}",
        label=lambda rel, s: f"{s + '/' if s else ''}{labels}/"
                             f"{PurePosixPath(rel).with_suffix('')}.txt")
    texts: list[list[str]] = [[] for _ in range(len(imgs))]
    for k in range(len(boxes)):
        x1, y1, x2, y2 = (common.fmt_float(v) for v in boxes.xyxy[k])
        fields = [names[int(boxes.category_id[k])]]
        if scored:
            fields.append(common.fmt_float(boxes.score[k]))
        fields += [x1, y1, x2, y2]
        if difficult[k]:
            fields.append(DIFFICULT)
        texts[int(boxes.image_index[k])].append(" ".join(fields))
    for i, txt in enumerate(txts):
        p = out_dir / txt
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(f"{line}\n" for line in texts[i]), encoding="utf-8")
    (out_dir / CLASSES_FILE).write_text("".join(f"{n}\n" for n in ds.categories.names),
                                        encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / dest[i], ctx)


FORMAT = Format(
    name="map-txt",
    description="The mAP tool's text files (Cartucho/mAP): ground-truth/ and detection-results/"
                " <image>.txt, lines 'class [confidence] left top right bottom [difficult]'",
    supports=frozenset({BOXES, SCORES, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("cartucho", "map"),
    attributes=frozenset({DIFFICULT}),
)
