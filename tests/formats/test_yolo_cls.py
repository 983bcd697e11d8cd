"""Classification folders: root/<split>/<class>/<image> (Ultralytics classify, ImageFolder)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import visionflow as vf
from visionflow.formats import registry, yolo_cls
from tests.conftest import make_image, shared_path, tree_snapshot

IMAGENET10_CLASSES = ["cock", "electric_ray", "goldfish", "great_white_shark", "hammerhead",
                      "hen", "ostrich", "stingray", "tench", "tiger_shark"]


def files(root: Path) -> dict[str, bytes]:
    """The dataset's files (not visionflow's output marker)."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".visionflow-output"}


def folders(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir())


def make_tree(root: Path, layout: dict[str, tuple[int, int]]) -> Path:
    """layout: relative image path -> size."""
    for rel, size in layout.items():
        make_image(root / rel, size)
    return root


def synthetic(tmp_path: Path, *, split: bool = True) -> vf.Dataset:
    """Images in sorted class/name order, one label each (what the format holds exactly)."""
    src = tmp_path / "src"
    rows = [("train", "a.jpg", 1, (40, 30)), ("train", "sub/b.png", 1, (20, 10)),
            ("train", "c.jpg", 2, (16, 16)), ("val", "d.jpg", 3, (33, 21))]
    if not split:
        rows = [("", f, c, s) for _, f, c, s in rows]
    paths = [str(make_image(src / (s or "x") / f, size)) for s, f, _, size in rows]
    images = vf.Images.build([f for _, f, _, _ in rows], [s[0] for *_, s in rows],
                             [s[1] for *_, s in rows], split=[s for s, *_ in rows], path=paths)
    ann = vf.Annotations.build(range(len(rows)), [c for _, _, c, _ in rows],
                               np.full((len(rows), 4), np.nan))
    return vf.Dataset(images, ann, vf.Categories.from_names(["bird", "cat", "dog"]))


# --- real data ------------------------------------------------------------------------------

def test_imagenet10_reads_every_image_with_its_folder_class():
    root = shared_path("ultralytics-hub-datasets", "imagenet10")
    ds = vf.load(root, "yolo-cls")
    assert len(ds.images) == 20 and len(ds.annotations) == 20
    assert ds.categories.names == IMAGENET10_CLASSES
    assert ds.categories.ids == list(range(1, 11))
    assert ds.images.splits() == ["train", "val"]
    assert (ds.images.split == "train").sum() == 10
    assert ds.annotations.is_label.all()
    assert np.array_equal(np.sort(ds.annotations.image_index), np.arange(20))
    names = {c.id: c.name for c in ds.categories}
    for i in range(20):
        path = Path(ds.images.path[i])
        assert path.parent.name == names[int(ds.annotations.category_id[i])]
        assert path.parent.parent.name == ds.images.split[i]
        assert ds.images.file_name[i] == path.name
        with Image.open(path) as im:
            assert (ds.images.width[i], ds.images.height[i]) == im.size
    row = list(ds.images.file_name).index("n01443537_22323.JPEG")
    assert names[int(ds.annotations.category_id[ds.annotations.image_index == row][0])] == \
        "goldfish"


def test_imagenet10_is_detected():
    root = shared_path("ultralytics-hub-datasets", "imagenet10")
    found = vf.detect(root)
    assert found[0].format == "yolo-cls" and found[0].confidence >= 0.7
    assert any("train" in r for r in found[0].reasons)


def test_imagenet10_fixed_point(tmp_path):
    root = shared_path("ultralytics-hub-datasets", "imagenet10")
    before = tree_snapshot(root)
    ds = vf.load(root, "yolo-cls")
    vf.write(ds, tmp_path / "out", "yolo-cls", images="copy")
    assert files(tmp_path / "out") == files(root)
    again = vf.load(tmp_path / "out", "yolo-cls")
    assert again.differences(ds) == []
    assert tree_snapshot(root) == before


