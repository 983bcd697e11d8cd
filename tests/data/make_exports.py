"""Make the small real exports under tests/data/<format>/<case>/export/ and their README.md.

    python tests/data/make_exports.py [--only coco,voc,...]

Three of scikit-image's sample photos (BSD licence, shipped in the package: astronaut, coffee,
chelsea), 64 px on the long side, with the same few objects, written by peer tools in their
own formats: datumaro, supervision and Hugging Face `datasets` (installed from PyPI, versions
recorded per case). Formats no installable peer writes are written here by hand, following
the format's published description, and marked "hand-made" in the README.

Each case folder holds `export/` (what the tool wrote, untouched), `case.json` (format, tool,
version, how to read it) and `golden.json` (the canonical dataset visionflow reads from it,
written by `pytest tests/formats/test_golden.py --update-golden`). Nothing comes from
../shared. Rerunning rewrites every case's export/ (the goldens then need a look and a
refresh).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
CLASSES = ["person", "cup", "cat"]
# (skimage sample, file stem, split, objects: (class index, x0, y0, x1, y1), polygon of obj 0)
PHOTOS = [
    ("astronaut", "astronaut", "train", [(0, 9.0, 5.0, 55.0, 63.0), (1, 2.0, 40.0, 14.0, 58.0)],
     [(20.0, 6.0), (44.0, 6.0), (54.0, 40.0), (50.0, 63.0), (12.0, 63.0), (10.0, 40.0)]),
    ("coffee", "coffee", "train", [(1, 14.0, 3.0, 50.0, 36.0)],
     [(14.0, 10.0), (32.0, 3.0), (50.0, 10.0), (46.0, 36.0), (18.0, 36.0)]),
    ("chelsea", "chelsea", "val", [(2, 8.0, 2.0, 52.0, 42.0), (0, 54.0, 20.0, 63.0, 40.0)],
     [(8.0, 20.0), (20.0, 2.0), (40.0, 2.0), (52.0, 24.0), (30.0, 42.0)]),
]
CASES: dict[str, dict] = {}


def case(fmt: str, name: str, tool: str, read: str = ".", **how):
    """Register a function that writes one case into its export folder."""
    def wrap(fn):
        CASES[f"{fmt}/{name}"] = {"format": fmt, "case": name, "tool": tool, "read": read,
                                  "fn": fn, **how}
        return fn
    return wrap


def photos() -> list[dict]:
    """The three photos as RGB arrays 64 px on the long side, with their objects."""
    import skimage.data
    out = []
    for sample, stem, split, objects, polygon in PHOTOS:
        im = Image.fromarray(getattr(skimage.data, sample)()).convert("RGB")
        scale = 64 / max(im.size)
        im = im.resize((round(im.width * scale), round(im.height * scale)),
                       Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        out.append({"stem": stem, "split": split, "w": im.width, "h": im.height,
                    "array": np.asarray(im), "jpeg": buf.getvalue(),
                    "objects": [(c, min(x0, im.width), min(y0, im.height), min(x1, im.width),
                                 min(y1, im.height)) for c, x0, y0, x1, y1 in objects],
                    "polygon": [(min(x, im.width), min(y, im.height)) for x, y in polygon]})
    return out


def _jpeg(path: Path, p: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(p["jpeg"])


def _mask(p: dict, k: int) -> np.ndarray:
    """Object k's mask: its polygon for object 0, else its box."""
    from PIL import ImageDraw
    m = Image.new("L", (p["w"], p["h"]), 0)
    if k == 0:
        ImageDraw.Draw(m).polygon(p["polygon"], fill=1)
    else:
        _, x0, y0, x1, y1 = p["objects"][k]
        ImageDraw.Draw(m).rectangle((x0, y0, x1 - 1, y1 - 1), fill=1)
    return np.asarray(m, bool)


# --- datumaro -----------------------------------------------------------------------------

