"""The table of formats: built-ins by module, plugins by entry point, loaded lazily once.

A command naming its formats (`convert --from coco --to yolo`) imports just those two modules;
detection and `formats` load the whole table."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from ..core.errors import AmbiguousFormat, Error, NotDetected, UnknownFormat
from .base import Detection, Format

BUILTIN: dict[str, str] = {
    "coco": "visionflow.formats.coco",
    "voc": "visionflow.formats.voc",
    "yolo": "visionflow.formats.yolo",
    "yolo-darknet": "visionflow.formats.yolo_darknet",
    "yolo-cls": "visionflow.formats.yolo_cls",
    "visionflow": "visionflow.formats.native",
    "tfrecord": "visionflow.formats.tfrecord",
    "tf-csv": "visionflow.formats.tf_csv",
    "kitti": "visionflow.formats.kitti",
    "mot": "visionflow.formats.mot",
    "labelme": "visionflow.formats.labelme",
    "cvat": "visionflow.formats.cvat",
    "createml": "visionflow.formats.createml",
    "vott-json": "visionflow.formats.vott_json",
    "vott-csv": "visionflow.formats.vott_csv",
    "label-studio": "visionflow.formats.label_studio",
    "sagemaker": "visionflow.formats.sagemaker",
    "dota": "visionflow.formats.dota",
    "hf-parquet": "visionflow.formats.hf_parquet",
    "voc-seg": "visionflow.formats.voc_seg",
    "cls-csv": "visionflow.formats.cls_csv",
    "jsonl-vlm": "visionflow.formats.jsonl_vlm",
    "datumaro": "visionflow.formats.datumaro",
    "cityscapes": "visionflow.formats.cityscapes",
    "yolo-keras": "visionflow.formats.yolo_keras",
    "binary-masks": "visionflow.formats.binary_masks",
    "open-images": "visionflow.formats.open_images",
    "wider-face": "visionflow.formats.wider_face",
    "map-txt": "visionflow.formats.map_txt",
}
ENTRY_POINT_GROUP = "visionflow.formats"
# Two candidates whose confidence differs by less than this are a tie.
AMBIGUITY_MARGIN = 0.1


@cache
def _formats() -> dict[str, Format]:
    found: dict[str, Format] = {}
    for name, module in BUILTIN.items():
        fmt = _builtin(name)
        assert fmt.name == name, f"{module} declares {fmt.name!r}, registry says {name!r}"
        found[name] = fmt
    from importlib.metadata import entry_points  # scanning installed packages costs ~20 ms

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        fmt = ep.load()
        if isinstance(fmt, Format) and fmt.name not in found:
            found[fmt.name] = fmt
    return found


def all_formats() -> list[Format]:
    return list(_formats().values())


@cache
def _builtin(name: str) -> Format:
    return importlib.import_module(BUILTIN[name]).FORMAT


def get(name: str) -> Format:
    key = name.strip().lower()
    if key in BUILTIN:
        return _builtin(key)
    formats = _formats()
    if key in formats:
        return formats[key]
    for fmt in formats.values():
        if key in fmt.aliases:
            return fmt
    raise UnknownFormat(name, formats)


def candidates(path: Path) -> list[Detection]:
    """Every format's opinion of `path`, most confident first."""
    found: list[Detection] = []
    for fmt in _formats().values():
        try:
            d = fmt.detect(path)
        except (OSError, ValueError, Error):
            d = None
        if d is not None and d.confidence > 0:
            found.append(d)
    return sorted(found, key=lambda d: -d.confidence)


def detect(path: Path) -> Detection:
    """The single best format for `path`, or an error naming the candidates."""
    return choose(path, candidates(path))


def choose(path: Path, found: list[Detection]) -> Detection:
    """The single best of `found` (candidates(path)), or an error naming the tied ones: the
    rule of `detect` for a caller that already holds the candidates (detection runs once)."""
    if not found:
        raise NotDetected(path)
    if len(found) > 1 and found[0].confidence - found[1].confidence < AMBIGUITY_MARGIN:
        tied = [d for d in found if found[0].confidence - d.confidence < AMBIGUITY_MARGIN]
        raise AmbiguousFormat(path, tied)
    return found[0]