@pytest.mark.parametrize("not_classification", [
    ("ultralytics-hub-datasets", "coco8"),
    ("ultralytics-hub-datasets", "coco8", "images"),
    ("ultralytics-hub-datasets", "dota8"),
    ("bccd",),
    ("pycococreator-shapes", "examples", "shapes"),
])
def test_detection_layouts_are_not_classification(not_classification):
    assert yolo_cls.detect(shared_path(*not_classification)) is None


# --- round trip and fixed point -------------------------------------------------------------

@pytest.mark.parametrize("split", [True, False])
def test_round_trip_synthetic(tmp_path, split):
    ds = synthetic(tmp_path, split=split)
    report = vf.write(ds, tmp_path / "out", "yolo-cls")
    assert report.findings == []
    back = vf.load(tmp_path / "out", "yolo-cls")
    assert back.differences(ds) == []
    out = tmp_path / "out"
    prefix = ("train/", "val/") if split else ("", "")
    assert (out / f"{prefix[0]}bird/a.jpg").is_file()
    assert (out / f"{prefix[0]}bird/sub/b.png").is_file()
    assert (out / f"{prefix[1]}dog/d.jpg").is_file()
    # every class folder in every split, so class indices agree between splits
    if split:
        assert folders(out) == ["train", "train/bird", "train/bird/sub", "train/cat",
                                "train/dog", "val", "val/bird", "val/cat", "val/dog"]


def test_fixed_point_same_tree(tmp_path):
    ds = synthetic(tmp_path)
    vf.write(ds, tmp_path / "one", "yolo-cls")
    vf.write(vf.load(tmp_path / "one", "yolo-cls"), tmp_path / "two", "yolo-cls")
    assert files(tmp_path / "one") == files(tmp_path / "two")
    assert folders(tmp_path / "one") == folders(tmp_path / "two")


def test_class_without_images_survives(tmp_path):
    ds = synthetic(tmp_path)
    ds = ds.replace(categories=vf.Categories.from_names(["bird", "cat", "dog", "zebra"]))
    vf.write(ds, tmp_path / "out", "yolo-cls")
    assert (tmp_path / "out" / "val" / "zebra").is_dir()
    assert vf.load(tmp_path / "out", "yolo-cls").categories.names == ["bird", "cat", "dog",
                                                                       "zebra"]


def test_same_name_in_two_class_folders_is_prefixed_and_written_back(tmp_path):
    src = make_tree(tmp_path / "src", {"train/cat/001.jpg": (10, 10),
                                       "train/dog/001.jpg": (12, 10),
                                       "val/cat/001.jpg": (8, 8)})
    ds = vf.load(src, "yolo-cls")
    assert list(ds.images.file_name) == ["cat/001.jpg", "dog/001.jpg", "001.jpg"]
    vf.write(ds, tmp_path / "out", "yolo-cls")
    assert files(tmp_path / "out") == files(src)


def test_hidden_and_non_image_files_are_ignored(tmp_path):
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10),
                                       "train/.ipynb_checkpoints/b.jpg": (10, 10),
                                       "train/cat/.c.jpg": (10, 10)})
    (src / "README.md").write_text("about")
    (src / "train" / "cat" / "notes.txt").write_text("hello")
    ds = vf.load(src, "yolo-cls")
    assert list(ds.images.file_name) == ["a.jpg"] and ds.categories.names == ["cat"]


def test_images_outside_class_folders_are_reported(tmp_path):
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10), "train/loose.jpg": (9, 9)})
    report = vf.Report()
    ds = vf.load(src, "yolo-cls", report=report)
    assert len(ds.images) == 1
    assert report.codes() == ["yolo-cls.stray_images"]


def test_aliases():
    assert registry.get("imagefolder").name == "yolo-cls"
    assert registry.get("classification-folders").name == "yolo-cls"


