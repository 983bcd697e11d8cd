"""MOT Challenge sequences: `gt/gt.txt` + `img1/000001.jpg` + `seqinfo.ini`.

    frame, id, bb_left, bb_top, bb_width, bb_height, conf, class, visibility[, ...]

one box per line, comma- (or, as in PathTrack, space-) separated; frames are 1-based and name
the images img1/<frame:06d><imExt>.

Layouts read: a sequence folder (gt/gt.txt, else its one gt/*.txt), its gt/ folder or the .txt
itself; a folder of sequences (MOT17/train/MOT17-02/...): folders named train/val/test are
splits, other sequence folders prefix their file names ("MOT17-02/000001.jpg").

Rules:
- Boxes are (left, top, width, height) in pixels, kept as they are (continuous xyxy).
- Track ids -> Annotations.track_id (-1: none). conf 0 marks an ignored ground-truth box: attr
  "ignored" (bool), as Datumaro names it; visibility (0..1) -> attr "visibility" (absent when
  the file has no such field or -1).
- Classes: gt/labels.txt (Datumaro: line k names class k); else the MOT17/20 classes
  (1 pedestrian ... 12 reflection). A missing or non-positive class is class 1. Category ids
  are class numbers; a number beyond the names is one class "class_<n>" (warning
  "mot.undeclared" naming the line; an error when reading strictly). The writer numbers
  classes by their order and writes labels.txt.
- Images: frames 1..seqLength when seqinfo.ini (or PathTrack's info.xml: imw, imh,
  num_frames) says so (size from imWidth/imHeight), else the
  images in img1/ plus every frame the file names; sizes from headers otherwise.
- Image ids are frame numbers (1..N when several sequences share a split). File names are
  `<frame:06d><imExt>`, the only name MOTChallenge tools (devkit, TrackEval, py-motmetrics)
  know a frame by; other names are renamed, reported as loss "file_names" (--strict refuses),
  and kept in a `visionflow.json` sidecar ({"file_names": {frame: name}}), so they come back.
- Writer: one sequence at the root (UNSPLIT) or one per split folder (<split>/gt/gt.txt,
  "default/" for UNSPLIT beside splits); seqinfo.ini when every frame has the same size and
  extension (seqinfo fields read from a single-sequence source are written back).
"""

from __future__ import annotations

