"""A small clean COCO dataset on disk (Roboflow layout: <split>/_annotations.coco.json beside
the images) and one function per kind of defect that plants exactly that defect in it.

The clean dataset has no finding at all: 10 train + 4 val images of distinct random content,
each with one "cat" and one "dog" box of ordinary size away from the edges.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

W, H = 96, 72
SPLITS = {"train": 10, "val": 4}


class Spec:
    """COCO documents per split, edited in place by the planters, then written."""

    def __init__(self, root: Path):
        self.root = root
        self.categories = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]
        self.docs: dict[str, dict] = {s: {"images": [], "annotations": []} for s in SPLITS}
        self.next_image = 1
        self.next_ann = 1
        self.seed = 0

    @staticmethod
    def is_clean(a: dict) -> bool:
        return bool(a.get("_clean"))

    # -- building blocks --
    def add_image(self, split: str, *, name: str | None = None, size=(W, H), write=True,
                  declared=None, data: bytes | None = None) -> dict:
        image_id = self.next_image
        self.next_image += 1
        name = name or f"img_{image_id:03d}.jpg"
        if write:
            path = self.root / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data if data is not None else random_jpeg(self.seed, size))
            self.seed += 1
        w, h = declared or size
        im = {"id": image_id, "file_name": name, "width": w, "height": h}
        self.docs[split]["images"].append(im)
        return im

    def add_box(self, split: str, image_id: int, category_id: int, bbox, **extra) -> dict:
        a = {"id": self.next_ann, "image_id": image_id, "category_id": category_id,
             "bbox": list(bbox), "area": 0, "iscrowd": 0, **extra}
        self.next_ann += 1
        self.docs[split]["annotations"].append(a)
        return a

    def add_annotated_image(self, split: str, **kw) -> dict:
        im = self.add_image(split, **kw)
        k = im["id"]
        self.add_box(split, im["id"], 1, [8 + k % 5, 10 + k % 7, 24, 20])
        self.add_box(split, im["id"], 2, [50 - k % 6, 30 + k % 4, 20, 26])
        return im

    def image_path(self, split: str, im: dict) -> Path:
        return self.root / split / im["file_name"]

    def write(self) -> Path:
        for split, doc in self.docs.items():
            (self.root / split).mkdir(parents=True, exist_ok=True)
            anns = [{k: v for k, v in a.items() if k != "_clean"} for a in doc["annotations"]]
            out = {"images": doc["images"], "annotations": anns,
                   "categories": self.categories}
            (self.root / split / "_annotations.coco.json").write_text(json.dumps(out))
        return self.root


def random_jpeg(seed: int, size=(W, H), quality: int = 92, exif=None) -> bytes:
    rng = np.random.default_rng(1000 + seed)
    blocks = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(blocks).resize(size, Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def clean(root: Path) -> Spec:
    spec = Spec(root)
    for split, n in SPLITS.items():
        for _ in range(n):
            spec.add_annotated_image(split)
    for doc in spec.docs.values():
        for a in doc["annotations"]:
            a["_clean"] = True  # the clean dataset's own boxes (not written)
    return spec


# --- planters: each plants exactly one finding of its kind ----------------------------------

def _first(spec: Spec, split: str = "train", k: int = 0) -> dict:
    return spec.docs[split]["images"][k]


def plant_missing(spec):
    spec.add_annotated_image("train", name="missing.jpg", write=False)


def plant_unreadable(spec):
    spec.add_annotated_image("train", name="garbage.jpg", data=b"this is not an image at all")


def plant_truncated(spec):
    data = random_jpeg(500, (W, H))
    spec.add_annotated_image("train", name="truncated.jpg", data=data[: len(data) // 2])


def plant_size_mismatch(spec):
    spec.add_annotated_image("train", name="wrong_size.jpg", declared=(W + 4, H + 8))


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def plant_exif_rotation(spec):
    """Stored 96x72 with orientation 6 (upright 72x96); annotations declare the stored size."""
    spec.add_annotated_image("train", name="rotated.jpg",
                             data=random_jpeg(501, (W, H), exif=exif_bytes(6)))


def plant_exif_orientation(spec):
    """Orientation 3 (180°): sizes agree whichever frame the annotations follow -> warning."""
    spec.add_annotated_image("train", name="upside_down.jpg",
                             data=random_jpeg(502, (W, H), exif=exif_bytes(3)))


def plant_unknown_class(spec):
    spec.add_box("train", _first(spec)["id"], 99, [30, 30, 10, 10])


def plant_unknown_image(spec):
    spec.add_box("train", 9999, 1, [30, 30, 10, 10])


def plant_duplicate_image_id(spec):
    im = spec.add_image("train", name="same_id.jpg")
    spec.next_image -= 1
    im["id"] = _first(spec, "train", 1)["id"]


def plant_duplicate_annotation_id(spec):
    a = spec.add_box("train", _first(spec, "train", 2)["id"], 1, [60, 5, 12, 12])
    a["id"] = spec.docs["train"]["annotations"][0]["id"]


def plant_duplicate_image_name(spec):
    # a second entry for an existing file, with no annotations of its own
    im = copy.deepcopy(_first(spec, "train", 3))
    im["id"] = spec.next_image
    spec.next_image += 1
    spec.docs["train"]["images"].append(im)


def plant_invalid_size(spec):
    im = spec.add_annotated_image("train", name="zero_size.jpg")
    im["width"] = 0


def plant_duplicate_class_name(spec):
    spec.categories.append({"id": 3, "name": "cat"})
    for split, every in (("train", 2), ("val", 2)):
        cats = [a for a in spec.docs[split]["annotations"]
                if a["category_id"] == 1 and spec.is_clean(a)]
        for a in cats[::every]:
            a["category_id"] = 3


def plant_out_of_bounds(spec):
    spec.add_box("train", _first(spec, "train", 4)["id"], 1, [80, 40, 30, 10])


def plant_negative_size(spec):
    spec.add_box("train", _first(spec, "train", 5)["id"], 1, [40, 40, -6, 8])


def plant_zero_size(spec):
    spec.add_box("train", _first(spec, "train", 6)["id"], 2, [40, 40, 0, 8])


def plant_degenerate_polygon(spec):
    spec.add_box("train", _first(spec, "train", 7)["id"], 1, [10, 10, 20, 20],
                 segmentation=[[10, 10, 20, 20, 30, 30]])


def plant_self_intersecting(spec):
    spec.add_box("train", _first(spec, "train", 8)["id"], 2, [10, 10, 20, 20],
                 segmentation=[[10, 10, 30, 30, 30, 10, 10, 30]])


def plant_polygon_out_of_bounds(spec):
    spec.add_box("train", _first(spec, "train", 9)["id"], 1, [60, 10, 30, 20],
                 segmentation=[[60, 10, 90, 10, 120, 30, 60, 30]])


def plant_keypoints_outside(spec):
    spec.add_box("val", _first(spec, "val", 0)["id"], 1, [10, 10, 20, 20],
                 keypoints=[15, 15, 2, 90, 70, 2])


def plant_mask_size(spec):
    spec.add_box("val", _first(spec, "val", 1)["id"], 2, [10, 10, 10, 10],
                 segmentation={"size": [10, 10], "counts": [0, 100]})


def plant_whole_image(spec):
    spec.add_box("val", _first(spec, "val", 2)["id"], 1, [0, 0, W, H])


def plant_duplicate_box(spec):
    a = next(a for a in spec.docs["val"]["annotations"] if spec.is_clean(a))
    spec.add_box("val", a["image_id"], a["category_id"], a["bbox"])


def plant_imbalance(spec):
    spec.categories.append({"id": 4, "name": "bird"})
    spec.add_box("val", _first(spec, "val", 3)["id"], 4, [60, 5, 12, 12])


def plant_unused_class(spec):
    spec.categories.append({"id": 5, "name": "fish"})


def plant_class_missing_from_split(spec):
    spec.categories.append({"id": 7, "name": "horse"})
    for k in range(5, 10):
        spec.add_box("train", _first(spec, "train", k)["id"], 7, [62, 2, 10, 8])


def plant_no_annotations(spec):
    spec.add_image("train", name="negative.jpg")


def plant_tiny(spec):
    spec.add_box("train", _first(spec, "train", 1)["id"], 2, [70, 5, 0.5, 5])


def plant_extreme_aspect(spec):
    spec.add_box("train", _first(spec, "train", 2)["id"], 2, [5, 60, 60, 2])


def plant_location_bias(spec):
    spec.categories.append({"id": 6, "name": "sun"})
    n = 0
    for split in ("train", "val"):
        for im in list(spec.docs[split]["images"])[:10]:
            for k in range(3 if split == "train" else 1):
                if n < 32:
                    spec.add_box(split, im["id"], 6, [2 + 4 * k, 2 + 2 * k, 10, 10])
                    n += 1


def plant_exact_duplicate(spec):
    src = _first(spec, "train", 0)
    data = spec.image_path("train", src).read_bytes()
    _copy_with_boxes(spec, "train", src, "train", "copy.jpg", data)


def plant_near_duplicate(spec):
    src = _first(spec, "train", 1)
    _copy_with_boxes(spec, "train", src, "train", "reencoded.jpg", _reencode(spec, src))


def plant_exact_leak(spec):
    src = _first(spec, "train", 2)
    data = spec.image_path("train", src).read_bytes()
    _copy_with_boxes(spec, "train", src, "val", "leaked.jpg", data)


def plant_near_leak(spec):
    src = _first(spec, "train", 3)
    _copy_with_boxes(spec, "train", src, "val", "leaked_reencoded.jpg", _reencode(spec, src))


def _reencode(spec, im) -> bytes:
    with Image.open(spec.image_path("train", im)) as pic:
        buf = io.BytesIO()
        pic.convert("RGB").save(buf, "JPEG", quality=60)
    return buf.getvalue()


def _copy_with_boxes(spec, src_split, src, dst_split, name, data):
    new = spec.add_image(dst_split, name=name, data=data)
    for a in [a for a in spec.docs[src_split]["annotations"]
              if a["image_id"] == src["id"] and spec.is_clean(a)]:
        spec.add_box(dst_split, new["id"], a["category_id"], a["bbox"])


# kind -> (planter, expected (severity, code), side effects allowed besides it)
KINDS = {
    "missing": (plant_missing, ("error", "image.missing"), set()),
    "unreadable": (plant_unreadable, ("error", "image.unreadable"), set()),
    "truncated": (plant_truncated, ("error", "image.truncated"), set()),
    "size_mismatch": (plant_size_mismatch, ("error", "image.size_mismatch"), set()),
    "exif_rotation": (plant_exif_rotation, ("error", "image.exif_rotation"), set()),
    "exif_orientation": (plant_exif_orientation, ("warning", "image.exif_orientation"), set()),
    "unknown_class": (plant_unknown_class, ("error", "annotation.unknown_class"), set()),
    "unknown_image": (plant_unknown_image, ("error", "annotation.unknown_image"), set()),
    "duplicate_image_id": (plant_duplicate_image_id, ("error", "image.duplicate_id"),
                           {"image.no_annotations"}),
    "duplicate_annotation_id": (plant_duplicate_annotation_id,
                                ("error", "annotation.duplicate_id"), set()),
    "duplicate_image_name": (plant_duplicate_image_name, ("error", "image.duplicate_name"),
                             {"image.no_annotations"}),
    "invalid_size": (plant_invalid_size, ("error", "image.invalid_size"), set()),
    "duplicate_class_name": (plant_duplicate_class_name, ("warning", "class.duplicate_name"),
                             set()),
    "out_of_bounds": (plant_out_of_bounds, ("error", "box.out_of_bounds"), set()),
    "negative_size": (plant_negative_size, ("error", "box.negative_size"), set()),
    "zero_size": (plant_zero_size, ("error", "box.zero_size"), set()),
    "degenerate_polygon": (plant_degenerate_polygon, ("error", "polygon.degenerate"), set()),
    "self_intersecting": (plant_self_intersecting, ("warning", "polygon.self_intersecting"),
                          set()),
    "polygon_out_of_bounds": (plant_polygon_out_of_bounds, ("warning", "polygon.out_of_bounds"),
                              set()),
    "keypoints_outside": (plant_keypoints_outside, ("warning", "keypoints.outside_object"),
                          set()),
    "mask_size": (plant_mask_size, ("error", "mask.size_mismatch"), set()),
    "whole_image": (plant_whole_image, ("warning", "box.whole_image"), set()),
    "duplicate_box": (plant_duplicate_box, ("warning", "box.duplicate"), set()),
    "imbalance": (plant_imbalance, ("warning", "class.imbalance"), set()),
    "unused_class": (plant_unused_class, ("warning", "class.unused"), set()),
    "class_missing_from_split": (plant_class_missing_from_split,
                                 ("warning", "split.class_missing"), set()),
    "no_annotations": (plant_no_annotations, ("info", "image.no_annotations"), set()),
    "tiny": (plant_tiny, ("warning", "box.tiny"), set()),
    "extreme_aspect": (plant_extreme_aspect, ("warning", "box.extreme_aspect_ratio"), set()),
    "location_bias": (plant_location_bias, ("info", "class.location_bias"), set()),
    "exact_duplicate": (plant_exact_duplicate, ("warning", "image.exact_duplicate"), set()),
    "near_duplicate": (plant_near_duplicate, ("warning", "image.near_duplicate"), set()),
    "exact_leak": (plant_exact_leak, ("error", "split.leakage"), set()),
    "near_leak": (plant_near_leak, ("warning", "split.leakage"), set()),
}


def build(root: Path, kinds) -> Path:
    if root.exists():
        shutil.rmtree(root)
    spec = clean(root)
    for kind in kinds:
        KINDS[kind][0](spec)
    return spec.write()
