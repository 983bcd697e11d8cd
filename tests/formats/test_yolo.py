"""YOLO, Ultralytics layout: real datasets, synthetic round trips, rules and bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import yaml

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.formats.yolo import split_bridged
from tests.formats.yolo_synth import CATEGORY_IDS, assert_same, label_files, synthetic

HUB = ("ultralytics-hub-datasets",)


# --- real data ----------------------------------------------------------------------------

@pytest.mark.shared
@pytest.mark.parametrize("name, lines, geometry, several_rings", [
    ("coco8", 30, {"boxes": 30}, 0),
    # 3 objects are several polygons bridged into one ring by Ultralytics' converter: read as
    # their parts, written bridged again (the same vertices, in visionflow's walk order)
    ("coco8-seg", 30, {"boxes": 30, "polygons": 30}, 3),
    ("coco8-pose", 21, {"boxes": 21, "keypoints": 21}, 0),
    ("dota8", 133, {"boxes": 133, "oriented_boxes": 133}, 0),
])
def test_hub_dataset_reads_and_writes_back_identically(tmp_path, name, lines, geometry,
                                                       several_rings):
    src = shared_path(*HUB, name)
    source_yaml = yaml.safe_load((src / f"{name}.yaml").read_text())
    assert sum(1 for p in (src / "labels").rglob("*.txt") for line in p.read_text().splitlines()
               if line.strip()) == lines
    ds = vf.load(src)
    assert ds.source_format == "yolo"
    assert len(ds.images) == 8 and len(ds.annotations) == lines
    assert ds.images.splits() == ["train", "val"]
    assert ds.annotations.geometry_counts() == geometry
    assert ds.categories.names == list(source_yaml["names"].values())
    assert ds.categories.ids == list(range(1, len(ds.categories) + 1))  # index + 1

    polygons = ds.annotations.polygons
    assert (int((polygons.counts() > 1).sum()) if polygons is not None else 0) == several_rings
    report = vf.write(ds, tmp_path / "out", "yolo", images="copy")
    assert [(f.code, f.count) for f in report.findings] == (
        [("loss.polygons.multi_ring", several_rings)] if several_rings else [])
    out = tmp_path / "out"
    written = yaml.safe_load((out / "data.yaml").read_text())
    assert written["names"] == source_yaml["names"]
    for key in ("kpt_shape", "flip_idx"):
        assert written.get(key) == source_yaml.get(key)
    for label in sorted((src / "labels").rglob("*.txt")):
        rel = label.relative_to(src)
        _assert_same_numbers(label.read_text(), (out / rel).read_text(), str(rel))
    for image in (src / "images").rglob("*.jpg"):
        assert (out / image.relative_to(src)).read_bytes() == image.read_bytes()

    # Our own output is a fixed point, byte for byte.
    vf.write(vf.load(out), tmp_path / "again", "yolo", images="copy")
    assert label_files(out) == label_files(tmp_path / "again")


def _assert_same_numbers(a: str, b: str, where: str) -> None:
    rows_a = [line.split() for line in a.splitlines() if line.strip()]
    rows_b = [line.split() for line in b.splitlines() if line.strip()]
    assert len(rows_a) == len(rows_b), where
    for i, (ra, rb) in enumerate(zip(rows_a, rows_b), 1):
        assert len(ra) == len(rb), f"{where}:{i}"
        assert ra[0] == rb[0], f"{where}:{i}"
        if len(ra) % 2 and len(split_bridged(np.array(ra[1:], float).reshape(-1, 2))) > 1:
            pa, pb = (np.array(r[1:], float).reshape(-1, 2) for r in (ra, rb))
            np.testing.assert_allclose(pa[np.lexsort(pa.T[::-1])], pb[np.lexsort(pb.T[::-1])],
                                       atol=1e-6, rtol=0, err_msg=f"{where}:{i}")
            continue
        np.testing.assert_allclose(np.array(ra, float), np.array(rb, float), atol=1e-6, rtol=0,
                                   err_msg=f"{where}:{i}")


@pytest.mark.shared
def test_hub_dataset_named_by_its_yaml(tmp_path):
    src = shared_path(*HUB, "coco8")
    ds = vf.load(src / "coco8.yaml")
    assert len(ds.images) == 8 and len(ds.annotations) == 30
    # coco8 train/000000000009.jpg: first line "45 0.479492 0.688771 0.955609 0.5955"
    row = list(ds.images.file_name).index("000000000009.jpg")
    first = ds.annotations[ds.annotations.image_index == row][[0]]
    w, h = ds.images.width[row], ds.images.height[row]
    cx, cy, bw, bh = 0.479492, 0.688771, 0.955609, 0.5955
    np.testing.assert_allclose(first.xyxy[0], [(cx - bw / 2) * w, (cy - bh / 2) * h,
                                               (cx + bw / 2) * w, (cy + bh / 2) * h])
    assert ds.categories.by_id(int(first.category_id[0])).name == "bowl"


@pytest.mark.shared
def test_pose_keypoints_visibility_is_kept():
    ds = vf.load(shared_path(*HUB, "coco8-pose"))
    kp = ds.annotations.keypoints
    assert kp.shape == (21, 17, 3)
    assert set(np.unique(kp[..., 2])) == {0.0, 1.0, 2.0}
    assert (kp[kp[..., 2] == 0][:, :2] == 0).all()
    assert ds.meta["yolo"]["kpt_shape"] == [17, 3]


@pytest.mark.shared
def test_dota_corners_outside_the_image_keep_their_values_and_a_clipped_box():
    ds = vf.load(shared_path(*HUB, "dota8"))
    ann = ds.annotations
    w = ds.images.width[ann.image_index][:, None]
    assert (ann.obb[..., 0] < 0).any() or (ann.obb[..., 0] > w).any() or \
        (ann.obb[..., 1] < 0).any()
    assert (ann.xyxy >= 0).all()
    np.testing.assert_allclose(ann.xyxy[:, 2:], np.minimum(
        ann.obb.max(axis=1), np.stack([ds.images.width, ds.images.height], 1)[ann.image_index]))


@pytest.mark.shared
def test_label_studio_variant_with_classes_txt():
    src = shared_path("label-studio-converter-tests", "data", "test_import_yolo_data")
    assert vf.detect(src)[0].format == "yolo"
    ds = vf.load(src)
    assert ds.categories.names == ["closed_door", "opened_door", "bus", "number"]
    assert len(ds.images) == 7 and set(ds.images.split) == {vf.UNSPLIT}
    assert len(ds.annotations) == 25
    assert sorted(ds.images.file_name)[:2] == ["img_1.jpg", "img_2.png"]


@pytest.mark.shared
def test_datumaro_loose_layout_with_obj_names():
    src = shared_path("datumaro-assets", "yolo_dataset", "labels")
    ds = vf.load(src)
    assert ds.images.splits() == ["train", "val"]
    assert len(ds.annotations) == 4
    assert ds.categories.names == [f"label_{i}" for i in range(10)]


# --- synthetic round trips ----------------------------------------------------------------

@pytest.mark.parametrize("task", ["detect", "segment", "pose", "obb"])
def test_round_trip_and_fixed_point(tmp_path, task):
    ds = synthetic(tmp_path, task)
    report = vf.write(ds, tmp_path / "a", "yolo", images="link")
    assert not report.findings
    back = vf.load(tmp_path / "a")
    assert_same(ds, back)
    assert back.categories.ids == CATEGORY_IDS
    assert back.categories[0].supercategory == "thing"
    # The negative has an empty label file.
    assert (tmp_path / "a" / "labels" / "val" / "img_1.txt").read_text() == ""
    assert (tmp_path / "a" / "images" / "test" / "sub" / "img_0.png").is_file()
    vf.write(back, tmp_path / "b", "yolo", images="link")
    assert label_files(tmp_path / "a") == label_files(tmp_path / "b")
    top = vf.detect(tmp_path / "a")
    assert top[0].format == "yolo"


def test_written_yaml(tmp_path):
    vf.write(synthetic(tmp_path, "pose"), tmp_path / "a", "yolo", images="none")
    text = (tmp_path / "a" / "data.yaml").read_text()
    doc = yaml.safe_load(text)
    assert "path" not in doc  # Ultralytics then uses the yaml's folder
    assert doc["train"] == "images/train" and doc["val"] == "images/val"
    assert doc["test"] == "images/test"
    assert doc["names"] == {0: "person", 1: "car", 2: "traffic light"}
    assert doc["kpt_shape"] == [3, 3]
    assert doc["flip_idx"] == [0, 2, 1]  # from left_/right_ keypoint names
    assert doc["visionflow"]["category_ids"] == CATEGORY_IDS
    assert doc["visionflow"]["task"] == "pose"
    assert "names:\n  0: person\n" in text


def test_unsplit_images_use_one_folder_for_train_and_val(tmp_path):
    ds = synthetic(tmp_path, "detect", splits=("",))
    vf.write(ds, tmp_path / "a", "yolo")
    doc = yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())
    assert doc["train"] == doc["val"] == "images"
    assert (tmp_path / "a" / "labels" / "img_0.txt").is_file()
    back = vf.load(tmp_path / "a")
    assert set(back.images.split) == {vf.UNSPLIT}
    assert_same(ds, back)


def test_custom_split_names_are_kept(tmp_path):
    ds = synthetic(tmp_path, "detect", splits=("train", "holdout"))
    vf.write(ds, tmp_path / "a", "yolo")
    doc = yaml.safe_load((tmp_path / "a" / "data.yaml").read_text())
    assert doc["holdout"] == "images/holdout"
    assert doc["visionflow"]["splits"] == ["holdout"]
    assert vf.load(tmp_path / "a").images.splits() == ["train", "holdout"]


def test_category_ids_survive_coco_style_ids(tmp_path):
    ds = synthetic(tmp_path)
    vf.write(ds, tmp_path / "a", "yolo")
    back = vf.load(tmp_path / "a")
    assert back.categories.ids == [1, 3, 7]
    assert np.array_equal(back.annotations.category_id, ds.annotations.category_id)
    lines = (tmp_path / "a" / "labels" / "train" / "img_1.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["0", "1", "2"]  # class index, not id


def test_without_metadata_ids_are_index_plus_one(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "1 0.5 0.5 0.2 0.2\n"}, names=["x", "y"])
    ds = vf.load(root)
    assert ds.categories.ids == [1, 2]
    assert ds.annotations.category_id.tolist() == [2]


def test_multi_ring_polygons_are_merged_and_reported(tmp_path):
    ds = synthetic(tmp_path, "segment", splits=("train",))
    ann = ds.annotations
    rings = ann.polygons.to_lists()
    second = np.array([[40.0, 30.0], [50.0, 30.0], [50.0, 40.0]])
    rings[0] = rings[0] + [second]
    xyxy = ann.xyxy.copy()
    xyxy[0] = [min(xyxy[0, 0], 40), min(xyxy[0, 1], 30), 50, 40]
    ds = ds.replace(annotations=ann.replace(polygons=vf.Polygons.from_lists(rings), xyxy=xyxy))
    report = vf.write(ds, tmp_path / "a", "yolo")
    assert "loss.polygons.multi_ring" in report.codes()
    merged = (tmp_path / "a" / "labels" / "train").glob("*.txt")
    first_line = sorted(merged)[0].read_text().splitlines()[0].split()
    assert len(first_line) == 1 + 2 * (len(rings[0][0]) + len(second) + 2)  # one bridged ring
    back = vf.load(tmp_path / "a")  # and the reader splits the bridge: the same two rings
    assert back.annotations.polygons.counts()[0] == 2
    for got, want in zip(back.annotations.polygons.rings(0), rings[0]):
        assert sorted(map(tuple, np.round(got, 2))) == sorted(map(tuple, np.round(want, 2)))
    np.testing.assert_allclose(back.annotations.xyxy[0], xyxy[0], atol=1e-3)
    with pytest.raises(vf.LossError, match="several polygon rings"):
        vf.write(ds, tmp_path / "strict", "yolo", strict=True)


def test_boxes_in_a_segmentation_dataset_become_rectangles(tmp_path):
    ds = synthetic(tmp_path, "segment", splits=("train",))
    rings = ds.annotations.polygons.to_lists()
    rings[1] = []
    ds = ds.replace(annotations=ds.annotations.replace(polygons=vf.Polygons.from_lists(rings)))
    report = vf.write(ds, tmp_path / "a", "yolo")
    assert "yolo.box_as_polygon" in report.codes()
    back = vf.load(tmp_path / "a")
    assert len(back.annotations.polygons.rings(1)[0]) == 4
    np.testing.assert_allclose(back.annotations.xyxy, ds.annotations.xyxy, atol=1e-3)


def test_pose_dataset_reports_polygons_it_cannot_hold(tmp_path):
    ds = synthetic(tmp_path, "pose", splits=("train",))
    seg = synthetic(tmp_path / "s", "segment", splits=("train",))
    ds = ds.replace(annotations=ds.annotations.replace(polygons=seg.annotations.polygons))
    report = vf.write(ds, tmp_path / "a", "yolo")
    assert "loss.polygons.pose" in report.codes()


@pytest.mark.parametrize("lines, task, kind", [
    ("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n", None, "oriented_boxes"),     # all rows 9 numbers
    ("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n", "segment", "polygons"),      # yaml says segment
    ("0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n0 0.5 0.5 0.2 0.2\n", None, "polygons"),  # mixed
    ("0 0.1 0.1 0.3 0.1 0.2 0.3\n", None, "polygons"),
])
def test_four_point_rows_are_obb_only_when_every_row_is(tmp_path, lines, task, kind):
    extra = {"visionflow": {"task": task}} if task else {}
    ds = vf.load(_dataset(tmp_path, {"train/a.jpg": lines}, extra=extra))
    assert kind in ds.annotations.geometry_counts()


def test_kpt_shape_with_two_dims(tmp_path):
    line = "0 0.5 0.5 0.5 0.5 0.25 0.25 0 0 0.75 0.5\n"
    root = _dataset(tmp_path, {"train/a.jpg": line}, extra={"kpt_shape": [3, 2]})
    ds = vf.load(root)
    kp = ds.annotations.keypoints[0]
    assert kp[:, 2].tolist() == [2, 0, 2]
    np.testing.assert_allclose(kp[0, :2], [16, 12])
    vf.write(ds, tmp_path / "out", "yolo")
    assert (tmp_path / "out" / "labels" / "train" / "a.txt").read_text() == line
    assert yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())["kpt_shape"] == [3, 2]


def test_negatives_from_missing_and_empty_label_files(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n", "train/b.jpg": "",
                               "train/c.jpg": None})
    ds = vf.load(root)
    assert list(ds.images.file_name) == ["a.jpg", "b.jpg", "c.jpg"]
    assert ds.annotations.image_index.tolist() == [0]


def test_same_folder_for_train_and_val_is_unsplit(tmp_path):
    root = _dataset(tmp_path, {"a.jpg": "0 0.5 0.5 0.2 0.2\n"},
                    extra={"train": "images", "val": "images"})
    ds = vf.load(root)
    assert ds.images.split.tolist() == [vf.UNSPLIT]


def test_image_list_txt_and_list_of_sources(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n", "more/b.jpg": "",
                               "val/c.jpg": ""},
                    extra={"train": ["train.txt", "images/more"], "val": "val.txt"})
    (root / "train.txt").write_text("./images/train/a.jpg\n")
    (root / "val.txt").write_text("images/val/c.jpg\n")
    ds = vf.load(root)
    assert sorted(zip(ds.images.split, ds.images.file_name)) == [
        ("train", "a.jpg"), ("train", "b.jpg"), ("val", "c.jpg")]
    assert len(ds.annotations) == 1


def test_stale_absolute_path_and_roboflow_parent_entries(tmp_path):
    root = tmp_path / "rf"
    make_image(root / "train" / "images" / "a.jpg")
    (root / "train" / "labels").mkdir(parents=True)
    (root / "train" / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    make_image(root / "valid" / "images" / "b.jpg")
    (root / "data.yaml").write_text("path: /content/datasets/stale\ntrain: ../train/images\n"
                                    "val: ../valid/images\nnc: 1\nnames: ['thing']\n")
    report = vf.Report()
    ds = vf.load(root, report=report)
    assert ds.images.splits() == ["train", "val"]
    assert len(ds.annotations) == 1
    assert "yolo.path_ignored" in report.codes()


def test_folder_without_yaml_infers_names(tmp_path):
    root = tmp_path / "plain"
    make_image(root / "images" / "a.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("2 0.5 0.5 0.2 0.2\n")
    ds = vf.load(root, "yolo")
    assert ds.categories.names == ["0", "1", "2"]


def test_detection_never_ties_with_darknet(tmp_path):
    ds = synthetic(tmp_path)
    vf.write(ds, tmp_path / "u", "yolo", images="none")
    vf.write(ds, tmp_path / "d", "yolo-darknet", images="none")
    for folder, fmt in (("u", "yolo"), ("d", "yolo-darknet")):
        found = vf.detect(tmp_path / folder)
        assert found[0].format == fmt
        assert len(found) == 1 or found[0].confidence - found[1].confidence >= 0.1
    assert vf.detect(tmp_path / "u" / "data.yaml")[0].format == "yolo"


def test_label_files_that_would_collide_are_refused(tmp_path):
    ds = synthetic(tmp_path, splits=("train",))
    ds = ds.replace(images=ds.images.replace(file_name=np.array(["a.jpg", "a.png"], object)))
    with pytest.raises(vf.OutputError, match="share one label file"):
        vf.write(ds, tmp_path / "a", "yolo", images="none")


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("line, error, parts", [
    ("0 0.5 0.5 0.2", vf.ParseError,
     ["labels/train/a.txt:2", "expected 5 numbers (detection", "got 4", '("0 0.5 0.5 0.2")']),
    ("0 0.5 abc 0.2 0.2", vf.ParseError, ["labels/train/a.txt:2", "expected numbers", "'abc'"]),
    ("5 0.5 0.5 0.2 0.2", vf.ParseError,
     ["labels/train/a.txt:2", "class index 5", "0..1 (2 names in", "data.yaml"]),
    ("-1 0.5 0.5 0.2 0.2", vf.ParseError, ["labels/train/a.txt:2", "class index -1"]),
    ("1.5 0.5 0.5 0.2 0.2", vf.ParseError, ["labels/train/a.txt:2", "class index 1.5"]),
    ("0 nan 0.5 0.2 0.2", vf.ParseError, ["labels/train/a.txt:2", "'nan' is not finite"]),
    ("0 0.5 0.5 0.2 0.2 0.1", vf.ParseError, ["labels/train/a.txt:2", "got 6"]),
    ("0 3.5 0.5 0.2 0.2", vf.ValidationError, ["labels/train/a.txt:2", "outside the image"]),
])
def test_bad_label_lines(tmp_path, line, error, parts):
    root = _dataset(tmp_path, {"train/a.jpg": f"0 0.5 0.5 0.2 0.2\n{line}\n0 0.4 0.4 0.1 0.1\n",
                               "train/b.jpg": "1 0.5 0.5 0.2 0.2\n"}, names=["x", "y"])
    with pytest.raises(error) as e:
        vf.load(root)
    message = str(e.value)
    assert "\n" not in message
    for part in parts:
        assert part in message
    report = vf.Report()
    ds = vf.load(root, errors="skip", report=report)
    assert len(ds.images) == 2 and len(ds.annotations) == 3
    assert len(report.errors) == 1 and "a.txt:2" in report.errors[0].where


def test_pose_line_with_wrong_count(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2 0.1 0.1 2\n"},
                    extra={"kpt_shape": [2, 3]})
    with pytest.raises(vf.ParseError, match=r"a\.txt:1: expected 11 numbers \(pose.*got 8"):
        vf.load(root)


@pytest.mark.parametrize("entry, parts", [
    ("../../etc/x.jpg", ["train.txt:2", "outside the dataset folder"]),
    ("/etc/passwd.jpg", ["train.txt:2", "absolute path"]),
])
def test_list_entries_leaving_the_dataset_are_refused(tmp_path, entry, parts):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n"}, extra={"train": "train.txt"})
    (root / "train.txt").write_text(f"images/train/a.jpg\n{entry}\n")
    with pytest.raises(vf.UnsafeInputError) as e:
        vf.load(root)
    for part in parts:
        assert part in str(e.value)
    ds = vf.load(root, errors="skip")
    assert len(ds.images) == 1


def test_yaml_entries_leaving_the_dataset_are_refused(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": ""}, extra={"val": "/etc"})
    with pytest.raises(vf.UnsafeInputError, match="val.*absolute path"):
        vf.load(root)


def test_symlinked_image_leading_outside(tmp_path):
    outside = make_image(tmp_path / "elsewhere" / "secret.jpg")
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n"})
    os.symlink(outside, root / "images" / "train" / "b.jpg")
    with pytest.raises(vf.UnsafeInputError, match=r"b\.jpg.*outside the dataset folder"):
        vf.load(root)
    assert len(vf.load(root, errors="skip").images) == 1


def test_symlinked_label_leading_outside(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    root = _dataset(tmp_path, {"train/a.jpg": None})
    os.symlink(tmp_path / "elsewhere" / "x.txt", root / "labels" / "train" / "a.txt")
    with pytest.raises(vf.UnsafeInputError, match=r"a\.txt.*outside"):
        vf.load(root)


def test_undecodable_image(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n"})
    (root / "images" / "train" / "bad.jpg").write_bytes(b"this is not an image")
    with pytest.raises(vf.ValidationError) as e:
        vf.load(root)
    assert "bad.jpg" in str(e.value) and "cannot read image" in str(e.value)
    assert "\n" not in str(e.value)
    ds = vf.load(root, errors="skip")
    assert list(ds.images.file_name) == ["a.jpg"] and len(ds.annotations) == 1


def test_missing_image_listed_in_train_txt(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.5 0.5 0.2 0.2\n"}, extra={"train": "train.txt"})
    (root / "train.txt").write_text("images/train/a.jpg\nimages/train/gone.jpg\n")
    with pytest.raises(vf.MissingImageError, match=r"train\.txt:2.*gone\.jpg"):
        vf.load(root)
    assert len(vf.load(root, errors="skip").images) == 1


@pytest.mark.parametrize("text, parts", [
    ("train: images/train\nnames: {0: a, 2: b}\n", ["names keys must be", "0..1"]),
    ("train: images/train\nnames: [a]\nnc: 3\n", ["'nc: 3' does not match"]),
    ("train: [images/train\nnames: [a]\n", ["data.yaml", "invalid YAML"]),
    ("train: images/nowhere\nnames: [a]\n", ["neither a folder nor a list file"]),
    ("- just\n- a list\n", ["data.yaml", "expected a mapping with names"]),
])
def test_bad_yaml(tmp_path, text, parts):
    root = _dataset(tmp_path, {"train/a.jpg": ""})
    (root / "data.yaml").write_text(text)
    with pytest.raises(vf.ParseError) as e:
        vf.load(root, "yolo")
    for part in parts:
        assert part in str(e.value)


def test_label_file_that_is_not_text(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": None})
    (root / "labels" / "train" / "a.txt").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(vf.ParseError, match=r"a\.txt: label file is not UTF-8 text"):
        vf.load(root)


# --- helpers ------------------------------------------------------------------------------

def _dataset(tmp: Path, labels: dict[str, str | None], *, names=("x",),
             extra: dict | None = None) -> Path:
    """images/<rel> (64x48) with labels/<rel>.txt (None: no label file) and a data.yaml."""
    root = tmp / "ds"
    for rel, text in labels.items():
        make_image(root / "images" / rel)
        label = (root / "labels" / rel).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            label.write_text(text)
    doc = {"train": "images/train", "names": dict(enumerate(names))}
    if not any("/" in rel for rel in labels):
        doc.update(train="images", val="images")
    if any(rel.startswith("val/") for rel in labels):
        doc["val"] = "images/val"
    doc.update(extra or {})
    (root / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root


def test_coco_ids_survive_coco_yolo_coco(tmp_path):
    ds = synthetic(tmp_path)
    vf.write(ds, tmp_path / "coco", "coco", images="copy")
    coco = vf.load(tmp_path / "coco", "coco")
    vf.write(coco, tmp_path / "yolo", "yolo", images="copy")
    vf.write(vf.load(tmp_path / "yolo"), tmp_path / "coco2", "coco", images="none")
    back = vf.load(tmp_path / "coco2", "coco")
    assert back.categories.ids == coco.categories.ids == CATEGORY_IDS
    assert sorted(back.annotations.category_id.tolist()) == sorted(
        ds.annotations.category_id.tolist())


def test_task_read_option_overrides_inference(tmp_path):
    root = _dataset(tmp_path, {"train/a.jpg": "0 0.1 0.1 0.3 0.1 0.3 0.3 0.1 0.3\n"})
    assert "oriented_boxes" in vf.load(root).annotations.geometry_counts()
    assert "polygons" in vf.load(root, task="segment").annotations.geometry_counts()
    with pytest.raises(vf.Error, match="yolo reader option task='boxes': expected one of "
                                       "detect, segment, pose, obb"):
        vf.load(root, task="boxes")


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(st.lists(st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-2, 2), st.integers(-10**6, 10**6).map(lambda v: v / 10**6),
    st.integers(-10**7, 10**7).map(lambda v: v / 2 / 10**6),  # exact halfway cases
    st.sampled_from([0.0, -0.0, 1e-7, -1e-7, 5e-7, -5e-7, 1e20, 100.0, 10.5])),
    min_size=0, max_size=9), max_size=6))
def test_fmt_rows_is_fmt_float_per_number(rows):
    from visionflow.formats.common import fmt_float
    from visionflow.formats.yolo import fmt_rows
    expected = [" ".join(fmt_float(v, 6) for v in row) for row in rows]
    assert fmt_rows(rows) == expected
    if rows and len({len(r) for r in rows}) == 1:
        assert fmt_rows(np.array(rows, np.float64)) == expected
