"""Deterministic benchmark data: one synthetic COCO detection dataset and the same boxes as
Ultralytics YOLO and Pascal VOC, plus a polygon-heavy COCO set.

    python bench/generate.py --images 5000 [--out bench/data] [--seed 0] [--polygons]

Layout written under OUT/<images>/ (nothing is rewritten if OUT/<images>/DONE exists):

    coco/annotations/instances_default.json   coco/images/default/<12 digits>.jpg
    yolo/data.yaml   yolo/images/train/*.jpg  yolo/labels/train/*.txt   (plain Ultralytics)
    voc/Annotations/*.xml  voc/JPEGImages/*.jpg  voc/ImageSets/Main/default.txt  voc/labelmap.txt
    truth.npz                                  the generated boxes (for the correctness check)
    poly/annotations/instances_default.json    (--polygons) same images and boxes, each
                                               object also a 12..40-vertex polygon

What the data looks like (PEERS.md): real COCO category ids 1..90 with their gaps and names,
long-tailed (Zipf) class frequencies, ~6% images without boxes, ~7 boxes per image, boxes with
2 decimals, images of a handful of real sizes. Every image is a REAL JPEG of the declared size:
a few base JPEGs per size are encoded once with Pillow and hard-linked (copied where linking
fails), so 250,000 images cost seconds and almost no disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

COCO_CLASSES = [  # (id, name, supercategory): the 80 classes of COCO 2017, ids with gaps
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"),
    (4, "motorcycle", "vehicle"), (5, "airplane", "vehicle"), (6, "bus", "vehicle"),
    (7, "train", "vehicle"), (8, "truck", "vehicle"), (9, "boat", "vehicle"),
    (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"),
    (13, "stop sign", "outdoor"), (14, "parking meter", "outdoor"), (15, "bench", "outdoor"),
    (16, "bird", "animal"), (17, "cat", "animal"), (18, "dog", "animal"),
    (19, "horse", "animal"), (20, "sheep", "animal"), (21, "cow", "animal"),
    (22, "elephant", "animal"), (23, "bear", "animal"), (24, "zebra", "animal"),
    (25, "giraffe", "animal"), (27, "backpack", "accessory"), (28, "umbrella", "accessory"),
    (31, "handbag", "accessory"), (32, "tie", "accessory"), (33, "suitcase", "accessory"),
    (34, "frisbee", "sports"), (35, "skis", "sports"), (36, "snowboard", "sports"),
    (37, "sports ball", "sports"), (38, "kite", "sports"), (39, "baseball bat", "sports"),
    (40, "baseball glove", "sports"), (41, "skateboard", "sports"),
    (42, "surfboard", "sports"), (43, "tennis racket", "sports"), (44, "bottle", "kitchen"),
    (46, "wine glass", "kitchen"), (47, "cup", "kitchen"), (48, "fork", "kitchen"),
    (49, "knife", "kitchen"), (50, "spoon", "kitchen"), (51, "bowl", "kitchen"),
    (52, "banana", "food"), (53, "apple", "food"), (54, "sandwich", "food"),
    (55, "orange", "food"), (56, "broccoli", "food"), (57, "carrot", "food"),
    (58, "hot dog", "food"), (59, "pizza", "food"), (60, "donut", "food"),
    (61, "cake", "food"), (62, "chair", "furniture"), (63, "couch", "furniture"),
    (64, "potted plant", "furniture"), (65, "bed", "furniture"),
    (67, "dining table", "furniture"), (70, "toilet", "furniture"), (72, "tv", "electronic"),
    (73, "laptop", "electronic"), (74, "mouse", "electronic"), (75, "remote", "electronic"),
    (76, "keyboard", "electronic"), (77, "cell phone", "electronic"),
    (78, "microwave", "appliance"), (79, "oven", "appliance"), (80, "toaster", "appliance"),
    (81, "sink", "appliance"), (82, "refrigerator", "appliance"), (84, "book", "indoor"),
    (85, "clock", "indoor"), (86, "vase", "indoor"), (87, "scissors", "indoor"),
    (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"), (90, "toothbrush", "indoor"),
]
SIZES = [(640, 480), (480, 640), (640, 427), (500, 375), (800, 600), (612, 612),
         (1024, 768), (320, 240)]
SIZE_WEIGHTS = np.array([30, 10, 20, 12, 8, 8, 6, 6], float)
VARIANTS_PER_SIZE = 4
EMPTY_FRACTION = 0.06
MEAN_BOXES = 7.4  # among images with boxes: ~6.95 over all images


def make_base_jpegs(folder: Path, seed: int) -> list[list[Path]]:
    """A few real JPEGs per size (smooth gradients + noise: small files, valid headers)."""
    from PIL import Image
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bases: list[list[Path]] = []
    for w, h in SIZES:
        per_size = []
        for v in range(VARIANTS_PER_SIZE):
            path = folder / f"base_{w}x{h}_{v}.jpg"
            if not path.exists():
                yy, xx = np.mgrid[0:h, 0:w]
                c = rng.integers(0, 255, 3)
                img = np.stack([(xx * 255 // w + c[0]) % 256, (yy * 255 // h + c[1]) % 256,
                                ((xx + yy) * 255 // (w + h) + c[2]) % 256], -1)
                img = img + rng.integers(0, 8, img.shape)
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=70)
            per_size.append(path)
        bases.append(per_size)
    return bases


def place(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def generate_boxes(n_images: int, seed: int):
    """Per image: size index, variant; per box: image row, class row, xyxy (2 decimals)."""
    rng = np.random.default_rng(seed)
    size_idx = rng.choice(len(SIZES), n_images, p=SIZE_WEIGHTS / SIZE_WEIGHTS.sum())
    variant = rng.integers(0, VARIANTS_PER_SIZE, n_images)
    counts = 1 + rng.poisson(MEAN_BOXES - 1, n_images)
    counts[rng.random(n_images) < EMPTY_FRACTION] = 0
    n_boxes = int(counts.sum())
    image_row = np.repeat(np.arange(n_images), counts)
    # Long tail: Zipf-like weights over a fixed permutation of the 80 classes, person first.
    ranks = np.arange(1, len(COCO_CLASSES) + 1)
    weights = 1.0 / ranks ** 1.1
    order = np.concatenate([[0], 1 + rng.permutation(len(COCO_CLASSES) - 1)])
    class_row = order[rng.choice(len(COCO_CLASSES), n_boxes, p=weights / weights.sum())]
    wh = np.array(SIZES, float)[size_idx[image_row]]
    bw = np.maximum(4.0, wh[:, 0] * rng.beta(1.5, 4, n_boxes))
    bh = np.maximum(4.0, wh[:, 1] * rng.beta(1.5, 4, n_boxes))
    x1 = rng.random(n_boxes) * (wh[:, 0] - bw)
    y1 = rng.random(n_boxes) * (wh[:, 1] - bh)
    xyxy = np.round(np.stack([x1, y1, x1 + bw, y1 + bh], 1), 2)
    xyxy[:, 2] = np.minimum(xyxy[:, 2], wh[:, 0])
    xyxy[:, 3] = np.minimum(xyxy[:, 3], wh[:, 1])
    return size_idx, variant, image_row, class_row, xyxy


def file_name(i: int) -> str:
    return f"{i + 1:012d}.jpg"


def fmt(x: float) -> str:
    return repr(round(float(x), 2))


def write_coco(path: Path, size_idx, image_row, class_row, xyxy, polygons=None) -> None:
    images = [{"id": i + 1, "file_name": file_name(i), "width": SIZES[s][0],
               "height": SIZES[s][1]} for i, s in enumerate(size_idx.tolist())]
    anns = []
    xywh = np.round(np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1), 2)
    area = np.round(xywh[:, 2] * xywh[:, 3], 2)
    for k, (r, c, box, a) in enumerate(zip(image_row.tolist(), class_row.tolist(),
                                           xywh.tolist(), area.tolist())):
        seg = [] if polygons is None else [polygons[k]]
        anns.append({"id": k + 1, "image_id": r + 1, "category_id": COCO_CLASSES[c][0],
                     "bbox": box, "area": a, "iscrowd": 0, "segmentation": seg})
    doc = {"info": {"description": "visionflow benchmark data", "version": "1.0"},
           "licenses": [], "categories": [{"id": i, "name": n, "supercategory": s}
                                          for i, n, s in COCO_CLASSES],
           "images": images, "annotations": anns}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, separators=(",", ":")))


def polygon_rings(xyxy: np.ndarray, seed: int) -> list[list[float]]:
    """A jittered ellipse of 12..40 vertices inside each box; the box is its exact bounds."""
    rng = np.random.default_rng(seed + 1)
    rings = []
    for x1, y1, x2, y2 in xyxy.tolist():
        k = int(rng.integers(12, 41))
        t = np.sort(rng.random(k)) * 2 * np.pi
        r = 0.75 + 0.25 * rng.random(k)
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        px = np.clip(np.round(cx + rx * r * np.cos(t), 2), x1, x2)
        py = np.clip(np.round(cy + ry * r * np.sin(t), 2), y1, y2)
        # make the bounds exact: the four extreme vertices touch the box
        px[np.argmin(px)], px[np.argmax(px)] = x1, x2
        py[np.argmin(py)], py[np.argmax(py)] = y1, y2
        rings.append(np.stack([px, py], 1).reshape(-1).tolist())
    return rings


def write_yolo(root: Path, size_idx, image_row, class_row, xyxy) -> None:
    labels = root / "labels" / "train"
    labels.mkdir(parents=True, exist_ok=True)
    names = [n for _, n, _ in COCO_CLASSES]
    (root / "data.yaml").write_text(
        "train: images/train\nval: images/train\nnc: 80\nnames:\n"
        + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    wh = np.array(SIZES, float)[size_idx[image_row]]
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2 / wh[:, 0]
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2 / wh[:, 1]
    w = (xyxy[:, 2] - xyxy[:, 0]) / wh[:, 0]
    h = (xyxy[:, 3] - xyxy[:, 1]) / wh[:, 1]
    lines: list[list[str]] = [[] for _ in range(len(size_idx))]
    for r, c, a, b, d, e in zip(image_row.tolist(), class_row.tolist(), cx.tolist(),
                                cy.tolist(), w.tolist(), h.tolist()):
        lines[r].append(f"{c} {a:.6f} {b:.6f} {d:.6f} {e:.6f}\n")
    for i, ls in enumerate(lines):
        (labels / (file_name(i)[:-4] + ".txt")).write_text("".join(ls))


def write_voc(root: Path, size_idx, image_row, class_row, xyxy) -> None:
    """Pascal VOC as the VOC devkit writes it: whole-pixel, 1-based inclusive corners, so the
    continuous box [x1, x2) covers pixels round(x1)+1 .. round(x2)."""
    ann_dir = root / "Annotations"
    ann_dir.mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    names = [n for _, n, _ in COCO_CLASSES]
    objs: list[list[str]] = [[] for _ in range(len(size_idx))]
    ints = np.round(xyxy).astype(int)
    for r, c, (a, b, d, e) in zip(image_row.tolist(), class_row.tolist(), ints.tolist()):
        objs[r].append(
            f"\t<object>\n\t\t<name>{names[c]}</name>\n\t\t<pose>Unspecified</pose>\n"
            f"\t\t<truncated>0</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n"
            f"\t\t\t<xmin>{a + 1}</xmin>\n\t\t\t<ymin>{b + 1}</ymin>\n"
            f"\t\t\t<xmax>{d}</xmax>\n\t\t\t<ymax>{e}</ymax>\n\t\t</bndbox>\n\t</object>\n")
    stems = []
    for i, s in enumerate(size_idx.tolist()):
        w, h = SIZES[s]
        name = file_name(i)
        stems.append(name[:-4])
        (ann_dir / (name[:-4] + ".xml")).write_text(
            f"<annotation>\n\t<folder>JPEGImages</folder>\n\t<filename>{name}</filename>\n"
            f"\t<size>\n\t\t<width>{w}</width>\n\t\t<height>{h}</height>\n"
            f"\t\t<depth>3</depth>\n\t</size>\n\t<segmented>0</segmented>\n"
            + "".join(objs[i]) + "</annotation>\n")
    (root / "ImageSets" / "Main" / "default.txt").write_text("\n".join(stems) + "\n")
    # Datumaro/CVAT label map: without it Datumaro only accepts the 20 VOC classes
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n"
                                       + "".join(f"{n}:::\n" for n in names))


def link_images(folder: Path, bases, size_idx, variant) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (s, v) in enumerate(zip(size_idx.tolist(), variant.tolist())):
        dst = folder / file_name(i)
        if not dst.exists():
            place(bases[s][v], dst)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, required=True, help="number of images")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--polygons", action="store_true", help="also write the polygon-heavy set")
    args = p.parse_args(argv)
    n = args.images
    root = args.out / str(n)
    done = root / ("DONE.poly" if args.polygons else "DONE")
    if done.exists():
        print(f"{root}: already generated")
        return 0
    need = n * 1400 + (n * 2000 if args.polygons else 0) + (50 << 20)  # bytes, generous
    free = shutil.disk_usage(args.out if args.out.exists() else args.out.parent).free
    if free < 2 * need:
        print(f"not enough free disk for {n} images: {free >> 20} MiB free, want "
              f"{2 * need >> 20} MiB", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    bases = make_base_jpegs(args.out / "base_jpegs", args.seed)
    size_idx, variant, image_row, class_row, xyxy = generate_boxes(n, args.seed)
    if not (root / "DONE").exists():
        if root.exists():
            shutil.rmtree(root)
        write_coco(root / "coco" / "annotations" / "instances_default.json", size_idx,
                   image_row, class_row, xyxy)
        link_images(root / "coco" / "images" / "default", bases, size_idx, variant)
        write_yolo(root / "yolo", size_idx, image_row, class_row, xyxy)
        link_images(root / "yolo" / "images" / "train", bases, size_idx, variant)
        write_voc(root / "voc", size_idx, image_row, class_row, xyxy)
        link_images(root / "voc" / "JPEGImages", bases, size_idx, variant)
        np.savez(root / "truth.npz", size_idx=size_idx, image_row=image_row,
                 class_row=class_row, xyxy=xyxy,
                 sizes=np.array(SIZES), class_ids=np.array([c[0] for c in COCO_CLASSES]))
        (root / "DONE").write_text("")
    if args.polygons:
        rings = polygon_rings(xyxy, args.seed)
        write_coco(root / "poly" / "annotations" / "instances_default.json", size_idx,
                   image_row, class_row, xyxy, polygons=rings)
        link_images(root / "poly" / "images" / "default", bases, size_idx, variant)
        done.write_text("")
    print(f"{root}: {n} images, {len(xyxy)} boxes, "
          f"{int((np.bincount(image_row, minlength=n) == 0).sum())} without boxes "
          f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
