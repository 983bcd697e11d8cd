"""Images that live elsewhere (issue 11, item 18): --images-dir for every reader that names its
images, a clear refusal from those that find images by listing their own folders, and
--follow-links for image folders that are symlinks leading out of the dataset."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.cli.main import app
from visionflow.formats import registry
from visionflow.formats.base import BOXES
from visionflow.io.tfrecord import decode_example, encode_example, frame, read_records

runner = CliRunner()

# Readers that find an image by the name their annotations give it.
NAMED = ["coco", "voc", "visionflow", "tfrecord", "tf-csv", "kitti", "labelme", "cvat",
         "createml", "vott-json", "vott-csv", "label-studio", "sagemaker", "dota", "hf-parquet",
         "cls-csv", "jsonl-vlm", "datumaro", "yolo-keras", "open-images", "wider-face",
         "map-txt"]
# Readers that pair images with labels by listing their own folders.
LISTED = ["yolo", "yolo-darknet", "voc-seg", "cityscapes", "binary-masks", "yolo-cls"]
# MOT names frames by number (img1/000001.jpg), not by the source's file names: with
# --images-dir it finds frames named by number only (not covered by the two tests below).
FRAMES = ["mot"]


def test_every_readable_format_is_in_one_list():
    """A new format must say which way it finds images (so --images-dir is tested for it)."""
    readable = {f.name for f in registry.all_formats() if f.read is not None}
    assert readable == set(NAMED) | set(LISTED) | set(FRAMES)


def _coco(root, names=("a.jpg", "b.png"), file_names=None):
    sizes = {"a.jpg": (64, 48), "b.png": (80, 60)}
    for n in names:
        make_image(root / "images" / n, sizes[n])
    doc = {"images": [{"id": i, "file_name": (file_names or names)[i - 1],
                       "width": sizes[n][0], "height": sizes[n][1]}
                      for i, n in enumerate(names, 1)],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 10],
                            "area": 200, "iscrowd": 0},
                           {"id": 2, "image_id": 2, "category_id": 2, "bbox": [10, 10, 30, 20],
                            "area": 600, "iscrowd": 0}],
           "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(doc))
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A two-image dataset, and the same images alone in a folder elsewhere."""
    tmp = tmp_path_factory.mktemp("images-dir")
    src = _coco(tmp / "src")
    pics = tmp / "elsewhere" / "pics"
    pics.mkdir(parents=True)
    for n in ("a.jpg", "b.png"):
        shutil.copy(src / "images" / n, pics / n)
    return vf.load(src), pics


@pytest.mark.parametrize("name", NAMED)
def test_every_reader_naming_images_finds_them_in_images_dir(tmp_path, source, name):
    ds, pics = source
    vf.write(ds, tmp_path / "ann", name, images="none")  # annotations alone
    back = vf.load(tmp_path / "ann", name, images_dir=pics)
    assert sorted(back.images.path.tolist()) == [str(pics / "a.jpg"), str(pics / "b.png")]
    if BOXES in registry.get(name).supports:
        ann = back.annotations
        for r, want in zip(np.argsort(back.images.file_name), ([4, 4, 24, 14], [10, 10, 40, 30])):
            np.testing.assert_allclose(ann.xyxy[ann.image_index == r], [want], atol=0.05)


@pytest.mark.parametrize("name", LISTED)
def test_readers_listing_their_folders_refuse_images_dir(tmp_path, source, name):
    ds, pics = source
    try:
        vf.write(ds, tmp_path / "out", name, images="copy")
    except vf.Error:  # a format the boxes cannot become (yolo-cls): any folder it detects
        pytest.skip(f"{name} cannot hold this dataset")
    with pytest.raises(vf.Error, match=f"`images_dir` cannot be used with {name}: "):
        vf.load(tmp_path / "out", name, images_dir=pics)


def test_names_with_folders_are_found_by_their_tails(tmp_path, source):
    _, pics = source
    root = _coco(tmp_path / "d", file_names=["train/a.jpg", "shots/2024/b.png"])
    shutil.rmtree(root / "images")
    ds = vf.load(root / "annotations" / "instances_default.json", images_dir=pics)
    assert ds.images.file_name.tolist() == ["train/a.jpg", "shots/2024/b.png"]
    assert ds.images.path.tolist() == [str(pics / "a.jpg"), str(pics / "b.png")]


def test_images_dir_keeps_names_inside_it(tmp_path, source):
    _, pics = source
    root = _coco(tmp_path / "d", file_names=["../../x/a.jpg", "b.png"])
    with pytest.raises(vf.UnsafeInputError, match=r"images\[0\].*points outside"):
        vf.load(root, images_dir=pics)
    outside = tmp_path / "outside"
    make_image(outside / "a.jpg", (64, 48))
    linked = tmp_path / "linked"
    shutil.copytree(pics, linked)
    (linked / "a.jpg").unlink()
    os.symlink(outside / "a.jpg", linked / "a.jpg")
    root = _coco(tmp_path / "e")
    with pytest.raises(vf.UnsafeInputError, match=r"'a\.jpg' is a link that leads outside"):
        vf.load(root, images_dir=linked)
    ds = vf.load(root, images_dir=linked, follow_links=True)
    assert ds.images.path[0] == str(linked / "a.jpg")


