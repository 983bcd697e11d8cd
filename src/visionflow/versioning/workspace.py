"""A workspace: sources imported as revisions, immutable versions with lineage, all local.

    my-project/
      .visionflow/
        workspace.db        SQLite (WAL): sources, revisions, versions, tags, per-image rows
        blobs/sha256/ab/..  every image once, by content; each snapshot's model (zlib JSON)
        tmp/                temporary files of writes in progress (same filesystem)
        lock                the write lock (fcntl.flock)

Every write stores its blobs first, then commits one SQLite transaction, holding the write
lock from its first blob to its commit: a process killed at any moment leaves the workspace
as it was before or after, never half a version (blobs written before the kill are just
unreferenced until `gc`). Originals are never modified; versions are never changed, only
created, tagged and deleted.

Examples:
    >>> import visionflow as vf, tempfile
    >>> ws = vf.Workspace.init(tempfile.mkdtemp())
    >>> ws.versions()
    []
"""

from __future__ import annotations

import getpass
import hashlib
import importlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import numpy as np
import orjson
import yaml

from .. import api
from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, OutputError
from ..core.report import Report
from ..io.atomic import guard_destination
from ..io.paths import is_inside
from ..io.safe_load import parse_yaml
from . import db, snapshot
from .combine import combine, parse_mapping
from .diff import Diff, diff
from .lock import write_lock
from .store import BlobStore, CorruptBlobError

DIR_NAME = ".visionflow"
DB_NAME = "workspace.db"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

ProgressFactory = Callable[[str, "int | None"], Any]


@dataclass
class AddResult:
    source: str
    revision: int
    images: int
    annotations: int
    new_blobs: int = 0
    unchanged: bool = False          # identical to the latest revision: nothing recorded
    changes: Diff | None = None      # against the previous revision
    notes: list[str] = field(default_factory=list)
    report: Report = field(default_factory=Report)

    def to_dict(self) -> dict:
        return {"source": self.source, "revision": self.revision, "images": self.images,
                "annotations": self.annotations, "new_blobs": self.new_blobs,
                "unchanged": self.unchanged, "notes": self.notes,
                "changes": self.changes.to_dict(limit=100) if self.changes else None}


@dataclass
class VerifyResult:
    problems: list[str]
    notes: list[str]
    blobs: int
    references: int

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "problems": self.problems, "notes": self.notes,
                "blobs_checked": self.blobs, "references_checked": self.references}


