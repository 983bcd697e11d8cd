"""What changed between two snapshots (versions, or two revisions of a source).

Images are matched by (split, file_name). Each snapshot keeps a sorted index of (name hash,
content+annotation hash, row); a diff merges the two indexes in numpy, fetches only the rows
that differ from SQLite by primary key, and compares annotations (vectorized) only for images
whose annotation hash differs, so a diff of two 250,000-image versions that differ in a few
percent of their images takes well under a second.

Annotations of one image are compared per class (by class name, so renumbered ids do not
count as changes):
- identical box and geometry: unchanged;
- otherwise paired greedily by highest IoU (> 0): "moved" (box moved or resized, or its
  polygon/mask/keypoints/attributes edited);
- what is left: "added" (in B only) or "removed" (in A only).
Annotations of added or removed images count as added or removed.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import orjson

from ..core.errors import Error
from .snapshot import ANNSET, decode_annset, decode_index

_BATCH = 500


@dataclass
class Diff:
    a: str
    b: str
    images_added: list[str] = field(default_factory=list)
    images_removed: list[str] = field(default_factory=list)
    images_changed: list[str] = field(default_factory=list)      # pixels differ
    images_reannotated: list[str] = field(default_factory=list)  # annotations differ
    per_class: dict[str, dict[str, int]] = field(default_factory=dict)
    categories_added: list[str] = field(default_factory=list)
    categories_removed: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.images_added or self.images_removed or self.images_changed
                    or self.images_reannotated or self.categories_added
                    or self.categories_removed)

    def totals(self) -> dict[str, int]:
        return {k: sum(c[k] for c in self.per_class.values())
                for k in ("added", "removed", "moved")}

    def to_dict(self, limit: int | None = None) -> dict:
        cut = (lambda xs: xs) if limit is None else (lambda xs: xs[:limit])
        return {
            "a": self.a, "b": self.b,
            "images": {"added": len(self.images_added), "removed": len(self.images_removed),
                       "changed": len(self.images_changed),
                       "reannotated": len(self.images_reannotated)},
            "annotations": self.totals(),
            "per_class": self.per_class,
            "categories": {"added": self.categories_added, "removed": self.categories_removed},
            "images_added": cut(self.images_added),
            "images_removed": cut(self.images_removed),
            "images_changed": cut(self.images_changed),
            "images_reannotated": cut(self.images_reannotated),
        }


def diff(con: sqlite3.Connection, a_id: int, b_id: int, a_name: str, b_name: str) -> Diff:
    names_a = _class_names(con, a_id)
    names_b = _class_names(con, b_id)
    out = Diff(a_name, b_name)
    out.categories_added = [n for n in dict.fromkeys(names_b.values()) if n not in
                            set(names_a.values())]
    out.categories_removed = [n for n in dict.fromkeys(names_a.values()) if n not in
                              set(names_b.values())]
    counts: dict[str, Counter] = defaultdict(Counter)
    removed, added, changed = _differing_rows(con, a_id, b_id)

    out.images_removed = [_key(s, f) for s, f, _ in removed]
    out.images_added = [_key(s, f) for s, f, _ in added]
    out.images_changed = [_key(s, f) for s, f, px, _, _ in changed if px]
    reannotated = [(s, f, ha, hb) for s, f, _, ha, hb in changed if ha != hb]
    out.images_reannotated = [_key(s, f) for s, f, _, _ in reannotated]

    wanted = {h for *_, h in removed} | {h for *_, h in added}
    wanted |= {h for *_, ha, hb in reannotated for h in (ha, hb)}
    sets = _annsets(con, wanted)
    for side, rows, names in (("removed", removed, names_a), ("added", added, names_b)):
        per_hash = Counter(h for *_, h in rows)
        for h, times in per_hash.items():
            rec = decode_annset(sets[h])
            if len(rec):
                for cid, n in Counter(rec["category_id"].tolist()).items():
                    counts[names.get(cid, str(cid))][side] += n * times
    _compare([(sets[ha], sets[hb]) for _, _, ha, hb in reannotated], names_a, names_b, counts)
    order = list(dict.fromkeys([*names_a.values(), *names_b.values()]))
    order += sorted(set(counts) - set(order))
    out.per_class = {name: {k: counts[name][k] for k in ("added", "removed", "moved")}
                     for name in order if name in counts and any(counts[name].values())}
    return out


def _differing_rows(con: sqlite3.Connection, a_id: int, b_id: int):
    """Rows removed (split, file_name, ann_hash), added (same), and present in both but
    different (split, file_name, pixels differ, ann_hash A, ann_hash B), each in row order.
    Two sorted per-snapshot indexes are merged in numpy; SQLite is asked only for the rows
    that differ, by primary key."""
    ia, ib = (decode_index(con.execute("SELECT image_index FROM datasets WHERE id = ?",
                                       (i,)).fetchone()[0]) for i in (a_id, b_id))
    _, pos_a, pos_b = np.intersect1d(ia["key"], ib["key"], assume_unique=True,
                                     return_indices=True)
    only_a = np.ones(len(ia), bool)
    only_a[pos_a] = False
    only_b = np.ones(len(ib), bool)
    only_b[pos_b] = False
    differ = ia["content"][pos_a] != ib["content"][pos_b]
    rows_a = _rows(con, a_id, np.concatenate([ia["row"][only_a], ia["row"][pos_a[differ]]]))
    rows_b = _rows(con, b_id, np.concatenate([ib["row"][only_b], ib["row"][pos_b[differ]]]))
    removed = [rows_a[r][:2] + rows_a[r][3:] for r in sorted(ia["row"][only_a].tolist())]
    added = [rows_b[r][:2] + rows_b[r][3:] for r in sorted(ib["row"][only_b].tolist())]
    changed = []
    for ra, rb in sorted(zip(ia["row"][pos_a[differ]].tolist(), ib["row"][pos_b[differ]].tolist())):
        (sa, fa, sha_a, ha), (sb, fb, sha_b, hb) = rows_a[ra], rows_b[rb]
        if (sa, fa) != (sb, fb):  # two names with one 64-bit hash: not the same image
            removed.append((sa, fa, ha))
            added.append((sb, fb, hb))
        else:
            changed.append((sa, fa, sha_a != sha_b, ha, hb))
    return removed, added, changed


def _rows(con: sqlite3.Connection, ds_id: int, rows: np.ndarray) -> dict[int, tuple]:
    out: dict[int, tuple] = {}
    todo = rows.tolist()
    for start in range(0, len(todo), _BATCH):
        chunk = todo[start:start + _BATCH]
        q = (f"SELECT row, split, file_name, sha256, ann_hash FROM images WHERE dataset_id = ? "
             f"AND row IN ({','.join('?' * len(chunk))})")
        for row, *rest in con.execute(q, (ds_id, *chunk)):
            out[row] = tuple(rest)
    return out


def _compare(pairs: list[tuple[bytes, bytes]], names_a: dict, names_b: dict,
             counts: dict[str, Counter]) -> None:
    """Per-class added/removed/moved over many images at once (vectorized: a diff where
    20,000 images were re-annotated must not loop in Python per annotation)."""
    if not pairs:
        return
    class_code: dict[str, int] = {}
    sides = []
    for side, names in ((0, names_a), (1, names_b)):
        raw = [p[side] for p in pairs]
        rec = np.frombuffer(b"".join(raw), ANNSET)
        pair = np.repeat(np.arange(len(pairs)), [len(r) // ANNSET.itemsize for r in raw])
        ids, inv = np.unique(rec["category_id"], return_inverse=True)
        codes = np.array([class_code.setdefault(names.get(int(c), str(c)), len(class_code))
                          for c in ids.tolist()], np.int64)
        sides.append((rec, pair, codes[inv.reshape(-1)] if len(rec) else np.zeros(0, np.int64)))
    (ra, pa, ca), (rb, pb, cb) = sides
    n_a = len(ra)
    # 1. identical rows (same image, class, box bytes, geometry fingerprint) pair off first
    keys = np.zeros((n_a + len(rb), 7), np.uint64)
    keys[:, 0] = np.concatenate([pa, pb])
    keys[:, 1] = np.concatenate([ca, cb])
    keys[:, 2:6] = np.concatenate([ra["xyxy"], rb["xyxy"]]).view(np.uint64)
    keys[:, 6] = np.concatenate([ra["extra"], rb["extra"]])
    _, kid = np.unique(np.ascontiguousarray(keys).view(np.dtype((np.void, 56))).ravel(),
                       return_inverse=True)
    kid = kid.reshape(-1)
    k = int(kid.max()) + 1 if len(kid) else 0
    ka, kb = kid[:n_a], kid[n_a:]
    matched = np.minimum(np.bincount(ka, minlength=k), np.bincount(kb, minlength=k))
    left_a = _rank(ka) >= matched[ka]
    left_b = _rank(kb) >= matched[kb]
    # 2. what is left pairs by IoU within (image, class); 1-to-1 groups vectorized
    n_cls = max(len(class_code), 1)
    ga = pa[left_a] * n_cls + ca[left_a]
    gb = pb[left_b] * n_cls + cb[left_b]
    xa, xb = ra["xyxy"][left_a], rb["xyxy"][left_b]
    groups, inv_g = np.unique(np.concatenate([ga, gb]), return_inverse=True)
    inv_g = inv_g.reshape(-1)
    na = np.bincount(inv_g[:len(ga)], minlength=len(groups))
    nb = np.bincount(inv_g[len(ga):], minlength=len(groups))
    moved = np.zeros(len(groups), np.int64)
    one = (na == 1) & (nb == 1)
    if one.any():
        first_a = np.full(len(groups), -1)
        first_b = np.full(len(groups), -1)
        first_a[inv_g[:len(ga)][::-1]] = np.arange(len(ga))[::-1]
        first_b[inv_g[len(ga):][::-1]] = np.arange(len(gb))[::-1]
        moved[one] = _overlaps(xa[first_a[one]], xb[first_b[one]])
    for g in np.flatnonzero((na > 0) & (nb > 0) & ~one).tolist():
        moved[g] = _pair_by_iou(xa[inv_g[:len(ga)] == g], xb[inv_g[len(ga):] == g])
    code_of_group = groups % n_cls
    names = {c: n for n, c in class_code.items()}
    for code in np.unique(code_of_group).tolist():
        sel = code_of_group == code
        c = counts[names[code]]
        m = int(moved[sel].sum())
        c["moved"] += m
        c["removed"] += int(na[sel].sum()) - m
        c["added"] += int(nb[sel].sum()) - m


def _rank(keys: np.ndarray) -> np.ndarray:
    """Position of each row among the rows with the same key (0, 1, ...)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1] if len(keys) else np.zeros(0, int)
    first = np.repeat(start, np.diff(np.r_[start, len(keys)]))
    rank = np.empty(len(keys), np.int64)
    rank[order] = np.arange(len(keys)) - first
    return rank