import configparser
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations, object_array
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import FormatError, MissingImageError, ParseError, UnsafeInputError
from ..core.images import UNSPLIT, Images
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of, text_of
from ..io.xml import load as load_xml
from . import common
from .builder import header_sizes
from .base import (
    ATTRIBUTES,
    BOXES,
    CLASS_ORDER,
    TRACK_IDS,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import folder_name, rows_by_image

GT_DIR, GT_FILE, LABELS_FILE = "gt", "gt.txt", "labels.txt"
IMAGE_DIR, SEQINFO, SIDECAR = "img1", "seqinfo.ini", "visionflow.json"
PATHTRACK_INFO = "info.xml"
MOT_CLASSES = ("pedestrian", "person on vehicle", "car", "bicycle", "motorbike",
               "non motorized vehicle", "static person", "distractor", "occluder",
               "occluder on the ground", "occluder full", "reflection")
_SPLIT = re.compile(r"[,\s]+")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    seqs = _sequences(path)
    if not seqs:
        return None
    gt = seqs[0].gt
    try:
        with open(gt, encoding="utf-8") as f:
            lines = [line for line in (f.readline() for _ in range(5)) if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None
    if lines and not all(_looks_like_row(line) for line in lines):
        return None
    if lines:
        reasons = [f"{gt.parent.name}/{gt.name}: rows of frame,id,x,y,w,h,..."]
        confidence = 0.8
    elif gt.name == GT_FILE and ((seqs[0].folder / SEQINFO).is_file()
                                 or (seqs[0].folder / IMAGE_DIR).is_dir()):
        reasons, confidence = [f"{GT_DIR}/{GT_FILE} (empty)"], 0.7
    else:
        return None
    if (gt.parent / LABELS_FILE).is_file():
        reasons.append(f"{GT_DIR}/{LABELS_FILE}")
        confidence += 0.05
    for extra in (SEQINFO, IMAGE_DIR):
        if (seqs[0].folder / extra).exists():
            reasons.append(f"{extra} beside it")
            confidence += 0.05
    return Detection("mot", confidence, tuple(reasons))


def _looks_like_row(line: str) -> bool:
    fields = [f for f in _SPLIT.split(line.strip()) if f]
    if len(fields) < 6:
        return False
    try:
        values = [float(f) for f in fields]
    except ValueError:
        return False
    return values[0].is_integer() and values[0] >= 0 and values[1].is_integer()


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Sequence:
    folder: Path
    gt: Path
    split: str
    prefix: str  # file name prefix ("" or "<seq>/")


@dataclass
class _Frame:
    frame: int
    file_name: str
    split: str
    where: str
    path: str | None = None
    width: int = 0
    height: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    seqs = _sequences(path)
    if not seqs:
        raise FormatError(f"{path}: no MOT ground truth (expected gt/gt.txt in a sequence "
                          "folder)")
    frames: list[_Frame] = []
    names: list[str] | None = None
    meta: dict[str, Any] = {}
    for seq in seqs:
        seq_names = _labels(seq, ctx)
        if seq_names is not None:
            names = seq_names if names is None else names + [n for n in seq_names
                                                             if n not in names]
        info = _seqinfo(seq, ctx)
        if len(seqs) == 1 and info:
            meta["mot.seqinfo"] = {k: v for k, v in info.items()
                                   if k.lower() not in ("seqlength", "imwidth", "imheight",
                                                        "imext", "imdir")}
        frames += _read_sequence(seq, info, ctx)
    names = list(names if names is not None else MOT_CLASSES)

    need = [f for f in frames if f.width <= 0 or f.height <= 0]
    sizes = header_sizes(ctx, [f.path for f in need], [f.where for f in need],
                         lambda i: MissingImageError(need[i].where, f"frame {need[i].frame}: "
                                                     f"image {need[i].file_name!r} not found and "
                                                     f"no {SEQINFO} size"))
    for f, (w, h) in zip(need, sizes):
        if f.path is not None:
            f.width, f.height = int(w), int(h)
    frames = [f for f in frames if f.width > 0 and f.height > 0]
    first_use: dict[int, str] = {}  # class numbers beyond the names: where first used
    for f in frames:
        for r in f.rows:
            if r["class"] > len(names):
                first_use.setdefault(r["class"], r["where"])
    if first_use:  # one class per number used, not a placeholder for every number below it
        common.undeclared(ctx, "mot.undeclared", next(iter(first_use.values())),
                          f"class numbers beyond the {len(names)} class names were added as "
                          f"classes: {', '.join(f'class_{c}' for c in sorted(first_use))}",
                          count=len(first_use))

    rows = [(i, r) for i, f in enumerate(frames) for r in f.rows]
    attrs: dict[str, np.ndarray] = {}
    if rows:
        attrs["ignored"] = object_array([r["ignored"] for _, r in rows])
        if any("visibility" in r for _, r in rows):
            attrs["visibility"] = object_array([r.get("visibility") for _, r in rows])
    ids = [f.frame for f in frames]
    if len({(f.split, f.frame) for f in frames}) < len(frames):  # several sequences per split
        ids = list(range(1, len(frames) + 1))
    table = Images.build([f.file_name for f in frames], [f.width for f in frames],
                         [f.height for f in frames], id=ids,
                         split=[f.split for f in frames], path=[f.path for f in frames])
    ann = Annotations.build([i for i, _ in rows], [r["class"] for _, r in rows],
                            np.array([r["box"] for _, r in rows], np.float64).reshape(-1, 4),
                            track_id=np.array([r["track"] for _, r in rows], np.int64),
                            attrs=attrs)
    cats = Categories([Category(k, n) for k, n in enumerate(names, 1)]
                      + [Category(c, f"class_{c}") for c in sorted(first_use)])
    ds = Dataset(table, ann, cats, meta)
    return common.finish_read(ds, ctx, where_annotation=lambda k: rows[k][1]["where"],
                              where_image=lambda k: frames[k].where)


def _sequences(path: Path) -> list[_Sequence]:
    if path.is_file():
        if path.suffix.lower() != ".txt":
            return []
        folder = path.parent.parent if path.parent.name == GT_DIR else path.parent
        return [_Sequence(folder, path, UNSPLIT, "")]
    if not path.is_dir():
        return []
    if path.name == GT_DIR and _gt_file(path.parent):
        return [_Sequence(path.parent, _gt_file(path.parent), UNSPLIT, "")]  # type: ignore[arg-type]
    gt = _gt_file(path)
    if gt is not None:
        return [_Sequence(path, gt, UNSPLIT, "")]
    out: list[_Sequence] = []
    for d in _subdirs(path):
        gt = _gt_file(d)
        split = common.split_named(d.name)
        if gt is not None:
            named = split in ("train", "val", "test") or d.name == common.DEFAULT_SPLIT_NAME
            out.append(_Sequence(d, gt, split if named else UNSPLIT,
                                 "" if named else f"{d.name}/"))
        elif split in ("train", "val", "test"):
            out += [_Sequence(s, _gt_file(s), split, f"{s.name}/")  # type: ignore[arg-type]
                    for s in _subdirs(d) if _gt_file(s) is not None]
    return sorted(out, key=lambda s: (common.split_rank(s.split),
                                      s.folder.name))


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return []


def _gt_file(folder: Path) -> Path | None:
    gt_dir = folder / GT_DIR
    if (gt_dir / GT_FILE).is_file():
        return gt_dir / GT_FILE
    if gt_dir.is_dir():
        found = [p for p in sorted(gt_dir.glob("*.txt")) if p.name != LABELS_FILE]
        if len(found) == 1:
            return found[0]
    return None


def _labels(seq: _Sequence, ctx: ReadContext) -> list[str] | None:
    p = seq.gt.parent / LABELS_FILE
    if not p.is_file():
        return None
    try:
        return [line.strip() for line in p.read_text(encoding="utf-8").splitlines()
                if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(p, f"cannot read class names ({e.__class__.__name__})"))
        return None


def _seqinfo(seq: _Sequence, ctx: ReadContext) -> dict[str, str]:
    p = seq.folder / SEQINFO
    if not p.is_file():
        return _pathtrack_info(seq.folder / PATHTRACK_INFO, ctx)
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, configparser.Error) as e:
        ctx.fail(ParseError(p, f"not a readable INI file ({str(e).splitlines()[0]})"))
        return {}
    if not parser.has_section("Sequence"):
        ctx.fail(ParseError(p, "no [Sequence] section"))
        return {}
    return dict(parser["Sequence"])


def _pathtrack_info(p: Path, ctx: ReadContext) -> dict[str, str]:
    """PathTrack's info.xml (<imw>, <imh>, <num_frames>, <fps>) as seqinfo fields."""
    if not p.is_file():
        return {}
    try:
        root = load_xml(p)
    except (ParseError, UnsafeInputError) as e:
        ctx.fail(e)
        return {}
    keys = {"imw": "imWidth", "imh": "imHeight", "num_frames": "seqLength", "fps": "frameRate"}
    out = {}
    for tag, key in keys.items():
        el = root.find(f".//{tag}")
        if el is not None and el.text:
            text = el.text.strip()
            out[key] = text if key == "frameRate" else text.split(".")[0]
    return out


def _info_int(info: dict[str, str], key: str, where: Path) -> int:
    value = {k.lower(): v for k, v in info.items()}.get(key.lower())
    if value is None:
        return 0
    try:
        return int(value)
    except ValueError:
        raise ParseError(where, f"{key} = {value!r} is not an integer") from None


def _read_sequence(seq: _Sequence, info: dict[str, str], ctx: ReadContext) -> list[_Frame]:
    lower = {k.lower(): v for k, v in info.items()}
    try:
        length = _info_int(info, "seqLength", seq.folder / SEQINFO)
        width = _info_int(info, "imWidth", seq.folder / SEQINFO)
        height = _info_int(info, "imHeight", seq.folder / SEQINFO)
    except ParseError as e:
        ctx.fail(e)
        length = width = height = 0
    ext = lower.get("imext", ".jpg")
    image_dir = seq.folder / (lower.get("imdir") or IMAGE_DIR)
    if ".." in Path(lower.get("imdir") or IMAGE_DIR).parts or Path(
            lower.get("imdir") or IMAGE_DIR).is_absolute():
        image_dir = seq.folder / IMAGE_DIR
    if ctx.images_dir is not None:  # --images-dir: <it>/<sequence>/, else the folder itself
        ctx.images_dir_used = True
        image_dir = ctx.images_dir / seq.folder.name
        image_dir = image_dir if image_dir.is_dir() else ctx.images_dir
    on_disk: dict[int, Path] = {}
    if image_dir.is_dir():
        for p in sorted(image_dir.iterdir()):
            if is_image_file(p.name) and p.stem.isdigit():
                on_disk.setdefault(int(p.stem), p)
    names = _sidecar_names(seq, ctx)
    frames: dict[int, _Frame] = {}

    def frame(n: int, where: str) -> _Frame:
        f = frames.get(n)
        if f is None:
            p = on_disk.get(n)
            default = f"{n:06d}{p.suffix if p else ext}"
            f = frames[n] = _Frame(n, seq.prefix + names.get(n, default), seq.split, where,
                                   str(p.absolute()) if p else None, width, height)
        return f

    for n in range(1, length + 1):
        frame(n, str(seq.folder / SEQINFO))
    for n in sorted(on_disk):
        frame(n, str(on_disk[n]))
    try:
        text = text_of(seq.gt, "utf-8")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(seq.gt, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
        text = ""
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{seq.gt}:{line_no}"
        row = _parse_row(line, where, ctx)
        if row is not None:
            frame(row.pop("frame"), where).rows.append(row)
    return [frames[n] for n in sorted(frames)]


def _parse_row(line: str, where: str, ctx: ReadContext) -> dict[str, Any] | None:
    fields = [f for f in _SPLIT.split(line.strip()) if f]
    if len(fields) < 6:
        ctx.fail(ParseError(where, f"expected at least 6 fields (frame, id, left, top, width, "
                            f"height, ...), got {len(fields)} (\"{line.strip()}\")"))
        return None
    try:
        v = [float(f) for f in fields]
    except ValueError:
        bad = next(f for f in fields if not _is_number(f))
        ctx.fail(ParseError(where, f"expected numbers, got {bad!r}"))
        return None
    if not all(math.isfinite(x) for x in v):
        ctx.fail(ParseError(where, "expected finite numbers"))
        return None
    if not v[0].is_integer() or v[0] < 1 or not v[1].is_integer():
        ctx.fail(ParseError(where, f"frame must be an integer >= 1 and id an integer, got "
                            f"{fields[0]!r} and {fields[1]!r}"))
        return None
    cls = int(v[7]) if len(v) > 7 and v[7].is_integer() and v[7] > 0 else 1
    row: dict[str, Any] = {"frame": int(v[0]), "track": int(v[1]) if v[1] >= 0 else -1,
                           "box": [v[2], v[3], v[2] + v[4], v[3] + v[5]],
                           "ignored": len(v) > 6 and v[6] == 0, "class": cls, "where": where}
    if len(v) > 8 and v[8] >= 0:
        row["visibility"] = int(v[8]) if v[8].is_integer() else v[8]
    return row


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sidecar_names(seq: _Sequence, ctx: ReadContext) -> dict[int, str]:
    p = seq.folder / SIDECAR
    if not p.is_file():
        return {}
    try:
        data = orjson.loads(bytes_of(p))
        names = {int(k): str(v) for k, v in data.get("file_names", {}).items()}
    except (OSError, orjson.JSONDecodeError, AttributeError, ValueError, TypeError) as e:
        ctx.fail(ParseError(p, f"expected {{\"file_names\": {{frame: name}}}} "
                            f"({e.__class__.__name__})"))
        return {}
    return {k: clean_relative(v, where=str(p)) for k, v in names.items()}


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    splits = imgs.splits()
    class_of = {c.id: k for k, c in enumerate(ds.categories, 1)}
    boxes = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    labels = "".join(f"{c.name}\n" for c in ds.categories)
    common.refuse_names(ds.categories.names, "class name", f"{LABELS_FILE} (one name a line)",
                        padded=True)
    dest: dict[int, Path] = {}
    frames_of = [np.flatnonzero(imgs.split == split) for split in splits]
    ctx.loss("file_names", sum(int(imgs.file_name[i] != f"{frame:06d}"
                                   f"{PurePosixPath(str(imgs.file_name[i])).suffix or '.jpg'}")
                               for rows in frames_of for frame, i in enumerate(rows, 1)),
             "image file names (MOT names frames img1/000001.jpg, ... in image order; the "
             f"original names are kept in {SIDECAR}, which MOT tools ignore)")
    for split in splits:
        if splits == [UNSPLIT]:
            folder = out_dir
        else:
            folder = out_dir / folder_name(split or common.DEFAULT_SPLIT_NAME, out_dir)
        (folder / GT_DIR).mkdir(parents=True)
        rows = np.flatnonzero(imgs.split == split)
        lines: list[str] = []
        renamed: dict[str, str] = {}
        sizes, exts = set(), set()
        for frame, i in enumerate(rows, 1):
            i = int(i)
            ext = PurePosixPath(str(imgs.file_name[i])).suffix or ".jpg"
            default = f"{frame:06d}{ext}"
            if imgs.file_name[i] != default:
                renamed[str(frame)] = str(imgs.file_name[i])
            dest[i] = folder / IMAGE_DIR / default
            sizes.add((int(imgs.width[i]), int(imgs.height[i])))
            exts.add(ext)
            for r in rows_of[i]:
                lines.append(_line(boxes, int(r), frame, class_of))
        (folder / GT_DIR / GT_FILE).write_text("".join(lines), encoding="utf-8")
        (folder / GT_DIR / LABELS_FILE).write_text(labels, encoding="utf-8")
        if renamed:
            (folder / SIDECAR).write_bytes(orjson.dumps(
                {"file_names": renamed}, option=orjson.OPT_INDENT_2) + b"\n")
        if len(sizes) == 1 and len(exts) == 1:
            (w, h), = sizes
            extra = ds.meta.get("mot.seqinfo") if len(splits) == 1 else None
            info = {"name": folder.name if folder != out_dir else "sequence",
                    "imDir": IMAGE_DIR, "frameRate": "30"}
            if isinstance(extra, dict):
                info.update({str(k): str(v) for k, v in extra.items()
                             if "\n" not in str(k) + str(v)})
            info.update({"seqLength": str(len(rows)), "imWidth": str(w), "imHeight": str(h),
                         "imExt": exts.pop()})
            (folder / SEQINFO).write_text(
                "[Sequence]\n" + "".join(f"{k}={v}\n" for k, v in info.items()),
                encoding="utf-8")
    common.write_images(ds, lambda i: dest[i], ctx)


def _line(ann: Annotations, r: int, frame: int, class_of: dict[int, int]) -> str:
    x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
    track = int(ann.track_id[r]) if ann.track_id is not None else -1
    ignored = ann.attrs["ignored"][r] if "ignored" in ann.attrs else None
    visibility = ann.attrs["visibility"][r] if "visibility" in ann.attrs else None
    try:
        vis = float(visibility) if visibility is not None else -1.0
    except (TypeError, ValueError):
        vis = -1.0
    fields = [str(frame), str(track if track >= 0 else -1)] + [
        common.fmt_float(v) for v in (x1, y1, round(x2 - x1, 9), round(y2 - y1, 9))] + [
        "0" if ignored else "1", str(class_of[int(ann.category_id[r])]),
        common.fmt_float(vis) if math.isfinite(vis) else "-1"]
    return ",".join(fields) + "\n"


FORMAT = Format(
    name="mot",
    description="MOT Challenge ground truth (gt/gt.txt, img1/, seqinfo.ini) with track ids",
    supports=frozenset({BOXES, TRACK_IDS, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("mot-challenge", "mot_seq", "motchallenge"),
    attributes=frozenset({"ignored", "visibility"}),
)
