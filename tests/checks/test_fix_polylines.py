"""`fix` and `check` on polylines: paths clipped to the image as open paths (transforms'
`clip_path`), degenerate paths dropped, EXIF orientation applied, and the health checks that
report what fix repairs."""

from __future__ import annotations

import io

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import visionflow as vf
from visionflow.checks import fix
from visionflow.checks.config import CheckConfig
from visionflow.checks.geometry import check_geometry
from visionflow.core.annotations import Polylines
from visionflow.core.validate import validate
from visionflow.core.geometry import pad_degenerate, points_bounds
from visionflow.transforms.functional import clip_path

W, H = 100, 50


def _ds(objects: list[list[list[list[float]]]], boxes=None, **cols) -> vf.Dataset:
    paths = [[np.asarray(p, np.float64).reshape(-1, 2) for p in obj] for obj in objects]
    if boxes is None:
        boxes = [pad_degenerate(points_bounds(np.concatenate(obj)))[0] if obj else [1, 1, 2, 2]
                 for obj in paths]
    n = len(paths)
    ann = vf.Annotations.build([0] * n, [1] * n, np.asarray(boxes, np.float64).reshape(n, 4),
                               polylines=Polylines.from_lists(paths), **cols)
    return vf.Dataset(vf.Images.build(["a.jpg"], [W], [H]), ann, vf.Categories.from_names(["x"]))


def _paths(ds: vf.Dataset) -> list[list[list[list[float]]]]:
    p = ds.annotations.polylines
    return [[r.tolist() for r in p.rings(i)] for i in range(len(p))]


def _codes(findings) -> list[str]:
    return [f.code for f in findings]


def test_a_path_crossing_the_edge_is_cut_there_and_its_box_follows():
    ds = _ds([[[[80, 10], [120, 30]]]])
    out = fix(ds)
    assert _paths(out.dataset) == [[[[80, 10], [100, 20]]]]
    assert out.dataset.annotations.xyxy.tolist() == [[80, 10, 100, 20]]
    change = next(c for c in out.changes if c.code == "fix.clip_polyline")
    assert "1 vertices lay outside" in change.message and change.where
    assert "fix.clip_box" not in _codes(out.changes)  # one change per object


def test_the_same_clip_as_transforms():
    path = np.array([[10, 10], [150, 20], [150, 40], [20, 45], [-30, 5]], np.float64)
    out = fix(_ds([[path.tolist()]]))
    expected = [p.tolist() for p in clip_path(path, (0, 0, W, H))]
    assert len(expected) == 2  # leaves and re-enters: two paths
    assert _paths(out.dataset) == [expected]
    pts = np.concatenate([np.asarray(p) for p in expected])
    assert out.dataset.annotations.xyxy[0].tolist() == [*pts.min(axis=0), *pts.max(axis=0)]


def test_a_polyline_outside_the_image_is_dropped():
    out = fix(_ds([[[[120, 10], [150, 30]]], [[[1, 1], [5, 5]]]]))
    assert _paths(out.dataset) == [[[[1, 1], [5, 5]]]]
    assert _codes(out.changes).count("fix.drop_polyline") == 1
    assert "lies outside the 100x50 image" in out.changes[0].message


def test_paths_inside_are_untouched():
    ds = _ds([[[[0.1, 0.3], [99.9, 49.7], [0, 50]]]])
    out = fix(ds)
    assert out.changes == []
    assert out.dataset.annotations.differences(ds.annotations) == []


def test_degenerate_paths_are_dropped():
    ds = _ds([[[[5, 5], [5, 5]], [[1, 1], [9, 9]]], [[[3, 3], [3, 3], [3, 3]]]],
             boxes=[[1, 1, 9, 9], [2.5, 2.5, 3.5, 3.5]])
    findings = check_geometry(ds, CheckConfig())
    assert [(f.code, f.severity) for f in findings if f.code.startswith("polyline")] == [
        ("polyline.degenerate", "error"), ("polyline.degenerate", "error")]
    assert "path 0 has only 1 distinct point" in findings[0].message
    out = fix(ds)
    assert _paths(out.dataset) == [[[[1, 1], [9, 9]]]]
    assert _codes(out.changes) == ["fix.drop_path", "fix.drop_polyline"]


def test_an_object_with_a_polygon_keeps_its_box_and_its_polygon_drives_it():
    ring = [[10, 10], [60, 10], [60, 40]]
    ds = _ds([[[[10, 10], [130, 40]]]], boxes=[[10, 10, 60, 40]],
             polygons=vf.Polygons.from_lists([[np.array(ring, np.float64)]]))
    out = fix(ds)
    assert _paths(out.dataset) == [[[[10, 10], [100, 32.5]]]]
    assert out.dataset.annotations.xyxy.tolist() == [[10, 10, 60, 40]]
    assert out.dataset.annotations.polygons.rings(0)[0].tolist() == ring


def test_check_reports_polylines_outside_the_image():
    findings = check_geometry(_ds([[[[80, 10], [120, 30], [130, 60]]], [[[1, 1], [5, 5]]]],
                                  boxes=[[80, 10, 100, 50], [1, 1, 5, 5]]), CheckConfig())
    oob = [f for f in findings if f.code == "polyline.out_of_bounds"]
    assert len(oob) == 1 and oob[0].severity == "warning"
    assert oob[0].message == "2 polyline vertices lie outside the 100x50 image"


def test_exif_orientation_turns_polylines(tmp_path):
    arr = np.full((64, 96, 3), 30, np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6  # 90° clockwise: (x, y) -> (H - y, x), H = 64
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    (tmp_path / "a.jpg").write_bytes(buf.getvalue())
    ann = vf.Annotations.build([0], [1], [[10, 20, 30, 40]], polylines=Polylines.from_lists(
        [[np.array([[10.0, 20.0], [30.0, 40.0]])]]))
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [96], [64], path=[str(tmp_path / "a.jpg")]),
                    ann, vf.Categories.from_names(["x"]))
    (tmp_path / "up").mkdir()
    out = fix(ds, image_dir=tmp_path / "up")
    assert "fix.exif" in _codes(out.changes)
    assert _paths(out.dataset) == [[[[44, 10], [24, 30]]]]
    assert out.dataset.annotations.xyxy.tolist() == [[24, 10, 44, 30]]


_c = st.integers(-5000, 15000).map(lambda v: v / 100)


@st.composite
def _wild_polylines(draw) -> vf.Dataset:
    objects = [[[[draw(_c), draw(_c) / 2] for _ in range(draw(st.integers(1, 5)))]
                for _ in range(draw(st.integers(1, 3)))] for _ in range(draw(st.integers(1, 4)))]
    return _ds(objects)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_wild_polylines())
def test_after_fix_check_finds_nothing_to_fix_in_polylines(ds):
    out = fix(ds).dataset
    codes = _codes(check_geometry(out, CheckConfig()))
    fixed = ("polyline.", "box.out_of_bounds", "box.zero_size", "box.negative_size", "box.nan")
    assert not [c for c in codes if c.startswith(fixed)], codes
    lines = out.annotations.polylines
    if len(out.annotations):
        assert ((lines.coords >= 0) & (lines.coords <= [W, H])).all()
        assert (lines.counts() > 0).all()
    validate(out, report=vf.Report(), skip_errors=False, where_annotation=str,
             where_image=str)  # a strict read accepts it
