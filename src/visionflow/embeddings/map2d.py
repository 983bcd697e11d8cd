"""A 2-D map of a dataset's embeddings, and the HTML page that shows it.

PCA (numpy, deterministic) is the default; UMAP (umap-learn) and t-SNE (scikit-learn) draw
clusters more clearly when installed. Coordinates are computed once per distinct image
content (copies of one image share a point) and stored beside the embeddings, keyed by the
embedder, the method and the set of image contents, so the web app and a second run reuse them.
The page is one offline file: an inline SVG, one circle per image coloured by class or split,
the file name on hover and, for small datasets, a thumbnail.
"""

from __future__ import annotations

import hashlib
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError
from .base import Embeddings

METHODS = ("pca", "umap", "tsne")
COLORS = ("class", "split")
CHUNK = 65536
NO_OBJECTS = "(no objects)"
MAX_POINTS = 50_000   # drawn in the page; more is a seeded random subset (all are stored)
THUMBNAILS = 500      # datasets up to this size get a thumbnail on hover
THUMB = 96


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(n, 2) projection of the rows of x on their two main axes.

    Covariance accumulated in float64 over chunks of rows (memory dim^2, not n * dim), its
    top two eigenvectors, each flipped so that its largest-magnitude loading is positive
    (scikit-learn's convention for PCA since 1.5; of loadings equal within 1e-4, the first):
    the same input always gives the same picture, never a mirrored one.
    """
    x = np.asarray(x)
    n = len(x)
    if n == 0:
        return np.zeros((0, 2))
    # float32 rows (model vectors) multiply in float32, twice as fast; sums are float64
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    mean = np.zeros(x.shape[1])
    for start in range(0, n, CHUNK):
        mean += x[start:start + CHUNK].sum(axis=0, dtype=np.float64)
    mean /= n
    cov = np.zeros((x.shape[1], x.shape[1]))
    for start in range(0, n, CHUNK):
        block = np.asarray(x[start:start + CHUNK], dtype) - mean.astype(dtype)
        cov += block.T @ block
    _, vecs = np.linalg.eigh(cov)               # ascending eigenvalues
    comps = vecs[:, ::-1][:, :2].T.copy()        # (<=2, dim), main axis first
    for c in comps:
        # loadings equal up to rounding (identical columns: hash bits) tie: the first decides,
        # so float32 and float64 input get the same signs
        mag = np.abs(c)
        if c[np.argmax(mag >= mag.max() * (1 - 1e-4))] < 0:
            c *= -1
    out = np.zeros((n, 2))
    axes = comps.T.astype(dtype)
    for start in range(0, n, CHUNK):
        block = np.asarray(x[start:start + CHUNK], dtype) - mean.astype(dtype)
        out[start:start + CHUNK, :len(comps)] = block @ axes
    return out


def project(vectors: np.ndarray, method: str = "pca", *, kind: str = "vector",
            seed: int = 0) -> np.ndarray:
    """(n, 2) float64 coordinates of embedding rows. Hash rows (packed bits) are unpacked to
    0/1 coordinates first (Hamming distance is then Euclidean distance squared)."""
    if method not in METHODS:
        from ..core.errors import did_you_mean
        raise Error(f"unknown map `method` {method!r}{did_you_mean(method, METHODS)} "
                    f"(known: {', '.join(METHODS)})")
    x = np.unpackbits(vectors, axis=1).astype(np.float32) if kind == "hash" else vectors
    if method == "pca":
        return pca_2d(x)
    if len(x) < 5:
        raise Error(f"`method` {method} needs at least 5 distinct images, got {len(x)}; use "
                    "`method` pca")
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise Error("`method` umap needs umap-learn: pip install 'visionflow[map]' (or "
                        "pip install umap-learn)") from None
        reducer = umap.UMAP(n_components=2, n_neighbors=min(15, len(x) - 1), random_state=seed,
                            n_jobs=1, metric="hamming" if kind == "hash" else "cosine")
        return np.asarray(reducer.fit_transform(np.asarray(x, np.float32)), np.float64)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise Error("`method` tsne needs scikit-learn: pip install 'visionflow[map]' (or pip "
                    "install scikit-learn)") from None
    tsne = TSNE(n_components=2, perplexity=min(30.0, (len(x) - 1) / 3), init="pca",
                random_state=seed, metric="hamming" if kind == "hash" else "cosine")
    return np.asarray(tsne.fit_transform(np.asarray(x, np.float32)), np.float64)


def map_key(emb: Embeddings, method: str, seed: int, shas: np.ndarray) -> str:
    """The stored map's name: embedder key, method, seed and the sorted set of contents."""
    h = hashlib.sha256(f"{emb.info.key}\0{method}\0{seed}\0".encode())
    for s in shas.tolist():
        h.update(f"{s}\n".encode())
    return f"map-{method}-{h.hexdigest()[:20]}.npz"


def image_map(ds: Dataset, emb: Embeddings, method: str = "pca", *, seed: int = 0,
              store: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(image rows, their (n, 2) coordinates) for every image of ds that has an embedding.

    store: the embeddings' store folder; the coordinates are read from it when a map of the
    same contents, embedder, method and seed is there, and written to it otherwise.
    """
    emb = emb.images_only()
    if not len(emb):
        raise Error("no image embeddings to map")
    if emb.image_rows.min() < 0 or emb.image_rows.max() >= len(ds.images):
        raise ValidationError(emb.info.name, "embeddings refer to image rows the dataset does "
                              "not have: they were computed for another dataset")
    shas, first, inverse = np.unique(emb.shas.astype(str), return_index=True,
                                     return_inverse=True)
    path = Path(store) / map_key(emb, method, seed, shas) if store is not None else None
    coords = _load(path, shas) if path is not None else None
    if coords is None:
        coords = project(emb.vectors[first], method, kind=emb.info.kind, seed=seed)
        if path is not None:
            _save(path, shas, coords, emb, method, seed)
    return emb.image_rows.astype(np.int64), coords[inverse.reshape(-1)]


def _load(path: Path, shas: np.ndarray) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if np.array_equal(f["shas"].astype(str), shas):
                return np.asarray(f["coords"], np.float64)
    except (OSError, KeyError, ValueError):
        pass  # absent or unreadable: computed again and rewritten
    return None


def _save(path: Path, shas: np.ndarray, coords: np.ndarray, emb: Embeddings, method: str,
          seed: int) -> None:
    from ..io.atomic import output_errors, write_bytes_atomic
    buf = io.BytesIO()
    np.savez(buf, shas=shas.astype("U64"), coords=coords.astype(np.float64),
             method=np.array(method), seed=np.array(seed), embedder=np.array(emb.info.key))
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, buf.getvalue())


def point_groups(ds: Dataset, rows: np.ndarray, color: str = "class") -> np.ndarray:
    """(len(rows),) object array: each image's group name: its most frequent class (ties to
    the class listed first; NO_OBJECTS when it has none) or its split."""
    if color not in COLORS:
        from ..core.errors import did_you_mean
        raise Error(f"`color` must be one of {', '.join(COLORS)}, got {color!r}"
                    f"{did_you_mean(color, COLORS)}")
    if color == "split":
        return np.array([s or "(none)" for s in ds.images.split[rows].tolist()], dtype=object)
    ann = ds.annotations
    pos = ds.class_index(ann.category_id)
    ok = pos >= 0
    n_cls = len(ds.classes)
    counts = np.zeros((len(ds.images), n_cls + 1), np.int64)
    np.add.at(counts, (ann.image_index[ok], pos[ok]), 1)
    counts[:, n_cls] = 0
    best = np.argmax(counts[:, :n_cls], axis=1) if n_cls else np.zeros(len(ds.images), int)
    names = np.array([*ds.classes, NO_OBJECTS], dtype=object)
    has = counts.sum(axis=1) > 0
    return names[np.where(has, best, n_cls)][rows]


def render_map_html(ds: Dataset, rows: np.ndarray, coords: np.ndarray, *, color: str = "class",
                    title: str = "", method: str = "pca", seed: int = 0,
                    max_points: int = MAX_POINTS, thumbnails: int = THUMBNAILS) -> str:
    """The map as one offline HTML page (inline SVG; a few lines of script for thumbnails)."""
    from ..checks.report_html import _HEAD
    from ..viz.draw import category_color
    groups = point_groups(ds, rows, color)
    shown = np.arange(len(rows))
    if len(rows) > max_points:
        rng = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF)
        shown = np.sort(rng.choice(len(rows), max_points, replace=False))
    names = list(dict.fromkeys(ds.classes if color == "class" else []))
    names += sorted(set(groups.tolist()) - set(names) - {NO_OBJECTS})
    names += [NO_OBJECTS] if NO_OBJECTS in set(groups.tolist()) else []
    palette = {g: ("#999999" if g == NO_OBJECTS else "#%02x%02x%02x" % category_color(i))
               for i, g in enumerate(names)}
    width, height, pad = 900, 700, 20
    xy = coords[shown]
    lo, hi = (xy.min(axis=0), xy.max(axis=0)) if len(xy) else (np.zeros(2), np.ones(2))
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    px = pad + (xy[:, 0] - lo[0]) / span[0] * (width - 2 * pad)
    py = height - pad - (xy[:, 1] - lo[1]) / span[1] * (height - 2 * pad)
    thumbs = _thumbnails(ds, rows) if len(rows) <= thumbnails else {}
    e = _e
    radius = 4 if len(shown) <= 2000 else 2
    circles = []
    for j, k in enumerate(shown.tolist()):
        row = int(rows[k])
        name = str(ds.images.file_name[row])
        split = str(ds.images.split[row])
        label = f"{split}/{name}" if split else name
        thumb = f" data-t='{row}'" if row in thumbs else ""
        circles.append(f"<circle cx='{px[j]:.1f}' cy='{py[j]:.1f}' r='{radius}' "
                       f"fill='{palette[groups[k]]}'{thumb}><title>{e(label)} "
                       f"({e(groups[k])})</title></circle>")
    counts = {g: int((groups == g).sum()) for g in names}
    legend = "".join(f"<li><span class=sw style='background:{palette[g]}'></span>{e(g)} "
                     f"({counts[g]})</li>" for g in names)
    note = (f" · showing {len(shown)} of {len(rows)} images (a seeded random subset)"
            if len(shown) < len(rows) else "")
    script = ""
    if thumbs:
        data = ",".join(f"\"{r}\":\"{t}\"" for r, t in thumbs.items())
        script = _SCRIPT.replace("__THUMBS__", "{" + data + "}")
    return "\n".join([
        _HEAD.format(title=e(f"visionflow map: {title}")),
        _STYLE,
        f"<h1>Embedding map: {e(title)}</h1>",
        f"<p class=meta>{len(rows)} images · {e(method)} · coloured by {e(color)}{note}</p>",
        f"<div class=map><svg xmlns='http://www.w3.org/2000/svg' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}'>"
        f"<rect width='{width}' height='{height}' fill='#fafafa'/>" + "".join(circles)
        + "</svg><ul class=legend>" + legend + "</ul></div>",
        "<div id=tip></div>", script, "</body></html>\n"])


def _thumbnails(ds: Dataset, rows: np.ndarray) -> dict[int, str]:
    """Small JPEG data URIs of the images that decode; the others simply get none."""
    from ..viz.thumbs import data_uri, thumbnail
    out = {}
    for row in np.unique(rows).tolist():
        image = thumbnail(ds.images.path[row], THUMB)
        if image is not None:
            out[row] = data_uri(image)
    return out


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_STYLE = """<style>
.map { display: flex; gap: 16px; align-items: flex-start; }
.map svg { border: 1px solid #ddd; }
.legend { list-style: none; padding: 0; margin: 0; font-size: 13px; }
.sw { display: inline-block; width: 12px; height: 12px; margin-right: 6px; border-radius: 6px; }
circle:hover { stroke: #000; stroke-width: 2; }
#tip { position: fixed; display: none; pointer-events: none; border: 1px solid #888;
  background: #fff; padding: 2px; }
</style>"""

_SCRIPT = """<script>
const T = __THUMBS__; const tip = document.getElementById('tip');
document.querySelectorAll('circle[data-t]').forEach(c => {
  c.addEventListener('mouseenter', ev => { tip.innerHTML = "<img src='" + T[c.dataset.t] + "'>";
    tip.style.display = 'block'; tip.style.left = (ev.clientX + 12) + 'px';
    tip.style.top = (ev.clientY + 12) + 'px'; });
  c.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
});
</script>"""


# --- the `visionflow map` command as a library function --------------------------------------

def write_map(src: Any, out: str | Path, *, model: Any = "phash", method: str = "pca",
              color: str = "class", seed: int = 0, format: str | None = None,
              errors: str = "raise", images_dir: str | Path | None = None,
              follow_links: bool = False, workspace: str | Path | None = None,
              into_source: bool = False, report: Any = None,
              progress: Any = None, read_options: dict | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """`visionflow map`: embed the dataset `src` with `model`, project it with `method` and
    write the page to the .html file `out` (atomic; never inside the dataset unless
    `into_source`). The coordinates are kept beside the embeddings in their store.
    read_options: the reader's options (as for `vf.load`). Returns
    (image rows, their (n, 2) coordinates)."""
    from contextlib import ExitStack

    from ..api import image_folders, source_folders
    from ..core.report import Report
    from ..io.atomic import guard_file, output_errors, source_root, write_bytes_atomic
    from . import embed
    from .search import open_source
    from .store import store_folder
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise Error(f"{out}: `out` must end in .html")
    for name, value, known in (("method", method, METHODS), ("color", color, COLORS)):
        if value not in known:
            from ..core.errors import did_you_mean
            raise Error(f"`{name}` must be one of {', '.join(known)}, got {value!r}"
                        f"{did_you_mean(value, known)}")
    on_disk = not isinstance(src, Dataset) and workspace is None
    guard_file(out, sources=source_root(src) if on_disk else [], into_source=into_source)
    report = report if report is not None else Report()
    with ExitStack() as stack:
        ds, _ = open_source(src, stack, format=format, errors=errors, images_dir=images_dir,
                            follow_links=follow_links, workspace=workspace, report=report,
                            progress=progress, **(read_options or {}))
        guard_file(out, sources=[*source_folders(ds), *image_folders(ds)],
                   into_source=into_source)
        emb = embed(ds, model, progress=progress, report=report)
        folder = store_folder(emb.info, "auto", ds.images.path.tolist())
        rows, coords = image_map(ds, emb, method, seed=seed,
                                 store=folder / "maps" if folder is not None else None)
        title = str(src) if not isinstance(src, Dataset) else ds.meta.get("source_root", "")
        page = render_map_html(ds, rows, coords, color=color, method=method, seed=seed,
                               title=title)
    path = out.absolute()
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, page.encode("utf-8"))
    return rows, coords
