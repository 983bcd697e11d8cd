"""`visionflow autolabel`: a model labels a dataset; a person then fixes what it got wrong.

- The model is any `Detector` (a registry name such as `centernet`, an exported .onnx with its
  sidecar, a hub id or folder of an open-vocabulary model) and an ontology
  (models/ontology.py) says which of its classes, or which text prompts, become which dataset
  classes; detections of other classes are dropped, those under `threshold` too. When several
  model classes become one dataset class (raccoon <- bear, dog, cat) one animal often gets a
  box of each: non-maximum suppression runs again within each dataset class (IoU 0.4).
- The output keeps the source's ground truth; every new object carries its `score` and the
  attribute `source=<model name>`, so a review can tell them apart (and `evaluate`, with the
  scores, can rank them). `only_unlabelled` runs the model only on images without any
  annotation. With a workspace the new objects are also (or only) stored as a prediction set
  of the version (evaluation/stored.py) for `evaluate`, `mistakes` and the web app.
- `masks`: a `Segmenter` (grabcut, selfie, a SAM model) prompted by each box turns it into
  polygons (the mask is cut to the box: a whole-image person mask would otherwise give every
  box the same outline). A pose model's keypoints become COCO keypoints (x, y, visibility 2
  where the model's score passes `keypoint_threshold`, else 0 0 0), with the model's keypoint
  names and skeleton on the class and its flip index in the dataset's meta (YOLO's flip_idx).
- Engines: `local` decodes the next images on a thread while onnxruntime runs the current
  one (one session using every core); `ray` runs decode + model as Ray Data actor stages over
  the same per-image function, so the rows are the same.
"""

from __future__ import annotations

import pickle
import re
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations, Polygons
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, ValidationError
from ..core.report import Report
from .base import Detections, Detector, ModelInfo, Segmenter
from .ontology import parse

ENGINES = ("local", "ray")
_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Labelled:
    """One image's new objects, in dataset class indices (targets)."""
    boxes: np.ndarray                     # (n, 4) float32 xyxy pixels
    scores: np.ndarray                    # (n,) float32
    targets: np.ndarray                   # (n,) int64 index into the ontology's targets
    keypoints: np.ndarray | None = None   # (n, K, 3) x, y, visibility
    rings: list[list[np.ndarray]] | None = None  # polygons per object (masks)
    error: str = ""

    def __len__(self) -> int:
        return len(self.scores)


@dataclass
class Labeler:
    """What runs per image, on the driver or in a Ray actor alike (so both give the same
    rows): model -> threshold -> ontology -> masks -> keypoints."""
    detector: Detector
    lut: np.ndarray
    threshold: float
    segmenter: Segmenter | None = None
    keypoint_threshold: float = 0.3
    iou: float = 0.4   # the models' own NMS IoU (human's object.iouThreshold)

    def __call__(self, image: np.ndarray) -> Labelled:
        det: Detections = self.detector.detect(image)
        labels = np.asarray(det.labels, np.int64)
        ok = (labels >= 0) & (labels < len(self.lut))
        target = np.full(len(labels), -1, np.int64)
        target[ok] = self.lut[labels[ok]]
        keep = (np.asarray(det.scores) >= self.threshold) & (target >= 0)
        det, target = det.select(keep), target[keep]
        # several model classes becoming one dataset class (raccoon <- bear, dog, cat) give
        # one object several boxes: suppressed again within each dataset class
        from ._onnx import nms_per_class
        order = nms_per_class(np.asarray(det.boxes), np.asarray(det.scores), target,
                              self.iou, len(target))
        det, target = det.select(order), target[order]
        out = Labelled(np.asarray(det.boxes, np.float32).reshape(-1, 4),
                       np.asarray(det.scores, np.float32), target.astype(np.int64))
        if det.keypoints is not None and len(det.keypoints.shape) == 3 and \
                det.keypoints.shape[1]:
            kp = np.asarray(det.keypoints, np.float64).copy()
            seen = kp[:, :, 2] >= self.keypoint_threshold
            kp[:, :, 2] = np.where(seen, 2.0, 0.0)
            kp[~seen, :2] = 0.0
            out.keypoints = kp
        if self.segmenter is not None and len(out):
            from .masks import mask_to_polygons
            h, w = image.shape[:2]
            rings = []
            for box in out.boxes:
                x1, y1 = int(np.floor(box[0])), int(np.floor(box[1]))
                x2, y2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
                if x2 - x1 < 2 or y2 - y1 < 2:
                    rings.append([])
                    continue
                mask = np.asarray(self.segmenter.segment(image, box=box.astype(np.float64)),
                                  bool)
                cut = np.zeros((h, w), bool)
                cut[max(0, y1):min(h, y2), max(0, x1):min(w, x2)] = True
                rings.append(mask_to_polygons(mask & cut))
            out.rings = rings
        return out


