"""What the web app filters and counts with: a handful of numpy arrays per revision.

An `Index` is built once per revision from the dataset's columns (or, for a workspace, from
the per-image rows and packed boxes its database already holds, so the grid shows before the
full model is decoded). It holds per image: split code, size, aspect, object count, file name;
per object (sorted by image): class, box, area relative to its image; and sparse
(image, value) pairs for classes (with counts), tags and `check` findings. Every filter clause
is one whole-array operation over those (a gather, a compare, a scatter): no Python loop per
image, so a filter over 250,000 images and 1.7M boxes takes milliseconds. Results and facets
are cached per filter for the life of the Index (a new revision makes a new Index).

The filter query is the one web/API.md documents: repeated parameters AND, a comma list
inside one parameter ORs. `Filter.parse` turns it into typed clauses with one-line errors;
names (classes, splits, tags, finding codes) are checked against the index when applied.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.errors import Error, UsageError, did_you_mean

CACHE_FORMAT = 1
MAX_BOXES = 200                      # boxes per grid item (overlays); the detail has them all
AREA_EDGES = np.array([0, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, np.inf])
OBJECT_EDGES = np.array([0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, np.inf])
OUTCOMES = ("tp", "fp", "fn")
UNKNOWN_CLASS = "(unknown class)"


class FilterError(UsageError):
    """A filter the index cannot apply: a bad value, an unknown name. One line; the API
    answers 400 with it."""


class NotReady(Error):
    """A filter on data still being computed (check findings): the API answers 409."""


# -- the filter ------------------------------------------------------------------------------

RANGE_KEYS = ("area", "aspect", "width", "height", "conf")
NAME_KEYS = ("split", "class", "no_class", "tag", "finding", "outcome")
FILTER_KEYS = (*NAME_KEYS, "count", "empty", *RANGE_KEYS, "pred", "dup", "similar", "q")


@dataclass(frozen=True)
class Clause:
    """One parameter: `kind` and its alternatives (OR). Ranges are (lo, hi) with None for an
    open bound; counts (class name, lo, hi)."""

    kind: str
    values: tuple


@dataclass(frozen=True)
class Filter:
    """Typed filter clauses (AND) plus the prediction set, similarity anchor and the canonical
    key results are cached under."""

    clauses: tuple[Clause, ...] = ()
    pred: str | None = None
    similar: int | None = None
    key: str = ""

    @classmethod
    def parse(cls, params: Iterable[tuple[str, str]], ignore: Iterable[str] = ()) -> Filter:
        """From query parameters (name, value) in order; names in `ignore` (offset, limit,
        ...) are skipped. Raises FilterError naming the parameter and what is wrong."""
        skip = set(ignore)
        clauses: list[Clause] = []
        pred: str | None = None
        similar: int | None = None
        for name, raw in params:
            if name in skip:
                continue
            if name not in FILTER_KEYS:
                raise FilterError(f"unknown filter parameter {name!r}"
                                  f"{did_you_mean(name, FILTER_KEYS)} (known: "
                                  f"{', '.join(FILTER_KEYS)})")
            value = raw.strip()
            if name == "q":
                if value:
                    clauses.append(Clause("q", (value.lower(),)))
                continue
            if not value:
                raise FilterError(f"filter {name}= is empty")
            if name == "pred":
                if pred is not None and pred != value:
                    raise FilterError(f"pred= given twice ({pred!r}, {value!r}); filter one "
                                      "prediction set at a time")
                pred = value
            elif name == "similar":
                similar = _int(name, value)
            elif name in ("empty", "dup"):
                clauses.append(Clause(name, (_flag(name, value),)))
            elif name == "count":
                clauses.append(Clause("count", tuple(_count(v) for v in _alternatives(name,
                                                                                      value))))
            elif name in RANGE_KEYS:
                clauses.append(Clause(name, tuple(_range(name, v) for v in _alternatives(
                    name, value))))
            elif name == "outcome":
                bad = [v for v in _alternatives(name, value) if v not in OUTCOMES]
                if bad:
                    raise FilterError(f"outcome={bad[0]!r} is not one of {', '.join(OUTCOMES)}")
                clauses.append(Clause(name, tuple(_alternatives(name, value))))
            else:
                clauses.append(Clause(name, tuple(_alternatives(name, value))))
        if pred is None and any(c.kind in ("outcome", "conf") for c in clauses):
            pred = ""                         # the only prediction set; checked when applied
        key = orjson.dumps([[c.kind, list(c.values)] for c in sorted(
            clauses, key=lambda c: (c.kind, repr(c.values)))] + [pred, similar]).decode()
        return cls(tuple(clauses), pred, similar, key)

    def without(self, kinds: Sequence[str]) -> Filter:
        """This filter minus the clauses of `kinds` (a facet's counts ignore its own choice)."""
        rest = tuple(c for c in self.clauses if c.kind not in kinds)
        if len(rest) == len(self.clauses):
            return self
        key = orjson.dumps([[c.kind, list(c.values)] for c in sorted(
            rest, key=lambda c: (c.kind, repr(c.values)))] + [self.pred, self.similar]).decode()
        return Filter(rest, self.pred, self.similar, key)


def _alternatives(name: str, value: str) -> list[str]:
    parts = [p.strip() for p in value.split(",")]
    if any(not p for p in parts):
        raise FilterError(f"filter {name}={value!r} has an empty item in its comma list")
    return parts


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FilterError(f"{name}={value!r} is not an integer") from None


def _flag(name: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "true", "yes"):
        return True
    if low in ("0", "false", "no"):
        return False
    raise FilterError(f"{name}={value!r}: expected 1 or 0")


def _number(name: str, text: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        v = float(text)
    except ValueError:
        raise FilterError(f"{name}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise FilterError(f"{name}: {text!r} is not a finite number")
    return v


def _range(name: str, text: str) -> tuple[float | None, float | None]:
    lo_s, sep, hi_s = text.partition(":")
    if not sep:
        raise FilterError(f"{name}={text!r}: expected lo:hi (either bound may be empty, "
                          f"e.g. {name}=0.1: or {name}=:0.5)")
    lo, hi = _number(name, lo_s), _number(name, hi_s)
    if lo is not None and hi is not None and lo > hi:
        raise FilterError(f"{name}={text!r}: the lower bound is above the upper one")
    return lo, hi


def _count(text: str) -> tuple[str, float | None, float | None]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise FilterError(f"count={text!r}: expected CLASS:lo:hi, e.g. count=person:2:5 "
                          "(either bound may be empty)")
    lo, hi = _range("count", f"{parts[1]}:{parts[2]}")
    return parts[0], lo, hi


def _in_range(values: np.ndarray, lo: float | None, hi: float | None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        out = ~np.isnan(values) if values.dtype.kind == "f" else np.ones(len(values), bool)
        if lo is not None:
            out &= values >= lo
        if hi is not None:
            out &= values <= hi
    return out


# -- sparse (value, image) pairs ------------------------------------------------------------

@dataclass
class Pairs:
    """Which images hold which value: `image` sorted within each value code, `start[k]:
    start[k+1]` the slice of value k, `count` how many times (objects of a class)."""

    names: list[str]
    image: np.ndarray
    code: np.ndarray
    start: np.ndarray
    count: np.ndarray

    @classmethod
    def build(cls, names: list[str], code: np.ndarray, image: np.ndarray, n_images: int) -> Pairs:
        key = np.asarray(code, np.int64) * max(n_images, 1) + np.asarray(image, np.int64)
        uniq, count = np.unique(key, return_counts=True)
        c = (uniq // max(n_images, 1)).astype(np.int32)
        img = (uniq % max(n_images, 1)).astype(np.int32)
        start = np.searchsorted(c, np.arange(len(names) + 1)).astype(np.int64)
        return cls(list(names), img, c, start, count.astype(np.int32))

    def images_of(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self.names):
            return self.image[:0]
        return self.image[self.start[k]:self.start[k + 1]]

    def mask(self, codes: Iterable[int], n: int) -> np.ndarray:
        out = np.zeros(n, bool)
        for k in codes:
            out[self.images_of(k)] = True
        return out

    def counts(self, mask: np.ndarray) -> dict[str, int]:
        got = np.bincount(self.code[mask[self.image]], minlength=len(self.names))
        return {name: int(v) for name, v in zip(self.names, got.tolist())}

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": getattr(self, k) for k in ("image", "code", "start", "count")}

    @classmethod
    def from_arrays(cls, names: list[str], arrays: dict[str, np.ndarray], prefix: str) -> Pairs:
        return cls(names, *(arrays[f"{prefix}.{k}"] for k in ("image", "code", "start",
                                                               "count")))


def _names_and_codes(values: Sequence[str]) -> tuple[list[str], np.ndarray]:
    names = list(dict.fromkeys(values))
    pos = {n: i for i, n in enumerate(names)}
    return names, np.fromiter((pos[v] for v in values), np.int32, len(values))


# -- the index --------------------------------------------------------------------------------

@dataclass
class Predictions:
    """One stored prediction set's outcomes: per object (predictions and ground truth) the
    image, the outcome (0 tp, 1 fp, 2 fn) and the score (NaN for fn)."""

    name: str
    image: np.ndarray
    outcome: np.ndarray
    score: np.ndarray


class Similarity:
    """Stored whole-image embeddings of some images: scores of every image against one
    (dot product of L2-normalised vectors, or minus the Hamming distance of hashes); images
    without a stored vector score -inf (listed last)."""

    def __init__(self, rows: np.ndarray, vectors: np.ndarray, kind: str, n: int, name: str):
        self.rows, self.vectors, self.kind, self.name = rows, vectors, kind, name
        self.slot = np.full(n, -1, np.int64)
        self.slot[rows] = np.arange(len(rows))

    def scores(self, image: int) -> np.ndarray:
        k = int(self.slot[image])
        if k < 0:
            raise FilterError(f"similar={image}: that image has no stored embedding "
                              f"({self.name}); run 'visionflow embed' on the dataset again")
        out = np.full(len(self.slot), -np.inf)
        if self.kind == "hash":
            diff = np.bitwise_xor(self.vectors, self.vectors[k])
            out[self.rows] = -np.unpackbits(diff, axis=1).sum(axis=1, dtype=np.int64)
        else:
            out[self.rows] = self.vectors @ self.vectors[k]
        return out


@dataclass
class Index:
    revision: str
    file_name: np.ndarray                 # (n,) object str
    split_names: list[str]
    split: np.ndarray                     # (n,) int16 code into split_names
    width: np.ndarray                     # (n,) int32
    height: np.ndarray                    # (n,) int32
    obj_start: np.ndarray                 # (n+1,) int64: image i's objects are [s[i], s[i+1])
    obj_image: np.ndarray                 # (m,) int32, sorted
    obj_category: np.ndarray              # (m,) int64 category id (as the dataset has it)
    obj_box: np.ndarray                   # (m, 4) float32 x, y, w, h (NaN: image-level label)
    obj_area: np.ndarray                  # (m,) float64 box area / image area (NaN: label)
    classes: Pairs                        # class name -> images, with object counts
    tags: Pairs
    category_ids: list[int] = field(default_factory=list)
    category_names: list[str] = field(default_factory=list)
    findings: Pairs | None = None         # None until `check` has run
    predictions: dict[str, Predictions] = field(default_factory=dict)
    similarity: Similarity | None = None  # stored embeddings (similar=), when found
    duplicates: np.ndarray | None = None  # (n,) int32 group id, -1 none (when stored)

    def __post_init__(self) -> None:
        n = len(self.file_name)
        self.n = n
        self.aspect = self.width / np.maximum(self.height, 1).astype(np.float64)
        self.n_objects = np.diff(self.obj_start).astype(np.int32)
        with np.errstate(invalid="ignore"):
            self.area_bin = np.searchsorted(AREA_EDGES, self.obj_area, "right").astype(np.int8) - 1
        self.area_bin[np.isnan(self.obj_area)] = -1
        self.objects_bin = (np.searchsorted(OBJECT_EDGES, self.n_objects, "right") - 1).astype(
            np.int8)
        self._hists = {k: _edges(getattr(self, k)) for k in ("width", "height", "aspect")}
        self._bins = {k: np.clip(np.searchsorted(e, getattr(self, k), "right") - 1, 0,
                                 len(e) - 2).astype(np.int16) for k, e in self._hists.items()}
        self._lower: np.ndarray | None = None
        self._lock = threading.Lock()
        self._masks: OrderedDict[str, np.ndarray] = OrderedDict()
        self._facets: OrderedDict[str, dict] = OrderedDict()

    # -- building ------------------------------------------------------------------------------

    @classmethod
    def build(cls, revision: str, *, file_name: Sequence[str], split: Sequence[str],
              width: Any, height: Any, obj_image: Any, obj_category: Any, obj_xyxy: Any,
              category_ids: Sequence[int], category_names: Sequence[str],
              tags: Sequence[Any] | None = None) -> Index:
        """From plain columns: images in row order; objects in any order (sorted here,
        stably, so an image's objects keep the dataset's order)."""
        n = len(file_name)
        names = np.empty(n, dtype=object)
        names[:] = list(file_name)
        split_names, split_code = _names_and_codes(list(split))
        obj_image = np.asarray(obj_image, np.int32)
        cat = np.asarray(obj_category, np.int64)
        xyxy = np.asarray(obj_xyxy).reshape(-1, 4)
        if len(obj_image) > 1 and (np.diff(obj_image) < 0).any():   # readers' order: sort
            order = np.argsort(obj_image, kind="stable")
            obj_image, cat, xyxy = obj_image[order], cat[order], xyxy[order]
        w = np.asarray(width, np.int64)
        h = np.asarray(height, np.int64)
        box = np.empty((len(xyxy), 4), np.float32)
        box[:, :2] = xyxy[:, :2]
        np.subtract(xyxy[:, 2:], xyxy[:, :2], out=box[:, 2:], casting="unsafe")
        with np.errstate(invalid="ignore", divide="ignore"):
            img_area = (w * h).astype(np.float64)
            img_area[img_area <= 0] = np.nan
            area = ((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])) / img_area[obj_image]
        # classes by name (a name two category ids share is one facet, as class=NAME selects)
        cids = [int(c) for c in category_ids]
        cnames = [str(x) for x in category_names]
        unique_names = list(dict.fromkeys(cnames))
        name_pos = {nm: i for i, nm in enumerate(unique_names)}
        ids = np.asarray(cids, np.int64)
        code_of_id = np.asarray([name_pos[nm] for nm in cnames], np.int32)
        obj_code = np.full(len(cat), len(unique_names), np.int32)
        if len(ids) and len(cat):
            srt = np.argsort(ids)
            pos = np.clip(np.searchsorted(ids[srt], cat), 0, len(ids) - 1)
            known = ids[srt][pos] == cat
            obj_code[known] = code_of_id[srt][pos][known]
        class_names = unique_names + ([UNKNOWN_CLASS] if (obj_code == len(unique_names)).any()
                                      else [])
        classes = Pairs.build(class_names, obj_code, obj_image, n)
        tag_img, tag_val = [], []
        if tags is not None:
            for i, t in enumerate(tags):
                if t is None:
                    continue
                for v in (t if isinstance(t, (list, tuple, np.ndarray)) else [t]):
                    tag_img.append(i)
                    tag_val.append(str(v))
        tag_names, tag_code = _names_and_codes(tag_val)
        order_t = sorted(range(len(tag_names)), key=lambda k: tag_names[k])
        remap = np.empty(len(tag_names), np.int32)
        remap[order_t] = np.arange(len(tag_names))
        tag_pairs = Pairs.build([tag_names[k] for k in order_t],
                                remap[tag_code] if len(tag_code) else tag_code,
                                np.asarray(tag_img, np.int64), n)
        return cls(revision, names, split_names, split_code.astype(np.int16),
                   w.astype(np.int32), h.astype(np.int32),
                   _offsets(obj_image, n), obj_image, cat,
                   box, area, classes, tag_pairs, cids, cnames)

    @classmethod
    def from_dataset(cls, ds: Any, revision: str) -> Index:
        """From a visionflow Dataset's columns."""
        im, ann = ds.images, ds.annotations
        tags = im.attrs.get("tags")
        return cls.build(revision, file_name=im.file_name, split=im.split.tolist(),
                         width=im.width, height=im.height, obj_image=ann.image_index,
                         obj_category=ann.category_id, obj_xyxy=ann.xyxy,
                         category_ids=[c.id for c in ds.categories],
                         category_names=[c.name for c in ds.categories],
                         tags=None if tags is None else tags.tolist())

    # -- caching on disk -----------------------------------------------------------------------

    _ARRAYS = ("split", "width", "height", "obj_start", "obj_image", "obj_category", "obj_box",
               "obj_area")

    def save(self, folder: Path) -> None:
        """Write the index as .npy files + meta.json into `folder` (replaced atomically), so
        the next start of the same revision memory-maps it instead of building it."""
        import shutil
        import tempfile
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial",
                                    dir=folder.parent))
        try:
            arrays = {k: getattr(self, k) for k in self._ARRAYS}
            arrays.update(self.classes.arrays("classes"))
            arrays.update(self.tags.arrays("tags"))
            for k, v in arrays.items():
                np.save(tmp / f"{k}.npy", np.ascontiguousarray(v))
            (tmp / "names.txt").write_bytes("\0".join(self.file_name.tolist()).encode(
                "utf-8", "surrogateescape"))
            meta = {"format": CACHE_FORMAT, "revision": self.revision, "n": self.n,
                    "split_names": self.split_names, "class_names": self.classes.names,
                    "tag_names": self.tags.names, "category_ids": self.category_ids,
                    "category_names": self.category_names}
            (tmp / "meta.json").write_bytes(orjson.dumps(meta))
            if folder.exists():
                shutil.rmtree(folder)
            tmp.rename(folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(cls, folder: Path, revision: str) -> Index | None:
        """The index saved in `folder` for `revision`, or None when absent or stale."""
        try:
            meta = orjson.loads((folder / "meta.json").read_bytes())
            if meta.get("format") != CACHE_FORMAT or meta.get("revision") != revision:
                return None
            arrays = {p.stem: np.load(p, mmap_mode="r", allow_pickle=False)
                      for p in folder.glob("*.npy")}
            text = (folder / "names.txt").read_bytes().decode("utf-8", "surrogateescape")
        except (OSError, ValueError, orjson.JSONDecodeError):
            return None
        n = int(meta["n"])
        names = np.empty(n, dtype=object)
        names[:] = text.split("\0") if n else []
        try:
            return cls(revision, names, meta["split_names"],
                       *(np.asarray(arrays[k]) for k in cls._ARRAYS[:]),
                       Pairs.from_arrays(meta["class_names"], arrays, "classes"),
                       Pairs.from_arrays(meta["tag_names"], arrays, "tags"),
                       [int(c) for c in meta["category_ids"]],
                       [str(c) for c in meta["category_names"]])
        except (KeyError, ValueError):
            return None

    # -- data computed after start -------------------------------------------------------------

    def set_findings(self, codes: Sequence[str], rows: Sequence[int]) -> None:
        """The `check` findings about images: (code, image row) per finding."""
        names = sorted(set(codes))
        pos = {c: i for i, c in enumerate(names)}
        code = np.fromiter((pos[c] for c in codes), np.int32, len(codes))
        with self._lock:
            self.findings = Pairs.build(names, code, np.asarray(rows, np.int64), self.n)
            self.clear_cache()

    def set_duplicates(self, group: np.ndarray) -> None:
        """(n,) group id per image (-1: in no group): near-duplicate groups."""
        with self._lock:
            self.duplicates = np.asarray(group, np.int64)
            self.clear_cache()

    def set_similarity(self, similarity: Any) -> None:
        """A Similarity (scores of every image against one): what similar= orders by."""
        with self._lock:
            self.similarity = similarity
            self.clear_cache()

    def set_predictions(self, preds: Predictions) -> None:
        with self._lock:
            self.predictions[preds.name] = preds
            self.clear_cache()

    def clear_cache(self) -> None:
        self._masks.clear()
        self._facets.clear()

    # -- filtering -----------------------------------------------------------------------------

    def mask(self, flt: Filter) -> np.ndarray:
        """(n,) bool: the images passing every clause (cached per filter)."""
        with self._lock:
            hit = self._masks.get(flt.key)
        if hit is not None:
            return hit
        out = np.ones(self.n, bool)
        if flt.pred:
            self._prediction_set(flt.pred)          # a name that exists, even alone
        for clause in flt.clauses:
            out &= self._clause(clause, flt)
        if flt.similar is not None:
            self._check_similar(flt.similar)
        with self._lock:
            _remember(self._masks, flt.key, out, 64)
        return out

    def select(self, flt: Filter) -> np.ndarray:
        """Image ids passing `flt`: in row order, or by decreasing similarity with similar=."""
        ids = np.flatnonzero(self.mask(flt))
        if flt.similar is not None:
            score = self.similarity.scores(flt.similar)
            ids = ids[np.argsort(-score[ids], kind="stable")]
        return ids

    def _clause(self, c: Clause, flt: Filter) -> np.ndarray:
        n = self.n
        if c.kind == "split":
            codes = [self._name(self.split_names, v, "split") for v in c.values]
            return np.isin(self.split, np.asarray(codes, np.int16))
        if c.kind in ("class", "no_class"):
            m = self.classes.mask([self._name(self.classes.names, v, "class") for v in c.values],
                                  n)
            return m if c.kind == "class" else ~m
        if c.kind == "count":
            out = np.zeros(n, bool)
            for name, lo, hi in c.values:
                k = self._name(self.classes.names, name, "class")
                counts = np.zeros(n, np.int32)
                s, e = self.classes.start[k], self.classes.start[k + 1]
                counts[self.classes.image[s:e]] = self.classes.count[s:e]
                out |= _in_range(counts, lo, hi)
            return out
        if c.kind == "empty":
            return (self.n_objects == 0) == c.values[0]
        if c.kind == "tag":
            return self.tags.mask([self._name(self.tags.names, v, "tag") for v in c.values], n)
        if c.kind == "finding":
            if self.findings is None:
                raise NotReady("health findings are still being computed (findings_ready is "
                               "false in /api/meta); try again in a moment")
            return self.findings.mask([self._name(self.findings.names, v, "finding code",
                                                  strict=False) for v in c.values], n)
        if c.kind == "area":
            hit = np.zeros(len(self.obj_area), bool)
            for lo, hi in c.values:
                hit |= _in_range(self.obj_area, lo, hi)
            out = np.zeros(n, bool)
            out[self.obj_image[hit]] = True
            return out
        if c.kind in ("aspect", "width", "height"):
            col = getattr(self, c.kind)
            out = np.zeros(n, bool)
            for lo, hi in c.values:
                out |= _in_range(col, lo, hi)
            return out
        if c.kind == "q":
            if self._lower is None:
                self._lower = np.strings.lower(self.file_name.astype(np.dtypes.StringDType()))
            return np.strings.find(self._lower, c.values[0]) >= 0
        if c.kind in ("outcome", "conf"):
            return self._prediction_clause(flt)
        if c.kind == "dup":
            if self.duplicates is None:
                raise FilterError("dup=: no near-duplicate groups are stored for this dataset "
                                  "(run 'visionflow dedup' on it first)")
            return (self.duplicates >= 0) == c.values[0]
        raise FilterError(f"unknown filter {c.kind!r}")  # pragma: no cover - parse refuses it

    def _prediction_clause(self, flt: Filter) -> np.ndarray:
        """Images with a prediction-set object of the outcomes asked (all when no outcome=)
        whose score is in conf= (fn objects have no score: conf= does not apply to them)."""
        p = self._prediction_set(flt.pred or "")
        outcomes = [c.values for c in flt.clauses if c.kind == "outcome"]
        confs = [c.values for c in flt.clauses if c.kind == "conf"]
        hit = np.ones(len(p.image), bool)
        for alts in outcomes:
            hit &= np.isin(p.outcome, [OUTCOMES.index(o) for o in alts])
        for alts in confs:
            ok = np.zeros(len(p.image), bool)
            for lo, hi in alts:
                ok |= _in_range(p.score, lo, hi)
            hit &= ok | (p.outcome == 2)
        out = np.zeros(self.n, bool)
        out[p.image[hit]] = True
        return out

    def _prediction_set(self, name: str) -> Predictions:
        if not self.predictions:
            raise FilterError("pred=: no prediction set is stored for this revision's images "
                              "(attach one with 'visionflow predictions import')")
        if not name:
            if len(self.predictions) > 1:
                raise FilterError(f"outcome=/conf= need pred=NAME: several prediction sets "
                                  f"are stored ({', '.join(sorted(self.predictions))})")
            return next(iter(self.predictions.values()))
        if name not in self.predictions:
            raise FilterError(f"pred={name!r}: no such prediction set"
                              f"{did_you_mean(name, self.predictions)} (stored: "
                              f"{', '.join(sorted(self.predictions))})")
        return self.predictions[name]

    def _check_similar(self, image: int) -> None:
        if self.similarity is None:
            raise FilterError("similar=: no embeddings are stored for this dataset (run "
                              "'visionflow embed' on it first)")
        if not 0 <= image < self.n:
            raise FilterError(f"similar={image}: no image with that id (ids are 0.."
                              f"{self.n - 1})")

    @staticmethod
    def _name(names: list[str], value: str, what: str, strict: bool = True) -> int:
        try:
            return names.index(value)
        except ValueError:
            pass
        if not strict:
            return len(names)               # a code no image has: selects nothing
        shown = ", ".join(repr(n) for n in names[:20]) + (", ..." if len(names) > 20 else "")
        plural = what + ("es" if what.endswith("s") else "s")
        raise FilterError(f"no {what} named {value!r} in this dataset"
                          f"{did_you_mean(value, names)} ({plural}: {shown or 'none'})")

    # -- what the grid and the facets show -----------------------------------------------------

    def page(self, ids: np.ndarray) -> list[dict]:
        """Grid items for these image ids: size, split, object count and up to MAX_BOXES
        boxes [category_id, x, y, w, h] (image-level labels have no box)."""
        out = []
        starts = self.obj_start[ids].tolist()
        ends = self.obj_start[np.asarray(ids) + 1].tolist()
        for i, s, e in zip(np.asarray(ids).tolist(), starts, ends):
            box = self.obj_box[s:e]
            keep = np.flatnonzero(~np.isnan(box[:, 0]))[:MAX_BOXES]
            cat = self.obj_category[s:e][keep].tolist()
            xywh = np.round(box[keep].astype(np.float64), 2).tolist()
            out.append({"id": i, "file": self.file_name[i],
                        "split": self.split_names[self.split[i]],
                        "width": int(self.width[i]), "height": int(self.height[i]),
                        "objects": e - s,
                        "boxes": [[c, *b] for c, b in zip(cat, xywh)]})
        return out

    def facets(self, flt: Filter) -> dict[str, Any]:
        """Counts for the current filter, each facet without its own clauses (so the split
        facet still shows every split's count while split=train is chosen): images per split,
        class, tag, finding code and prediction outcome; histograms (fixed edges per
        revision) of image width, height, aspect, objects per image and object area."""
        with self._lock:
            hit = self._facets.get(flt.key)
        if hit is not None:
            return hit
        total = int(self.mask(flt).sum())

        def m(*kinds: str) -> np.ndarray:
            return self.mask(flt.without(kinds))

        split_counts = np.bincount(self.split[m("split")], minlength=len(self.split_names))
        out: dict[str, Any] = {
            "total": total,
            "split": {s: int(v) for s, v in zip(self.split_names, split_counts.tolist())},
            "class": self.classes.counts(m("class", "no_class", "count")),
            "tag": self.tags.counts(m("tag")),
            "empty": _empty_counts(self.n_objects, m("empty")),
        }
        if self.findings is not None:
            out["finding"] = self.findings.counts(m("finding"))
        if self.duplicates is not None:
            grouped = m("dup") & (self.duplicates >= 0)
            out["dup"] = {"images": int(grouped.sum()),
                          "groups": int(len(np.unique(self.duplicates[grouped])))}
        if self.predictions and (flt.pred or len(self.predictions) == 1):
            p = self._prediction_set(flt.pred or "")
            sel = m("outcome")[p.image]
            got = np.bincount(p.outcome[sel], minlength=3)
            out["outcome"] = {o: int(v) for o, v in zip(OUTCOMES, got.tolist())}
        for k in ("width", "height", "aspect"):
            edges = self._hists[k]
            got = np.bincount(self._bins[k][m(k)], minlength=len(edges) - 1)
            out[k] = {"edges": _finite(edges), "counts": got.tolist()}
        got = np.bincount(self.objects_bin[m("empty")], minlength=len(OBJECT_EDGES) - 1)
        out["objects"] = {"edges": _finite(OBJECT_EDGES), "counts": got.tolist()}
        sel = m("area")[self.obj_image] & (self.area_bin >= 0)
        got = np.bincount(self.area_bin[sel], minlength=len(AREA_EDGES) - 1)
        out["area"] = {"edges": _finite(AREA_EDGES), "counts": got.tolist()}
        with self._lock:
            _remember(self._facets, flt.key, out, 64)
        return out


def _offsets(sorted_image: np.ndarray, n: int) -> np.ndarray:
    """[0, c0, c0+c1, ...]: where each image's objects start in the sorted object arrays."""
    out = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(sorted_image, minlength=n), out=out[1:])
    return out


def _empty_counts(n_objects: np.ndarray, mask: np.ndarray) -> dict[str, int]:
    empty = int((mask & (n_objects == 0)).sum())
    return {"empty": empty, "with_objects": int(mask.sum()) - empty}


def _edges(values: np.ndarray) -> np.ndarray:
    """16 equal bins over the values' range (a single value: one bin around it)."""
    if not len(values):
        return np.array([0.0, 1.0])
    lo, hi = float(np.min(values)), float(np.max(values))
    if hi <= lo:
        return np.array([lo - 0.5, lo + 0.5])
    return np.linspace(lo, hi, 17)


def _finite(edges: np.ndarray) -> list[float | None]:
    """Edges as JSON: an infinite last edge is null (open bin)."""
    return [None if math.isinf(v) else round(float(v), 6) for v in edges]


def _remember(cache: OrderedDict, key: str, value: Any, size: int) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)