@dataclass
class GcResult:
    blobs_removed: int
    bytes_freed: int
    snapshots_removed: int
    annsets_removed: int
    temporary_removed: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Workspace:
    """A folder holding `.visionflow/`. Open one with `Workspace.open(path)` (the nearest
    enclosing workspace) or make one with `Workspace.init(path)`.

    lock_timeout: seconds a write waits for another process's write (None: as long as it
    takes; 0: give up at once). on_wait: told once, in one line, when a write has to wait.
    """

    def __init__(self, root: Path, *, lock_timeout: float | None = None,
                 on_wait: Callable[[str], None] | None = None):
        self.root = root
        self.dir = root / DIR_NAME
        self.store = BlobStore(self.dir / "blobs" / "sha256", self.dir / "tmp")
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        try:
            self._con = db.connect(self.dir / DB_NAME)
            (version,) = self._con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except (sqlite3.DatabaseError, TypeError) as e:
            raise Error(f"{self.dir / DB_NAME}: not a readable visionflow workspace database "
                        f"({e})") from None
        if int(version) != db.SCHEMA_VERSION:
            raise Error(f"{self.dir}: workspace schema {version} is not supported by this "
                        f"visionflow (reads {db.SCHEMA_VERSION}); upgrade visionflow")

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def init(cls, path: str | Path = ".", **kwargs: Any) -> Workspace:
        """Make a workspace in `path` (created if absent)."""
        root = Path(path).absolute()
        if (root / DIR_NAME).exists():
            raise Error(f"{root}: already a visionflow workspace ({DIR_NAME}/ exists)")
        if root.exists() and not root.is_dir():
            raise Error(f"{root}: exists and is not a folder")
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f"{DIR_NAME}.", suffix=".partial", dir=root))
        except OSError as e:
            raise OutputError(f"{root}: cannot make a workspace here ({e.strerror or e})") from None
        try:
            (tmp / "blobs" / "sha256").mkdir(parents=True)
            (tmp / "tmp").mkdir()
            db.create(tmp / DB_NAME)
            os.chmod(tmp, 0o755)
            os.rename(tmp, root / DIR_NAME)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(root, **kwargs)

    @classmethod
    def open(cls, path: str | Path | None = None, **kwargs: Any) -> Workspace:
        """The workspace at `path` or the nearest folder above it that holds one
        (default: the current folder)."""
        start = Path(path).absolute() if path is not None else Path.cwd()
        if path is not None and not start.exists():
            raise Error(f"{start}: no such folder")
        for folder in (start, *start.parents):
            if (folder / DIR_NAME / DB_NAME).is_file():
                return cls(folder, **kwargs)
        raise Error(f"{start}: not inside a visionflow workspace; run 'visionflow init' there "
                    "or pass --workspace PATH")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # -- sources -------------------------------------------------------------------------------

    def add(self, src: str | Path, name: str | None = None, format: str | None = None, *,
            errors: str = "raise", images_dir: str | Path | None = None,
            follow_links: bool = False, progress: ProgressFactory | None = None,
            skip_errors: bool | None = None, read_options: dict | None = None) -> AddResult:
        """Import a dataset (any format) as the next revision of source `name` (default: the
        folder's name). Images already stored are not stored again; the changes against the
        previous revision are recorded. Adding what is already the latest revision records
        nothing (result.unchanged). errors, images_dir, follow_links, read_options (the
        reader's options): as for `vf.load`
        (skip_errors: deprecated errors="skip"); what was skipped is in result.report."""
        src_path = Path(src).absolute()
        if is_inside(src_path, self.dir):
            raise Error(f"{src}: lies inside the workspace's own storage ({self.dir})")
        name = name or _default_name(src_path)
        _check_name(name, "source", "--name")
        report = Report()
        ds = api.load(src_path, format, errors=api.errors_mode(errors, skip_errors=skip_errors),
                      report=report, progress=progress, images_dir=images_dir,
                      follow_links=follow_links, **(read_options or {}))
        missing = [i for i, p in enumerate(ds.images.path.tolist()) if p is None]
        if missing:
            raise MissingImageError(src, f"{len(missing)} of {len(ds.images)} image(s) have no "
                                    f"file (first: {ds.images.file_name[missing[0]]!r}); a "
                                    "workspace stores every image, so put them beside the "
                                    "annotations")
        origin = {"path": str(src_path), "format": ds.source_format}
        with self._writing():
            with _step(progress, "Storing images", len(ds.images)) as advance:
                shas, new = self.store.put_files(ds.images.path.tolist(), advance)
            result = self._commit_revision(name, ds, shas, origin)
        result.new_blobs = new
        result.report = report
        return result

    def merge(self, sources: Sequence[str], name: str,
              mapping: Sequence[str] | dict | None = None, *, renumber: bool = False,
              prefix: bool = False) -> AddResult:
        """Combine sources (latest revisions, or 'name@N') into the next revision of source
        `name`, with classes renamed by `mapping` (["src:old=new", ...]). Conflicting class
        names or ids and clashing image names are errors that say what to map."""
        _check_name(name, "source", "--name")
        if len(sources) < 2:
            raise Error("merge needs at least two sources")
        m = parse_mapping(mapping)
        with self._writing():
            pins = self._resolve_sources(sources)
            parts = [(s, self._load(ds_id)) for s, _, ds_id in pins]
            ds, notes = combine(parts, m, renumber=renumber, prefix=prefix)
            shas = [self.store.sha_of_path(p) for p in ds.images.path.tolist()]
            origin = {"merge": [f"{s}@{n}" for s, n, _ in pins], "map": m,
                      "renumber": renumber, "prefix": prefix}
            result = self._commit_revision(name, ds, shas, origin)
        result.notes = notes
        return result

    def add_revision(self, name: str, ds: Dataset, origin: dict) -> AddResult:
        """Record `ds`, made from a revision loaded from this workspace (its images are our
        blobs), as the next revision of existing source `name`: how a command that edits
        labels or tags (`mistakes --tag`) saves without touching any version or revision."""
        self._revision(name)                       # an existing source
        shas = self.store.shas_of_paths(ds.images.path.tolist())
        if any(s is None for s in shas):
            raise Error(f"source {name!r}: a new revision from a loaded one must keep its "
                        "stored images; import new images with 'visionflow add'")
        with self._writing():
            return self._commit_revision(name, ds, shas, origin)

    def sources(self) -> list[dict]:
        """Every source with its revisions (oldest first) and what each changed."""
        out: dict[str, dict] = {}
        for (name, number, created, author, origin, changes, n_img, n_ann) in self._con.execute(
                """SELECT s.name, r.number, r.created_at, r.author, r.origin, r.changes,
                          d.n_images, d.n_annotations
                   FROM revisions r JOIN sources s ON s.id = r.source_id
                   JOIN datasets d ON d.id = r.dataset_id ORDER BY s.id, r.number"""):
            src = out.setdefault(name, {"name": name, "revisions": []})
            src["revisions"].append({
                "revision": number, "created_at": created, "author": author,
                "origin": orjson.loads(origin), "images": n_img, "annotations": n_ann,
                "changes": orjson.loads(changes) if changes else None})
        return list(out.values())

    # -- versions ------------------------------------------------------------------------------

    def create_version(self, name: str, *, recipe: str | Path | None = None, seed: int = 0,
                       sources: Sequence[str] | None = None, like: str | None = None,
                       progress: ProgressFactory | None = None) -> dict:
        """Make an immutable version from the sources' latest revisions (or the given
        'name' / 'name@N'), optionally through a transform recipe run with `seed`.

        like: re-create another version from its lineage (same source revisions, recipe and
        seed); the result is byte-identical to it.
        """
        _check_name(name, "version", "--name")
        recipe_obj = recipe_info = None
        if like is not None:
            old = self._version_row(like)
            lineage = orjson.loads(old[2])
            sources = [f"{s['name']}@{s['revision']}" for s in lineage["sources"]]
            seed = lineage["seed"]
            if lineage.get("recipe"):
                recipe_obj, recipe_info = _load_recipe(None, lineage["recipe"])
        elif recipe is not None:
            recipe_obj, recipe_info = _load_recipe(Path(recipe), None)
        with self._writing():
            if self._con.execute("SELECT 1 FROM versions WHERE name = ?", (name,)).fetchone():
                raise Error(f"version {name!r} already exists; versions are immutable, choose "
                            "another name (or delete it first with 'visionflow version delete')")
            pins = self._resolve_sources(sources)
            parts = [(s, self._load(ds_id)) for s, _, ds_id in pins]
            notes: list[str] = []
            if len(parts) == 1:
                ds = parts[0][1]
            else:
                ds, notes = combine(parts, merge_first=True)
            work = Path(tempfile.mkdtemp(prefix="version.", dir=self.store.tmp_dir))
            try:
                if recipe_obj is not None:
                    ds = _run_recipe(ds, recipe_obj, work / "out", seed, progress)
                with _step(progress, "Storing images", len(ds.images)) as advance:
                    shas = self._store_outputs(ds, work, advance)
                snap = snapshot.build(ds, shas)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            self.store.put_bytes(snap.model)
            lineage = {
                "sources": [{"name": s, "revision": n,
                             "fingerprint": self._fingerprint(ds_id)} for s, n, ds_id in pins],
                "recipe": recipe_info,
                "seed": seed,
                "visionflow_version": _vf_version(),
                "author": _author(),
                "created_at": _now(),
                "fingerprint": snap.fingerprint,
                "notes": notes,
            }
            with db.transaction(self._con):
                ds_id = self._insert_dataset(snap)
                self._con.execute(
                    "INSERT INTO versions (name, dataset_id, lineage, author, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (name, ds_id, orjson.dumps(lineage).decode(), lineage["author"],
                     lineage["created_at"]))
        return self.version(name)

    def versions(self) -> list[dict]:
        """Every version, oldest first, with counts (from precomputed summaries)."""
        out = []
        for name, created, author, lineage, n_img, n_ann, n_tags in self._con.execute(
                """SELECT v.name, v.created_at, v.author, v.lineage, d.n_images, d.n_annotations,
                          (SELECT COUNT(*) FROM tags t WHERE t.version_id = v.id)
                   FROM versions v JOIN datasets d ON d.id = v.dataset_id ORDER BY v.id"""):
            lin = orjson.loads(lineage)
            out.append({"name": name, "created_at": created, "author": author,
                        "images": n_img, "annotations": n_ann,
                        "sources": [f"{s['name']}@{s['revision']}" for s in lin["sources"]],
                        "recipe": (lin.get("recipe") or {}).get("file"), "seed": lin["seed"],
                        "tags": n_tags})
        return out

    def version(self, name: str) -> dict:
        """One version: lineage, counts per split and class, categories, tags."""
        vid, ds_id, lineage, author, created = self._version_row(name)
        n_img, n_ann, cats, summary = self._con.execute(
            "SELECT n_images, n_annotations, categories, summary FROM datasets WHERE id = ?",
            (ds_id,)).fetchone()
        tags = [{"note": note, "author": a, "created_at": c} for note, a, c in self._con.execute(
            "SELECT note, author, created_at FROM tags WHERE version_id = ? ORDER BY id", (vid,))]
        return {"name": name, "created_at": created, "author": author, "images": n_img,
                "annotations": n_ann, "lineage": orjson.loads(lineage),
                "categories": orjson.loads(cats), "summary": orjson.loads(summary),
                "tags": tags}

    def diff(self, a: str, b: str) -> Diff:
        """What changed from `a` to `b`: a version name, or 'source@N' / 'source@latest'
        for a source revision."""
        return diff(self._con, self._snapshot_id(a), self._snapshot_id(b), a, b)

    def load(self, ref: str) -> Dataset:
        """A version ('name') or source revision ('source@N') as a Dataset whose image paths
        are the stored blobs (read-only files)."""
        return self._load(self._snapshot_id(ref))

    def export(self, name: str, dst: str | Path, format: str, *, images: str = "copy",
               overwrite: bool = False, force: bool = False, strict: bool = False,
               progress: ProgressFactory | None = None, **options: Any) -> Report:
        """Write a version (or 'source@N') to `dst` in `format`. Every image blob's hash is
        checked first; images are copied (cloned where the filesystem can), or with
        images="link" hard-linked to the read-only blobs. `dst` may not be or contain the
        workspace."""
        dest = Path(dst).absolute()
        if is_inside(dest, self.dir):
            raise OutputError(f"{dst}: lies inside the workspace's own storage ({self.dir})")
        guard_destination(dest, keep=(self.root,), overwrite=overwrite, force=force)  # early
        ds_id = self._snapshot_id(name)
        ds = self._load(ds_id)
        shas = sorted({self.store.sha_of_path(p) for p in ds.images.path.tolist()})
        with _step(progress, "Checking images", len(shas)) as advance:
            bad = self.store.check(shas, advance)
        if bad:
            sha, problem = bad[0]
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise CorruptBlobError(f"{self.store.path(sha)}: image blob {problem}{more}, used by "
                                   f"{self._blob_users(sha)}; run 'visionflow verify'")
        return api.write(ds, dest, format, images=images, strict=strict, overwrite=overwrite,
                         force=force, keep=(self.root,), progress=progress, **options)

    def delete_version(self, name: str, *, force: bool = False) -> None:
        """Delete a version (its images stay until `gc` finds nothing else uses them)."""
        with self._writing():
            vid, ds_id, *_ = self._version_row(name)
            tags = [t for (t,) in self._con.execute(
                "SELECT note FROM tags WHERE version_id = ? ORDER BY id", (vid,))]
            if tags and not force:
                raise Error(f"version {name!r} has {len(tags)} tag(s) (e.g. {tags[0]!r}); pass "
                            "--force to delete it anyway")
            with db.transaction(self._con):
                self._con.execute("DELETE FROM versions WHERE id = ?", (vid,))
                self._con.execute("DELETE FROM datasets WHERE id = ?", (ds_id,))

    def tag(self, name: str, note: str) -> dict:
        """Attach a note to a version, e.g. which model it trained."""
        if not note.strip():
            raise Error("--note must not be empty")
        with self._writing():
            vid, *_ = self._version_row(name)
            entry = {"note": note, "author": _author(), "created_at": _now()}
            with db.transaction(self._con):
                self._con.execute(
                    "INSERT INTO tags (version_id, note, author, created_at) VALUES (?, ?, ?, ?)",
                    (vid, note, entry["author"], entry["created_at"]))
        return entry

    # -- maintenance ---------------------------------------------------------------------------

    def gc(self) -> GcResult:
        """Remove blobs, snapshots and annotation sets that nothing references any more, and
        leftovers of interrupted writes."""
        with self._writing(clear_tmp=False):
            tmp = self.store.clear_tmp()
            with db.transaction(self._con):
                snaps = self._con.execute(
                    """DELETE FROM datasets WHERE id NOT IN (SELECT dataset_id FROM versions)
                       AND id NOT IN (SELECT dataset_id FROM revisions)""").rowcount
                annsets = self._con.execute(
                    "DELETE FROM annsets WHERE hash NOT IN (SELECT ann_hash FROM images)").rowcount
            used = self._referenced()
            n, size = self.store.remove(sha for sha in list(self.store.all()) if sha not in used)
            self._con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return GcResult(n, size, snaps, annsets, tmp)

    def verify(self, progress: ProgressFactory | None = None) -> VerifyResult:
        """Check every blob's hash and every reference; problems name what is broken."""
        con = self._con
        problems: list[str] = []
        notes: list[str] = []
        (integrity,) = con.execute("PRAGMA integrity_check").fetchone()
        if integrity != "ok":
            problems.append(f"{self.dir / DB_NAME}: database damaged ({integrity})")
        for table, rowid, parent, _ in con.execute("PRAGMA foreign_key_check"):
            problems.append(f"database: {table} row {rowid} refers to a missing {parent} row")
        for ds_id, expected, got in con.execute(
                """SELECT d.id, d.n_images, (SELECT COUNT(*) FROM images i WHERE i.dataset_id = d.id)
                   FROM datasets d"""):
            if expected != got:
                problems.append(f"{self._owner(ds_id)}: {got} image rows, expected {expected}")
        for ds_id, n in con.execute(
                "SELECT id, n_images FROM datasets WHERE length(image_index) != n_images * ?",
                (snapshot.INDEX.itemsize,)):
            problems.append(f"{self._owner(ds_id)}: image index damaged")
        (missing_sets,) = con.execute(
            """SELECT COUNT(*) FROM (SELECT DISTINCT ann_hash FROM images) i
               WHERE NOT EXISTS (SELECT 1 FROM annsets a WHERE a.hash = i.ann_hash)""").fetchone()
        if missing_sets:
            problems.append(f"database: {missing_sets} annotation set(s) referenced by images "
                            "are missing")
        (bad_sets,) = con.execute(
            f"SELECT COUNT(*) FROM annsets WHERE length(data) != n * {snapshot.ANNSET.itemsize}"
        ).fetchone()
        if bad_sets:
            problems.append(f"database: {bad_sets} annotation set(s) have the wrong size")
        for ds_id, n in con.execute(
                """SELECT id, 1 FROM datasets WHERE id NOT IN (SELECT dataset_id FROM versions)
                   AND id NOT IN (SELECT dataset_id FROM revisions)"""):
            notes.append(f"snapshot {ds_id} is used by nothing ('visionflow gc' removes it)")
        used = self._referenced()
        on_disk = set(self.store.all())
        todo = sorted(used | on_disk)
        with _step(progress, "Checking blobs", len(todo)) as advance:
            bad = self.store.check(todo, advance)
        for sha, problem in bad:
            users = self._blob_users(sha) if sha in used else "nothing"
            problems.append(f"{self.store.path(sha)}: blob {problem}; used by {users}")
        unused = on_disk - used
        if unused:
            notes.append(f"{len(unused)} blob(s) used by nothing ('visionflow gc' removes them)")
        leftovers = list(self.store.tmp_dir.iterdir()) if self.store.tmp_dir.is_dir() else []
        if leftovers:
            notes.append(f"{len(leftovers)} temporary file(s) left by interrupted writes in "
                         f"{self.store.tmp_dir} ('visionflow gc' removes them)")
        (refs,) = con.execute("SELECT COUNT(*) FROM images").fetchone()
        return VerifyResult(problems, notes, len(todo), refs + len(used))

    # -- internals -----------------------------------------------------------------------------

    @contextmanager
    def _writing(self, clear_tmp: bool = True) -> Iterator[None]:
        with write_lock(self.dir / "lock", timeout=self.lock_timeout, on_wait=self.on_wait):
            if clear_tmp:  # only writers use tmp/, and we are the only writer now
                self.store.clear_tmp()
            yield

    def _commit_revision(self, name: str, ds: Dataset, shas: list[str], origin: dict,
                         ) -> AddResult:
        snap = snapshot.build(ds, shas)
        row = self._con.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
        prev = None
        if row:
            prev = self._con.execute(
                """SELECT r.number, r.dataset_id, d.fingerprint FROM revisions r
                   JOIN datasets d ON d.id = r.dataset_id WHERE r.source_id = ?
                   ORDER BY r.number DESC LIMIT 1""", (row[0],)).fetchone()
        if prev and prev[2] == snap.fingerprint:
            return AddResult(name, prev[0], snap.n_images, snap.n_annotations, unchanged=True)
        self.store.put_bytes(snap.model)
        number = prev[0] + 1 if prev else 1
        changes = None
        with db.transaction(self._con):
            if row:
                source_id = row[0]
            else:
                source_id = self._con.execute(
                    "INSERT INTO sources (name, created_at) VALUES (?, ?)",
                    (name, _now())).lastrowid
            ds_id = self._insert_dataset(snap)
            if prev:
                changes = diff(self._con, prev[1], ds_id, f"{name}@{prev[0]}", f"{name}@{number}")
            self._con.execute(
                """INSERT INTO revisions (source_id, number, dataset_id, origin, author,
                   created_at, changes) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (source_id, number, ds_id, orjson.dumps(origin).decode(), _author(), _now(),
                 orjson.dumps(changes.to_dict(limit=100)).decode() if changes else None))
        return AddResult(name, number, snap.n_images, snap.n_annotations, changes=changes)

    def _insert_dataset(self, snap: snapshot.Snapshot) -> int:
        con = self._con
        ds_id = con.execute(
            """INSERT INTO datasets (model_sha256, fingerprint, n_images, n_annotations,
               categories, summary, image_index) VALUES (?, ?, ?, ?, ?, ?, ?)""",
            (snap.model_sha256, snap.fingerprint, snap.n_images, snap.n_annotations,
             orjson.dumps(snap.categories).decode(), orjson.dumps(snap.summary).decode(),
             snap.image_index)
        ).lastrowid
        con.executemany("INSERT OR IGNORE INTO annsets (hash, n, data) VALUES (?, ?, ?)",
                        ((h, n, data) for h, (n, data) in snap.annsets.items()))
        con.executemany(
            """INSERT INTO images (dataset_id, row, split, file_name, sha256, width, height,
               ann_hash, n_annotations, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            ((ds_id, *r) for r in snap.image_rows))
        return ds_id

    def _load(self, ds_id: int) -> Dataset:
        model_sha, n_images = self._con.execute(
            "SELECT model_sha256, n_images FROM datasets WHERE id = ?", (ds_id,)).fetchone()
        owner = self._owner(ds_id)
        blob = self.store.read_bytes(model_sha, f"annotations of {owner}")
        ds = snapshot.decode_model(blob, where=f"{self.store.path(model_sha)} ({owner})")
        shas = [s for (s,) in self._con.execute(
            "SELECT sha256 FROM images WHERE dataset_id = ? ORDER BY row", (ds_id,))]
        if len(shas) != len(ds.images) or n_images != len(shas):
            raise CorruptBlobError(f"{owner}: {len(ds.images)} images in its model blob, "
                                   f"{len(shas)} in the database; run 'visionflow verify'")
        paths = np.empty(len(shas), dtype=object)
        paths[:] = [str(self.store.path(s)) for s in shas]
        return ds.replace(images=ds.images.replace(path=paths))

    def _resolve_sources(self, specs: Sequence[str] | None) -> list[tuple[str, int, int]]:
        """['a', 'b@2'] (None: every source) -> [(name, revision, dataset_id)]."""
        if not specs:
            specs = [n for (n,) in self._con.execute("SELECT name FROM sources ORDER BY id")]
            if not specs:
                raise Error("the workspace has no sources yet; add one with "
                            "'visionflow add DATASET'")
        out = []
        for spec in specs:
            name, number, ds_id = self._revision(spec.strip())
            if any(o[0] == name for o in out):
                raise Error(f"source {name!r} is named twice")
            out.append((name, number, ds_id))
        return out

    def _revision(self, spec: str) -> tuple[str, int, int]:
        name, _, rev = spec.partition("@")
        row = self._con.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [n for (n,) in self._con.execute("SELECT name FROM sources ORDER BY name")]
            raise Error(f"no source named {name!r} (sources: {', '.join(known) or 'none'})")
        if rev in ("", "latest"):
            r = self._con.execute("SELECT number, dataset_id FROM revisions WHERE source_id = ? "
                                  "ORDER BY number DESC LIMIT 1", (row[0],)).fetchone()
        else:
            if not rev.isdigit():
                raise Error(f"{spec!r}: expected SOURCE or SOURCE@N with N a revision number")
            r = self._con.execute("SELECT number, dataset_id FROM revisions WHERE source_id = ? "
                                  "AND number = ?", (row[0], int(rev))).fetchone()
            if r is None:
                (last,) = self._con.execute("SELECT MAX(number) FROM revisions WHERE "
                                            "source_id = ?", (row[0],)).fetchone()
                raise Error(f"source {name!r} has no revision {rev} (revisions 1..{last})")
        return name, r[0], r[1]

    def _snapshot_id(self, ref: str) -> int:
        if "@" in ref:
            return self._revision(ref)[2]
        return self._version_row(ref)[1]

    def _version_row(self, name: str) -> tuple:
        row = self._con.execute("SELECT id, dataset_id, lineage, author, created_at FROM versions "
                                "WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [n for (n,) in self._con.execute("SELECT name FROM versions ORDER BY id")]
            hint = f" (versions: {', '.join(known[-10:])})" if known else " (no versions yet)"
            raise Error(f"no version named {name!r}{hint}")
        return row

    def _fingerprint(self, ds_id: int) -> str:
        return self._con.execute("SELECT fingerprint FROM datasets WHERE id = ?",
                                 (ds_id,)).fetchone()[0]

    def _owner(self, ds_id: int) -> str:
        row = self._con.execute("SELECT name FROM versions WHERE dataset_id = ?",
                                (ds_id,)).fetchone()
        if row:
            return f"version {row[0]}"
        row = self._con.execute("""SELECT s.name, r.number FROM revisions r JOIN sources s
                                   ON s.id = r.source_id WHERE r.dataset_id = ?""",
                                (ds_id,)).fetchone()
        return f"source {row[0]}@{row[1]}" if row else f"unused snapshot {ds_id}"

    def _blob_users(self, sha: str) -> str:
        users = [f"the annotations of {self._owner(i)}" for (i,) in self._con.execute(
            "SELECT id FROM datasets WHERE model_sha256 = ? LIMIT 3", (sha,))]
        for ds_id, split, fname in self._con.execute(
                "SELECT dataset_id, split, file_name FROM images WHERE sha256 = ? LIMIT 3", (sha,)):
            users.append(f"{self._owner(ds_id)} ({split + '/' if split else ''}{fname})")
        return ", ".join(users) or "nothing"

    def _referenced(self) -> set[str]:
        used = {s for (s,) in self._con.execute("SELECT DISTINCT sha256 FROM images")}
        used |= {s for (s,) in self._con.execute("SELECT model_sha256 FROM datasets")}
        return used

    def _store_outputs(self, ds: Dataset, work: Path, advance: Callable[[int], None],
                       ) -> list[str]:
        """Hashes of a version's images: blob paths as they are, files a recipe wrote under
        `work` moved into the store, anything else copied in."""
        paths = ds.images.path.tolist()
        shas: list[str | None] = [self.store.sha_of_path(p) if p else None for p in paths]
        todo = [i for i, s in enumerate(shas) if s is None]
        for i in todo:
            if paths[i] is None:
                raise MissingImageError(ds.images.file_name[i], "the recipe produced an image "
                                        "without a file")
        moved = [i for i in todo if is_inside(Path(paths[i]), work)]
        copied = [i for i in todo if not is_inside(Path(paths[i]), work)]
        for rows, move in ((moved, True), (copied, False)):
            hashed, _ = self.store.put_files([paths[i] for i in rows], move=move)
            for i, sha in zip(rows, hashed):
                shas[i] = sha
        advance(len(paths))
        return shas  # type: ignore[return-value]


# -- helpers ------------------------------------------------------------------------------------

@contextmanager
def _step(progress: ProgressFactory | None, description: str, total: int | None):
    if progress is None:
        yield lambda n=1: None
        return
    with progress(description, total) as advance:
        yield advance


def _transforms():
    try:
        transforms = importlib.import_module("visionflow.transforms")
    except ImportError as e:
        raise Error(f"--recipe needs visionflow.transforms, which cannot be imported in this "
                    f"installation ({e})") from None
    return transforms


def _load_recipe(path: Path | None, stored: dict | None) -> tuple[Any, dict]:
    """The recipe object and what the lineage keeps of it: the file's exact text (re-parsed
    to re-create the version) and its fully spelled-out parameters."""
    t = _transforms()
    if stored is not None:
        text, name = stored["text"], stored["file"]
        suffix = Path(name).suffix.lower()
        try:
            data = orjson.loads(text) if suffix == ".json" else parse_yaml(text, name)
        except (orjson.JSONDecodeError, yaml.YAMLError) as e:
            raise Error(f"recipe {name} stored in the lineage cannot be parsed ({e})") from None
        recipe = t.Recipe.load(data)
    else:
        assert path is not None
        try:
            text, name = path.read_text(encoding="utf-8"), path.name
        except (OSError, UnicodeDecodeError) as e:
            raise Error(f"{path}: cannot read the recipe ({getattr(e, 'strerror', None) or e})"
                        ) from None
        recipe = t.Recipe.load(path)
    info: dict[str, Any] = {"file": name, "sha256": hashlib.sha256(text.encode()).hexdigest(),
                            "text": text}
    if hasattr(recipe, "to_dict"):
        info["recipe"] = recipe.to_dict()
    return recipe, info


def _run_recipe(ds: Dataset, recipe: Any, out_dir: Path, seed: int,
                progress: ProgressFactory | None) -> Dataset:
    # strict: an image the recipe cannot read stops the version instead of vanishing from it
    return _transforms().run(ds, recipe, out_dir, seed=seed, strict=True, progress=progress)


def _check_name(name: str, what: str, option: str) -> None:
    if not _NAME.match(name or ""):
        raise Error(f"{what} name {name!r} is not valid: use letters, digits, '.', '_' and '-' "
                    f"(starting with a letter or digit, at most 128); pass {option}")


_GENERIC = {"annotations", "labels", "images", "json", "data"}


def _default_name(src: Path) -> str:
    folder = src if src.is_dir() else src.parent
    while folder.name.lower() in _GENERIC and folder.parent != folder:
        folder = folder.parent
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", folder.name).strip("-._")
    return name or "dataset"


_AUTHOR: str | None = None


def _author() -> str:
    """VISIONFLOW_AUTHOR, else git's user.name with the login name, else the login name."""
    if os.environ.get("VISIONFLOW_AUTHOR"):
        return os.environ["VISIONFLOW_AUTHOR"]
    global _AUTHOR
    if _AUTHOR is None:
        try:
            name = subprocess.run(["git", "config", "user.name"], capture_output=True,
                                  text=True, timeout=2, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            name = ""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
        _AUTHOR = f"{name} ({user})" if name and user and name != user else (name or user or "?")
    return _AUTHOR


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _vf_version() -> str:
    from .. import __version__
    return __version__


__all__ = ["AddResult", "GcResult", "VerifyResult", "Workspace"]