def _overlaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where box a[i] overlaps b[i] (IoU > 0) or both are image-level labels, else 0."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    with np.errstate(invalid="ignore"):
        hit = (iw > 0) & (ih > 0)
    labels = np.isnan(a).all(1) & np.isnan(b).all(1)
    return (hit | labels).astype(np.int64)


def _pair_by_iou(a: np.ndarray, b: np.ndarray) -> int:
    if not len(a) or not len(b):
        return 0
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area(a)[:, None] + area(b)[None, :] - inter)
    iou = np.nan_to_num(iou, nan=0.0)
    # image-level labels (NaN boxes) of the same class with edited attributes: same object
    both_labels = np.isnan(a).all(1)[:, None] & np.isnan(b).all(1)[None, :]
    iou[both_labels] = 1.0
    moved = 0
    while iou.size and iou.max() > 0:
        i, j = np.unravel_index(int(iou.argmax()), iou.shape)
        iou[i, :] = 0
        iou[:, j] = 0
        moved += 1
    return moved


def _annsets(con: sqlite3.Connection, hashes: set[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    todo = list(hashes)
    for start in range(0, len(todo), _BATCH):
        chunk = todo[start:start + _BATCH]
        q = f"SELECT hash, data FROM annsets WHERE hash IN ({','.join('?' * len(chunk))})"
        for h, data in con.execute(q, chunk):
            out[h] = data
    missing = hashes - out.keys()
    if missing:
        raise Error(f"workspace database: {len(missing)} annotation set(s) are missing "
                    f"(e.g. {next(iter(missing))}); run 'visionflow verify'")
    return out


def _class_names(con: sqlite3.Connection, dataset_id: int) -> dict[int, str]:
    (cats,) = con.execute("SELECT categories FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
    return {int(c["id"]): c["name"] for c in orjson.loads(cats)}


def _key(split: str, file_name: str) -> str:
    return f"{split}/{file_name}" if split else file_name
