"""The writer helpers (issue 12): rows_by_image groups annotation rows per image the way every
writer needs them, and placements / folder_name are the one place output paths are made and
checked (absolute names, '..', two images on one label file, split names as folders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.core.errors import OutputError, UnsafeInputError
from visionflow.formats.writing import folder_name, image_order, placements, rows_by_image

from ..conftest import make_image


def _naive(image_index: list[int], n_images: int) -> list[list[int]]:
    groups: list[list[int]] = [[] for _ in range(n_images)]
    for row, image in enumerate(image_index):
        groups[image].append(row)
    return groups


@st.composite
def _tables(draw):
    n_images = draw(st.integers(0, 12))
    rows = draw(st.lists(st.integers(0, n_images - 1), max_size=60)) if n_images else []
    return rows, n_images


@settings(max_examples=300, deadline=None)
@given(_tables())
def test_rows_by_image_equals_a_naive_grouping(table):
    image_index, n_images = table
    ann = vf.Annotations.build(image_index, [1] * len(image_index),
                               [[0, 0, 1, 1]] * len(image_index))
    groups = rows_by_image(ann, n_images)
    assert [g.tolist() for g in groups] == _naive(image_index, n_images)
    assert all(g.dtype.kind == "i" for g in groups)
    order, bounds = image_order(ann, n_images)  # the same grouping, as one sorted array
    assert [order[bounds[i]:bounds[i + 1]].tolist() for i in range(n_images)] == \
        _naive(image_index, n_images)


def test_rows_by_image_of_a_dataset_and_of_a_subset():
    images = vf.Images.build(["a.jpg", "b.jpg", "c.jpg"], [8] * 3, [8] * 3)
    ann = vf.Annotations.build([2, 0, 2, 0], [1, 1, 1, 1], [[0, 0, 1, 1]] * 4)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    assert [g.tolist() for g in rows_by_image(ds)] == [[1, 3], [], [0, 2]]
    subset = ann[np.array([True, False, True, False])]  # rows of the subset, not of ann
    assert [g.tolist() for g in rows_by_image(subset, 3)] == [[], [], [0, 1]]
    assert rows_by_image(vf.Annotations.empty(), 0) == []


def test_placements_make_paths_and_refuse_two_images_on_one_label_file():
    dest, labels = placements(["a.jpg", "sub\\b.png"], ["train", ""],
                              image=lambda rel, s: f"images/{s}/{rel}" if s else f"images/{rel}",
                              label=lambda rel, s: f"labels/{Path(rel).with_suffix('.txt')}")
    assert dest == ["images/train/a.jpg", "images/sub/b.png"]  # backslashes made POSIX
    assert labels == ["labels/a.txt", "labels/sub/b.txt"]
    with pytest.raises(OutputError, match=r"^labels/a.txt: images 'a.jpg' and 'a.png' would "
                                          r"share one label file; rename one of them$"):
        placements(["a.jpg", "a.png"], ["", ""], image=lambda rel, s: rel,
                   label=lambda rel, s: f"labels/{Path(rel).with_suffix('.txt')}")


@pytest.mark.parametrize("name,problem", [("../x.jpg", "points outside the dataset folder"),
                                          ("/etc/x.jpg", "is an absolute path"),
                                          ("C:/x.jpg", "is an absolute path"),
                                          ("", "empty or invalid file name")])
def test_placements_refuse_names_that_leave_the_output(name, problem):
    with pytest.raises(UnsafeInputError, match=problem):
        placements([name], [""], image=lambda rel, s: rel, label=lambda rel, s: rel + ".txt")


@pytest.mark.parametrize("name", [".", "..", "a/b", "a\\b", "a\x00b"])
def test_folder_name_refuses_names_that_are_not_one_folder(name):
    with pytest.raises(OutputError, match=r"out: split name .* cannot be a folder name"):
        folder_name(name, "out")


def test_folder_name_passes_plain_and_empty_names():
    assert folder_name("train", "out") == "train" and folder_name("", "out") == ""


def _two_on_one_label(tmp_path: Path, split: str = "train") -> vf.Dataset:
    paths = [str(make_image(tmp_path / "src" / n)) for n in ("a.jpg", "a.png")]
    images = vf.Images.build(["a.jpg", "a.png"], [64, 64], [48, 48], split=[split] * 2,
                             path=paths)
    ann = vf.Annotations.build([0, 1], [1, 1], [[1, 2, 20, 30]] * 2)
    return vf.Dataset(images, ann, vf.Categories.from_names(["x"]))


@pytest.mark.parametrize("fmt,label,shared", [
    ("yolo", "labels/train/a.txt", "one label file"),
    ("yolo-darknet", "obj_train_data/a.txt", "one label file"),
    ("map-txt", "train/ground-truth/a.txt", "one mAP-tool file"),
    ("dota", "", "one label file")])
def test_writers_refuse_two_images_on_one_label_file(fmt, label, shared, tmp_path):
    with pytest.raises(OutputError, match=rf"{label}.*images 'a.jpg' and 'a.png' would share "
                                          rf"{shared}; rename one of them"):
        vf.write(_two_on_one_label(tmp_path), tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["yolo", "yolo-darknet", "map-txt"])
def test_writers_refuse_an_image_name_leaving_the_output(fmt, tmp_path):
    ds = _two_on_one_label(tmp_path)
    ds = ds.replace(images=ds.images.replace(file_name=np.array(["../a.jpg", "b.png"], object)))
    with pytest.raises(UnsafeInputError, match=r"image '../a.jpg'.*points outside"):
        vf.write(ds, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", ["kitti", "tf-csv", "wider-face", "open-images", "mot"])
def test_split_folders_are_checked_in_one_place(fmt, tmp_path):
    ds = _two_on_one_label(tmp_path, split="..")
    ds = ds.replace(images=ds.images.replace(file_name=np.array(["a.jpg", "b.png"], object)))
    with pytest.raises(OutputError, match=r"split name '\.\.' cannot be a folder name"):
        vf.write(ds, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()
