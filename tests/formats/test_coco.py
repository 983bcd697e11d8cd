import json
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf

from ..conftest import make_image, shared_path, tree_snapshot


def _coco(tmp_path: Path, doc: dict, *, images=True, name="annotations/instances_train.json") -> Path:
    root = tmp_path / "ds"
    file = root / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(doc))
    if images:
        for im in doc.get("images", []):
            if isinstance(im, dict) and isinstance(im.get("file_name"), str) and ".." not in im["file_name"] \
                    and not im["file_name"].startswith("/") and isinstance(im["width"], int):
                make_image(root / "images" / "train" / im["file_name"], (im["width"], im["height"]))
    return root


def _doc(**over):
    doc = {
        "info": {"description": "t"},
        "images": [{"id": 7, "file_name": "a.jpg", "width": 64, "height": 48},
                   {"id": 9, "file_name": "neg.jpg", "width": 32, "height": 32}],
        "annotations": [
            {"id": 3, "image_id": 7, "category_id": 18, "bbox": [1.5, 2, 10.25, 20], "area": 205,
             "iscrowd": 0, "segmentation": [[1.5, 2, 11.75, 2, 11.75, 22]],
             "attributes": {"occluded": True}},
            {"id": 4, "image_id": 7, "category_id": 1, "bbox": [0, 0, 4, 4], "iscrowd": 1,
             "segmentation": {"size": [48, 64], "counts": [0, 4, 44, 4, 44, 4, 44, 4, 2924]}},
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "human"},
                       {"id": 18, "name": "dog", "supercategory": "animal"}],
    }
    doc.update(over)
    return doc


def test_read_standard_layout_keeps_ids_and_extras(tmp_path):
    ds = vf.load(_coco(tmp_path, _doc()))
    assert ds.source_format == "coco"
    assert ds.images.id.tolist() == [7, 9]
    assert ds.images.split.tolist() == ["train", "train"]
    assert all(p and Path(p).is_file() for p in ds.images.path)
    assert ds.categories.ids == [1, 18]
    a = ds.annotations
    assert a.xyxy[0].tolist() == [1.5, 2, 11.75, 22]
    assert a.category_id.tolist() == [18, 1]
    assert a.iscrowd.tolist() == [False, True]
    assert a.attr("occluded").tolist() == [True, None]
    assert a.attr("coco.area").tolist() == [205, None]
    assert a.rle[1]["counts"][:2] == [0, 4]
    assert a.polygons.counts().tolist() == [1, 0]
    assert ds.meta["coco"] == {"info": {"description": "t"}}


def test_write_read_is_lossless_and_a_fixed_point(tmp_path):
    ds = vf.load(_coco(tmp_path, _doc()))
    vf.write(ds, tmp_path / "out", "coco")
    back = vf.load(tmp_path / "out")
    # Only the area the writer computed for the RLE annotation (it had none) is new.
    assert ds.differences(back) == ["annotations.attrs['coco.area']"]
    assert back.annotations.attr("coco.area").tolist() == [205, 16]
    vf.write(back, tmp_path / "out2", "coco")
    a = (tmp_path / "out/annotations/instances_train.json").read_bytes()
    assert a == (tmp_path / "out2/annotations/instances_train.json").read_bytes()
    written = json.loads(a)
    assert written["annotations"][0]["attributes"] == {"occluded": True}
    assert written["annotations"][0]["area"] == 205
    assert written["annotations"][1]["area"] == 16  # computed from the RLE
    assert (tmp_path / "out/images/train/neg.jpg").is_file()  # negatives are kept


def test_roboflow_layout_both_ways(tmp_path):
    ds = vf.load(_coco(tmp_path, _doc()))
    vf.write(ds, tmp_path / "rf", "coco", layout="roboflow", images="copy")
    assert (tmp_path / "rf/train/_annotations.coco.json").is_file()
    assert (tmp_path / "rf/train/a.jpg").is_file()
    back = vf.load(tmp_path / "rf")
    assert ds.differences(back) == ["annotations.attrs['coco.area']"]


