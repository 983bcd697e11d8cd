"""Open Images against Datumaro's importer: what we export, Datumaro reads with the same
items, boxes, image labels, scores and attributes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

dm = pytest.importorskip("datumaro")
from .datumaro_common import ours as _ours  # noqa: E402
from .datumaro_common import theirs as _theirs  # noqa: E402

NAN4 = [math.nan] * 4

pytestmark = pytest.mark.interop


def test_datumaro_reads_our_open_images(tmp_path):
    ds = vf.load(shared_path("datumaro-assets", "open_images_dataset", "v6"))
    vf.write(ds, tmp_path / "out", "open-images")
    mids = ds.meta["open-images"]["label_names"]
    theirs = _theirs(tmp_path / "out", "open_images")
    ours = _ours(ds, lambda s: {"val": "validation"}.get(s, s or "default"),
                 lambda r: ds.images.file_name[r].rsplit(".", 1)[0],
                 lambda cid: mids[str(cid)])  # Datumaro names classes by their MID
    assert theirs == ours and len(ours) == 4
    item = dm.Dataset.import_from(str(tmp_path / "out"), "open_images").get("c", "test")
    box = next(a for a in item.annotations if a.type == dm.AnnotationType.bbox)
    assert box.attributes == {"score": 0.7, "occluded": True, "truncated": False,
                              "is_group_of": True, "is_depiction": False, "is_inside": False}


def test_datumaro_reads_open_images_from_another_format(tmp_path):
    for name, size in (("a.jpg", (64, 48)), ("b.png", (30, 20))):
        make_image(tmp_path / "src" / name, size)
    ds = vf.Dataset(
        vf.Images.build(["a.jpg", "b.png"], [64, 30], [48, 20], split=["train", "val"],
                        path=[str(tmp_path / "src" / n) for n in ("a.jpg", "b.png")]),
        vf.Annotations.build([0, 0, 1], [1, 2, 2], [[1, 2, 10.5, 20], [0, 0, 64, 48], NAN4],
                             score=np.array([math.nan, 0.25, 1.0])),
        vf.Categories.from_names(["person", "traffic light"]))
    vf.write(ds, tmp_path / "out", "open-images")
    theirs = _theirs(tmp_path / "out", "open_images")
    assert theirs == _ours(ds, lambda s: {"val": "validation"}.get(s, s),
                           lambda r: ds.images.file_name[r].rsplit(".", 1)[0])
    scores = sorted(a.attributes["score"] for item in dm.Dataset.import_from(
        str(tmp_path / "out"), "open_images") for a in item.annotations)
    assert scores == [0.25, 1.0, 1.0]