def test_missing_images_dir_is_one_line(tmp_path, source):
    root = _coco(tmp_path / "d")
    with pytest.raises(vf.Error, match=r"`images_dir` .*nope: no such folder"):
        vf.load(root, images_dir=tmp_path / "nope")
    result = runner.invoke(app, ["info", str(root), "--images-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such folder" in result.output
    assert "error: --images-dir " in result.output  # the library's parameter, as the flag
    assert "Traceback" not in result.output


def _boxes_only_record(src, dest):
    """The raccoon TFRecord's examples without image/encoded (what exports for a trainer that
    reads images from disk hold)."""
    dest.parent.mkdir(parents=True)
    with open(src, "rb") as f, open(dest, "wb") as out:
        for rec in read_records(f):
            ex = decode_example(rec)
            ex.pop("image/encoded")
            out.write(frame(encode_example(ex)))


@pytest.mark.shared
def test_boxes_only_tfrecord_with_the_real_images(tmp_path):
    raccoon = shared_path("raccoon")
    _boxes_only_record(raccoon / "data" / "test.record", tmp_path / "rec" / "test.record")
    embedded = vf.load(raccoon / "data" / "test.record")
    alone = vf.load(tmp_path / "rec" / "test.record")
    assert all(p is None for p in alone.images.path)
    ds = vf.load(tmp_path / "rec" / "test.record", images_dir=raccoon / "images")
    assert len(ds.images) == 40 and all(p is not None for p in ds.images.path)
    assert ds.images.path[0] == str(raccoon / "images" / ds.images.file_name[0])
    np.testing.assert_array_equal(ds.annotations.xyxy, embedded.annotations.xyxy)
    # and from the CLI, through to an output holding the images
    out = tmp_path / "out"
    result = runner.invoke(app, ["convert", str(tmp_path / "rec"), str(out), "--to", "coco",
                                 "--images-dir", str(raccoon / "images")])
    assert result.exit_code == 0, result.output
    assert len(list((out / "images").rglob("*.jpg"))) == 40


@pytest.mark.shared
def test_csv_and_voc_apart_from_their_images(tmp_path):
    raccoon = shared_path("raccoon")
    (tmp_path / "csv").mkdir()
    shutil.copy(raccoon / "data" / "test_labels.csv", tmp_path / "csv" / "test_labels.csv")
    ds = vf.load(tmp_path / "csv", images_dir=raccoon / "images")
    assert ds.source_format == "tf-csv" and len(ds.images) == 40
    assert all(str(p).startswith(str(raccoon / "images")) for p in ds.images.path)
    shutil.copytree(raccoon / "annotations", tmp_path / "voc")
    ds = vf.load(tmp_path / "voc", images_dir=raccoon / "images")
    assert len(ds.images) == 200 and all(p is not None for p in ds.images.path)


# --- --follow-links -------------------------------------------------------------------------

def _linked_images(tmp_path, root, folder):
    """Move root/<folder> out of the dataset and leave a symlink in its place."""
    away = tmp_path / "storage" / folder.replace("/", "_")
    away.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(root / folder, away)
    os.symlink(away, root / folder)


def test_coco_linked_image_folder_needs_follow_links(tmp_path):
    root = _coco(tmp_path / "d")
    _linked_images(tmp_path, root, "images")
    with pytest.raises(vf.UnsafeInputError, match=r"link that leads outside.*--follow-links"):
        vf.load(root)
    ds = vf.load(root, follow_links=True)
    assert ds.images.path.tolist() == [str(root / "images" / "a.jpg"),
                                       str(root / "images" / "b.png")]
    result = runner.invoke(app, ["info", str(root)])
    assert result.exit_code == 1 and "leads outside" in result.output
    result = runner.invoke(app, ["info", str(root), "--follow-links"])
    assert result.exit_code == 0, result.output


def test_yolo_linked_split_folder_needs_follow_links(tmp_path, source):
    ds, _ = source
    vf.write(ds.replace(images=ds.images.replace(split=np.array(["train", "train"], object))),
             tmp_path / "y", "yolo", images="copy")
    root = tmp_path / "y"
    _linked_images(tmp_path, root, "images/train")
    with pytest.raises(vf.UnsafeInputError, match=r"leads outside"):
        vf.load(root)
    back = vf.load(root, follow_links=True)
    assert len(back.images) == 2 and len(back.annotations) == 2


def test_voc_and_open_images_linked_folders_need_follow_links(tmp_path, source):
    ds, _ = source
    for name, folder in (("voc", "JPEGImages"), ("open-images", "images/default")):
        root = tmp_path / name
        vf.write(ds, root, name, images="copy")
        _linked_images(tmp_path, root, folder)
        with pytest.raises(vf.Error):
            vf.load(root, name)
        back = vf.load(root, name, follow_links=True)
        assert all(p is not None and os.path.isfile(p) for p in back.images.path), name


def test_every_reading_command_takes_both_options():
    import typer.main
    group = typer.main.get_command(app)

    def walk(cmd, path):
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, (*path, name))
        if not getattr(cmd, "commands", None):
            yield path, cmd

    reading = [(p, c) for p, c in walk(group, ()) if any(
        "--from" in o.opts for o in c.params)]
    assert len(reading) >= 10
    for path, cmd in reading:
        opts = {o for p in cmd.params for o in p.opts}
        assert {"--images-dir", "--follow-links"} <= opts, path
