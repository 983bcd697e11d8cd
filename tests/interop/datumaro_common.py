"""What Datumaro reads from a folder, and what a visionflow Dataset holds, in one comparable
shape: {(subset, item id): sorted [(class name, box xyxy rounded or () for a label)]}."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf

dm = pytest.importorskip("datumaro")


def theirs(path, fmt) -> dict[tuple[str, str], list]:
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


def ours(ds: vf.Dataset, subset_of, id_of, name_of=None) -> dict[tuple[str, str], list]:
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
