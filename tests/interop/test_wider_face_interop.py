"""WIDER Face against Datumaro's importer: what we export, Datumaro reads with the same items
and boxes."""

from __future__ import annotations

import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

dm = pytest.importorskip("datumaro")
from .datumaro_common import ours as _ours  # noqa: E402
from .datumaro_common import theirs as _theirs  # noqa: E402

pytestmark = pytest.mark.interop


def test_datumaro_reads_our_wider_face(tmp_path):
    ds = vf.load(shared_path("datumaro-assets", "widerface_dataset"))
    vf.write(ds, tmp_path / "out", "wider-face")
    theirs = _theirs(tmp_path / "out", "wider_face")
    # Datumaro's item id drops the event folder and the extension.
    ours = _ours(ds, lambda s: s, lambda r: ds.images.file_name[r].split("/", 1)[1]
                 .rsplit(".", 1)[0])
    assert theirs == ours and sum(len(v) for v in ours.values()) == 6


def test_datumaro_reads_wider_face_from_another_format(tmp_path):
    for name in ("x.jpg", "sub/y.jpg"):
        make_image(tmp_path / "src" / name, (64, 48))
    ds = vf.Dataset(
        vf.Images.build(["x.jpg", "1--Handshaking/y.jpg"], [64, 64], [48, 48],
                        path=[str(tmp_path / "src" / n) for n in ("x.jpg", "sub/y.jpg")]),
        vf.Annotations.build([0, 1, 1], [1, 1, 2], [[1, 2, 10.5, 20], [0, 0, 64, 48],
                                                    [3, 3, 9, 9]]),
        vf.Categories.from_names(["face", "mask"]))
    vf.write(ds, tmp_path / "out", "wider-face")
    theirs = _theirs(tmp_path / "out", "wider_face")
    ours = _ours(ds, lambda s: "default", lambda r: ["x", "y"][r])
    assert theirs == ours
