"""Running a recipe over a dataset: the per-image function and the engines that stream
images through it (a local process pool, or Ray Data).

One function, `process_task`, turns one source image into its outputs. Its randomness comes
only from `image_rng(seed, split, file_name, ...)`, so the bytes written do not depend on which
worker ran it, in which order, or on which engine. The local engine keeps a bounded number of
chunks in flight (memory stays flat whatever the dataset size); workers write their files
themselves and send back only annotations. The Ray engine sends back the encoded bytes and
the driver writes them.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import pickle
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, OutputError, UnsafeInputError, ValidationError
from ..core.images import UNSPLIT, Images
from ..core.report import Report
from ..io.atomic import pid_alive
from . import functional as F
from .ops import InvalidStep, Mosaic, Op, Resize
from .recipe import Recipe, RecipeError
from .sample import Sample, output_bytes, place

ENGINES = ("local", "ray")
_CHUNK = 8


# --- plan: everything a worker needs, built once --------------------------------------------

@dataclass
class Plan:
    recipe: Recipe
    seed: int
    preprocess: list[tuple[Op, Any]]
    augment: list[tuple[Op, Any]]
    perms: dict[int, np.ndarray]
    categories: Categories
    augment_splits: tuple[str, ...]
    pool: Dataset | None = None                       # for mosaic: images to draw from
    pool_rows: dict[str, np.ndarray] = field(default_factory=dict)
    ann_offsets: np.ndarray | None = None
    ann_order: np.ndarray | None = None

    @property
    def min_visibility(self) -> float:
        return self.recipe.min_visibility


def make_plan(ds: Dataset, recipe: Recipe, seed: int) -> Plan:
    cats = ds.categories
    bound: dict[str, list[tuple[Op, Any]]] = {"preprocess": [], "augment": []}
    sections = [("preprocess", recipe.preprocess)]
    if recipe.augment is not None:
        sections.append(("augment", recipe.augment.ops))
    for section, ops in sections:
        for i, op in enumerate(ops):
            try:
                cats, state = op.bind(cats)
            except InvalidStep as e:
                raise RecipeError(f"{recipe.source}: {section} step {i + 1} ({op.name})",
                                  e.problem) from None
            bound[section].append((op, state))
    flip_idx = (ds.meta.get("yolo") or {}).get("flip_idx") if isinstance(ds.meta.get("yolo"), dict) else None
    flip_idx = flip_idx if flip_idx is not None else ds.meta.get("flip_idx")
    perms: dict[int, np.ndarray] = {}
    for c in ds.categories:
        perm = F.keypoint_flip_perm(c.keypoints, flip_idx)
        if perm is not None:
            perms[c.id] = perm
    if flip_idx is not None and not perms:
        perm = F.keypoint_flip_perm((), flip_idx)
        if perm is not None:
            perms = {c.id: perm for c in ds.categories}
    splits = recipe.augment.splits if recipe.augment else ()
    if "*" in splits:  # every split, including images without one
        splits = tuple(ds.images.splits())
    elif "train" in splits and _unsplit(ds):  # no splits at all: every image is training data
        splits = (*splits, UNSPLIT)
    plan = Plan(recipe, seed, bound["preprocess"], bound["augment"], perms, cats, splits)
    if any(isinstance(op, Mosaic) for op, _ in plan.augment + plan.preprocess):
        plan.pool = ds
        plan.pool_rows = {s: np.flatnonzero(ds.images.split == s) for s in ds.images.splits()}
        plan.ann_order, plan.ann_offsets = _ann_index(ds)
    return plan


def _unsplit(ds: Dataset) -> bool:
    return len(ds.images) > 0 and bool((ds.images.split == UNSPLIT).all())


def _ann_index(ds: Dataset) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(ds.annotations.image_index, kind="stable")
    offsets = np.searchsorted(ds.annotations.image_index[order], np.arange(len(ds.images) + 1))
    return order, offsets


class Context:
    """What operations may ask of the run: settings, annotation warping with keypoint swaps,
    and (for mosaic) other images of the same split."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.min_visibility = plan.min_visibility
        self.fill = (0, 0, 0)

    def warp_annotations(self, ann: Annotations, m, out_wh, *, clip_xyxy=None,
                         min_visibility: float | None = None) -> Annotations:
        mv = self.min_visibility if min_visibility is None else min_visibility
        out = F.warp_annotations(ann, m, out_wh, clip_xyxy=clip_xyxy, min_visibility=mv)
        if out.keypoints is not None and self.plan.perms and F.is_mirror(m) and len(out):
            kp = out.keypoints.copy()
            k = kp.shape[1]
            for cid, perm in self.plan.perms.items():
                rows = out.category_id == cid
                if rows.any() and len(perm) <= k:
                    full = np.concatenate([perm, np.arange(len(perm), k)])
                    kp[rows] = kp[rows][:, full]
            out = out.replace(keypoints=kp)
        return out

    def other_sample(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """A random image of the sample's split, preprocessed like every other."""
        plan = self.plan
        ds = plan.pool
        rows = plan.pool_rows.get(sample.split, np.zeros(0, np.int64))
        if ds is None or len(rows) == 0:
            return sample.copy()
        row = int(rows[int(rng.integers(len(rows)))])
        task = _task(ds, row, plan.ann_order, plan.ann_offsets)
        other = _sample(task)
        before = []  # the preprocessing every image gets, up to (never through) a mosaic
        for op, state in plan.preprocess:
            if isinstance(op, Mosaic):
                break
            before.append((op, state))
        outs = _run_ops(before, [other], image_rng(plan.seed, other.split, other.file_name, 0), self)
        return outs[int(rng.integers(len(outs)))] if outs else sample.copy()


def image_rng(seed: int, split: str, file_name: str, *extra: int) -> np.random.Generator:
    """The generator for one output: a function of the seed and the image's key only."""
    digest = hashlib.blake2b(f"{split}/{file_name}".encode(), digest_size=16).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF,
                                  *words, *extra])