def test_single_file_and_unsplit(tmp_path):
    root = _coco(tmp_path, _doc(), name="labels.json", images=False)
    make_image(root / "a.jpg", (64, 48))
    ds = vf.load(root / "labels.json")
    assert ds.images.split.tolist() == ["", ""]
    assert ds.images.path[0].endswith("a.jpg") and ds.images.path[1] is None
    vf.write(ds, tmp_path / "out", "coco", images="none")
    assert (tmp_path / "out/annotations/instances_default.json").is_file()
    assert vf.load(tmp_path / "out").images.split.tolist() == ["", ""]


def test_box_from_polygon_when_bbox_missing(tmp_path):
    doc = _doc()
    del doc["annotations"][0]["bbox"]
    ds = vf.load(_coco(tmp_path, doc))
    assert ds.annotations.xyxy[0].tolist() == [1.5, 2, 11.75, 22]


def _mutate(doc, path, value):
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


BAD = [
    (("images", 0, "width"), "64", vf.ParseError, "images[0]: id, width and height must be integers"),
    (("images", 0, "file_name"), KeyError, vf.ParseError, "images[0]: missing required key 'file_name'"),
    (("images", 0, "file_name"), "../../etc/passwd", vf.UnsafeInputError, "points outside the dataset folder"),
    (("images", 0, "file_name"), "/etc/passwd", vf.UnsafeInputError, "is an absolute path"),
    (("annotations", 0, "image_id"), 99, vf.ValidationError, "annotations[0] (id 3): refers to unknown image id 99"),
    (("annotations", 0, "category_id"), 5, vf.ValidationError, "annotations[0] (id 3): unknown category id 5"),
    (("annotations", 0, "bbox"), [1, 2, "x", 4], vf.ParseError, "bbox must be [x, y, width, height] numbers"),
    (("annotations", 0, "bbox"), [1, 2, -3, 4], vf.ValidationError, "box has negative size"),
    (("annotations", 0, "bbox"), [1, 2, 0, 4], vf.ValidationError, "box has zero size"),
    (("annotations", 0, "bbox"), [100, 100, 5, 5], vf.ValidationError, "box lies outside the image"),
    (("annotations", 0, "id"), KeyError, vf.ParseError, "annotations[0] (id ?): missing required key 'id'"),
    (("annotations", 1, "id"), 3, vf.ValidationError, "duplicate annotation id 3"),
    (("images", 1, "id"), 7, vf.ValidationError, "duplicate image id 7"),
    (("annotations", 0, "segmentation"), [[1, 2, 3]], vf.ParseError, "at least 3 x, y pairs"),
    (("categories",), KeyError, vf.ParseError, "missing or invalid 'categories' list"),
    (("categories", 0, "id"), "1", vf.ParseError, "category id must be an integer"),
    (("categories", 1, "id"), 1, vf.ValidationError, "duplicate category id 1"),
]


@pytest.mark.parametrize("path, value, error, message", BAD, ids=[m for *_, m in BAD])
def test_bad_input_names_file_and_record(tmp_path, path, value, error, message):
    root = _coco(tmp_path, _mutate(_doc(), path, value))
    with pytest.raises(error) as e:
        vf.load(root, "coco")
    text = str(e.value)
    assert message in text and "instances_train.json" in text
    assert "\n" not in text


def test_nan_box_is_refused(tmp_path):
    root = tmp_path / "ds" / "annotations"
    root.mkdir(parents=True)
    text = json.dumps(_doc()).replace("[1.5, 2, 10.25, 20]", "[NaN, 2, 10.25, 20]")
    (root / "instances_train.json").write_text(text)
    with pytest.raises(vf.ParseError, match=r"instances_train.json:1:\d+: malformed JSON"):
        vf.load(tmp_path / "ds", "coco")