def _dm_dataset(kind: str = "bbox"):
    """The photos as a datumaro Dataset: kind bbox | polygon | quad | mask | label | track.
    Annotation ids are unique over the dataset, as a labelling tool's are."""
    import datumaro as dm
    from datumaro.components.annotation import Bbox, Label, LabelCategories, Mask, Polygon
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image as DmImage
    items = []
    ann_id = 0
    for frame, p in enumerate(photos(), 1):
        anns = []
        for k, (c, x0, y0, x1, y1) in enumerate(p["objects"]):
            ann_id += 1
            if kind == "label":
                anns.append(Label(c))
                break
            if kind == "mask":
                anns.append(Mask(image=_mask(p, k), label=c, id=ann_id,
                                 attributes={"is_crowd": False}))
            elif kind == "polygon" and k == 0:
                anns.append(Polygon([v for xy in p["polygon"] for v in xy], label=c,
                                    id=ann_id))
            elif kind == "quad":   # an oriented box: the box shrunk a little, turned 10 deg
                from datumaro.components.annotation import RotatedBbox
                anns.append(RotatedBbox((x0 + x1) / 2, (y0 + y1) / 2, 0.8 * (x1 - x0),
                                        0.8 * (y1 - y0), 10.0, label=c, id=ann_id))
            else:
                attrs = {"track_id": k + 1} if kind == "track" else {}
                anns.append(Bbox(x0, y0, x1 - x0, y1 - y0, label=c, id=ann_id,
                                 attributes=attrs))
        item_id = str(frame) if kind == "track" else p["stem"]
        subset = {"track": "default", "quad": "train"}.get(kind, p["split"])
        items.append(DatasetItem(id=item_id, subset=subset,
                                 media=DmImage.from_numpy(p["array"][:, :, ::-1].copy()),
                                 annotations=anns))
    return dm.Dataset.from_iterable(items, categories={
        dm.AnnotationType.label: LabelCategories.from_iterable(CLASSES)})


def _dm_export(out: Path, exporter: str, kind: str = "bbox", **kw) -> None:
    _dm_dataset(kind).export(str(out), exporter, save_media=True, image_ext=".jpg", **kw)


for _fmt, _name, _exp, _kind, _read in [
        ("coco", "datumaro", "coco_instances", "polygon", "."),
        ("voc", "datumaro", "voc_detection", "bbox", "."),
        ("yolo", "datumaro", "yolo_ultralytics", "bbox", "."),
        ("yolo-darknet", "datumaro", "yolo", "bbox", "."),
        ("yolo-cls", "datumaro", "imagenet_with_subset_dirs", "label", "."),
        ("tfrecord", "datumaro", "tf_detection_api", "bbox", "."),
        ("kitti", "datumaro", "kitti_detection", "bbox", "."),
        ("mot", "datumaro", "mot_seq_gt", "track", "."),
        ("cvat", "datumaro", "cvat", "polygon", "."),
        ("dota", "datumaro", "dota", "quad", "train"),
        ("voc-seg", "datumaro", "voc_segmentation", "mask", "."),
        ("datumaro", "datumaro", "datumaro", "polygon", "."),
        ("open-images", "datumaro", "open_images", "bbox", "."),
        ("wider-face", "datumaro", "wider_face", "bbox", ".")]:
    case(_fmt, _name, "datumaro", _read)(
        lambda out, _e=_exp, _k=_kind: _dm_export(out, _e, _k))


@case("cityscapes", "datumaro", "datumaro")
def _cityscapes(out: Path) -> None:
    # Datumaro 1.13 saves instanceIds as int32, which Pillow (without OpenCV) cannot write as
    # PNG; saved as 16-bit like Cityscapes does. Everything else is Datumaro's own export.
    from datumaro.plugins.data_formats.cityscapes import CityscapesExporter
    save_mask = CityscapesExporter.save_mask

    def save_16_bit(self, path, mask, colormap=None, apply_colormap=True, dtype=np.uint8):
        return save_mask(self, path, mask, colormap, apply_colormap,
                         np.uint16 if dtype == np.int32 else dtype)
    CityscapesExporter.save_mask = save_16_bit
    try:
        ds = _dm_dataset("mask")
        import datumaro as dm
        from datumaro.components.dataset_base import DatasetItem
        ds2 = dm.Dataset.from_iterable(
            [DatasetItem(id=f"city/{it.id}", subset=it.subset, media=it.media,
                         annotations=it.annotations) for it in ds],
            categories=ds.categories())
        ds2.export(str(out), "cityscapes", save_media=True)
    finally:
        CityscapesExporter.save_mask = save_mask