# --- the per-image function ---------------------------------------------------------------------

@dataclass
class Output:
    file_name: str
    split: str
    width: int
    height: int
    image_id: int
    source_row: int
    attrs: dict
    ann: Annotations
    data: bytes | None = None
    error: str | None = None
    where: str | None = None


def _task(ds: Dataset, row: int, ann_order, ann_offsets) -> tuple:
    imgs = ds.images
    rows = ann_order[ann_offsets[row]:ann_offsets[row + 1]]
    return (row, imgs.file_name[row], imgs.split[row], int(imgs.width[row]), int(imgs.height[row]),
            imgs.path[row], int(imgs.id[row]), {k: v[row] for k, v in imgs.attrs.items()},
            ds.annotations[rows])


def _sample(task: tuple) -> Sample:
    row, file_name, split, w, h, path, image_id, attrs, ann = task
    ann = ann.replace(image_index=np.zeros(len(ann), np.int64))
    return Sample(file_name, split, w, h, ann, attrs, path, image_id)


def _run_ops(ops: list[tuple[Op, Any]], samples: list[Sample], rng: np.random.Generator,
             ctx: Context) -> list[Sample]:
    for op, state in ops:
        nxt: list[Sample] = []
        for s in samples:
            if op.p < 1.0 and rng.random() >= op.p:
                nxt.append(s)
            else:
                nxt.extend(op(s, rng, ctx, state))
        samples = nxt
    return samples


def process_task(plan: Plan, ctx: Context, task: tuple) -> list[Output]:
    """One source image -> its outputs (encoded, or None where the source file is reused)."""
    sample = _sample(task)
    row = task[0]
    try:
        first = next((op for op, _ in plan.preprocess), None)
        if isinstance(first, Resize) and first.p >= 1.0:
            sample.draft_wh = first.draft_size(sample.width, sample.height)
        base = _run_ops(plan.preprocess, [sample], image_rng(plan.seed, sample.split, sample.file_name, 0), ctx)
        results: list[Sample] = []
        aug = plan.recipe.augment
        if aug is not None and sample.split in plan.augment_splits:
            for j, s in enumerate(base):
                if aug.keep_original:
                    results.append(s)
                stem, ext = os.path.splitext(s.file_name)
                for c in range(aug.copies):
                    rng = image_rng(plan.seed, sample.split, sample.file_name, j + 1, c + 1)
                    copy = s.copy(file_name=f"{stem}_aug{c}{ext}")
                    results.extend(_run_ops(plan.augment, [copy], rng, ctx))
        else:
            results = base
        outs = []
        q = plan.recipe.jpeg_quality
        for s in results:
            data = output_bytes(s, q)
            outs.append(Output(s.output_name(), s.split, s.width, s.height, s.image_id, row,
                               s.attrs, s.ann, data, where=s.source_path))
        return outs
    except (ValidationError, MissingImageError, UnsafeInputError) as e:
        return [Output(sample.file_name, sample.split, 0, 0, 0, row, {}, Annotations.empty(),
                       error=getattr(e, "problem", str(e)),
                       where=getattr(e, "where", None) or sample.file_name)]


