"""What the web app has open: a workspace source's latest revision, or a dataset folder.

`AppState.open(path)` shows the grid as soon as the filter index exists: for a workspace the
index comes from a cache on disk (per revision) or from the per-image rows and packed boxes
the workspace database already holds, so 250,000 images open in about a second without
decoding the full model. The full Dataset (polygons, attributes: what the image view and
saves need) is then decoded in a loader process (decoding holds the GIL for seconds and peaks
at several times the model's size: the server feels neither), which also runs `check`; the
findings are cached on disk per revision; stored prediction sets made for these images are
evaluated and stored embeddings read for similarity. `loaded` and `findings_ready` say how far
that got. A dataset folder is read (leniently, as `check` reads) and opened read-only.

One lock (`state.lock`) guards the switch to a new revision (`reload`): a request reads
`state.index` once and keeps working on that revision's index; `dataset_revision` says which
revision `dataset` holds. After a save, `reload(dataset=saved)` shows the new revision without
decoding anything.
"""

from __future__ import annotations

import atexit
import hashlib
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.errors import Error
from ..core.report import Report
from .index import Index, Predictions

CACHE_NAME = "cache"          # under the workspace's .visionflow/ (never in a source folder)
LOAD_TIMEOUT_S = 600.0
KEEP_INDEXES = 3              # cached revision indexes kept (~60 MB each at 250,000 images)


class UnknownImage(Error):
    """An image id that is not a row of the open revision: the API answers 404."""


def index_cache_folder(path: str | Path) -> Path:
    """Where the app caches per-revision indexes for the workspace or folder at `path`."""
    return _cache_dir(Path(path).absolute(), _is_workspace(Path(path).absolute())) / "index"


def _is_workspace(path: Path) -> bool:
    from ..versioning.workspace import DB_NAME, DIR_NAME
    return (path / DIR_NAME / DB_NAME).is_file()


def _cache_dir(path: Path, workspace: bool) -> Path:
    if workspace:
        from ..versioning.workspace import DIR_NAME
        return path / DIR_NAME / CACHE_NAME / "app"
    from ..io.cache import cache_root
    return cache_root() / "app" / hashlib.sha256(str(path).encode()).hexdigest()[:20]