# --- writer losses and refusals -------------------------------------------------------------

def test_writer_reports_unlabelled_and_multi_label_images(tmp_path):
    ds = synthetic(tmp_path)
    extra = vf.Annotations.build([0, 1], [3, 2], [[np.nan] * 4, [1, 1, 5, 5]], id=[10, 11])
    ds = ds.replace(annotations=vf.Annotations.concat([ds.annotations[[0, 2, 3]], extra]))
    report = vf.write(ds, tmp_path / "out", "yolo-cls")
    codes = {f.code: f.count for f in report}
    assert codes == {"loss.boxes": 1, "loss.unlabelled_images": 1, "loss.extra_labels": 1}
    out = tmp_path / "out"
    assert (out / "train" / "bird" / "a.jpg").is_file()  # first label wins
    assert not (out / "train" / "dog" / "a.jpg").exists()
    assert not list(out.rglob("b.png"))  # no label: not placed


def test_writer_reports_unsorted_class_order(tmp_path):
    ds = synthetic(tmp_path)
    ds = ds.replace(categories=vf.Categories.from_names(["bird", "dog", "cat"]))
    report = vf.write(ds, tmp_path / "out", "yolo-cls")
    assert report.codes() == ["loss.class_order"]
    with pytest.raises(vf.LossError, match="class order"):
        vf.write(ds, tmp_path / "strict", "yolo-cls", strict=True)


@pytest.mark.parametrize("change, message", [
    ({"images": "none"}, "--images none is not possible"),
])
def test_images_none_is_refused(tmp_path, change, message):
    with pytest.raises(vf.Error, match=message):
        vf.write(synthetic(tmp_path), tmp_path / "out", "yolo-cls", **change)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("names, message", [
    (["bird", "c/at", "dog"], r"class name 'c/at' cannot be a folder name"),
    (["bird", "..", "dog"], r"class name '\.\.' cannot be a folder name"),
    (["bird", "bird", "dog"], r"class name 'bird' is used by several categories"),
])
def test_class_names_that_cannot_be_folders_are_refused(tmp_path, names, message):
    ds = synthetic(tmp_path).replace(categories=vf.Categories.from_names(names))
    with pytest.raises(vf.Error, match=message):
        vf.write(ds, tmp_path / "out", "yolo-cls")


def test_mixing_split_less_and_split_images_is_refused(tmp_path):
    ds = synthetic(tmp_path)
    ds = ds.replace(images=ds.images.replace(split=np.array(["train", "", "", "val"],
                                                            dtype=object)))
    with pytest.raises(vf.Error, match="cannot mix split-less images with splits"):
        vf.write(ds, tmp_path / "out", "yolo-cls")


# --- bad input ------------------------------------------------------------------------------

def test_corrupt_image_is_an_error_naming_the_file(tmp_path):
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10)})
    bad = src / "train" / "dog" / "broken.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a jpeg at all")
    with pytest.raises(vf.ValidationError, match=r"broken\.jpg: cannot read image"):
        vf.load(src, "yolo-cls")
    report = vf.Report()
    ds = vf.load(src, "yolo-cls", errors="skip", report=report)
    assert list(ds.images.file_name) == ["a.jpg"]
    assert ds.categories.names == ["cat", "dog"]
    assert [f.where for f in report.errors] == [str(bad)]


def test_reading_a_file_is_a_clear_error(tmp_path):
    f = make_image(tmp_path / "a.jpg")
    with pytest.raises(vf.ParseError, match=r"a\.jpg: yolo-cls reads a folder"):
        vf.load(f, "yolo-cls")


def test_symlinked_class_folder_leading_outside_is_refused(tmp_path):
    outside = make_tree(tmp_path / "outside", {"secret.jpg": (10, 10)})
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10)})
    os.symlink(outside, src / "train" / "dog")
    with pytest.raises(vf.UnsafeInputError, match=r"train/dog: is a link that leads outside"):
        vf.load(src, "yolo-cls")
    report = vf.Report()
    ds = vf.load(src, "yolo-cls", errors="skip", report=report)
    assert list(ds.images.file_name) == ["a.jpg"]
    assert len(report.errors) == 1