# --- supervision --------------------------------------------------------------------------

def _sv_dataset(tmp: Path):
    import supervision as sv
    ps = photos()
    paths, anns = [], {}
    for p in ps:
        path = tmp / f"{p['stem']}.jpg"
        _jpeg(path, p)
        paths.append(str(path))
        boxes = np.array([o[1:] for o in p["objects"]], np.float32)
        anns[str(path)] = sv.Detections(xyxy=boxes,
                                        class_id=np.array([o[0] for o in p["objects"]]))
    return sv.DetectionDataset(classes=CLASSES, images=paths, annotations=anns)


@case("coco", "supervision", "supervision")
def _sv_coco(out: Path) -> None:
    ds = _sv_dataset(out.parent / "_sv")
    ds.as_coco(images_directory_path=str(out / "images"),
               annotations_path=str(out / "annotations.json"))
    shutil.rmtree(out.parent / "_sv")


@case("voc", "supervision", "supervision")
def _sv_voc(out: Path) -> None:
    ds = _sv_dataset(out.parent / "_sv")
    ds.as_pascal_voc(images_directory_path=str(out / "JPEGImages"),
                     annotations_directory_path=str(out / "Annotations"))
    shutil.rmtree(out.parent / "_sv")


# --- Hugging Face datasets ----------------------------------------------------------------

@case("hf-parquet", "datasets", "datasets")
def _hf(out: Path) -> None:
    import datasets as hfd
    by_split: dict[str, list] = {}
    for i, p in enumerate(photos()):
        by_split.setdefault({"val": "validation"}.get(p["split"], p["split"]), []).append(
            (i, p))
    features = hfd.Features({
        "image_id": hfd.Value("int64"), "image": hfd.Image(), "width": hfd.Value("int32"),
        "height": hfd.Value("int32"),
        "objects": hfd.Sequence({"id": hfd.Value("int64"),
                                 "bbox": hfd.Sequence(hfd.Value("float32"), length=4),
                                 "category": hfd.ClassLabel(names=CLASSES)})})
    (out / "data").mkdir(parents=True)
    for split, rows in by_split.items():
        ds = hfd.Dataset.from_dict({
            "image_id": [i + 1 for i, _ in rows],
            "image": [{"bytes": p["jpeg"], "path": f"{p['stem']}.jpg"} for _, p in rows],
            "width": [p["w"] for _, p in rows], "height": [p["h"] for _, p in rows],
            "objects": [{"id": [10 * (i + 1) + k for k in range(len(p["objects"]))],
                         "bbox": [[x0, y0, x1 - x0, y1 - y0] for _, x0, y0, x1, y1
                                  in p["objects"]],
                         "category": [o[0] for o in p["objects"]]} for i, p in rows]},
            features=features)
        ds.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))


# --- TensorFlow ---------------------------------------------------------------------------