class AppState:
    """The open dataset. Attributes: path, kind ("workspace"|"folder"), read_only,
    workspace (Workspace|None), source (str|None), revision (str, e.g. "raccoon@3"; a
    folder's is "folder:<content hash>"), index, dataset (waits for the background load),
    cache_dir, lock, findings_ready, loaded, timings (seconds per start-up step)."""

    def __init__(self, path: Path, *, source: str | None, findings: bool):
        self.path = path
        self.kind = "workspace" if _is_workspace(path) else "folder"
        self.read_only = self.kind == "folder"
        self.workspace: Any = None
        self.source = source
        self.revision = ""
        self.lock = threading.RLock()
        self.cache_dir = _cache_dir(path, self.kind == "workspace")
        self.timings: dict[str, float] = {}
        self.sam: dict[str, Any] = {"configured": False, "model": None,
                                    "hint": "start the app with a SAM model to segment by "
                                            "clicking (see 'visionflow app --help')"}
        self._run_findings = findings
        self._in_child = False
        self._read: dict[str, Any] = {}           # a folder's reader options
        self._read_report: Report | None = None   # what a lenient folder read reported
        self._save_index: tuple[Index, Path] | None = None
        self._ds_id = 0
        self._paths: np.ndarray = np.zeros(0, dtype=object)
        self._shas: list[str] | None = None
        self._dataset: Any = None
        self.dataset_revision = ""    # the revision `dataset` holds (lags during a reload)
        self._loaded = threading.Event()
        self._load_error: BaseException | None = None
        self._findings: dict[str, Any] | None = None
        self._findings_ready = threading.Event()
        self._generation = 0
        self._children: dict[int, _Child] = {}    # loader processes by generation
        self.notes: list[str] = []
        self.findings_by_image: dict[int, list[dict]] = {}
        self.prediction_objects: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
        self.index: Index

    # -- opening ---------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, source: str | None = None, format: str | None = None,
             read_options: dict[str, Any] | None = None, findings: bool = True,
             background: bool = True) -> AppState:
        """Open a workspace (its source `source`, else the first one; the latest revision)
        or a dataset folder (read-only; `format` and `read_options` as for `vf.load`).
        findings=False skips `check` (benchmarks); background=False loads the full dataset
        (and runs check) before returning."""
        p = Path(path).absolute()
        if not p.exists():
            raise Error(f"{p}: no such file or folder")
        state = cls(p, source=source, findings=findings)
        if state.kind == "workspace" and (format or read_options):
            raise Error(f"{p}: a workspace is read as stored; --from and -I apply to a "
                        "dataset folder")
        state._read = {"format": format, **(read_options or {})}
        state._open(background)
        return state

    def _open(self, background: bool) -> None:
        t0 = time.perf_counter()
        if self.kind == "workspace":
            from ..versioning.workspace import Workspace
            self.workspace = Workspace.open(self.path)
            self._open_revision()
        else:
            self._open_folder()
        self.timings["open_s"] = round(time.perf_counter() - t0, 4)
        self._start_background(background)

    def _open_revision(self, dataset: Any = None) -> None:
        """Resolve the source's latest revision and build (or read back) its index."""
        number, ds_id, fingerprint = self._latest()
        self.revision = f"{self.source}@{number}"
        self._ds_id = ds_id
        folder = self.cache_dir / "index" / fingerprint[:32]
        t = time.perf_counter()
        index = Index.load(folder, self.revision)
        shas = _column(self.workspace, ds_id, "sha256")
        root = str(self.workspace.store.root)       # BlobStore.path(sha), 250,000 times
        paths = np.empty(len(shas), dtype=object)
        paths[:] = [f"{root}/{s[:2]}/{s[2:]}" for s in shas]
        self.timings["index_cached"] = index is not None
        if dataset is not None and dataset.images.path.tolist() != paths.tolist():
            dataset = None                # not this revision's images: decode it instead
        if index is None and dataset is not None:
            index = Index.from_dataset(dataset, self.revision)
            self._save_index = (index, folder)
        elif index is None:
            index = _index_from_db(self.workspace, ds_id, self.revision)
            self._save_index = (index, folder)
        else:
            self._save_index = None
        self.timings["index_s"] = round(time.perf_counter() - t, 4)
        self._paths, self._shas, self.index = paths, shas, index
        self._dataset = dataset
        self.dataset_revision = self.revision if dataset is not None else ""
        if dataset is None:
            self._loaded.clear()
        else:
            self._loaded.set()

    def _latest(self) -> tuple[int, int, str]:
        con = self.workspace._con
        names = [n for (n,) in con.execute("SELECT name FROM sources ORDER BY id")]
        if not names:
            raise Error(f"{self.path}: the workspace has no sources yet; add one with "
                        "'visionflow add DATASET'")
        if self.source is None:
            self.source = names[0]
        elif self.source not in names:
            raise Error(f"{self.path}: no source named {self.source!r} (sources: "
                        f"{', '.join(names)})")
        row = con.execute(
            """SELECT r.number, r.dataset_id, d.fingerprint FROM revisions r
               JOIN sources s ON s.id = r.source_id JOIN datasets d ON d.id = r.dataset_id
               WHERE s.name = ? ORDER BY r.number DESC LIMIT 1""", (self.source,)).fetchone()
        return int(row[0]), int(row[1]), str(row[2])

    def _open_folder(self) -> None:
        from .. import api
        t = time.perf_counter()
        report = Report()
        read = dict(self._read)
        ds = api.load(self.path, read.pop("format", None), errors="keep", report=report, **read)
        self.timings["load_s"] = round(time.perf_counter() - t, 4)
        self._read_report = report
        self.revision = "folder:" + _content_hash(ds)
        t = time.perf_counter()
        self.index = Index.from_dataset(ds, self.revision)
        self.timings["index_s"] = round(time.perf_counter() - t, 4)
        self._save_index = None
        self._paths = ds.images.path
        self._dataset = ds
        self.dataset_revision = self.revision
        self._loaded.set()

    # -- background work -------------------------------------------------------------------------

    def _start_background(self, background: bool) -> None:
        self._generation += 1
        gen = self._generation
        self._stop_loading()                      # an older revision's work is moot
        self._load_error = None
        self._findings = None
        self._findings_ready.clear()
        self.findings_by_image = {}           # the old revision's rows mean other images now
        self.prediction_objects = {}
        self._in_child = background and self.kind == "workspace"
        if background:
            threading.Thread(target=self._background, args=(gen,), daemon=True,
                             name="visionflow-app-load").start()
        else:
            self._background(gen)
            if self._load_error is not None:
                raise self._load_error

    def _background(self, gen: int) -> None:
        """Full dataset, then the index cache, prediction outcomes and check findings. A
        workspace's model is decoded (and checked) in a child process when running in the
        background: decoding 250,000 images' JSON holds the GIL for seconds and peaks at
        several times the model's size, neither of which the server should feel."""
        child = None
        try:
            if self._save_index is not None:
                index, folder = self._save_index
                try:
                    index.save(folder)
                    _prune(folder.parent, keep=KEEP_INDEXES)
                except OSError:
                    pass                  # a read-only workspace still opens, uncached
            cached = self._cached_findings() if self._run_findings else None
            need_ds = not self._loaded.is_set()
            need_check = self._run_findings and cached is None
            if self._in_child and (need_ds or need_check):
                child = _Child(self.path, self.revision, need_check, need_ds)
                with self.lock:
                    if gen != self._generation:
                        return
                    self._children[gen] = child
            if need_ds:
                t = time.perf_counter()
                if child is not None:
                    ds = child.receive()
                else:
                    ds = self.workspace.load(self.revision)
                with self.lock:
                    if gen != self._generation:
                        return
                    self._dataset = ds
                    self.dataset_revision = self.revision
                    self.timings["dataset_s"] = round(time.perf_counter() - t, 4)
                    self._loaded.set()
            ds, index = self._dataset, self.index
            try:
                objects = self._attach_predictions(ds, index)
                with self.lock:
                    if gen == self._generation:
                        self.prediction_objects = objects
            except Error as e:            # a stale or broken prediction set: say so, go on
                self.notes.append(f"prediction outcomes not shown: {e}")
            try:
                self._attach_embeddings(index)
            except Error as e:
                self.notes.append(f"similarity search not available: {e}")
            if self._run_findings:
                if cached is not None:
                    result = cached
                elif child is not None and need_check:
                    result = child.receive()
                else:
                    result = check_report(ds, self.revision, self._read_report)
                self._keep_findings(result)
                with self.lock:
                    if gen != self._generation:
                        return
                    self._set_findings(result, index)
        except BaseException as e:  # noqa: BLE001 - reported through the API, not lost
            with self.lock:
                if gen == self._generation:   # an older revision's failure is no news
                    self._load_error = e
                    self._loaded.set()
                    self._findings_ready.set()
        finally:
            if child is not None:
                self._children.pop(gen, None)
                child.close()

    def _findings_file(self) -> Path:
        return self.cache_dir / "findings" / (_safe(self.revision) + ".json")

    def _cached_findings(self) -> dict[str, Any] | None:
        """A workspace revision's check report computed by an earlier start."""
        if self.kind != "workspace":
            return None
        try:
            return orjson.loads(self._findings_file().read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None

    def _keep_findings(self, report: dict[str, Any]) -> None:
        if self.kind != "workspace":
            return
        from ..io.cache import put_file
        try:
            put_file(self._findings_file(), orjson.dumps(report))
        except OSError:
            pass

    def _set_findings(self, report: dict[str, Any], index: Index) -> None:
        about = [f for f in report["findings"] if f.get("image_row") is not None]
        index.set_findings([f["code"] for f in about], [int(f["image_row"]) for f in about])
        pairs = [(int(f["image_row"]), int(f["details"]["other_row"])) for f in about
                 if "other_row" in (f.get("details") or {})]
        if pairs:       # check's exact/near duplicate pairs, joined into groups
            from ..embeddings.dedup import UnionFind
            a, b = np.asarray(pairs, np.int64).T
            uf = UnionFind(index.n)
            uf.union(a, b)
            group = np.full(index.n, -1, np.int64)
            member = np.unique(np.concatenate([a, b]))
            group[member] = uf.labels()[member]
            index.set_duplicates(group)
        else:
            index.set_duplicates(np.full(index.n, -1, np.int64))
        by_image: dict[int, list[dict]] = {}
        for f in about:
            by_image.setdefault(int(f["image_row"]), []).append(
                {"code": f["code"], "severity": f["severity"], "message": f["message"]})
        self.findings_by_image = by_image
        self._findings = report
        self._findings_ready.set()

    def _attach_predictions(self, ds: Any, index: Index
                            ) -> dict[str, tuple[Any, np.ndarray, np.ndarray]]:
        """Outcomes (TP/FP/FN at IoU 0.5) of stored prediction sets made for these images."""
        if self.workspace is None:
            return {}
        from ..evaluation.stored import images_fingerprint, list_predictions, load_stored
        sets = list_predictions(self.workspace)
        if not sets:
            return {}
        mine = images_fingerprint(ds)
        objects: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
        for meta in sets:
            if meta.get("fingerprint") != mine:
                continue
            from ..evaluation.run import evaluate
            _, pred = load_stored(self.workspace, meta["version"], meta["name"])
            ev = evaluate(ds, pred.replace(images=ds.images), iou=0.5)
            o = ev.objects
            p_keep = np.isin(o["pred_outcome"], ["TP", "FP"])
            g_keep = o["gt_outcome"] == "FN"
            pa, ga = ev.pred.annotations, ev.gt.annotations
            score = pa.score if pa.score is not None else np.full(len(pa), np.nan)
            # for the image view: the predictions with their outcome, the missed truths
            objects[meta["name"]] = (pa, np.where(
                o["pred_outcome"] == "TP", "tp", np.where(o["pred_outcome"] == "FP", "fp", "")),
                g_keep)
            index.set_predictions(Predictions(
                meta["name"],
                np.concatenate([pa.image_index[p_keep], ga.image_index[g_keep]]),
                np.concatenate([np.where(o["pred_outcome"][p_keep] == "TP", 0, 1),
                                np.full(int(g_keep.sum()), 2)]).astype(np.int8),
                np.concatenate([score[p_keep], np.full(int(g_keep.sum()), np.nan)])))
        return objects

    def _attach_embeddings(self, index: Index) -> None:
        """Whole-image embeddings stored in the workspace (`visionflow embed`): the
        embedder whose rows cover most of these images, read once, for similar=."""
        if self.workspace is None or self._shas is None:
            return
        root = self.workspace.dir / "embeddings"
        if not root.is_dir() or not any(root.glob("*/part-*.parquet")):
            return
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise Error("stored embeddings need pyarrow: pip install 'visionflow[embed]'") \
                from None
        from ..embeddings.base import EmbedderInfo
        from ..embeddings.store import META_KEY, WHOLE, EmbeddingStore, make_keys
        keys = make_keys(self._shas, np.tile(np.asarray(WHOLE), (len(self._shas), 1)))
        best = None
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            parts = sorted(folder.glob("part-*.parquet"))
            if not parts:
                continue
            try:
                meta = orjson.loads(pq.ParquetFile(parts[0]).schema_arrow.metadata[META_KEY])
                info = EmbedderInfo(meta["name"], meta["kind"], int(meta["dim"]),
                                    meta.get("preprocessing") or {},
                                    meta.get("fingerprint") or "", bool(meta.get("text")))
            except Exception:  # noqa: BLE001 - an unreadable store is skipped, not fatal
                continue
            store = EmbeddingStore(folder, info)
            have = store.stored(keys)
            if have.any() and (best is None or have.sum() > best[2].sum()):
                best = (store, info, have)
        if best is None:
            return
        store, info, have = best
        rows = np.flatnonzero(have)
        vectors = store.vectors(keys[rows])
        from .index import Similarity
        index.set_similarity(Similarity(rows, vectors, info.kind, index.n, info.name))

    # -- what routes use -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set() and self._load_error is None

    @property
    def dataset(self) -> Any:
        """The full Dataset of the open revision (waits for the background load)."""
        if not self._loaded.wait(LOAD_TIMEOUT_S):
            raise Error(f"{self.path}: the dataset is still loading; try again")
        if self._load_error is not None:
            err = self._load_error
            raise err if isinstance(err, Error) else Error(
                f"{self.path}: loading the dataset failed ({type(err).__name__}: {err})")
        return self._dataset

    def wait_loaded(self, timeout: float = LOAD_TIMEOUT_S) -> bool:
        return self._loaded.wait(timeout)

    @property
    def findings_ready(self) -> bool:
        return self._findings is not None

    def wait_findings(self, timeout: float = LOAD_TIMEOUT_S) -> bool:
        return self._findings_ready.wait(timeout) and self._findings is not None

    @property
    def findings(self) -> dict[str, Any] | None:
        """The check report of this revision as JSON data, None until computed."""
        return self._findings

    @property
    def error(self) -> str | None:
        """Why the background work failed, if it did (one line)."""
        e = self._load_error
        return None if e is None else (str(e) if isinstance(e, Error) else
                                       f"{type(e).__name__}: {e}")

    def image_id(self, value: Any) -> int:
        """An image id from a client, checked: an int row of the open revision."""
        try:
            i = int(value)
        except (TypeError, ValueError):
            raise UnknownImage(f"image id {str(value)[:40]!r}: not an image id (ids are "
                               f"0..{self.index.n - 1})") from None
        if str(value).strip() != str(i) or not 0 <= i < self.index.n:
            raise UnknownImage(f"image id {str(value)[:40]!r}: no such image (ids are "
                               f"0..{self.index.n - 1})")
        return i

    def image_path(self, image_id: Any) -> Path:
        """Where the pixels of image `image_id` are; UnknownImage for a bad id or an image
        without a file. Paths come from the dataset, never from the client."""
        i = self.image_id(image_id)
        p = self._paths[i]
        if p is None:
            raise UnknownImage(f"image {i} ({self.index.file_name[i]}): the dataset has no "
                               "file for it")
        return Path(p)

    def image_key(self, image_id: int) -> str:
        """What identifies the pixels (thumbnail cache key): the blob hash in a workspace,
        else the file's location, size and modification time."""
        if self._shas is not None:
            return self._shas[image_id]
        from ..io.cache import source_key
        try:
            return source_key(self.image_path(image_id))
        except OSError:
            raise UnknownImage(f"image {image_id} ({self.index.file_name[image_id]}): its "
                               "file cannot be read") from None

    def reload(self, dataset: Any = None) -> None:
        """Switch to the source's latest revision (after a save): new index, dataset loaded
        in the background, findings recomputed. Requests in flight keep the old objects.
        dataset: that revision's Dataset when the caller has it (what it just saved with
        `Workspace.add_revision`): the index is built from it and nothing is decoded."""
        with self.lock:
            if self.kind == "workspace":
                self._open_revision(dataset)
            else:
                self._open_folder()
            self._start_background(True)

    def _stop_loading(self) -> None:
        for child in list(self._children.values()):
            child.close(wait=0)
        self._children.clear()

    def close(self) -> None:
        """Stop background work (a loader process included) and close the workspace."""
        self._generation += 1
        self._stop_loading()
        if self.workspace is not None:
            self.workspace.close()


def check_report(ds: Any, revision: str, read_report: Report | None = None) -> dict[str, Any]:
    """`check` on the dataset as JSON data: findings (dicts, with image rows), counts per
    code, statistics (read problems of a folder first)."""
    from ..checks.distribution import statistics
    from ..checks.files import read_problems
    from ..checks.run import check
    findings = check(ds)
    if read_report is not None:
        findings = read_problems(ds, read_report) + findings
    codes: dict[str, int] = {}
    for f in findings:
        codes[f.code] = codes.get(f.code, 0) + 1
    out = {"revision": revision, "codes": codes, "findings": [f.to_dict() for f in findings],
           "statistics": statistics(ds)}
    return orjson.loads(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY |
                                     orjson.OPT_NON_STR_KEYS))