def test_symlinked_image_leading_outside_is_refused(tmp_path):
    outside = make_image(tmp_path / "outside" / "secret.jpg")
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10)})
    os.symlink(outside, src / "train" / "cat" / "b.jpg")
    with pytest.raises(vf.UnsafeInputError, match=r"cat/b\.jpg: is a link that leads outside"):
        vf.load(src, "yolo-cls")


def test_symlink_inside_the_root_is_followed(tmp_path):
    src = make_tree(tmp_path / "src", {"train/cat/a.jpg": (10, 10), ".pool/b.jpg": (5, 5)})
    os.symlink(src / ".pool", src / "train" / "dog")
    ds = vf.load(src, "yolo-cls")
    assert ds.categories.names == ["cat", "dog"]
    assert list(ds.images.file_name) == ["a.jpg", "b.jpg"]


def test_two_images_landing_on_one_file_is_refused(tmp_path):
    ds = synthetic(tmp_path)  # "a.jpg" is a bird in train; add "bird/a.jpg", also a bird
    path = make_image(tmp_path / "other" / "a.jpg")
    images = vf.Images.concat([ds.images, vf.Images.build(["bird/a.jpg"], [64], [48],
                                                          split="train", path=[str(path)])])
    ann = vf.Annotations.concat([ds.annotations, vf.Annotations.build(
        [4], [1], [[np.nan] * 4], id=[99])])
    ds = vf.Dataset(images.replace(id=np.arange(1, 6)), ann, ds.categories)
    with pytest.raises(vf.Error, match=r"'a\.jpg' and 'bird/a\.jpg' would both be written to "
                                       r"train/bird/a\.jpg"):
        vf.write(ds, tmp_path / "out", "yolo-cls")


def test_empty_folder_reads_as_empty_with_a_warning(tmp_path):
    (tmp_path / "empty").mkdir()
    report = vf.Report()
    ds = vf.load(tmp_path / "empty", "yolo-cls", report=report)
    assert len(ds.images) == 0 and len(ds.categories) == 0
    assert report.codes() == ["yolo-cls.no_classes"]


_name = st.text(st.sampled_from("abcxyz_-0 é"), min_size=1, max_size=6).filter(
    lambda s: s.strip() == s and not s.startswith("."))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(classes=st.lists(_name, min_size=1, max_size=4, unique=True),
       picks=st.lists(st.tuples(st.sampled_from(["train", "val", "test"]), st.integers(0, 3),
                                _name), max_size=8, unique_by=lambda t: (t[0], t[2])))
def test_round_trip_property(tmp_path_factory, classes, picks):
    """Any sorted class list and any labelled images come back as written."""
    tmp = tmp_path_factory.mktemp("prop")
    classes = sorted(classes)
    order = {"train": 0, "val": 1, "test": 2}
    rows = sorted(((s, c % len(classes), f"{n}.png") for s, c, n in picks),
                  key=lambda r: (order[r[0]], r[1], r[2]))
    paths = [str(make_image(tmp / "src" / str(k) / "i.png", (8, 6))) for k in range(len(rows))]
    images = vf.Images.build([f for _, _, f in rows], [8] * len(rows), [6] * len(rows),
                             split=[s for s, _, _ in rows], path=paths)
    ann = vf.Annotations.build(range(len(rows)), [c + 1 for _, c, _ in rows],
                               np.full((len(rows), 4), np.nan))
    ds = vf.Dataset(images, ann, vf.Categories.from_names(classes))
    vf.write(ds, tmp / "out", "yolo-cls")
    back = vf.load(tmp / "out", "yolo-cls")
    assert back.differences(ds) == []
