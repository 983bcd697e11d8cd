"""Deterministic, seedable splits: train/val/test by ratio, stratified by class, with
near-duplicate images kept on the same side; and rebalancing of existing splits.

Images are grouped first (near duplicates by 64-bit dHash, at most `max_distance` differing
bits), then groups are shuffled with the seed and dealt out by largest deficit: each group
goes to the split furthest below its share. Stratified, groups are dealt class by class
(rarest class first), so every class is split in the ratios within one image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import ValidationError
from ..core.ids import unique_ids
from ..core.report import Report

SPLIT_NAMES = ("train", "val", "test")


def normalize_ratios(ratios: Sequence[float] | str) -> tuple[float, ...]:
    """(0.7, 0.2, 0.1), [70, 20, 10] or "70,20,10" -> fractions summing to 1."""
    if isinstance(ratios, str):
        try:
            ratios = [float(x) for x in ratios.replace("/", ",").split(",") if x.strip()]
        except ValueError:
            raise ValidationError("ratios", f"expected numbers like 70,20,10, got {ratios!r}") from None
    try:
        vals = [float(x) for x in ratios]
    except (TypeError, ValueError):
        raise ValidationError("ratios", f"expected numbers like [0.7, 0.2, 0.1], got {ratios!r}") from None
    if not 1 <= len(vals) <= 3:
        raise ValidationError("ratios", f"expected 1 to 3 ratios (train, val, test), got {len(vals)}")
    if any(not np.isfinite(v) or v < 0 for v in vals) or sum(vals) <= 0:
        raise ValidationError("ratios", f"ratios must be >= 0 with a positive sum, got {list(vals)}")
    total = sum(vals)
    return tuple(v / total for v in vals)


def split(ds: Dataset, ratios: Sequence[float] | str = (0.7, 0.2, 0.1), *, seed: int = 0,
          stratify: bool = False, near_duplicates: bool = True, max_distance: int = 4,
          names: Sequence[str] = SPLIT_NAMES, report: Report | None = None) -> Dataset:
    """Assign every image to train/val/test (existing splits are ignored).

    near_duplicates: keep images whose dHashes differ in at most max_distance bits on the
    same side (needs the image files; images without one stay ungrouped).
    report: gets a "split.ratios" warning when the split reached differs from the ratios by
    more than rounding (large near-duplicate groups, stratification), and an "ids.renumbered"
    note when ids numbered per split had to be renumbered (see core/ids.py).

    Examples:
        >>> import visionflow as vf
        >>> from visionflow.transforms import split
        >>> ds = vf.Dataset(vf.Images.build([f"{i}.jpg" for i in range(10)], [8] * 10, [8] * 10),
        ...                 vf.Annotations.empty(), vf.Categories())
        >>> sorted(split(ds, (0.8, 0.2), seed=1).images.split.tolist()).count("train")
        8
    """
    fractions = normalize_ratios(ratios)
    n = len(ds.images)
    groups = near_duplicate_groups(ds, max_distance) if near_duplicates else np.arange(n)
    assignment = _deal(ds, groups, fractions, seed, stratify)
    labels = np.array(list(names[:len(fractions)]), dtype=object)[assignment]
    if report is not None:
        _report_ratios(report, fractions, assignment, groups, names, stratify)
    return _renumbered(ds.replace(images=ds.images.replace(split=labels.astype(object))), report)


def rebalance(ds: Dataset, ratios: Sequence[float] | str = (0.7, 0.2, 0.1), *, seed: int = 0,
              names: Sequence[str] = SPLIT_NAMES, report: Report | None = None) -> Dataset:
    """Move as few images as possible between existing splits to reach the ratios.

    Images already in a split keep it unless their split holds more than its share; the
    surplus (drawn with the seed) and unsplit images go to the splits below their share.
    Ids numbered per split are renumbered as in `split`.
    """
    fractions = normalize_ratios(ratios)
    names = list(names[:len(fractions)])
    n = len(ds.images)
    target = _quotas(n, fractions)
    current = ds.images.split.astype(object).copy()
    rng = np.random.default_rng(_seed(seed))
    pool: list[int] = [i for i in range(n) if current[i] not in names]
    for k, name in enumerate(names):
        rows = np.flatnonzero(current == name)
        surplus = len(rows) - target[k]
        if surplus > 0:
            moved = rng.choice(rows, size=surplus, replace=False)
            pool.extend(int(i) for i in moved)
    pool = sorted(pool)
    rng.shuffle(pool)
    counts = [int((current == name).sum()) for name in names]
    counts = [min(c, t) for c, t in zip(counts, target)]
    it = iter(pool)
    for k, name in enumerate(names):
        for _ in range(target[k] - counts[k]):
            current[next(it)] = name
    return _renumbered(ds.replace(images=ds.images.replace(split=current)), report)


def _renumbered(ds: Dataset, report: Report | None) -> Dataset:
    ds, notes = unique_ids(ds)
    for note in notes:
        if report is not None:
            report.add("info", "ids.renumbered", note)
    return ds


def _report_ratios(report: Report, fractions: Sequence[float], assignment: np.ndarray,
                   groups: np.ndarray, names: Sequence[str], stratify: bool) -> None:
    """A warning naming requested and reached ratios when they differ by more than rounding
    (one image per split, or 1% of the images)."""
    n = len(assignment)
    if not n:
        return
    counts = np.bincount(assignment, minlength=len(fractions))[:len(fractions)]
    target = _quotas(n, fractions)
    if max(abs(int(c) - t) for c, t in zip(counts, target)) <= max(1, n // 100):
        return
    pct = lambda values: "/".join(f"{100 * v:.0f}" for v in values)  # noqa: E731
    why = []
    sizes = np.unique(groups, return_counts=True)[1] if len(groups) else np.zeros(0, int)
    if len(sizes) and sizes.max() > 1:
        why.append(f"near-duplicate images stay on one side ({int((sizes > 1).sum())} groups "
                   f"of {int(sizes[sizes > 1].sum())} images, the largest {int(sizes.max())}; "
                   "--no-near-duplicates splits by image)")
    if stratify:
        why.append("classes are dealt out one after another (--stratify)")
    report.add("warning", "split.ratios",
               f"requested {'/'.join(names[:len(fractions)])} = {pct(fractions)} %, reached "
               f"{pct(counts / n)} % ({'/'.join(str(int(c)) for c in counts)} of {n} images)"
               + (f": {'; '.join(why)}" if why else ""))


def _quotas(n: int, fractions: Sequence[float]) -> list[int]:
    raw = np.asarray(fractions) * n
    out = np.floor(raw).astype(int)
    for k in np.argsort(-(raw - out), kind="stable")[: n - int(out.sum())]:
        out[k] += 1
    return out.tolist()


def _seed(seed: int) -> int:
    return int(seed) & 0xFFFFFFFFFFFFFFFF


def _deal(ds: Dataset, groups: np.ndarray, fractions: Sequence[float], seed: int,
          stratify: bool) -> np.ndarray:
    """Split index per image: groups shuffled, then dealt by largest deficit."""
    n = len(ds.images)
    rng = np.random.default_rng(_seed(seed))
    uniq, group_of = np.unique(groups, return_inverse=True)
    n_groups = len(uniq)
    sizes = np.bincount(group_of, minlength=n_groups)
    order = rng.permutation(n_groups)
    if stratify:
        stratum = _group_strata(ds, group_of, n_groups)
        order = order[np.argsort(stratum[order], kind="stable")]
    frac = np.asarray(fractions, dtype=np.float64)
    assigned = np.zeros(len(frac))
    total = 0.0
    group_split = np.zeros(n_groups, np.int64)
    for g in order:
        total += sizes[g]
        deficit = frac * total - assigned
        deficit[frac == 0] = -np.inf
        k = int(np.argmax(deficit))
        group_split[g] = k
        assigned[k] += sizes[g]
    return group_split[group_of] if n else np.zeros(0, np.int64)


def _group_strata(ds: Dataset, group_of: np.ndarray, n_groups: int) -> np.ndarray:
    """Per group, the rank of its rarest class (rarest classes first); groups without any
    annotation last."""
    ann = ds.annotations
    if not len(ann):
        return np.zeros(n_groups, np.int64)
    pairs = np.unique(np.stack([group_of[ann.image_index], ann.category_id], 1), axis=0)
    cats, freq = np.unique(pairs[:, 1], return_counts=True)
    rank_of = {int(c): r for r, c in enumerate(cats[np.lexsort((cats, freq))])}
    stratum = np.full(n_groups, len(cats), np.int64)
    for g, c in pairs.tolist():
        stratum[g] = min(stratum[g], rank_of[c])
    return stratum


# --- near duplicates --------------------------------------------------------------------------

def near_duplicate_groups(ds: Dataset, max_distance: int = 4) -> np.ndarray:
    """Group label per image: images within max_distance dHash bits share one (transitively)."""
    n = len(ds.images)
    hashes, has = perceptual_hashes(ds)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows = np.flatnonzero(has)
    if len(rows) > 1:
        h = hashes[rows].astype(np.uint64)
        bounds = np.linspace(0, 64, max_distance + 2).astype(np.int64)
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            mask = np.uint64(((1 << int(hi - lo)) - 1) << int(lo))
            key = (h & mask) >> np.uint64(lo)
            srt = np.argsort(key, kind="stable")
            k = key[srt]
            starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
            ends = np.concatenate([starts[1:], [len(k)]])
            for s, e in zip(starts.tolist(), ends.tolist()):
                if e - s < 2:
                    continue
                members = srt[s:e]
                hm = h[members]
                for a in range(len(members)):
                    close = _popcount(hm[a + 1:] ^ hm[a]) <= max_distance
                    for b in np.flatnonzero(close) + a + 1:
                        ra, rb = find(int(rows[members[a]])), find(int(rows[members[b]]))
                        if ra != rb:
                            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], np.int64)


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64)
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def perceptual_hashes(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(N,) uint64 dHash per image and whether it has one.

    Uses the health check's scan (visionflow.checks) when it is installed; otherwise a small
    dHash of our own (the same definition: 9x8 gray thumbnail, left/right comparisons).
    """
    try:
        from ..checks.scan import scan_images
    except ImportError:  # pragma: no cover - checks is part of the package
        scan_images = None
    if scan_images is not None:
        scan = scan_images(ds, hash_images=True)
        return scan.dhash.astype(np.uint64), scan.has_dhash.astype(bool)
    return _own_dhashes(ds.images.path.tolist())


def _own_dhashes(paths: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def one(path: str | None) -> int | None:
        if path is None or not os.path.isfile(path):
            return None
        try:
            with Image.open(path) as im:
                im.draft("L", (18, 16))
                small = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BOX), np.int16)
        except Exception:  # noqa: BLE001 - an unreadable image is simply not grouped
            return None
        if int(small.max()) - int(small.min()) < 6:
            return None
        bits = (small[:, 1:] > small[:, :-1]).reshape(-1)
        return int.from_bytes(np.packbits(bits).tobytes(), "big")

    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(one, paths))
    has = np.array([h is not None for h in found], bool)
    return np.array([h or 0 for h in found], np.uint64), has
