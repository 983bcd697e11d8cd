"""YOLO, darknet layout (obj.data / obj.names / train.txt, CVAT 'YOLO 1.1')."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import visionflow as vf
from tests.conftest import make_image, shared_path
from tests.formats.yolo_synth import CATEGORY_IDS, assert_same, label_files, synthetic


@pytest.mark.shared
def test_datumaro_strict_fixture():
    src = shared_path("datumaro-assets", "yolo_dataset", "strict")
    assert vf.detect(src)[0].format == "yolo-darknet"
    ds = vf.load(src)
    assert list(ds.images.file_name) == ["1.jpg"] and ds.images.split.tolist() == ["train"]
    assert ds.categories.names == [f"label_{i}" for i in range(10)]
    assert ds.categories.ids == list(range(1, 11))
    assert ds.annotations.category_id.tolist() == [3, 5]  # class 2 and 4, ids index + 1
    w, h = int(ds.images.width[0]), int(ds.images.height[0])
    np.testing.assert_allclose(ds.annotations.xyxy[0], [
        (0.133333 - 0.266667 / 2) * w, (0.3 - 0.1) * h, (0.133333 + 0.266667 / 2) * w, 0.4 * h])


@pytest.mark.parametrize("task", ["detect", "segment", "pose", "obb"])
def test_round_trip_and_fixed_point(tmp_path, task):
    ds = synthetic(tmp_path, task)
    report = vf.write(ds, tmp_path / "a", "yolo-darknet", images="link")
    assert not report.findings
    out = tmp_path / "a"
    assert (out / "obj.data").read_text() == (
        "classes = 3\ntrain = data/train.txt\nvalid = data/valid.txt\ntest = data/test.txt\n"
        "names = data/obj.names\nbackup = backup/\n")
    assert (out / "obj.names").read_text() == "person\ncar\ntraffic light\n"
    # Each split has img_0.jpg: files go to one folder per split.
    assert (out / "train.txt").read_text() == ("data/obj_train_data/img_0.jpg\n"
                                               "data/obj_train_data/img_1.jpg\n")
    assert (out / "obj_val_data" / "img_1.txt").read_text() == ""  # negative
    back = vf.load(out)
    assert back.source_format == "yolo-darknet"
    assert_same(ds, back)
    assert back.categories.ids == CATEGORY_IDS
    vf.write(back, tmp_path / "b", "yolo-darknet", images="link")
    assert label_files(out) == label_files(tmp_path / "b")
    assert vf.detect(out)[0].format == "yolo-darknet"


def test_files_go_to_obj_split_data_as_cvat_and_datumaro_expect(tmp_path):
    ds = synthetic(tmp_path, splits=("train",))
    vf.write(ds, tmp_path / "a", "yolo-darknet", images="copy")
    assert (tmp_path / "a" / "train.txt").read_text() == (
        "data/obj_train_data/img_0.jpg\ndata/obj_train_data/img_1.jpg\n")
    assert (tmp_path / "a" / "obj_train_data" / "img_0.jpg").is_file()
    assert (tmp_path / "a" / "obj_train_data" / "img_0.txt").is_file()


def test_unsplit_round_trip_lists_train_twice(tmp_path):
    ds = synthetic(tmp_path, splits=("",))
    vf.write(ds, tmp_path / "a", "yolo-darknet")
    text = (tmp_path / "a" / "obj.data").read_text()
    assert "train = data/train.txt\n" in text and "valid = data/train.txt\n" in text
    back = vf.load(tmp_path / "a")
    assert set(back.images.split) == {vf.UNSPLIT}
    assert_same(ds, back)


def test_unsplit_beside_splits_goes_to_train_and_is_reported(tmp_path):
    ds = synthetic(tmp_path, splits=("val",))
    split = ds.images.split.copy()
    split[0] = vf.UNSPLIT
    ds = ds.replace(images=ds.images.replace(split=split))
    report = vf.write(ds, tmp_path / "a", "yolo-darknet")
    assert "loss.splits.unsplit" in report.codes()
    assert sorted(vf.load(tmp_path / "a").images.split) == ["train", "val"]


def test_cvat_yolo_1_1_export(tmp_path):
    root = tmp_path / "cvat"
    make_image(root / "obj_train_data" / "frame_000.jpg", (100, 50))
    make_image(root / "obj_train_data" / "frame_001.jpg", (100, 50))
    (root / "obj_train_data" / "frame_000.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    (root / "obj.names").write_text("cat\ndog\n")
    (root / "obj.data").write_text("classes = 2\ntrain = data/train.txt\n"
                                   "names = data/obj.names\nbackup = backup/\n")
    (root / "train.txt").write_text("data/obj_train_data/frame_000.jpg\n"
                                    "data/obj_train_data/frame_001.jpg\n")
    ds = vf.load(root)
    assert list(ds.images.file_name) == ["frame_000.jpg", "frame_001.jpg"]
    assert ds.categories.names == ["cat", "dog"]
    np.testing.assert_allclose(ds.annotations.xyxy, [[40, 15, 60, 35]])
    assert ds.annotations.category_id.tolist() == [2]


def test_without_obj_data(tmp_path):
    root = tmp_path / "plain"
    make_image(root / "images" / "a.jpg")
    (root / "images" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "things.names").write_text("thing\n")
    (root / "train.txt").write_text("images/a.jpg\n")
    assert vf.detect(root)[0].format == "yolo-darknet"
    ds = vf.load(root)
    assert ds.images.file_name.tolist() == ["a.jpg"] and len(ds.annotations) == 1


def test_sidecar_keeps_ids_and_pose_shape(tmp_path):
    ds = synthetic(tmp_path, "pose")
    vf.write(ds, tmp_path / "a", "yolo-darknet", images="none")
    side = yaml.safe_load((tmp_path / "a" / "visionflow.yaml").read_text())
    assert side["category_ids"] == CATEGORY_IDS and side["kpt_shape"] == [3, 3]
    assert side["task"] == "pose"


# --- bad input ----------------------------------------------------------------------------

def _darknet(tmp: Path, entries: list[str], labels: dict[str, str] | None = None) -> Path:
    root = tmp / "dk"
    make_image(root / "data" / "obj" / "a.jpg")
    for name, text in (labels or {"a": "0 0.5 0.5 0.2 0.2\n"}).items():
        (root / "data" / "obj" / f"{name}.txt").write_text(text)
    (root / "obj.names").write_text("x\ny\n")
    (root / "obj.data").write_text("classes = 2\ntrain = train.txt\nnames = obj.names\n")
    (root / "train.txt").write_text("".join(f"{e}\n" for e in entries))
    return root


@pytest.mark.parametrize("entry, error, parts", [
    ("../../etc/x.jpg", vf.UnsafeInputError, ["train.txt:2", "outside the dataset folder"]),
    ("/etc/x.jpg", vf.UnsafeInputError, ["train.txt:2", "absolute path"]),
    ("data/obj/gone.jpg", vf.MissingImageError, ["train.txt:2", "gone.jpg", "not found"]),
])
def test_bad_list_entries(tmp_path, entry, error, parts):
    root = _darknet(tmp_path, ["data/obj/a.jpg", entry])
    with pytest.raises(error) as e:
        vf.load(root)
    for part in parts:
        assert part in str(e.value)
    report = vf.Report()
    ds = vf.load(root, errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["a.jpg"] and len(ds.annotations) == 1
    assert len(report.errors) == 1


def test_bad_label_line_names_file_and_line(tmp_path):
    root = _darknet(tmp_path, ["data/obj/a.jpg"], {"a": "0 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n"})
    with pytest.raises(vf.ParseError, match=r"data/obj/a\.txt:2: class index 7 .*0\.\.1 "
                                            r"\(2 names in .*obj\.names\)"):
        vf.load(root)
    assert len(vf.load(root, errors="skip").annotations) == 1


def test_symlinked_image_leading_outside(tmp_path):
    outside = make_image(tmp_path / "elsewhere" / "secret.jpg")
    root = _darknet(tmp_path, ["data/obj/a.jpg", "data/obj/b.jpg"])
    (root / "data" / "obj" / "b.jpg").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match=r"train\.txt:2.*outside the dataset folder"):
        vf.load(root)


def test_missing_names_file(tmp_path):
    root = _darknet(tmp_path, ["data/obj/a.jpg"])
    (root / "obj.names").unlink()
    with pytest.raises(vf.ParseError, match="obj.data: no class names file"):
        vf.load(root, "yolo-darknet")


def test_malformed_obj_data(tmp_path):
    root = _darknet(tmp_path, ["data/obj/a.jpg"])
    (root / "obj.data").write_text("classes = 2\nthis is not a setting\n")
    with pytest.raises(vf.ParseError, match=r"obj\.data:2: expected 'key = value'"):
        vf.load(root, "yolo-darknet")


def test_named_by_obj_data_file(tmp_path):
    root = _darknet(tmp_path, ["data/obj/a.jpg"])
    assert vf.detect(root / "obj.data")[0].format == "yolo-darknet"
    assert len(vf.load(root / "obj.data").annotations) == 1
