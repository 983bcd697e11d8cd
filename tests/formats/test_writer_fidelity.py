"""Writers never change data silently (issue 11, items 7, 8, 10, 11, 20, 22, 32): what a target
cannot keep is reported (and refused with strict), what it keeps comes back, the summary counts
what was written, and hostile names are refused or come back as they were."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.core.errors import Error, LossError, OutputError
from visionflow.core.geometry import mask_to_rle
from visionflow.formats import registry
from visionflow.formats.base import BOXES, CLASS_ORDER, LABELS, MASKS

from ..conftest import make_image

WRITABLE = [f for f in registry.all_formats() if f.read and f.write]
runner = CliRunner()


def _dataset(fmt, root: Path, *, ids=(1, 2, 3), names=("cat", "dog", "bird"),
             files=("a.png", "b.png", "c.png"), supercategory=None, splits=None) -> vf.Dataset:
    """One object per image, of the kind `fmt` holds: a box, else a mask, else a label."""
    n = len(files)
    paths = [str(make_image(root / "src" / f"{j}.png")) for j in range(n)]
    images = vf.Images.build(list(files), [64] * n, [48] * n,
                             split=list(splits) if splits else ["train"] * n, path=paths)
    cats = vf.Categories(vf.Category(i, name, supercategory) for i, name in zip(ids, names))
    rows, cat_ids = list(range(n)), [ids[j % len(ids)] for j in range(n)]
    if BOXES in fmt.supports:
        ann = vf.Annotations.build(rows, cat_ids, [[1, 2, 20, 30]] * n)
    elif MASKS in fmt.supports:
        mask = np.zeros((48, 64), bool)
        mask[2:30, 1:20] = True
        rle = np.empty(n, object)
        rle[:] = [mask_to_rle(mask)] * n
        ann = vf.Annotations.build(rows, cat_ids, [[1, 2, 20, 30]] * n, rle=rle)
    else:
        ann = vf.Annotations.build(rows, cat_ids, [[np.nan] * 4] * n)
    return vf.Dataset(images, ann, cats)


def _losses(report) -> set[str]:
    return {f.code for f in report.findings if f.code.startswith("loss.")}


# --- item 7: 0-based category ids -------------------------------------------------------------

@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_zero_based_category_ids_are_kept_or_reported(fmt, tmp_path):
    ds = _dataset(fmt, tmp_path, ids=(0, 1, 2))
    report = vf.write(ds, tmp_path / "out", fmt.name)
    back = vf.load(tmp_path / "out", fmt.name)
    if "loss.category_ids" not in _losses(report):
        assert sorted(back.categories.ids) == [0, 1, 2], f"{fmt.name} renumbered silently"
    else:
        assert sorted(back.categories.ids) != [0, 1, 2]
        with pytest.raises(LossError, match="category ids"):
            vf.write(ds, tmp_path / "strict", fmt.name, strict=True)
        assert not (tmp_path / "strict").exists()


def test_renumbering_message_names_the_ids(tmp_path):
    fmt = registry.get("voc")
    report = vf.write(_dataset(fmt, tmp_path, ids=(0, 1, 2)), tmp_path / "out", "voc")
    (loss,) = [f for f in report.findings if f.code == "loss.category_ids"]
    assert loss.count == 3 and "0 -> 1, 1 -> 2, 2 -> 3" in loss.message


def test_one_based_ids_in_order_are_no_loss(tmp_path):
    fmt = registry.get("voc")
    report = vf.write(_dataset(fmt, tmp_path), tmp_path / "out", "voc", strict=True)
    assert not _losses(report)


def test_cityscapes_standard_ids_are_known_to_survive(tmp_path):
    fmt = registry.get("cityscapes")
    ds = _dataset(fmt, tmp_path, ids=(7, 24, 26), names=("road", "person", "car"),
                  supercategory=None)
    report = vf.write(ds, tmp_path / "out", "cityscapes", strict=True)
    assert not _losses(report)
    assert vf.load(tmp_path / "out").categories.by_id(24).name == "person"


# --- item 8: supercategories ------------------------------------------------------------------

@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_supercategories_are_kept_or_reported(fmt, tmp_path):
    ds = _dataset(fmt, tmp_path, supercategory="animal")
    report = vf.write(ds, tmp_path / "out", fmt.name)
    back = vf.load(tmp_path / "out", fmt.name)
    kept = [c.supercategory for c in back.categories] == ["animal"] * 3
    lost = {"loss.supercategories", "loss.category_meta"} & _losses(report)
    assert kept or lost, f"{fmt.name} dropped supercategories silently"
    if lost:
        with pytest.raises(LossError, match="supercategories"):
            vf.write(ds, tmp_path / "strict", fmt.name, strict=True)


def test_keypoint_names_a_format_cannot_keep_are_reported(tmp_path):
    make_image(tmp_path / "src" / "a.png")
    cats = vf.Categories([vf.Category(1, "person", keypoints=("nose", "eye"),
                                      skeleton=((1, 2),))])
    kps = np.array([[[5, 5, 2], [8, 6, 2]]], np.float64)
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], path=[str(tmp_path / "src" / "a.png")]),
                    vf.Annotations.build([0], [1], [[1, 1, 20, 20]], keypoints=kps), cats)
    report = vf.write(ds, tmp_path / "dm", "datumaro")
    assert "loss.keypoint_names" in _losses(report)
    assert "loss.keypoint_names" not in _losses(vf.write(ds, tmp_path / "coco", "coco"))


# --- item 11: what is lost and what was written --------------------------------------------------

def _mixed(root: Path) -> vf.Dataset:
    """A bare box, a mask, a polygon, a box and an image-level label over three images."""
    paths = [str(make_image(root / "src" / f)) for f in ("a.png", "b.png", "c.png")]
    images = vf.Images.build(["a.png", "b.png", "c.png"], [64] * 3, [48] * 3,
                             split=["train"] * 3, path=paths)
    mask = np.zeros((48, 64), bool)
    mask[5:20, 5:20] = True
    rle = np.empty(5, object)
    rle[:] = [None, mask_to_rle(mask), None, None, None]
    polygons = vf.Polygons.from_lists([[], [], [np.array([[30, 5], [50, 5], [50, 40.]])], [],
                                       []])
    ann = vf.Annotations.build([0, 0, 1, 1, 2], [1, 2, 1, 2, 1],
                               [[1, 2, 20, 30], [5, 5, 20, 20], [30, 5, 50, 40], [2, 2, 9, 9],
                                [np.nan] * 4], rle=rle, polygons=polygons)
    return vf.Dataset(images, ann, vf.Categories.from_names(["cat", "dog"]))


@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_report_counts_what_was_written(fmt, tmp_path):
    report = vf.write(_mixed(tmp_path), tmp_path / "out", fmt.name)
    back = vf.load(tmp_path / "out", fmt.name)
    assert report.written["images"] == len(back.images)
    assert report.written["annotations"] == len(back.annotations)
    assert report.written["format"] == fmt.name


@pytest.mark.parametrize("name", ["yolo-cls", "cls-csv", "voc-seg", "binary-masks"])
def test_boxless_targets_never_promise_the_box(name, tmp_path):
    report = vf.write(_mixed(tmp_path), tmp_path / "out", name)
    for f in report.findings:
        if f.code.startswith("loss."):
            assert "keeps the box" not in f.message, f.message


def test_overlapping_masks_count_only_what_survives(tmp_path):
    make_image(tmp_path / "src" / "a.png")
    mask = np.zeros((48, 64), bool)
    mask[5:20, 5:20] = True
    rle = np.empty(2, object)
    rle[:] = [mask_to_rle(mask)] * 2  # the second hides the first completely
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], path=[str(tmp_path / "src" / "a.png")]),
                    vf.Annotations.build([0, 0], [1, 1], [[5, 5, 20, 20]] * 2, rle=rle),
                    vf.Categories.from_names(["cat"]))
    for name in ("voc-seg", "cityscapes"):
        report = vf.write(ds, tmp_path / name, name)
        assert report.written["annotations"] == len(vf.load(tmp_path / name).annotations) == 1


def test_cli_convert_summary_counts_what_was_written(tmp_path):
    root = tmp_path / "src"
    (root / "annotations").mkdir(parents=True)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                      {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 10],
                            "iscrowd": 0},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [4, 4, 20, 10],
                            "iscrowd": 0}],
           "categories": [{"id": 1, "name": "cat"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    for name in ("a.png", "b.png"):
        make_image(root / "images" / "train" / name)
    result = runner.invoke(app, ["convert", str(root), str(tmp_path / "out"), "--to",
                                 "cls-csv"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # boxes have no place in a classification CSV: nothing of them was written
    assert "wrote 2 images, 0 annotations, 1 class as cls-csv" in result.stderr
    assert "keeps the box" not in result.stderr


# --- item 22: unknown options ---------------------------------------------------------------

def test_unknown_writer_option_is_refused_with_a_suggestion(tmp_path):
    ds = _dataset(registry.get("coco"), tmp_path)
    with pytest.raises(Error, match="unknown writer option 'layuot' for format coco; did you "
                                    "mean 'layout'"):
        vf.write(ds, tmp_path / "out", "coco", layuot="roboflow")
    with pytest.raises(Error, match="unknown writer option 'zzz' for format voc"):
        vf.write(ds, tmp_path / "out", "voc", zzz="1")
    assert not (tmp_path / "out").exists()
    vf.write(ds, tmp_path / "out", "coco", layout="roboflow")  # a known one still works
    assert (tmp_path / "out" / "train" / "_annotations.coco.json").is_file()


def test_unknown_reader_option_is_refused(tmp_path):
    ds = _dataset(registry.get("yolo"), tmp_path)
    vf.write(ds, tmp_path / "out", "yolo")
    with pytest.raises(Error, match="unknown reader option 'tsak' for format yolo; did you "
                                    "mean 'task'"):
        vf.load(tmp_path / "out", "yolo", tsak="detect")
    assert len(vf.load(tmp_path / "out", "yolo", task="detect").annotations) == 3


def test_cli_unknown_option_is_one_line_and_exit_1(tmp_path):
    ds = _dataset(registry.get("coco"), tmp_path)
    vf.write(ds, tmp_path / "coco", "coco")
    result = runner.invoke(app, ["convert", str(tmp_path / "coco"), str(tmp_path / "out"),
                                 "--to", "coco", "-O", "layuot=roboflow"])
    assert result.exit_code == 1
    assert "did you mean 'layout'" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# --- item 20: data.yaml has train and val ------------------------------------------------------

@pytest.mark.parametrize("splits", [("train", "train", "train"), ("val", "val", "val"),
                                    ("test", "test", "test"), ("train", "test", "test"),
                                    ("train", "val", "test"), ("", "", ""), ("a", "b", "b")])
def test_yolo_data_yaml_always_has_train_and_val(splits, tmp_path):
    ds = _dataset(registry.get("yolo"), tmp_path, splits=splits)
    report = vf.write(ds, tmp_path / "out", "yolo")
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    # Ultralytics' check_det_dataset: both keys, each naming an existing folder
    for key in ("train", "val"):
        assert key in doc and (tmp_path / "out" / doc[key]).is_dir()
    missing = {"train", "val"} - set(splits) if splits[0] else set()
    assert {f.code for f in report.findings} == {f"yolo.{k}_stand_in" for k in missing}
    back = vf.load(tmp_path / "out")
    assert sorted(back.images.split.tolist()) == sorted(splits)  # no split seen twice


# --- item 10: MOT frame names ---------------------------------------------------------------

def test_mot_renaming_is_reported_refused_with_strict_and_recoverable(tmp_path):
    fmt = registry.get("mot")
    ds = _dataset(fmt, tmp_path, files=("cam_a.png", "cam_b.png", "cam_c.png"))
    report = vf.write(ds, tmp_path / "out", "mot")
    (loss,) = [f for f in report.findings if f.code == "loss.file_names"]
    assert loss.count == 3 and "visionflow.json" in loss.message
    assert sorted(p.name for p in (tmp_path / "out" / "train" / "img1").iterdir()) == [
        "000001.png", "000002.png", "000003.png"]
    assert vf.load(tmp_path / "out").images.file_name.tolist() == ["cam_a.png", "cam_b.png",
                                                                   "cam_c.png"]
    with pytest.raises(LossError, match="image file names"):
        vf.write(ds, tmp_path / "strict", "mot", strict=True)
    named = _dataset(fmt, tmp_path / "n", files=("000001.png", "000002.png", "000003.png"))
    assert "loss.file_names" not in _losses(vf.write(named, tmp_path / "ok", "mot"))


# --- item 32: hostile names ------------------------------------------------------------------

_HOSTILE = st.text(st.sampled_from(list("ab.-_ é日☃") + ["\n", "\r", "\t", "\u2028", "\x0b", "\x01",
                                                         "\x85"]), min_size=1, max_size=6)


@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_hostile_names_are_refused_or_come_back(fmt, data):
    # (a blank class name breaks the model's own rules: no reader gives one)
    names = data.draw(st.lists(_HOSTILE.filter(str.strip), min_size=2, max_size=3, unique=True))
    # (hidden files, ".x", are a reader's choice to skip, not a name a writer corrupts)
    stems = data.draw(st.lists(_HOSTILE.filter(lambda s: not s.startswith(".")),
                               min_size=2, max_size=2, unique=True))
    files = [f"{s}.png" for s in stems]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ds = _dataset(fmt, tmp, ids=tuple(range(1, len(names) + 1)), names=tuple(names),
                      files=tuple(files))
        try:
            vf.write(ds, tmp / "out", fmt.name)
        except Error:
            assert not (tmp / "out").exists()
            return
        back = vf.load(tmp / "out", fmt.name)
        order = (lambda x: x) if CLASS_ORDER in fmt.supports else sorted
        expected = order(names)
        if LABELS not in fmt.supports or BOXES in fmt.supports or MASKS in fmt.supports:
            assert back.categories.names == expected, fmt.name
        assert sorted(back.images.file_name.tolist()) == sorted(files), fmt.name
        assert len(back.annotations) == len(ds.annotations), fmt.name


def test_newline_in_a_class_name_no_longer_shifts_darknet_classes(tmp_path):
    fmt = registry.get("yolo-darknet")
    ds = _dataset(fmt, tmp_path, names=("traffic\nlight", "car", "bus"))
    with pytest.raises(OutputError, match=r"class name 'traffic\\nlight' contains '\\n'"):
        vf.write(ds, tmp_path / "out", "yolo-darknet")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["voc-seg", "open-images"])
def test_spaces_in_file_names_are_refused_where_fields_split_on_them(name, tmp_path):
    ds = _dataset(registry.get(name), tmp_path, files=("my photo.png", "b.png", "c.png"))
    with pytest.raises(OutputError, match="image name 'my photo' contains ' '|image name "
                                          "'my photo.png' contains ' '"):
        vf.write(ds, tmp_path / "out", name)
