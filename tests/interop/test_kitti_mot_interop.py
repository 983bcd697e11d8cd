"""KITTI and MOT against Datumaro's importers: what we export, Datumaro reads with the same
items and boxes."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

dm = pytest.importorskip("datumaro")
from .datumaro_common import ours as _ours  # noqa: E402
from .datumaro_common import theirs as _theirs  # noqa: E402

pytestmark = pytest.mark.interop


def test_datumaro_reads_our_kitti(tmp_path):
    ds = vf.load(shared_path("datumaro-assets", "kitti_dataset", "kitti_detection"))
    vf.write(ds, tmp_path / "out", "kitti")
    theirs = _theirs(tmp_path / "out", "kitti_detection")
    ours = _ours(ds, lambda s: {"train": "training"}.get(s, s or "default"),
                 lambda r: ds.images.file_name[r].rsplit(".", 1)[0])
    assert theirs == ours and len(ours) == 2


def test_datumaro_reads_our_mot(tmp_path):
    for k in range(3):
        make_image(tmp_path / "src" / f"f{k}.jpg", (64, 48))
    ds = vf.Dataset(
        vf.Images.build([f"f{k}.jpg" for k in range(3)], [64] * 3, [48] * 3,
                        path=[str(tmp_path / "src" / f"f{k}.jpg") for k in range(3)]),
        vf.Annotations.build([0, 1, 1], [1, 2, 1], [[1, 2, 10, 20], [5, 5, 9.5, 30], [0, 0, 4, 4]],
                             track_id=np.array([3, 3, 8])),
        vf.Categories.from_names(["person", "car"]))
    vf.write(ds, tmp_path / "out", "mot")
    theirs = _theirs(tmp_path / "out", "mot_seq")
    assert theirs == _ours(ds, lambda s: "default", lambda r: str(r + 1))
    tracks = sorted(a.attributes.get("track_id") for item in dm.Dataset.import_from(
        str(tmp_path / "out"), "mot_seq") for a in item.annotations)
    assert len(set(tracks)) == 2  # Datumaro renumbers track ids but keeps them apart
