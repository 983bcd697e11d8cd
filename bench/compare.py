"""Correctness side by side: parse every tool's output the same way and compare its boxes with
visionflow's (and visionflow's with the generated truth), so that no speed comes from skipped
work.

Every output becomes {image stem: [(class name, x1, y1, x2, y2), ...]} in absolute continuous
pixels: YOLO through the image sizes of the generated data, VOC with the devkit convention
(x1 = xmin - 1, x2 = xmax), COCO through bbox [x, y, w, h]. Classes are mapped by NAME, so a
tool that renumbers categories still matches; the renumbering itself is reported. Boxes of an
image are matched greedily (same class, smallest largest-coordinate difference); a pair
further apart than TOLERANCE_PX is a mismatch.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

TOLERANCE_PX = 0.5
_STEM = re.compile(r"^\d{12}$")

Boxes = dict[str, list[tuple]]


def truth(data: Path) -> tuple[Boxes, dict[str, tuple[int, int]], list[str], list[int]]:
    from generate import COCO_CLASSES, file_name
    t = np.load(data / "truth.npz")
    sizes = t["sizes"][t["size_idx"]]
    names = [n for _, n, _ in COCO_CLASSES]
    stems = [file_name(i)[:-4] for i in range(len(sizes))]
    boxes: Boxes = {s: [] for s in stems}
    for r, c, b in zip(t["image_row"].tolist(), t["class_row"].tolist(), t["xyxy"].tolist()):
        boxes[stems[r]].append((names[c], *b))
    wh = {s: (int(w), int(h)) for s, (w, h) in zip(stems, sizes.tolist())}
    return boxes, wh, names, [c[0] for c in COCO_CLASSES]


def voc_truth(data: Path) -> Boxes:
    """The VOC input holds whole pixels: what a faithful VOC -> COCO writes."""
    boxes, _, _, _ = truth(data)
    return {s: [(n, float(round(a)), float(round(b)), float(round(c)), float(round(d)))
                for n, a, b, c, d in v] for s, v in boxes.items()}


def parse_yolo(out: Path, wh: dict[str, tuple[int, int]], default_names: list[str]) -> tuple[Boxes, dict]:
    names = _yolo_names(out) or default_names
    boxes: Boxes = {}
    decimals = 0
    for p in out.rglob("*.txt"):
        if not _STEM.match(p.stem):
            continue
        w, h = wh[p.stem]
        rows = []
        for line in p.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            c = parts[0]
            cls = names[int(c)] if c.lstrip("-").isdigit() and int(c) < len(names) else c
            cx, cy, bw, bh = (float(v) for v in parts[1:5])
            decimals = max(decimals, max(len(v.split(".")[1]) if "." in v else 0
                                         for v in parts[1:5]))
            rows.append((cls, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w,
                         (cy + bh / 2) * h))
        boxes[p.stem] = rows
    return boxes, {"max_decimals": decimals,
                   "class_index_is_name": any(not r[0] in names for v in boxes.values()
                                              for r in v)}


def _yolo_names(out: Path) -> list[str] | None:
    import yaml
    for y in list(out.rglob("*.yaml")):
        doc = yaml.safe_load(y.read_text())
        if isinstance(doc, dict) and "names" in doc:
            n = doc["names"]
            return [n[k] for k in sorted(n)] if isinstance(n, dict) else list(n)
    for f in list(out.rglob("*.names")) + list(out.rglob("classes.txt")):
        return [x for x in f.read_text().splitlines() if x.strip()]
    return None


def parse_voc(out: Path) -> tuple[Boxes, dict]:
    boxes: Boxes = {}
    ints = True
    for p in out.rglob("*.xml"):
        root = ET.parse(p).getroot()
        fname = root.findtext("filename") or p.name
        stem = Path(fname).stem
        rows = []
        for obj in root.iter("object"):
            bb = obj.find("bndbox")
            vals = [bb.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]
            ints = ints and all(re.fullmatch(r"-?\d+", v.strip()) for v in vals)
            x1, y1, x2, y2 = (float(v) for v in vals)
            rows.append((obj.findtext("name"), x1 - 1, y1 - 1, x2, y2))
        boxes[stem] = rows
    return boxes, {"whole_pixels": ints}


def parse_coco(out: Path, source_ids: dict[str, int]) -> tuple[Boxes, dict]:
    files = [p for p in out.rglob("*.json")]
    boxes: Boxes = {}
    renumbered = 0
    for f in files:
        doc = json.loads(f.read_text())
        if not isinstance(doc, dict) or "annotations" not in doc:
            continue
        cats = {c["id"]: c["name"] for c in doc.get("categories", [])}
        renumbered += sum(1 for i, n in cats.items() if source_ids.get(n) != i)
        by_id = {}
        for im in doc["images"]:
            stem = Path(im["file_name"]).stem
            by_id[im["id"]] = stem
            boxes.setdefault(stem, [])
        for a in doc["annotations"]:
            x, y, w, h = a["bbox"]
            boxes[by_id[a["image_id"]]].append((cats.get(a["category_id"], str(a["category_id"])),
                                                x, y, x + w, y + h))
    return boxes, {"categories_renumbered": renumbered}


def diff(ref: Boxes, got: Boxes) -> dict:
    """How `got` differs from `ref`."""
    missing = [s for s in ref if s not in got]
    res = {"images": len(ref), "boxes": sum(len(v) for v in ref.values()),
           "images_missing": len(missing),
           "empty_images_missing": sum(1 for s in missing if not ref[s]),
           "images_extra": sum(1 for s in got if s not in ref),
           "boxes_missing": 0, "boxes_extra": 0, "boxes_off": 0, "max_diff_px": 0.0,
           "order_differs": 0}
    for s, rb in ref.items():
        gb = list(got.get(s, []))
        if s not in got:
            res["boxes_missing"] += len(rb)
            continue
        if len(rb) == len(gb) and [r[0] for r in rb] != [g[0] for g in gb]:
            res["order_differs"] += 1  # same boxes, classes in another order
        used = [False] * len(gb)
        for r in rb:
            best, best_d = -1, float("inf")
            for j, g in enumerate(gb):
                if not used[j] and g[0] == r[0]:
                    d = max(abs(a - b) for a, b in zip(r[1:], g[1:]))
                    if d < best_d:
                        best, best_d = j, d
            if best < 0:
                res["boxes_missing"] += 1
                continue
            used[best] = True
            res["max_diff_px"] = max(res["max_diff_px"], round(best_d, 4))
            if best_d > TOLERANCE_PX:
                res["boxes_off"] += 1
        res["boxes_extra"] += used.count(False)
    res["ok"] = not (res["images_missing"] or res["images_extra"] or res["boxes_missing"]
                     or res["boxes_extra"] or res["boxes_off"])
    return res


def compare_task(task: str, data: Path, outputs: dict[str, Path]) -> dict:
    ref_truth, wh, names, ids = truth(data)
    source_ids = dict(zip(names, ids))
    if task == "voc2coco":
        # VOC input: xmin = round(x1) + 1, xmax = round(x2), so continuous x1 = xmin - 1
        ref_truth = voc_truth(data)
    parsed: dict[str, tuple[Boxes, dict]] = {}
    for tool, out in outputs.items():
        if task == "coco2yolo":
            parsed[tool] = parse_yolo(out, wh, names)
        elif task == "coco2voc":
            parsed[tool] = parse_voc(out)
        else:
            parsed[tool] = parse_coco(out, source_ids)
    report: dict = {}
    ref = parsed.get("visionflow")
    for tool, (boxes, notes) in parsed.items():
        entry = {"notes": notes, "vs_truth": diff(ref_truth, boxes)}
        if ref is not None and tool != "visionflow":
            entry["vs_visionflow"] = diff(ref[0], boxes)
        report[tool] = entry
    return report