_CHILDREN: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_children() -> None:
    """Stop loader processes still working when the server exits (runs before
    multiprocessing's own exit handler, which would wait for them)."""
    for child in list(_CHILDREN):
        child.close(wait=0)


class _Child:
    """A spawned process that loads a workspace revision, sends the Dataset, then (when
    asked) its check report. receive() returns the next one or raises what the child hit.
    Not a daemon: check's image scan starts a process pool of its own."""

    def __init__(self, root: Path, revision: str, run_check: bool, send_dataset: bool = True):
        import multiprocessing as mp
        ctx = mp.get_context("spawn")
        self.conn, child_end = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=_child_main, args=(child_end, str(root), revision,
                                                          run_check, send_dataset),
                                name="visionflow-app-loader")
        self.proc.start()
        child_end.close()
        _CHILDREN.add(self)

    def receive(self) -> Any:
        try:
            kind, value = self.conn.recv()
        except EOFError:
            raise Error(f"loading the dataset stopped (the loader process exited with "
                        f"{self.proc.exitcode})") from None
        if kind == "error":
            raise Error(value)
        return value

    def close(self, wait: float = 1.0) -> None:
        """Wait up to `wait` seconds for the process to end, then stop it."""
        _CHILDREN.discard(self)
        self.conn.close()
        self.proc.join(timeout=wait)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=5)