def _dest(out_dir: Path, split: str, file_name: str) -> Path:
    return out_dir / "images" / split / file_name if split else out_dir / "images" / file_name


def _write_outputs(outs: list[Output], out_dir: Path) -> None:
    for o in outs:
        if o.error is None:
            dest = _dest(out_dir, o.split, o.file_name)
            if o.data is None:
                _link(o.where, dest)
            else:
                place(None, o.data, dest)  # type: ignore[arg-type]
            o.data = None


def _link(src: str, dest: Path) -> None:
    """An image whose pixels no operation changed: cloned or copied, never hard-linked, so
    the output (and a later --images link from it) shares no file with the source."""
    from ..io.images import place_file
    place_file(src, dest, "copy")


# --- local engine -------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _die_with(parent: int) -> None:
    """End this worker as soon as the main process is gone, even by SIGKILL (which runs no
    clean-up): otherwise workers of a killed `transform` keep the pool's queues, and each
    other, alive. A daemon thread waits on a pidfd (Linux 5.3+), or polls twice a second."""
    import threading

    def wait() -> None:
        try:
            import select
            fd = os.pidfd_open(parent)
            select.select([fd], [], [])  # readable when the process has exited
        except (AttributeError, OSError):  # no pidfd here (or parent already gone): poll
            import time
            while os.getppid() != 1 and pid_alive(parent):
                time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=wait, name="visionflow-parent-watch", daemon=True).start()


def _init_worker(plan_bytes: bytes, out_dir: str, parent: int | None = None) -> None:
    if parent is not None:
        _die_with(parent)
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    plan = pickle.loads(plan_bytes)
    _WORKER.update(plan=plan, ctx=Context(plan), out_dir=Path(out_dir))


def _worker_chunk(tasks: list[tuple]) -> list[list[Output]]:
    plan, ctx, out_dir = _WORKER["plan"], _WORKER["ctx"], _WORKER["out_dir"]
    results = []
    for t in tasks:
        outs = process_task(plan, ctx, t)
        _write_outputs(outs, out_dir)
        results.append(outs)
    return results


def _chunks(it: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for t in it:
        chunk.append(t)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _local(plan: Plan, tasks: Iterator[tuple], out_dir: Path, workers: int) -> Iterator[list[Output]]:
    if workers <= 1:
        ctx = Context(plan)
        for t in tasks:
            outs = process_task(plan, ctx, t)
            _write_outputs(outs, out_dir)
            yield outs
        return
    mp = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                     else "spawn")
    plan_bytes = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker,
                             initargs=(plan_bytes, str(out_dir), os.getpid())) as pool:
        pending: deque = deque()
        limit = workers * 3
        for chunk in _chunks(tasks, _CHUNK):
            pending.append(pool.submit(_worker_chunk, chunk))
            if len(pending) >= limit:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


# --- Ray engine ---------------------------------------------------------------------------------

class _RayWorker:
    """Ray Data actor: the same per-image function; returns encoded bytes to the driver."""

    def __init__(self, plan_bytes: bytes):
        try:
            import cv2
            cv2.setNumThreads(1)
        except ImportError:  # pragma: no cover
            pass
        self.plan = pickle.loads(plan_bytes)
        self.ctx = Context(self.plan)

    def __call__(self, batch: dict) -> dict:
        out = []
        for blob in batch["chunk"]:
            tasks = pickle.loads(blob)
            results = [process_task(self.plan, self.ctx, t) for t in tasks]
            for outs in results:
                for o in outs:
                    if o.data is None and o.error is None and o.where is not None:
                        with open(o.where, "rb") as f:  # the driver may not see this file
                            o.data = f.read()
            out.append(pickle.dumps(results, protocol=pickle.HIGHEST_PROTOCOL))
        return {"result": np.array(out, dtype=object)}


def _ray(plan: Plan, tasks: Iterator[tuple], out_dir: Path, workers: int | None,
         address: str | None) -> Iterator[list[Output]]:
    from ..ray_session import ray_session
    with ray_session(address, workers) as ray:
        items = [{"chunk": pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL)}
                 for c in _chunks(tasks, _CHUNK)]
        if not items:
            return
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        plan_bytes = pickle.dumps(plan, protocol=pickle.HIGHEST_PROTOCOL)
        data = ray.data.from_items(items, override_num_blocks=len(items))
        data = data.map_batches(_RayWorker, fn_constructor_args=(plan_bytes,), batch_size=1,
                                batch_format="numpy", concurrency=min(n, len(items)))
        for row in data.iter_rows():
            for outs in pickle.loads(row["result"]):
                for o in outs:
                    if o.error is None:
                        place(None, o.data, _dest(out_dir, o.split, o.file_name))  # type: ignore[arg-type]
                        o.data = None
                yield outs