@case("tfrecord", "tensorflow", "tensorflow-cpu")
def _tf(out: Path) -> None:
    """tf.train.Example records with the TF Object Detection API's feature keys, written by
    TensorFlow's own TFRecordWriter, and the label map beside them."""
    import tensorflow as tf
    out.mkdir(parents=True)
    feat = tf.train.Feature
    with tf.io.TFRecordWriter(str(out / "train.tfrecord")) as w:
        for p in photos():
            xs = [(o[1] / p["w"], o[3] / p["w"]) for o in p["objects"]]
            ys = [(o[2] / p["h"], o[4] / p["h"]) for o in p["objects"]]
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": feat(bytes_list=tf.train.BytesList(value=[p["jpeg"]])),
                "image/format": feat(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
                "image/filename": feat(bytes_list=tf.train.BytesList(
                    value=[f"{p['stem']}.jpg".encode()])),
                "image/width": feat(int64_list=tf.train.Int64List(value=[p["w"]])),
                "image/height": feat(int64_list=tf.train.Int64List(value=[p["h"]])),
                "image/object/bbox/xmin": feat(float_list=tf.train.FloatList(
                    value=[a for a, _ in xs])),
                "image/object/bbox/xmax": feat(float_list=tf.train.FloatList(
                    value=[b for _, b in xs])),
                "image/object/bbox/ymin": feat(float_list=tf.train.FloatList(
                    value=[a for a, _ in ys])),
                "image/object/bbox/ymax": feat(float_list=tf.train.FloatList(
                    value=[b for _, b in ys])),
                "image/object/class/label": feat(int64_list=tf.train.Int64List(
                    value=[o[0] + 1 for o in p["objects"]])),
                "image/object/class/text": feat(bytes_list=tf.train.BytesList(
                    value=[CLASSES[o[0]].encode() for o in p["objects"]]))}))
            w.write(ex.SerializeToString())
    (out / "label_map.pbtxt").write_text("".join(
        f"item {{\n  id: {i + 1}\n  name: '{c}'\n}}\n" for i, c in enumerate(CLASSES)))


# --- hand-made, following each format's published description ----------------------------

def _boxes(p):
    return [(CLASSES[c], x0, y0, x1, y1) for c, x0, y0, x1, y1 in p["objects"]]


@case("tf-csv", "hand-made", "hand-made",
      note="the TF Object Detection API tutorials' xml_to_csv.py script writes it; no package")
