"""The column vocabulary: one enum, one table (core/annotations.py COLUMNS) that drives absent
values, concat, equality, the native format's JSON, geometry counts and the loss report."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pytest

import visionflow as vf
from visionflow.core import annotations as A
from visionflow.core.annotations import COLUMNS, Annotations, Column, ColumnSpec, Polylines
from visionflow.formats import base, native
from visionflow.formats.registry import get as get_format


def test_the_table_names_every_optional_column_in_field_order():
    optional = [f.name for f in fields(Annotations)
                if f.name not in ("image_index", "category_id", "id", "xyxy", "attrs")]
    assert [c.field for c in COLUMNS] == optional
    # each Column but the two readings of xyxy is one row
    assert {c.holds for c in COLUMNS} == set(Column) - {Column.BOXES, Column.LABELS}


def test_supports_flags_are_the_enum_and_still_compare_as_strings():
    assert base.POLYGONS is Column.POLYGONS and base.OBB is Column.OBB
    assert base.POLYLINES == "polylines" and "oriented_boxes" in frozenset({base.OBB})
    assert Column.MASKS in frozenset({"masks"})
    fmt = get_format("cvat")
    assert Column.POLYLINES in fmt.supports and "polylines" in fmt.supports


def _one(n: int, **cols) -> Annotations:
    return Annotations.build(np.zeros(n, np.int64), np.ones(n, np.int64),
                             np.tile([1.0, 2.0, 3.0, 4.0], (n, 1)), **cols)


SAMPLE = {
    "iscrowd": np.array([True, False]),
    "score": np.array([0.5, np.nan]),
    "track_id": np.array([3, -1]),
    "polygons": A.Polygons.from_lists([[np.array([[0, 0], [2, 0], [2, 2.0]])], []]),
    "rle": np.array([{"size": [2, 2], "counts": "04"}, None], dtype=object),
    "keypoints": np.array([[[1, 1, 2]], [[np.nan, np.nan, np.nan]]], np.float64),
    "obb": np.array([[[0, 0], [1, 0], [1, 1], [0, 1]], np.full((4, 2), np.nan)], np.float64),
    "polylines": Polylines.from_lists([[np.array([[0, 0], [5, 5.0]])], []]),
}


def test_sample_covers_the_table():
    assert set(SAMPLE) == {c.field for c in COLUMNS}


@pytest.mark.parametrize("spec", COLUMNS, ids=lambda c: c.field)
def test_each_row_drives_absence_presence_concat_and_json(spec: ColumnSpec):
    with_col = _one(2, **{spec.field: SAMPLE[spec.field]})
    without = _one(3)
    assert with_col.has(spec.field).tolist() == [True, False]
    assert with_col.has(spec.holds).tolist() == [True, False]
    assert not without.has(spec.field).any()
    # concat fills the part without the column with the row's absent values
    both = Annotations.concat([with_col, without])
    assert both.has(spec.field).tolist() == [True, False, False, False, False]
    assert both[np.arange(2, 5)].equals(without) and both[[0, 1]].equals(with_col)
    # a missing column equals one holding only "nothing"
    assert without.equals(_one(3, **{spec.field: spec.absent(3)}))
    assert with_col.differences(_one(2)) == [spec.field]
    # geometry counts: the geometry rows only, keyed by their Column value
    counts = with_col.geometry_counts()
    assert (counts.get(str(spec.holds)) == 1) == spec.geometry
    # native JSON round trip of the column
    back = native.loads(native.dumps(vf.Dataset(
        vf.Images.build(["a.jpg"], [10], [10]), with_col, vf.Categories.from_names(["x"]))))
    assert back.annotations.equals(with_col)


def test_geometry_counts_keys_are_column_values():
    ann = _one(2, polylines=SAMPLE["polylines"], obb=SAMPLE["obb"])
    assert ann.geometry_counts() == {"boxes": 2, "polylines": 1, "oriented_boxes": 1}


@dataclass(frozen=True, eq=False)
class _WithArrows(Annotations):
    arrows: np.ndarray | None = None   # (n, 2, 2) tail and head, NaN = none


def _arrow_row() -> ColumnSpec:
    return ColumnSpec(
        "arrows", Column.POLYLINES, absent=lambda n: np.full((n, 2, 2), np.nan),
        present=lambda c: ~np.isnan(c).all(axis=(1, 2)), dump=A.nullable,
        load=lambda v, n: A.floats(v, (n, 2, 2)), same=lambda a, b, atol: A._close(a, b, atol),
        geometry=True)


def test_one_table_row_extends_concat_absence_slicing_and_equality(monkeypatch):
    """A new kind of column is one row: concat, column(), slicing, has(), equality and the
    geometry counts pick it up with no other change to Annotations."""
    spec = _arrow_row()
    monkeypatch.setattr(A, "COLUMNS", A.COLUMNS + (spec,))
    monkeypatch.setattr(A, "COLUMN_OF_FIELD", {**A.COLUMN_OF_FIELD, "arrows": spec})
    ids = lambda n: dict(image_index=np.zeros(n, np.int64), category_id=np.ones(n, np.int64),
                         id=np.arange(1, n + 1), xyxy=np.tile([0.0, 0, 4, 4], (n, 1)))
    a = _WithArrows(**ids(2), arrows=np.array([[[0, 0], [1, 1]], np.full((2, 2), np.nan)]))
    b = _WithArrows(**ids(1))
    both = _WithArrows.concat([a, b])
    assert isinstance(both, _WithArrows)
    assert both.arrows.shape == (3, 2, 2) and np.isnan(both.arrows[1:]).all()
    assert both.has("arrows").tolist() == [True, False, False]
    assert both[[0]].arrows.tolist() == [[[0, 0], [1, 1]]]
    assert np.isnan(b.column("arrows")).all() and b.column("arrows").shape == (1, 2, 2)
    assert a.differences(_WithArrows(**ids(2))) == ["arrows"]
    assert a.geometry_counts()["polylines"] == 1  # counted under the row's Column


def test_loss_report_reads_the_table(tmp_path):
    """Scores, track ids, iscrowd and polylines a target cannot hold: one loss each, named
    by the Column value."""
    ann = _one(2, score=np.array([0.9, 0.1]), track_id=np.array([1, -1]),
               iscrowd=np.array([False, True]), polylines=SAMPLE["polylines"])
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [10], [10]), ann,
                    vf.Categories.from_names(["x"]))
    report = vf.Report()
    vf.write(ds, tmp_path / "out", "yolo", images="none", report=report)
    losses = {f.code: f.count for f in report if f.code.startswith("loss.")}
    assert losses["loss.scores"] == 2 and losses["loss.track_ids"] == 1
    assert losses["loss.iscrowd"] == 1 and losses["loss.polylines"] == 1