def _child_main(conn: Any, root: str, revision: str, run_check: bool,
                send_dataset: bool = True) -> None:
    """In the loader process: the revision's Dataset, then its check report."""
    try:
        from ..versioning.workspace import Workspace
        with Workspace.open(root) as ws:
            ds = ws.load(revision)
        if send_dataset:
            conn.send(("dataset", ds))
        if run_check:
            conn.send(("findings", check_report(ds, revision)))
    except BrokenPipeError:
        pass                                    # the server went away or moved on
    except Error as e:
        conn.send(("error", str(e)))
    except BaseException as e:  # noqa: BLE001 - the server reports it in one line
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


# -- reading a revision's grid columns straight from the workspace database ----------------------

def _column(ws: Any, ds_id: int, name: str) -> list:
    assert name in ("sha256", "file_name")
    return [v for (v,) in ws._con.execute(
        f"SELECT {name} FROM images WHERE dataset_id = ? ORDER BY row", (ds_id,))]


def _index_from_db(ws: Any, ds_id: int, revision: str) -> Index:
    """The index from the images table (split, name, size, attrs) and the annsets (class id
    and box of every annotation, packed per image in the dataset's order): what the grid and
    the filters need, without decoding the model blob (db.py documents the tables)."""
    from ..versioning.snapshot import decode_annset
    con: sqlite3.Connection = ws._con
    rows = con.execute("SELECT split, file_name, width, height, n_annotations, attrs, ann_hash "
                       "FROM images WHERE dataset_id = ? ORDER BY row", (ds_id,)).fetchall()
    split, names, w, h, n_ann, attrs, hashes = ((list(c) for c in zip(*rows)) if rows
                                                else ([],) * 7)
    (n_sets,) = con.execute("SELECT COUNT(*) FROM annsets").fetchone()
    if n_sets <= 4 * len(rows):   # one sequential read beats 250,000 indexed look-ups
        sets = dict(con.execute("SELECT hash, data FROM annsets"))
        data = b"".join([sets[x] for x in hashes])
        del sets
    else:                         # a long history: look up only this snapshot's sets
        data = b"".join(d for (d,) in con.execute(
            "SELECT a.data FROM images i JOIN annsets a ON a.hash = i.ann_hash "
            "WHERE i.dataset_id = ? ORDER BY i.row", (ds_id,)))
    rec = decode_annset(data)
    counts = np.asarray(n_ann, np.int64)
    (cats,) = con.execute("SELECT categories FROM datasets WHERE id = ?", (ds_id,)).fetchone()
    cats = orjson.loads(cats)
    tags: list[Any] = [None] * len(rows)
    for i, a in enumerate(attrs):
        if a is not None:
            tags[i] = orjson.loads(a).get("tags")
    return Index.build(revision, file_name=names, split=split, width=w, height=h,
                       obj_image=np.repeat(np.arange(len(rows)), counts),
                       obj_category=rec["category_id"], obj_xyxy=rec["xyxy"],
                       category_ids=[c["id"] for c in cats],
                       category_names=[c["name"] for c in cats], tags=tags)


def _content_hash(ds: Any) -> str:
    """A short hash of what the grid and filters show of a folder's dataset (names, sizes,
    splits, classes, boxes), so caches follow edits of the files."""
    h = hashlib.blake2b(digest_size=12)
    im, ann = ds.images, ds.annotations
    h.update("\0".join(im.file_name.tolist()).encode("utf-8", "surrogateescape"))
    h.update("\0".join(im.split.tolist()).encode("utf-8", "surrogateescape"))
    for a in (im.width, im.height, ann.image_index, ann.category_id, ann.xyxy):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(orjson.dumps([c.to_dict() for c in ds.categories]))
    return h.hexdigest()


def _prune(folder: Path, keep: int) -> None:
    """Delete all but the `keep` most recently written index caches in `folder`."""
    import shutil
    done = sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for old in done[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