def _tf_csv(out: Path) -> None:
    out.mkdir(parents=True)
    rows = [["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"]]
    for p in photos():
        _jpeg(out / "images" / f"{p['stem']}.jpg", p)
        rows += [[f"{p['stem']}.jpg", p["w"], p["h"], c, int(x0), int(y0), int(x1), int(y1)]
                 for c, x0, y0, x1, y1 in _boxes(p)]
    with open(out / "images" / "_annotations.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


@case("labelme", "hand-made", "hand-made",
      note="labelme writes it from its Qt GUI only (pip install labelme pulls PyQt5); datumaro's label_me is LabelMe's XML, another format")
def _labelme(out: Path) -> None:
    out.mkdir(parents=True)
    for p in photos():
        _jpeg(out / f"{p['stem']}.jpg", p)
        shapes = [{"label": CLASSES[p["objects"][0][0]], "points": [list(v) for v in p["polygon"]],
                   "group_id": None, "description": "", "shape_type": "polygon", "flags": {}}]
        shapes += [{"label": c, "points": [[x0, y0], [x1, y1]], "group_id": None,
                    "description": "", "shape_type": "rectangle", "flags": {}}
                   for c, x0, y0, x1, y1 in _boxes(p)[1:]]
        (out / f"{p['stem']}.json").write_text(json.dumps({
            "version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": f"{p['stem']}.jpg",
            "imageData": None, "imageHeight": p["h"], "imageWidth": p["w"]}, indent=2))


@case("createml", "hand-made", "hand-made",
      note="Apple's Create ML app and Roboflow write it; no package")
def _createml(out: Path) -> None:
    out.mkdir(parents=True)
    doc = []
    for p in photos():
        _jpeg(out / f"{p['stem']}.jpg", p)
        doc.append({"image": f"{p['stem']}.jpg", "annotations": [
            {"label": c, "coordinates": {"x": (x0 + x1) / 2, "y": (y0 + y1) / 2,
                                         "width": x1 - x0, "height": y1 - y0}}
            for c, x0, y0, x1, y1 in _boxes(p)]})
    (out / "_annotations.createml.json").write_text(json.dumps(doc, indent=1))


@case("vott-csv", "hand-made", "hand-made",
      note='VoTT (an archived Electron app) writes it; no package')
def _vott_csv(out: Path) -> None:
    out.mkdir(parents=True)
    rows = [["image", "xmin", "ymin", "xmax", "ymax", "label"]]
    for p in photos():
        _jpeg(out / f"{p['stem']}.jpg", p)
        rows += [[f"{p['stem']}.jpg", x0, y0, x1, y1, c] for c, x0, y0, x1, y1 in _boxes(p)]
    with open(out / "export-export.csv", "w", newline="") as f:
        csv.writer(f, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)


@case("vott-json", "hand-made", "hand-made",
      note='VoTT (an archived Electron app) writes it; no package', read="vott-json-export")
def _vott_json(out: Path) -> None:
    out.mkdir(parents=True)
    assets = {}
    for i, p in enumerate(photos()):
        _jpeg(out / f"{p['stem']}.jpg", p)
        aid = f"{i + 1:032x}"
        assets[aid] = {
            "asset": {"format": "jpg", "id": aid, "name": f"{p['stem']}.jpg",
                      "path": f"file:{p['stem']}.jpg", "size": {"width": p["w"],
                                                                "height": p["h"]},
                      "state": 2, "type": 1},
            "regions": [{"id": f"r{i}{k}", "type": "RECTANGLE", "tags": [c],
                         "boundingBox": {"height": y1 - y0, "width": x1 - x0, "left": x0,
                                         "top": y0},
                         "points": [{"x": x0, "y": y0}, {"x": x1, "y": y0},
                                    {"x": x1, "y": y1}, {"x": x0, "y": y1}]}
                        for k, (c, x0, y0, x1, y1) in enumerate(_boxes(p))],
            "version": "2.2.0"}
    (out / "vott-json-export").mkdir()
    for p in photos():
        shutil.move(out / f"{p['stem']}.jpg", out / "vott-json-export" / f"{p['stem']}.jpg")
    (out / "vott-json-export" / "golden-export.json").write_text(json.dumps({
        "name": "golden", "securityToken": "golden Token", "videoSettings": {"frameExtractionRate": 15},
        "tags": [{"name": c, "color": "#5db300"} for c in CLASSES], "id": "golden",
        "activeLearningSettings": {}, "version": "2.2.0", "lastVisitedAssetId": "",
        "assets": assets}, indent=1))


@case("label-studio", "hand-made", "hand-made",
      note='the Label Studio server exports it; label-studio-converter converts from it, not to it')
def _label_studio(out: Path) -> None:
    out.mkdir(parents=True)
    tasks = []
    for i, p in enumerate(photos()):
        _jpeg(out / "images" / f"{p['stem']}.jpg", p)
        result = [{"id": f"b{i}{k}", "type": "rectanglelabels", "from_name": "label",
                   "to_name": "image", "original_width": p["w"], "original_height": p["h"],
                   "image_rotation": 0,
                   "value": {"x": x0 / p["w"] * 100, "y": y0 / p["h"] * 100,
                             "width": (x1 - x0) / p["w"] * 100,
                             "height": (y1 - y0) / p["h"] * 100, "rotation": 0,
                             "rectanglelabels": [c]}}
                  for k, (c, x0, y0, x1, y1) in enumerate(_boxes(p))]
        tasks.append({"id": i + 1, "data": {"image": f"/data/local-files/?d=images/"
                                                     f"{p['stem']}.jpg"},
                      "annotations": [{"id": i + 1, "result": result}]})
    (out / "export.json").write_text(json.dumps(tasks, indent=1))


@case("sagemaker", "hand-made", "hand-made",
      note='the AWS Ground Truth service writes it; no package')
def _sagemaker(out: Path) -> None:
    out.mkdir(parents=True)
    lines = []
    for p in photos():
        _jpeg(out / "images" / f"{p['stem']}.jpg", p)
        lines.append(json.dumps({
            "source-ref": f"s3://bucket/images/{p['stem']}.jpg",
            "boxes": {"image_size": [{"width": p["w"], "height": p["h"], "depth": 3}],
                      "annotations": [{"class_id": c, "left": x0, "top": y0,
                                       "width": x1 - x0, "height": y1 - y0}
                                      for c, x0, y0, x1, y1 in p["objects"]]},
            "boxes-metadata": {"class-map": {str(i): c for i, c in enumerate(CLASSES)},
                               "type": "groundtruth/object-detection",
                               "human-annotated": "yes", "job-name": "golden"}}))
    (out / "output.manifest").write_text("\n".join(lines) + "\n")


@case("cls-csv", "hand-made", "hand-made",
      note='Kaggle / Roboflow style CSV; no package writes it')
def _cls_csv(out: Path) -> None:
    out.mkdir(parents=True)
    rows = [["filename", "label"]]
    for p in photos():
        _jpeg(out / "images" / f"{p['stem']}.jpg", p)
        rows.append([f"{p['stem']}.jpg", CLASSES[p["objects"][0][0]]])
    with open(out / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


@case("jsonl-vlm", "hand-made", "hand-made",
      note="Roboflow's PaliGemma export; no package writes it", read="dataset")
def _jsonl(out: Path) -> None:
    out.mkdir(parents=True)
    lines = []
    for p in photos():
        _jpeg(out / "dataset" / f"{p['stem']}.jpg", p)
        parts = []
        for c, x0, y0, x1, y1 in _boxes(p):
            loc = [round(y0 / p["h"] * 1023), round(x0 / p["w"] * 1023),
                   round(y1 / p["h"] * 1023), round(x1 / p["w"] * 1023)]
            parts.append("".join(f"<loc{v:04d}>" for v in loc) + " " + c)
        lines.append(json.dumps({"image": f"{p['stem']}.jpg", "prefix": "detect "
                                 + " ; ".join(sorted(set(c for c, *_ in _boxes(p)))),
                                 "suffix": " ; ".join(parts)}))
    (out / "dataset" / "_annotations.train.jsonl").write_text("\n".join(lines) + "\n")


@case("yolo-keras", "hand-made", "hand-made",
      note="keras-yolo3's voc_annotation.py script writes it; no package")
def _yolo_keras(out: Path) -> None:
    out.mkdir(parents=True)
    lines = []
    for p in photos():
        _jpeg(out / "train" / f"{p['stem']}.jpg", p)
        lines.append(f"{p['stem']}.jpg " + " ".join(
            f"{int(x0)},{int(y0)},{int(x1)},{int(y1)},{c}" for c, x0, y0, x1, y1
            in p["objects"]))
    (out / "train" / "_annotations.txt").write_text("\n".join(lines) + "\n")
    (out / "train" / "_classes.txt").write_text("\n".join(CLASSES) + "\n")


@case("binary-masks", "hand-made", "hand-made",
      note="pycococreator's input layout: its tools read it, nothing writes it")
def _binary_masks(out: Path) -> None:
    out.mkdir(parents=True)
    for p in photos():
        _jpeg(out / "images" / f"{p['stem']}.jpg", p)
        for k, (c, *_box) in enumerate(p["objects"]):
            path = out / "annotations" / f"{p['stem']}_{CLASSES[c]}_{k}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(_mask(p, k).astype(np.uint8) * 255).save(path, optimize=True)


@case("map-txt", "hand-made", "hand-made",
      note="the Cartucho/mAP script's input; no package writes it")
def _map_txt(out: Path) -> None:
    out.mkdir(parents=True)
    for p in photos():
        _jpeg(out / "images-optional" / f"{p['stem']}.jpg", p)
        gt = out / "ground-truth" / f"{p['stem']}.txt"
        gt.parent.mkdir(parents=True, exist_ok=True)
        gt.write_text("".join(f"{c} {int(x0)} {int(y0)} {int(x1)} {int(y1)}\n"
                              for c, x0, y0, x1, y1 in _boxes(p)))


@case("visionflow", "visionflow", "visionflow",
      note="visionflow's own format: no other tool writes it")
def _native(out: Path) -> None:
    """visionflow's own format has no other writer: written by visionflow itself."""
    import visionflow as vf
    ps = photos()
    tmp = out.parent / "_src"
    for p in ps:
        _jpeg(tmp / f"{p['stem']}.jpg", p)
    img_rows, cats, boxes = [], [], []
    for i, p in enumerate(ps):
        for c, *b in p["objects"]:
            img_rows.append(i)
            cats.append(c + 1)
            boxes.append(b)
    ds = vf.Dataset(
        vf.Images.build([f"{p['stem']}.jpg" for p in ps], [p["w"] for p in ps],
                        [p["h"] for p in ps], split=[p["split"] for p in ps],
                        path=[str(tmp / f"{p['stem']}.jpg") for p in ps]),
        vf.Annotations.build(img_rows, cats, boxes),
        vf.Categories([vf.Category(i + 1, c) for i, c in enumerate(CLASSES)]))
    vf.write(ds, out, "visionflow")
    shutil.rmtree(tmp)


# --- driver -------------------------------------------------------------------------------

def _version(tool: str) -> str:
    if tool == "hand-made":
        return ""
    try:
        return metadata.version(tool)
    except metadata.PackageNotFoundError:
        return "?"


LICENCES = """## Licences

- Images: scikit-image's sample photos (`skimage.data`: astronaut, coffee, chelsea), resized to
  64 px on the long side. scikit-image is BSD-3-Clause; the astronaut photo is NASA (public
  domain), coffee is Rachel Michetti's (CC0, per scikit-image's data README), chelsea is Stefan
  van der Walt's (CC0 as shipped with scikit-image).
- Exports written by datumaro (MIT), supervision (MIT), Hugging Face datasets (Apache-2.0) and
  TensorFlow (Apache-2.0) are these tools' output on the images above; the hand-made cases are
  this project's (same licence as visionflow).
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated formats")
    args = ap.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    failed = []
    for key, c in CASES.items():
        if only and c["format"] not in only:
            continue
        folder = HERE / c["format"] / c["case"]
        export = folder / "export"
        if export.exists():
            shutil.rmtree(export)
        export.parent.mkdir(parents=True, exist_ok=True)
        try:
            c["fn"](export)
        except Exception as e:  # noqa: BLE001 - report every case, then fail
            failed.append(f"{key}: {type(e).__name__}: {e}")
            shutil.rmtree(folder, ignore_errors=True)
            continue
        info = {k: v for k, v in c.items() if k not in ("fn",)}
        info["version"] = _version(c["tool"])
        (folder / "case.json").write_text(json.dumps(info, indent=1) + "\n")
        print(f"{key:32} {c['tool']} {info['version']}")
    write_readme()
    for f in failed:
        print("FAILED", f, file=sys.stderr)
    return 1 if failed else 0


def write_readme() -> None:
    rows = []
    for cj in sorted(HERE.glob("*/*/case.json")):
        info = json.loads(cj.read_text())
        kb = sum(p.stat().st_size for p in cj.parent.rglob("*") if p.is_file()) / 1024
        made = (f"hand-made, following the format's published description: {info['note']}"
                if info["tool"] == "hand-made" else f"{info['tool']} {info['version']}")
        rows.append(f"| `{info['format']}` | `{info['case']}` | {made} | {kb:.0f} KB |")
    (HERE / "README.md").write_text(
        "# Golden exports\n\n"
        "Small real exports, one folder per format and case: `export/` is what the tool "
        "wrote, `case.json` how it was made, `golden.json` the canonical dataset visionflow "
        "reads from it. `tests/formats/test_golden.py` reads every case and compares; "
        "`pytest tests/formats/test_golden.py --update-golden` rewrites the goldens (look at "
        "the diff before committing). Regenerate the exports with "
        "`python tests/data/make_exports.py` (it needs the dev extra: datumaro, supervision, "
        "datasets, tensorflow-cpu, scikit-image). Nothing here comes from ../shared.\n\n"
        "| format | case | written by | size |\n|---|---|---|---|\n" + "\n".join(rows)
        + "\n\n" + LICENCES)


if __name__ == "__main__":
    sys.exit(main())
