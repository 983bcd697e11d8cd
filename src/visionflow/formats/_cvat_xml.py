"""CVAT for images 1.1 XML out, a kit of cvat.py: the attributes CVAT itself puts on images
and shapes (the rest are the dataset's own), the <meta> with labels and their attributes,
and the elements of each shape (box, rotated box, polygon, points, mask as CVAT's RLE)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from lxml import etree

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import OutputError
from ..core.geometry import rle_to_mask
from ..core.images import UNSPLIT
from . import common


_SHAPE_XML_ATTRS = {"label", "occluded", "z_order", "source", "group_id", "xtl", "ytl", "xbr",
                    "ybr", "rotation", "points", "rle", "left", "top", "width", "height", "cx",
                    "cy", "rx", "ry"}
_IMAGE_XML_ATTRS = {"id", "name", "width", "height", "subset"}


def _meta(ds: Dataset, names: dict[int, str]) -> etree._Element:
    """A task's <meta>; with splits a project's, one task per split with its <subset>, as
    CVAT's project export writes it (Datumaro reads each subset's images only then)."""
    meta = etree.Element("meta")
    splits = [s for s in ds.images.splits() if s != UNSPLIT]
    if splits:
        owner = etree.SubElement(meta, "project")
        _sub(owner, "name", "visionflow")
        tasks = etree.SubElement(owner, "tasks")
        for split in splits:
            task = etree.SubElement(tasks, "task")
            _sub(task, "name", split)
            _sub(task, "size", str(int((ds.images.split == split).sum())))
            _sub(task, "mode", "annotation")
            _sub(task, "subset", split)
    else:
        owner = etree.SubElement(meta, "task")
        _sub(owner, "size", str(len(ds.images)))
        _sub(owner, "mode", "annotation")
    labels = etree.SubElement(owner, "labels")
    specs = ds.meta.get("cvat.labels") if isinstance(ds.meta.get("cvat.labels"), dict) else {}
    used = _used_attributes(ds)
    for c in ds.categories:
        # An empty name cannot be declared (CVAT and Datumaro refuse it); shapes may still
        # use it, as Datumaro's own fixture does.
        if not c.name or c.name in {label.findtext("name") for label in labels}:
            continue
        label = etree.SubElement(labels, "label")
        _sub(label, "name", c.name)
        attributes = etree.SubElement(label, "attributes")
        declared = []
        for spec in specs.get(c.name) or []:
            a = etree.SubElement(attributes, "attribute")
            for tag, text in spec:
                _sub(a, str(tag), str(text))
                if tag == "name":
                    declared.append(text)
        for name in used.get(c.id, []):
            if name not in declared:
                a = etree.SubElement(attributes, "attribute")
                _sub(a, "name", name)
                _sub(a, "mutable", "False")
                _sub(a, "input_type", "text")
                _sub(a, "default_value", "")
                _sub(a, "values", "")
    return meta


def _used_attributes(ds: Dataset) -> dict[int, list[str]]:
    """Category id -> names of the plain attributes its annotations carry."""
    ann = ds.annotations
    out: dict[int, list[str]] = {}
    for key in sorted(ann.attrs):
        if "." in key or key == "occluded":
            continue
        col = ann.attrs[key]
        for cid in sorted({int(c) for c, v in zip(ann.category_id, col) if v is not None}):
            out.setdefault(cid, []).append(key)
    return out


def _shape_elements(ann: Annotations, r: int, names: dict[int, str]) -> list[etree._Element]:
    attrs = {k: v[r] for k, v in ann.attrs.items() if v[r] is not None}
    label = names[int(ann.category_id[r])]
    kind = attrs.get("cvat.shape")
    elements: list[etree._Element] = []
    if ann.is_label[r]:
        elements.append(etree.Element("tag", label=label))
    elif ann.polylines is not None and ann.polylines.counts()[r] > 0:
        for path in ann.polylines.rings(r):
            elements.append(etree.Element("polyline", label=label, points=_points_text(path)))
    elif kind in ("polyline", "points") and _valid_points(attrs.get("cvat.points")):
        elements.append(etree.Element(kind, label=label,
                                      points=_points_text(attrs["cvat.points"])))
    elif isinstance(attrs.get("cvat.ellipse"), (list, tuple)) and \
            len(attrs["cvat.ellipse"]) == 4:
        el = etree.Element("ellipse", label=label)
        for key, value in zip(("cx", "cy", "rx", "ry"), attrs["cvat.ellipse"]):
            el.set(key, common.fmt_float(float(value)))
        if "cvat.rotation" in attrs:
            el.set("rotation", common.fmt_float(float(attrs["cvat.rotation"])))
        elements.append(el)
    elif ann.rle is not None and ann.rle[r] is not None:
        elements.append(_mask_element(ann.rle[r], label))
    elif ann.polygons is not None and ann.polygons.counts()[r] > 0:
        for ring in ann.polygons.rings(r):
            elements.append(etree.Element("polygon", label=label, points=_points_text(ring)))
    elif ann.obb is not None and not np.isnan(ann.obb[r]).all():
        elements.append(_rotated_box(ann.obb[r], label))
    else:
        el = etree.Element("box", label=label)
        for key, value in zip(("xtl", "ytl", "xbr", "ybr"), ann.xyxy[r]):
            el.set(key, common.fmt_float(float(value)))
        elements.append(el)
    for el in elements:
        if el.tag != "tag":
            el.set("occluded", "1" if _truthy(attrs.get("occluded")) else "0")
        if "cvat.source" in attrs:
            el.set("source", str(attrs["cvat.source"]))
        if el.tag != "tag" and "cvat.z_order" in attrs:
            el.set("z_order", str(_int_or(attrs["cvat.z_order"], 0)))
        if "cvat.group_id" in attrs:
            el.set("group_id", str(_int_or(attrs["cvat.group_id"], 0)))
        for key in sorted(attrs):
            tail = key[5:]
            if key.startswith("cvat.") and tail not in (
                    "shape", "points", "ellipse", "rotation", "z_order", "group_id",
                    "source") and tail.isidentifier() and tail not in _SHAPE_XML_ATTRS:
                el.set(tail, str(attrs[key]))
        for key in sorted(attrs):
            if "." in key or key == "occluded":
                continue
            a = etree.SubElement(el, "attribute", name=key)
            a.text = common.attr_text(attrs[key])
    return elements


def _valid_points(points: Any) -> bool:
    return isinstance(points, (list, tuple)) and len(points) >= 1 and all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in points)


def _points_text(points: Any) -> str:
    return ";".join(f"{common.fmt_float(float(x))},{common.fmt_float(float(y))}"
                    for x, y in points)


def _rotated_box(corners: np.ndarray, label: str) -> etree._Element:
    """CVAT's box + rotation (clockwise degrees) of an oriented box's 4 corners."""
    c = np.asarray(corners, np.float64)
    centre = c.mean(axis=0)
    w = float(np.hypot(*(c[1] - c[0])))
    h = float(np.hypot(*(c[2] - c[1])))
    angle = math.degrees(math.atan2(c[1][1] - c[0][1], c[1][0] - c[0][0])) % 360
    el = etree.Element("box", label=label)
    for key, value in zip(("xtl", "ytl", "xbr", "ybr"),
                          (centre[0] - w / 2, centre[1] - h / 2, centre[0] + w / 2,
                           centre[1] + h / 2)):
        el.set(key, common.fmt_float(round(value, 6)))
    el.set("rotation", common.fmt_float(round(angle, 6)))
    return el


def _mask_element(rle: dict, label: str) -> etree._Element:
    mask = rle_to_mask(rle)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        x1 = y1 = 0
        x2 = y2 = 0
    else:
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    crop = mask[y1:y2 + 1, x1:x2 + 1].reshape(-1)
    change = np.flatnonzero(crop[1:] != crop[:-1]) + 1
    runs = np.diff(np.concatenate([[0], change, [crop.size]]))
    if crop.size and crop[0]:
        runs = np.concatenate([[0], runs])
    el = etree.Element("mask", label=label)
    el.set("rle", ", ".join(str(int(v)) for v in runs))
    el.set("left", str(x1))
    el.set("top", str(y1))
    el.set("width", str(x2 - x1 + 1))
    el.set("height", str(y2 - y1 + 1))
    return el


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value) if value is not None else False


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _sub(parent: etree._Element, tag: str, text: str) -> etree._Element:
    el = etree.SubElement(parent, tag)
    try:
        el.text = text
    except ValueError:
        raise OutputError(f"value {text!r} of <{tag}> cannot be written to XML") from None
    return el