@dataclass
class AutolabelResult:
    """What `autolabel` / `predict` did: the write's report (None when nothing was written),
    the model, counts, throughput, and the prediction set stored in a workspace (if any)."""
    report: Report
    model: ModelInfo
    images: int = 0                 # images in the source
    labelled: int = 0               # images the model ran on
    skipped_labelled: int = 0       # images left alone by only_unlabelled
    objects: int = 0                # new objects written
    per_class: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0            # model phase (decode + model + masks), wall clock
    images_per_second: float = 0.0
    destination: str | None = None
    prediction_set: dict | None = None
    failed: list[str] = field(default_factory=list)  # images that could not be decoded

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.name, "fingerprint": self.model.fingerprint,
                "images": self.images, "labelled": self.labelled,
                "skipped_labelled": self.skipped_labelled, "objects": self.objects,
                "per_class": self.per_class, "seconds": round(self.seconds, 3),
                "images_per_second": round(self.images_per_second, 2),
                "destination": self.destination, "prediction_set": self.prediction_set,
                "written": self.report.written, "failed": self.failed,
                "problems": self.report.to_list()}


def autolabel(src: str | Path | Dataset, dst: str | Path | None = None,
              model: str | Path | Detector = "centernet", classes: Any = None, *,
              threshold: float = 0.3, to: str | None = None, masks: str | None = None,
              only_unlabelled: bool = False, name: str | None = None,
              workspace: str | Path | Any | None = None, engine: str = "local",
              workers: int | None = None, address: str | None = None, images: str = "copy",
              overwrite: bool = False, force: bool = False, errors: str = "raise",
              format: str | None = None, report: Report | None = None, progress=None,
              keypoint_threshold: float = 0.3, keep_ground_truth: bool = True,
              write_options: dict | None = None, read_options: dict | None = None,
              images_dir: str | Path | None = None, follow_links: bool = False
              ) -> AutolabelResult:
    """`visionflow autolabel`: label `src` with `model` through the ontology `classes`.

    src: a dataset folder/file or Dataset; with `workspace`, a version name (or SOURCE@N).
    dst: write the labelled dataset here (format `to`, default the source's), atomically; the
    source is never modified. workspace: also store the new objects as prediction set `name`
    (default: the model's name) of version `src`. At least one of dst and workspace.
    threshold: keep detections scoring at least this. masks: a segmenter name (grabcut,
    selfie) or SAM model to outline each box. only_unlabelled: run only on images without
    annotations. engine: "local" or "ray" (workers/address as for `transform`).
    keep_ground_truth: False writes the model's objects only (what `predict` does).
    Returns an AutolabelResult. Raises Error (bad model, classes, threshold, engine, an
    unknown model class with "did you mean"), OutputError, and what `vf.load` raises.
    """
    from ..api import errors_mode, load, write
    errors = errors_mode(errors)
    if not 0.0 <= float(threshold) <= 1.0:
        raise Error(f"threshold must be between 0 and 1, got {threshold}")
    if engine not in ENGINES:
        raise Error(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if dst is None and workspace is None:
        raise Error("give a destination folder, a workspace (-w) to store the predictions in, "
                    "or both")
    ontology = parse(classes)
    own = report if report is not None else Report()
    ws, version = None, None
    if workspace is not None:
        ws, version = _open_workspace(workspace), str(src)
    try:
        if ws is not None:
            ds = ws.load(version)
            ws.version(version)  # predictions attach to versions (immutable) only
        elif isinstance(src, Dataset):
            ds = src
        else:
            ds = load(src, format, errors=errors, report=own, images_dir=images_dir,
                      follow_links=follow_links, **(read_options or {}))
        _check_outputs(ds, dst, to, ws, version, name, overwrite=overwrite, force=force)
        from .predict import load_detector
        detector = load_detector(model, ontology.prompts() if not ontology.everything else ())
        targets, lut = ontology.resolve(detector.info.classes, detector.info.name)
        segmenter = _load_segmenter(masks) if masks else None
        labeler = Labeler(detector, lut, float(threshold), segmenter, float(keypoint_threshold))
        rows = np.arange(len(ds.images))
        skipped = 0
        if only_unlabelled:
            has = np.zeros(len(ds.images), bool)
            has[ds.annotations.image_index] = True
            skipped = int(has.sum())
            rows = rows[~has]
        started = time.perf_counter()
        bar = progress("Auto-labelling", len(rows)) if progress else nullcontext(
            lambda n=1: None)
        results: dict[int, Labelled] = {}
        with bar as advance:
            run = _run_ray if engine == "ray" else _run_local
            for row, got in run(ds, rows, labeler, workers=workers, address=address):
                if got.error and errors == "raise":
                    raise Error(got.error)
                results[row] = got
                advance(1)
        seconds = time.perf_counter() - started
        failed = _failures(ds, results, errors, own)
        used = None
        if ontology.everything:  # every model class: add only those the model found
            used = {int(t) for got in results.values() for t in got.targets}
        cats, target_ids = _categories(ds, targets, detector.info, store=ws is not None,
                                       used=used)
        new = _annotations(ds, results, target_ids, detector.info.name)
        result = AutolabelResult(own, detector.info, len(ds.images), len(rows), skipped,
                                 len(new), _per_class(new, cats), seconds,
                                 len(rows) / seconds if seconds > 0 else 0.0, failed=failed)
        meta = dict(ds.meta)
        if detector.info.flip_index:
            meta["flip_idx"] = list(detector.info.flip_index)
        if dst is not None:
            keep_rows = ds.annotations if keep_ground_truth else ds.annotations[
                np.zeros(len(ds.annotations), bool)]
            out = ds.replace(annotations=Annotations.concat([keep_rows, new]), categories=cats,
                             meta=meta)
            if failed:
                bad = np.zeros(len(ds.images), bool)
                bad[[r for r, got in results.items() if got.error]] = True
                out = out.select_images(~bad)
            to = to or _score_format(out, keep_ground_truth, own)
            write(out, dst, to, images=images, overwrite=overwrite, force=force,
                  errors=errors, report=own, keep=(ws.dir,) if ws is not None else (),
                  **(write_options or {}))
            result.destination = str(dst)
        if ws is not None:
            set_name = name or _NAME.sub("-", detector.info.name).strip("-._") or "model"
            result.prediction_set = store_predictions(
                ws, version, ds.replace(annotations=new, categories=cats), set_name,
                source=f"model:{detector.info.name}", overwrite=overwrite)
        return result
    finally:
        if ws is not None and not isinstance(workspace, _workspace_type()):
            ws.close()


def _check_outputs(ds: Dataset, dst: Any, to: str | None, ws: Any, version: str | None,
                   name: str | None, *, overwrite: bool, force: bool) -> None:
    """What would refuse the output, said before the model runs for minutes: the
    destination (the source, inside it, not empty), the format, an existing prediction set."""
    if dst is not None:
        from ..api import image_folders, source_folders
        from ..formats import registry
        from ..io.atomic import guard_destination
        if to is not None:
            registry.get(to)  # UnknownFormat with "did you mean"
        guard_destination(dst, sources=source_folders(ds), images=image_folders(ds),
                          keep=(ws.dir,) if ws is not None else (), overwrite=overwrite,
                          force=force)
    if ws is not None and name is not None and not overwrite:
        from ..evaluation.stored import prediction_folder
        if prediction_folder(ws, version, name).exists():
            raise Error(f"version {version!r} already has a prediction set {name!r}; pass "
                        "--overwrite to replace it")


def _score_format(ds: Dataset, keep_ground_truth: bool, report: Report) -> str | None:
    """Predictions (keep_ground_truth False) default to the source's format when it holds
    scores, else to COCO (which does): predictions without scores cannot be evaluated."""
    if keep_ground_truth or not ds.source_format:
        return None
    from ..formats import registry
    from ..core.annotations import Column
    if Column.SCORES in registry.get(ds.source_format).supports:
        return None
    report.add("info", "predict.format", f"predictions written as coco: "
               f"{ds.source_format} cannot hold scores (--to chooses another format)")
    return "coco"


def _workspace_type() -> type:
    from ..versioning import Workspace
    return Workspace


def _open_workspace(workspace: Any) -> Any:
    ws_type = _workspace_type()
    if isinstance(workspace, ws_type):
        return workspace
    return ws_type.open(workspace)


def _load_segmenter(masks: str) -> Segmenter:
    from .predict import registry_load
    seg = registry_load(masks)
    if not isinstance(seg, Segmenter):
        raise Error(f"--masks {masks}: {getattr(getattr(seg, 'info', None), 'task', 'this')} "
                    "model is not a segmenter (use grabcut, selfie or a SAM model)")
    return seg


# --- engines --------------------------------------------------------------------------------

def _decode(path: Any, where: str) -> np.ndarray:
    from ..io.images import load_rgb
    if path is None:
        raise MissingImageError(where, "this dataset has no file for the image")
    return np.asarray(load_rgb(path))


def _label_one(labeler: Labeler, path: Any, where: str) -> Labelled:
    try:
        image = _decode(path, where)
    except (MissingImageError, ValidationError, OSError) as e:
        return Labelled(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                        np.zeros(0, np.int64), error=str(e))
    return labeler(image)


def _run_local(ds: Dataset, rows: np.ndarray, labeler: Labeler, **_: Any
               ) -> Iterator[tuple[int, Labelled]]:
    """Decode ahead on two threads (Pillow releases the GIL), model on this one."""
    paths, names = ds.images.path, ds.images.file_name

    def load(row: int) -> tuple[np.ndarray | None, str]:
        try:
            return _decode(paths[row], str(names[row])), ""
        except (MissingImageError, ValidationError, OSError) as e:
            return None, str(e)

    with ThreadPoolExecutor(2) as pool:
        ahead: deque = deque()
        it = iter(rows.tolist())
        for row in it:
            ahead.append((row, pool.submit(load, row)))
            if len(ahead) >= 4:
                break
        while ahead:
            row, fut = ahead.popleft()
            nxt = next(it, None)
            if nxt is not None:
                ahead.append((nxt, pool.submit(load, nxt)))
            image, err = fut.result()
            if image is None:
                yield row, Labelled(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                                    np.zeros(0, np.int64), error=err)
            else:
                yield row, labeler(image)


class _LabelActor:
    """Ray actor: the labeler unpickled once (one model session per actor)."""

    def __init__(self, labeler_bytes: bytes):
        self.labeler: Labeler = pickle.loads(labeler_bytes)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = [pickle.dumps(_label_one(self.labeler, p or None, str(n)),
                            protocol=pickle.HIGHEST_PROTOCOL)
               for p, n in zip(batch["path"], batch["name"])]
        return {"row": batch["row"], "labelled": np.array(out, dtype=object)}


def _run_ray(ds: Dataset, rows: np.ndarray, labeler: Labeler, *, workers: int | None,
             address: str | None) -> Iterator[tuple[int, Labelled]]:
    """Decode + label in Ray Data actors; the image files must be on a filesystem the workers
    share. On one machine one actor (one onnxruntime session using every core) is fastest."""
    from ..ray_session import ray_session, require_ray
    require_ray()
    if not len(rows):
        return
    try:
        blob = pickle.dumps(labeler, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - a model Ray cannot ship
        raise Error(f"{labeler.detector.info.name}: cannot be sent to Ray workers ({e}); use "
                    "--engine local") from None
    with ray_session(address, workers) as ray:
        paths, names = ds.images.path, ds.images.file_name
        items = [{"row": int(r), "path": "" if paths[r] is None else str(paths[r]),
                  "name": str(names[r])} for r in rows]
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = 1 if address is None else n
        data = ray.data.from_items(items, override_num_blocks=max(1, min(len(items), n * 4)))
        data = data.map_batches(_LabelActor, fn_constructor_args=(blob,), batch_size=8,
                                batch_format="numpy",
                                compute=ray.data.ActorPoolStrategy(size=actors))
        for row in data.iter_rows():
            yield int(row["row"]), pickle.loads(row["labelled"])


# --- output ---------------------------------------------------------------------------------

def _failures(ds: Dataset, results: dict[int, Labelled], errors: str, report: Report
              ) -> list[str]:
    bad = [(r, got.error) for r, got in results.items() if got.error]
    if not bad:
        return []
    if errors == "raise":
        raise Error(bad[0][1])
    for r, msg in bad:
        report.add("error", "skipped", msg.split(": ", 1)[-1], where=str(ds.images.file_name[r]))
    return [str(ds.images.file_name[r]) for r, _ in bad]


def _categories(ds: Dataset, targets: tuple[str, ...], info: ModelInfo, *, store: bool,
                used: set[int] | None = None) -> tuple[Categories, np.ndarray]:
    """The dataset's categories with the targets added where missing (pose: with the model's
    keypoint names and skeleton; `used`: only those targets), and each target's category
    id. Stored predictions must use the version's classes (they are evaluated against them).
    """
    items = list(ds.categories)
    ids = np.zeros(len(targets), np.int64)
    next_id = max([c.id for c in items], default=0) + 1
    skeleton = tuple((a + 1, b + 1) for a, b in info.skeleton)  # COCO's are 1-based
    for t_i, t in enumerate(targets):
        at = next((i for i, c in enumerate(items) if c.name == t), None)
        if at is None and used is not None and t_i not in used:
            continue  # a model class nobody asked for by name and nothing was found of
        if at is None:
            if store:
                raise Error(f"class {t!r} is not one of the version's classes "
                            f"({', '.join(c.name for c in items) or 'none'}); map the model's "
                            f"classes onto them, e.g. --classes '{items[0].name if items else t}"
                            f"=...'")
            items.append(Category(next_id, t, None, tuple(info.keypoints), skeleton))
            at, next_id = len(items) - 1, next_id + 1
        elif info.keypoints and not items[at].keypoints:
            c = items[at]
            items[at] = Category(c.id, c.name, c.supercategory, tuple(info.keypoints), skeleton)
        ids[t_i] = items[at].id
    return Categories(items), ids


def _annotations(ds: Dataset, results: dict[int, Labelled], target_ids: np.ndarray,
                 source: str) -> Annotations:
    rows = sorted(r for r, got in results.items() if len(got))
    if not rows:
        return Annotations.empty()
    parts = [results[r] for r in rows]
    image_index = np.concatenate([np.full(len(p), r, np.int64) for r, p in zip(rows, parts)])
    n = len(image_index)
    start = int(ds.annotations.id.max()) + 1 if len(ds.annotations) else 1
    cols: dict[str, Any] = {
        "score": np.concatenate([p.scores for p in parts]).astype(np.float64),
        "attrs": {"source": np.array([source] * n, dtype=object)}}
    if any(p.keypoints is not None for p in parts):
        k = max(p.keypoints.shape[1] for p in parts if p.keypoints is not None)
        kp = np.full((n, k, 3), np.nan)
        at = 0
        for p in parts:
            if p.keypoints is not None:
                kp[at:at + len(p), :p.keypoints.shape[1]] = p.keypoints
            at += len(p)
        cols["keypoints"] = kp
    if any(p.rings is not None for p in parts):
        rings = [r for p in parts for r in (p.rings or [[] for _ in range(len(p))])]
        if any(rings):
            cols["polygons"] = Polygons.from_lists(rings)
    xyxy = np.concatenate([p.boxes for p in parts]).astype(np.float64)
    cat = target_ids[np.concatenate([p.targets for p in parts])]
    return Annotations.build(image_index, cat, xyxy, id=np.arange(start, start + n), **cols)


def _per_class(ann: Annotations, cats: Categories) -> dict[str, int]:
    names = {c.id: c.name for c in cats}
    ids, counts = np.unique(ann.category_id, return_counts=True)
    return {names[int(i)]: int(c) for i, c in zip(ids, counts)}


def store_predictions(ws: Any, version: str, pred: Dataset, name: str, *, source: str,
                      overwrite: bool = False) -> dict[str, Any]:
    """Store `pred` (the version's images, the version's class ids, with scores) as prediction
    set `name` of `version`, as `visionflow predictions import` does, for evaluate/mistakes."""
    from ..evaluation.stored import store
    return store(ws, version, ws.load(version), pred, name, source=source, overwrite=overwrite)

