"""Datumaro imports what we export, for the formats of this family it supports (CVAT XML,
VoTT JSON, VoTT CSV), with the same items, classes and boxes.

Not compared: LabelMe (Datumaro's "label_me" is the older LabelMe XML, not LabelMe JSON) and
CreateML (Datumaro's Roboflow importer reads CreateML's x, y as the top-left corner, while
Apple's format and Roboflow's export put the box centre there)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

dm = pytest.importorskip("datumaro")

pytestmark = pytest.mark.interop


def _dataset(src: Path, splits=("train", "train", "val")) -> vf.Dataset:
    names = ["a.jpg", "b.jpg", "c.jpg"]
    for n in names:
        make_image(src / n, (64, 48))
    return vf.Dataset(
        vf.Images.build(names, [64] * 3, [48] * 3, split=list(splits),
                        path=[str(src / n) for n in names]),
        vf.Annotations.build([0, 0, 2], [2, 1, 2], [[1, 2, 30.5, 40], [5, 6, 7, 8],
                                                    [10, 10, 20.25, 30]],
                             attrs={"occluded": np.array([1, 0, 0], object)}),
        vf.Categories.from_names(["cat", "dog"]))


def _ours(ds: vf.Dataset, with_negatives: bool) -> dict:
    names = {c.id: c.name for c in ds.categories}
    out: dict = {}
    for i, (name, split) in enumerate(zip(ds.images.file_name, ds.images.split)):
        rows = np.flatnonzero(ds.annotations.image_index == i)
        if rows.size or with_negatives:
            out[(Path(name).stem, split)] = sorted(
                (names[int(ds.annotations.category_id[r])],
                 tuple(float(v) for v in ds.annotations.xyxy[r])) for r in rows)
    return out


def _theirs(d) -> dict:
    labels = d.categories()[dm.AnnotationType.label]
    out: dict = {}
    for item in d:
        boxes = []
        for a in item.annotations:
            if a.type == dm.AnnotationType.bbox:
                x, y, w, h = a.get_bbox()
                boxes.append((labels[a.label].name, (x, y, x + w, y + h)))
        out[(item.id, item.subset.lower())] = sorted(boxes)
    return out


def _same(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for key, boxes in ours.items():
        assert [n for n, _ in boxes] == [n for n, _ in theirs[key]], key
        if boxes:
            np.testing.assert_allclose([b for _, b in boxes], [b for _, b in theirs[key]],
                                       atol=1e-6, err_msg=str(key))


@pytest.mark.parametrize("fmt,theirs,negatives", [("cvat", "cvat", True),
                                                  ("vott-json", "vott_json", True),
                                                  ("vott-csv", "vott_csv", False)])
def test_datumaro_imports_our_output(tmp_path, fmt, theirs, negatives):
    # Datumaro's VoTT CSV importer never finds dataset_meta.json (it looks for it under the
    # CSV file's path) and numbers labels per CSV in first-seen order, so it refuses to merge
    # two splits that meet their labels in different orders: one split for it.
    splits = ("train",) * 3 if fmt == "vott-csv" else ("train", "train", "val")
    ds = _dataset(tmp_path / "src", splits)
    vf.write(ds, tmp_path / "out", fmt)
    d = dm.Dataset.import_from(str(tmp_path / "out"), theirs)
    # VoTT CSV has no row for an image without boxes: Datumaro cannot know it
    _same(_ours(ds, negatives), _theirs(d))


@pytest.mark.shared
def test_datumaro_imports_our_cvat_rewrite_of_its_fixture(tmp_path):
    src = shared_path("datumaro-assets", "cvat_dataset", "for_images", "export_task")
    ds = vf.load(src, "cvat")
    vf.write(ds, tmp_path / "out", "cvat")
    d = dm.Dataset.import_from(str(tmp_path / "out"), "cvat")
    theirs = _theirs(d)
    # the box of Datumaro's own fixture comes back; polylines/points/polygons are not bboxes
    assert sorted(theirs) == [("img0", "train"), ("img1", "train")]
    assert theirs[("img0", "train")] == [("label1", (0.0, 2.0, 4.0, 4.0))]
