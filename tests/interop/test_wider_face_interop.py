"""WIDER Face against Datumaro's importer: what we export, Datumaro reads with the same items
and boxes."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

dm = pytest.importorskip("datumaro")

pytestmark = pytest.mark.interop


def _theirs(path, fmt) -> dict[tuple[str, str], list]:
    ds = dm.Dataset.import_from(str(path), fmt)
    labels = ds.categories()[dm.AnnotationType.label]
    out = {}
    for item in ds:
        rows = []
        for a in item.annotations:
            if a.type == dm.AnnotationType.bbox:
                box = tuple(round(v, 4) for v in (a.x, a.y, a.x + a.w, a.y + a.h))
            elif a.type == dm.AnnotationType.label:
                box = ()
            else:
                continue
            rows.append((labels[a.label].name, box))
        out[(item.subset, str(item.id))] = sorted(rows)
    return out


def _ours(ds: vf.Dataset, subset_of, id_of, name_of=None) -> dict[tuple[str, str], list]:
    names = {c.id: c.name for c in ds.categories}
    name_of = name_of or (lambda cid: names[cid])
    out = {}
    for r in range(len(ds.images)):
        rows = np.flatnonzero(ds.annotations.image_index == r)
        out[(subset_of(ds.images.split[r]), id_of(r))] = sorted(
            (name_of(int(ds.annotations.category_id[i])),
             () if ds.annotations.is_label[i] else
             tuple(round(float(v), 4) for v in ds.annotations.xyxy[i])) for i in rows)
    return out


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