def test_malformed_json_names_line_and_column(tmp_path):
    root = tmp_path / "ds"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text('{\n "images": [\n  {"id": 1,,}\n]}')
    with pytest.raises(vf.ParseError, match=r"instances_train.json:3:\d+: malformed JSON"):
        vf.load(root, "coco")


def test_skip_errors_keeps_the_rest(tmp_path):
    doc = _doc()
    doc["annotations"][1]["bbox"] = [1, 2, 0, 4]
    doc["images"].append({"id": 10, "file_name": "../x.jpg", "width": 5, "height": 5})
    report = vf.Report()
    ds = vf.load(_coco(tmp_path, doc), errors="skip", report=report)
    assert len(ds.images) == 2 and ds.annotations.id.tolist() == [3]
    assert [f.code for f in report.findings] == ["skipped", "skipped"]


def test_symlinked_image_leaving_the_dataset(tmp_path):
    outside = make_image(tmp_path / "secret.png")
    root = _coco(tmp_path, _doc(), images=False)
    (root / "images" / "train").mkdir(parents=True)
    (root / "images" / "train" / "a.jpg").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match="link that leads outside"):
        vf.load(root, "coco")


def test_missing_images_fail_on_convert_not_on_read(tmp_path):
    root = _coco(tmp_path, _doc(), images=False)
    ds = vf.load(root)
    assert ds.images.path.tolist() == [None, None]
    with pytest.raises(vf.MissingImageError, match="a.jpg: image file not found"):
        vf.write(ds, tmp_path / "out", "coco")
    assert not (tmp_path / "out").exists()
    vf.write(ds, tmp_path / "out", "coco", images="none")
    assert not (tmp_path / "out" / "images").exists()


# --- real data ------------------------------------------------------------------------------

def test_roboflow_facemask_despite_duplicate_category_name(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    before = tree_snapshot(src)
    ds = vf.load(src)
    assert len(ds.images) == 868 and len(ds.annotations) == 4100
    assert ds.categories.ids == [0, 1, 2, 3, 4, 5]
    assert ds.categories.names[:2] == ["Mask", "Mask"]
    assert sorted(ds.images.splits()) == ["test", "train", "val"]
    assert all(p is not None for p in ds.images.path)
    vf.write(ds, tmp_path / "out", "coco", layout="roboflow")
    for split in ("train", "valid", "test"):
        ours = json.loads((tmp_path / "out" / split / "_annotations.coco.json").read_bytes())
        theirs = json.loads((src / split / "_annotations.coco.json").read_bytes())
        assert ours["categories"] == theirs["categories"]
        assert ours["images"] == theirs["images"]
        strip = lambda anns: sorted((a["id"], a["image_id"], a["category_id"], a["bbox"], a["area"]) for a in anns)
        assert strip(ours["annotations"]) == strip(theirs["annotations"])
    assert tree_snapshot(src) == before


@pytest.mark.parametrize("fixture, images, annotations, splits", [
    ("coco", 2, 3, ["train", "val"]),
    ("coco_instances", 2, 3, ["train", "val"]),
    ("coco_roboflow", 2, 3, ["train", "val"]),
    ("coco_person_keypoints", 2, 3, ["train", "val"]),
])
def test_datumaro_coco_fixtures(fixture, images, annotations, splits):
    ds = vf.load(shared_path("datumaro-assets", "coco_dataset", fixture))
    assert len(ds.images) == images
    assert len(ds.annotations) == annotations
    assert sorted(ds.images.splits()) == splits


def test_datumaro_keypoints_fixture_has_keypoints():
    ds = vf.load(shared_path("datumaro-assets", "coco_dataset", "coco_person_keypoints"))
    assert ds.annotations.keypoints is not None
    assert ds.annotations.has_keypoints().sum() > 0


def test_sahi_polygons():
    ds = vf.load(shared_path("sahi-tests", "tests", "data", "coco_utils", "terrain1_coco.json"))
    assert ds.annotations.geometry_counts()["polygons"] == len(ds.annotations) > 0
