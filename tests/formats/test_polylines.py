"""The polyline column: open paths read from CVAT, written back, carried by the native
format and Arrow, reported as a loss elsewhere, and moved by transforms like polygon vertices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import visionflow as vf
from visionflow.core.annotations import Polylines
from visionflow.transforms.functional import clip_path, warp_annotations
from tests.conftest import shared_path

CVAT_FIXTURES = ("datumaro-assets", "cvat_dataset", "for_images")


def _paths(ds: vf.Dataset) -> list[list[list[list[float]]]]:
    p = ds.annotations.polylines
    return [] if p is None else [[r.tolist() for r in p.rings(i)] for i in range(len(p))]


@pytest.mark.shared
@pytest.mark.parametrize("export", ["export_task", "export_project"])
def test_real_cvat_polylines_round_trip(tmp_path, export):
    src = shared_path(*CVAT_FIXTURES, export)
    ds = vf.load(src, "cvat", report=vf.Report())
    ann = ds.annotations
    assert ann.has_polyline().sum() >= 1
    assert "cvat.shape" not in ann.attrs or "polyline" not in set(ann.attrs["cvat.shape"])
    for i in np.flatnonzero(ann.has_polyline()):  # box: the path's bounds (padded when flat)
        pts = np.concatenate(ann.polylines.rings(i))
        lo, hi = ann.xyxy[i, :2], ann.xyxy[i, 2:]
        assert (lo <= pts.min(0)).all() and (hi >= pts.max(0)).all()
    vf.write(ds, tmp_path / "cvat", "cvat", images="none", report=vf.Report())
    back = vf.load(tmp_path / "cvat", "cvat", report=vf.Report())
    assert _paths(back) == _paths(ds)
    assert back.annotations.xyxy[ann.has_polyline()].tolist() == ann.xyxy[ann.has_polyline()].tolist()
    text = (tmp_path / "cvat" / "annotations.xml").read_text()
    assert text.count("<polyline ") == int(ann.has_polyline().sum())
    report = vf.Report()
    vf.write(ds, tmp_path / "native", "visionflow", images="none", report=report)
    assert "loss.polylines" not in report.codes()
    assert vf.load(tmp_path / "native", "visionflow", report=vf.Report()).differences(ds) == []


@pytest.mark.shared
def test_real_cvat_polylines_are_a_loss_for_coco(tmp_path):
    ds = vf.load(shared_path(*CVAT_FIXTURES, "export_task"), "cvat", report=vf.Report())
    report = vf.Report()
    vf.write(ds, tmp_path / "coco", "coco", images="none", report=report)
    [loss] = [f for f in report if f.code == "loss.polylines"]
    assert loss.count == int(ds.annotations.has_polyline().sum())
    assert "keeps the box" in loss.message
    with pytest.raises(vf.LossError, match="polylines"):
        vf.write(ds, tmp_path / "strict", "coco", images="none", strict=True)


_c = st.integers(0, 6000).map(lambda v: v / 100)


@st.composite
def _polyline_dataset(draw) -> vf.Dataset:
    n_img = draw(st.integers(1, 3))
    rows, paths, boxes = [], [], []
    for i in range(n_img):
        for _ in range(draw(st.integers(0, 4))):
            pts = np.array([[draw(_c), draw(_c)] for _ in range(draw(st.integers(2, 5)))])
            rows.append(i)
            paths.append([pts])
            boxes.append(vf.core.geometry.pad_degenerate(vf.core.geometry.points_bounds(pts))[0])
    n = len(rows)
    ann = vf.Annotations.build(rows, np.ones(n, np.int64), np.array(boxes).reshape(n, 4),
                               polylines=Polylines.from_lists(paths) if n else None)
    images = vf.Images.build([f"{i}.jpg" for i in range(n_img)], [64] * n_img, [64] * n_img,
                             id=list(range(n_img)))
    return vf.Dataset(images, ann, vf.Categories.from_names(["road"]))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_polyline_dataset())
def test_cvat_and_arrow_carry_any_polyline(tmp_path_factory, ds):
    out = tmp_path_factory.mktemp("cvat")
    vf.write(ds, out / "o", "cvat", images="none", overwrite=True)
    back = vf.load(out / "o", "cvat", report=vf.Report())
    assert _paths(back) == _paths(ds)
    np.testing.assert_allclose(back.annotations.xyxy, ds.annotations.xyxy)
    pytest.importorskip("pyarrow")
    from visionflow.bridges.arrow import from_arrow, to_arrow
    assert from_arrow(to_arrow(ds)).annotations.differences(ds.annotations) == []


def test_transforms_move_polylines_like_polygon_vertices():
    path = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 40.0]])
    ann = vf.Annotations.build([0], [1], [[10, 10, 30, 40]],
                               polygons=vf.Polygons.from_lists([[path]]),
                               polylines=Polylines.from_lists([[path]]))
    flip = np.array([[-1.0, 0, 100], [0, 1, 0], [0, 0, 1]])  # mirror in a 100 px wide image
    out = warp_annotations(ann, flip, (100, 50))
    np.testing.assert_allclose(out.polylines.rings(0)[0], out.polygons.rings(0)[0])
    np.testing.assert_allclose(out.polylines.rings(0)[0], [[90, 10], [70, 10], [70, 40]])
    # a line alone: cropped by length, its box the bounds of what is left
    line = vf.Annotations.build([0], [1], [[10, 9.5, 90, 10.5]],
                                polylines=Polylines.from_lists([[np.array([[10.0, 10], [90, 10]])]]))
    shift = np.array([[1.0, 0, -50], [0, 1, 0], [0, 0, 1]])
    out = warp_annotations(line, shift, (100, 50))
    np.testing.assert_allclose(out.polylines.rings(0)[0], [[0, 10], [40, 10]])
    np.testing.assert_allclose(out.xyxy[0], [0, 9.5, 40, 10.5])
    assert len(warp_annotations(line, shift, (100, 50), min_visibility=0.6)) == 0  # half left
    gone = np.array([[1.0, 0, -200], [0, 1, 0], [0, 0, 1]])
    assert len(warp_annotations(line, gone, (100, 50))) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-50, 150), st.integers(-50, 150)), min_size=2, max_size=8))
def test_clip_path_keeps_the_inside_of_every_segment(points):
    path = np.array(points, np.float64)
    rect = (0.0, 0.0, 100.0, 80.0)
    pieces = clip_path(path, rect)
    for piece in pieces:
        assert len(piece) >= 2
        assert (piece[:, 0] >= -1e-9).all() and (piece[:, 0] <= 100 + 1e-9).all()
        assert (piece[:, 1] >= -1e-9).all() and (piece[:, 1] <= 80 + 1e-9).all()
    inside = ((path >= 0) & (path <= [100, 80])).all()
    if inside and len(np.unique(path, axis=0)) > 1:  # nothing to cut: the path itself
        assert len(pieces) == 1
        assert set(map(tuple, pieces[0].tolist())) == set(map(tuple, path.tolist()))
    # the length inside never exceeds the length of the path
    length = lambda p: float(np.hypot(*np.diff(p, axis=0).T).sum())
    assert sum(length(p) for p in pieces) <= length(path) + 1e-6


def test_show_draws_the_open_path(tmp_path):
    from visionflow.viz.draw import draw_image
    path = tmp_path / "a.png"
    Image.new("RGB", (80, 60)).save(path)  # all black
    line = np.array([[10.0, 50.0], [40.0, 50.0], [70.0, 20.0]])
    ann = vf.Annotations.build([0], [1], [[10, 20, 70, 50]], polylines=Polylines.from_lists([[line]]))
    ds = vf.Dataset(vf.Images.build(["a.png"], [80], [60], path=[str(path)]), ann,
                    vf.Categories.from_names(["road"]))
    px = np.asarray(draw_image(ds, 0, class_names=False, thickness=1))
    assert px[50, 25].any() and px[35, 55].any()      # on the two segments
    assert not px[40, 40].any()                          # inside the (unclosed) path: not filled
