"""Pascal VOC against supervision, a peer that reads and writes the VOC devkit's 1-based
inclusive convention (x1 = xmin - 1, x2 = xmax): ours with coords=one-based. (Our default is
pixel edges, as CVAT, Datumaro, LabelImg and Roboflow write: see voc.py and
test_foundation_datumaro.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

sv = pytest.importorskip("supervision")

pytestmark = pytest.mark.interop


def _ours(ds: vf.Dataset) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """Image file name -> sorted (class name, box) of a visionflow dataset."""
    names = {c.id: c.name for c in ds.categories}
    out: dict[str, list] = {str(f): [] for f in ds.images.file_name}
    ann = ds.annotations
    for r, c, box in zip(ann.image_index, ann.category_id, ann.xyxy):
        out[str(ds.images.file_name[r])].append((names[int(c)], tuple(float(v) for v in box)))
    return {k: sorted(v) for k, v in out.items()}


def _theirs(sv_ds) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    out: dict[str, list] = {}
    for path in sv_ds.image_paths:
        det = sv_ds.annotations[path]
        out[Path(path).name] = sorted(
            (sv_ds.classes[int(c)], tuple(float(v) for v in box))
            for c, box in zip(det.class_id, det.xyxy))
    return out


def _assert_same(ours, theirs, atol: float) -> None:
    assert ours.keys() == theirs.keys()
    for name in ours:
        a, b = ours[name], theirs[name]
        assert [n for n, _ in a] == [n for n, _ in b], name
        if a:
            np.testing.assert_allclose([x for _, x in a], [x for _, x in b], rtol=0, atol=atol,
                                       err_msg=name)


@pytest.mark.shared
def test_supervision_reads_our_raccoon_output(tmp_path):
    ds = vf.load(shared_path("raccoon"), "voc", coords="one-based")
    vf.write(ds, tmp_path / "out", "voc", images="copy", coords="one-based")
    theirs = sv.DetectionDataset.from_pascal_voc(
        images_directory_path=str(tmp_path / "out" / "JPEGImages"),
        annotations_directory_path=str(tmp_path / "out" / "Annotations"))
    assert theirs.classes == ["raccoon"]
    assert sum(len(d) for d in theirs.annotations.values()) == 217
    _assert_same(_ours(ds), _theirs(theirs), atol=0.0)  # integer VOC: exactly the same


@pytest.mark.shared
def test_supervision_and_we_agree_on_the_source_files():
    """Both read the original raccoon files to the same pixels (the convention matches)."""
    root = shared_path("raccoon")
    theirs = sv.DetectionDataset.from_pascal_voc(str(root / "images"), str(root / "annotations"))
    _assert_same(_ours(vf.load(root, "voc", coords="one-based")), _theirs(theirs), atol=0.0)
    # by default we read pixel edges: exactly one pixel right of and below supervision's x1, y1
    default, devkit = _ours(vf.load(root, "voc")), _ours(vf.load(root, "voc", coords="one-based"))
    for name in default:
        shifted = [(n, (b[0] + 1, b[1] + 1, b[2], b[3])) for n, b in devkit[name]]
        assert default[name] == sorted(shifted), name


def test_supervision_reads_our_float_boxes(tmp_path):
    files = ["a.jpg", "b.png", "c.jpg"]
    for name in files:
        make_image(tmp_path / "src" / name, (120, 90))
    images = vf.Images.build(files, [120] * 3, [90] * 3, split=["train", "val", ""],
                             path=[str(tmp_path / "src" / f) for f in files])
    boxes = [[10.25, 5.5, 30.75, 40.125], [0, 0, 120, 90], [33.3, 12.7, 34.3, 13.7],
             [1 / 3, 2 / 3, 99.99, 88.01]]
    ann = vf.Annotations.build([0, 0, 0, 1], [1, 2, 1, 2], boxes)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["person", "car", "unused"]))
    vf.write(ds, tmp_path / "out", "voc", images="copy", coords="one-based")
    theirs = sv.DetectionDataset.from_pascal_voc(str(tmp_path / "out" / "JPEGImages"),
                                                 str(tmp_path / "out" / "Annotations"))
    assert sorted(theirs.classes) == ["car", "person"]
    # supervision keeps sub-pixel values (float32); older versions round to whole pixels
    _assert_same(_ours(ds), _theirs(theirs), atol=1e-3)


@pytest.mark.shared
def test_we_read_supervision_output(tmp_path):
    root = shared_path("raccoon")
    theirs = sv.DetectionDataset.from_pascal_voc(str(root / "images"), str(root / "annotations"))
    theirs.as_pascal_voc(images_directory_path=str(tmp_path / "images"),
                         annotations_directory_path=str(tmp_path / "annotations"))
    ours = vf.load(tmp_path, "voc", coords="one-based")
    assert len(ours.images) == 200 and len(ours.annotations) == 217
    assert all(p is not None for p in ours.images.path)
    _assert_same(_ours(ours), _theirs(theirs), atol=0.0)