# --- run ----------------------------------------------------------------------------------------

def run(ds: Dataset, recipe: Recipe, out_dir: Path, *, seed: int = 0, engine: str = "local",
        address: str | None = None, workers: int | None = None, progress=None,
        strict: bool = False, report: Report | None = None) -> Dataset:
    """Apply `recipe` to every image of `ds`; write the images under out_dir/images/<split>/
    and return the new dataset whose Images.path point there.

    Same dataset + recipe + seed -> byte-identical files, whatever the engine or the number
    of workers. Unreadable images are reported in `report` and skipped (strict: raised).
    Images whose pixels no operation changes are copied (cloned where the filesystem can),
    never re-encoded.
    """
    if engine not in ENGINES:
        raise Error(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if not isinstance(recipe, Recipe):
        recipe = Recipe.load(recipe)
    report = report if report is not None else Report()
    for note in recipe.notes:
        report.add("warning", "recipe.deprecated", note)
    out_dir = Path(out_dir).absolute()
    if recipe.split is not None:
        from .split import split as split_fn
        ds = split_fn(ds, recipe.split.ratios, seed=seed, stratify=recipe.split.stratify,
                      report=report)
    plan = make_plan(ds, recipe, seed)
    if recipe.augment is not None and "train" in recipe.augment.splits and _unsplit(ds):
        report.add("info", "augment.unsplit", f"the dataset has no splits: all "
                   f"{len(ds.images)} images are training data and are augmented")
    if recipe.augment is not None and not np.isin(ds.images.split, plan.augment_splits).any():
        have = ", ".join(s or "(none)" for s in ds.images.splits()) or "none"
        report.add("warning", "augment.no_split",
                   f"augment applies to split(s) {', '.join(plan.augment_splits)} but the dataset "
                   f"has {have}; nothing augmented (set augment.splits, or add split: to the recipe)")
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    order, offsets = _ann_index(ds)
    tasks = (_task(ds, i, order, offsets) for i in range(len(ds.images)))
    stream = (_local(plan, tasks, out_dir, workers) if engine == "local"
              else _ray(plan, tasks, out_dir, workers, address))
    bar = progress("Transforming images", len(ds.images)) if progress else nullcontext(lambda n=1: None)
    collected: list[Output] = []
    with bar as advance:
        for outs in stream:
            for o in outs:
                if o.error is not None:
                    err = ValidationError(o.where or o.file_name, o.error)
                    if strict:
                        raise err
                    report.add("error", "skipped", o.error, where=o.where)
                else:
                    collected.append(o)
            advance(1)
    return _assemble(ds, plan, collected, out_dir)


def _assemble(ds: Dataset, plan: Plan, outs: list[Output], out_dir: Path) -> Dataset:
    seen: set[tuple[str, str]] = set()
    for o in outs:
        key = (o.split, o.file_name)
        if key in seen:
            raise OutputError(f"{o.file_name}: two outputs of split {o.split or '(none)'} would "
                              "have this name; rename the source images")
        seen.add(key)
    one_to_one = len(outs) == len(ds.images) and all(
        o.source_row == i and o.file_name == ds.images.file_name[i] for i, o in enumerate(outs))
    ids = ds.images.id if one_to_one else np.arange(1, len(outs) + 1, dtype=np.int64)
    keys = sorted({k for o in outs for k in o.attrs})
    images = Images.build(
        [o.file_name for o in outs], [o.width for o in outs], [o.height for o in outs], id=ids,
        split=[o.split for o in outs],
        path=[str(_dest(out_dir, o.split, o.file_name)) for o in outs],
        attrs={k: [o.attrs.get(k) for o in outs] for k in keys} if keys else None)
    parts = [o.ann.replace(image_index=np.full(len(o.ann), i, np.int64)) for i, o in enumerate(outs)]
    ann = Annotations.concat(parts) if parts else Annotations.empty()
    if len(ann) and len(np.unique(ann.id)) != len(ann):
        ann = ann.replace(id=np.arange(1, len(ann) + 1, dtype=np.int64))
    meta = {**ds.meta, "source_root": str(out_dir)}
    return Dataset(images, ann, plan.categories, meta)


__all__ = ["ENGINES", "Plan", "Context", "image_rng", "process_task", "run", "UNSPLIT"]
