"""DatasetBuilder (formats/builder.py): the public way a reader makes a checked Dataset."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.core.errors import ParseError, ValidationError
from visionflow.formats import native
from visionflow.formats.base import ReadContext
from visionflow.formats.builder import DatasetBuilder
from tests.conftest import make_image


def _ctx(errors: str = "raise", strict: bool = False) -> ReadContext:
    return ReadContext(report=vf.Report(), errors=errors, strict=strict)


def test_images_objects_and_declared_classes_in_order():
    b = DatasetBuilder(_ctx(), format="demo")
    b.category("zebra")
    b.category("ant")
    b.category("zebra")  # declared twice: one class
    a = b.image("a.jpg", size=(100, 80), where="f.txt:1", note="x")
    c = b.image("c.jpg", "train", size=(50, 40), id=7, where="f.txt:2")
    b.object(a, "zebra", (1, 2, 30, 40), where="f.txt:1", attrs={"occluded": 1})
    b.object(c, "ant", rings=[[[0, 0], [10, 0], [10, 10]]], where="f.txt:3")
    b.object(a, "tag")  # no box, no geometry: an image-level label
    ds = b.build()
    assert ds.categories.names == ["zebra", "ant", "tag"] and ds.categories.ids == [1, 2, 3]
    assert list(ds.images.file_name) == ["a.jpg", "c.jpg"] and list(ds.images.split) == ["", "train"]
    assert ds.images.id.tolist() == [1, 2]  # one image without an id: all numbered 1..N
    assert ds.images.attr("note").tolist() == ["x", None]
    ann = ds.annotations
    assert ann.image_index.tolist() == [0, 1, 0] and ann.category_id.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(ann.xyxy[1], [0, 0, 10, 10])  # the ring's bounds
    assert ann.is_label.tolist() == [False, False, True]
    assert ann.attrs["occluded"].tolist() == [1, None, None]
    assert ann.polygons.counts().tolist() == [0, 1, 0] and ann.polylines is None


def test_undeclared_classes_sorted_or_first_use_with_a_located_warning():
    for order, expect in (("sorted", ["base", "b", "c"]), ("first-use", ["base", "c", "b"])):
        ctx = _ctx()
        b = DatasetBuilder(ctx, format="demo", undeclared=order)
        b.category("base")
        img = b.image("a.jpg", size=(10, 10))
        b.object(img, "c", (1, 1, 2, 2), where="a.txt:4")
        b.object(img, "b", (1, 1, 2, 2), where="a.txt:5")
        assert b.build().categories.names == expect
        [f] = [f for f in ctx.report if f.code == "demo.undeclared"]
        assert f.where == "a.txt:4" and ", ".join(expect[1:]) in f.message
    b = DatasetBuilder(_ctx(strict=True), format="demo")
    b.category("base")
    b.object(b.image("a.jpg", size=(10, 10)), "other", (1, 1, 2, 2), where="a.txt:9")
    with pytest.raises(ValidationError, match=r"a\.txt:9.*strict"):
        b.build()


def test_no_declared_classes_no_warning_and_ids_by_name_order():
    ctx = _ctx()
    b = DatasetBuilder(ctx)
    img = b.image("a.jpg", size=(10, 10))
    for name in ("dog", "cat", "dog"):
        b.object(img, name, (1, 1, 5, 5))
    ds = b.build()
    assert ds.categories.names == ["cat", "dog"] and ds.annotations.category_id.tolist() == [2, 1, 2]
    assert not list(ctx.report)


def test_label_by_id_needs_a_declared_category():
    b = DatasetBuilder(_ctx())
    b.category("person", id=15)
    img = b.image("a.jpg", size=(10, 10))
    b.object(img, 15, (1, 1, 5, 5))
    assert b.build().annotations.category_id.tolist() == [15]
    b = DatasetBuilder(_ctx())  # no classes declared at all
    b.object(b.image("a.jpg", size=(10, 10)), 3, (1, 1, 5, 5), where="labels.csv:2")
    with pytest.raises(ValidationError) as e:
        b.build()
    assert str(e.value).startswith("labels.csv:2") and "unknown class id 3" in str(e.value)
    assert "\n" not in str(e.value)


def test_nan_box_is_one_located_line_and_skip_drops_only_it():
    b = DatasetBuilder(_ctx())
    b.object(b.image("a.jpg", size=(10, 10)), "x", (1, np.nan, 5, 5), where="boxes.txt:3")
    with pytest.raises(ValidationError, match=r"^boxes\.txt:3: box has a NaN coordinate"):
        b.build()
    ctx = _ctx("skip")
    b = DatasetBuilder(ctx)
    img = b.image("a.jpg", size=(10, 10))
    b.object(img, "x", (1, np.nan, 5, 5), where="boxes.txt:3")
    b.object(img, "x", (1, 1, 5, 5), where="boxes.txt:4")
    ds = b.build()
    assert len(ds.annotations) == 1 and ds.annotations.xyxy[0].tolist() == [1, 1, 5, 5]
    assert [f.where for f in ctx.report if f.code == "skipped"] == ["boxes.txt:3"]


def test_malformed_geometry_raises_at_where_and_leaves_the_builder_consistent():
    b = DatasetBuilder(_ctx())
    img = b.image("a.jpg", size=(20, 20))
    with pytest.raises(ParseError, match=r"^a\.json: shapes\[0\]: a polygon ring needs at least 3"):
        b.object(img, "x", rings=[[[0, 0], [1, 1]]], where="a.json: shapes[0]")
    with pytest.raises(ParseError, match="a polyline needs at least 2"):
        b.object(img, "x", rings=[[[0, 0], [4, 0], [4, 4]]], paths=[[[1, 1]]], where="w")
    with pytest.raises(ParseError, match="malformed geometry"):
        b.object(img, "x", box=(1, 2, 3), where="w")
    b.object(img, "x", rings=[[[0, 0], [4, 0], [4, 4]]], where="ok")
    b.object(img, "x", paths=[[[2, 2], [8, 2]]], where="line")
    ann = b.build().annotations
    assert len(ann) == 2 and ann.polygons.counts().tolist() == [1, 0]
    assert ann.polylines.counts().tolist() == [0, 1]
    np.testing.assert_array_equal(ann.xyxy[1], [2, 1.5, 8, 2.5])  # flat path: 1 px tall box


def test_sizes_from_headers_and_a_located_line_when_the_image_is_missing(tmp_path):
    make_image(tmp_path / "a.png", (64, 48))
    b = DatasetBuilder(_ctx())
    b.image("a.png", path=str(tmp_path / "a.png"), where="list.txt:1")
    b.image("b.png", path=None, where="list.txt:2")
    with pytest.raises(ParseError) as e:
        b.build()
    assert str(e.value) == ("list.txt:2: no size given and image file 'b.png' not found; the "
                            "size cannot be known")
    ctx = _ctx("skip")
    b = DatasetBuilder(ctx)
    a = b.image("a.png", path=str(tmp_path / "a.png"), where="list.txt:1")
    gone = b.image("gone.png", path=str(tmp_path / "gone.png"), where="list.txt:2")
    b.object(a, "x", (1, 1, 5, 5))
    b.object(gone, "x", (1, 1, 5, 5))
    ds = b.build()
    assert ds.images.file_name.tolist() == ["a.png"] and ds.images.width.tolist() == [64]
    assert ds.images.height.tolist() == [48] and len(ds.annotations) == 1
    [f] = [f for f in ctx.report if f.code == "skipped"]
    assert f.where == "list.txt:2" and "not found" in f.message


def test_fill_sizes_before_objects_for_percent_coordinates(tmp_path):
    make_image(tmp_path / "a.png", (200, 100))
    b = DatasetBuilder(_ctx())
    img = b.image("a.png", path=str(tmp_path / "a.png"))
    assert b.size(img) is None
    b.fill_sizes()
    w, h = b.size(img)
    b.object(img, "x", (0.1 * w, 0.1 * h, 0.5 * w, 0.5 * h))
    assert b.build().annotations.xyxy[0].tolist() == [20, 10, 100, 50]


def test_repeated_file_name_is_reported_at_the_second_where():
    b = DatasetBuilder(_ctx())
    b.image("a.jpg", size=(10, 10), where="x.xml:3")
    b.image("a.jpg", size=(10, 10), where="x.xml:9")
    b.image("a.jpg", "val", size=(10, 10), where="x.xml:12")  # another split: fine
    with pytest.raises(ValidationError, match=r"^x\.xml:9: image 'a\.jpg' listed twice"):
        b.build()


def test_sort_images_orders_by_split_and_name_and_objects_follow():
    b = DatasetBuilder(_ctx())
    z = b.image("z.jpg", "train", size=(10, 10))
    a = b.image("a.jpg", "train", size=(10, 10))
    v = b.image("m.jpg", "", size=(10, 10))
    b.object(z, "z1", (1, 1, 2, 2))
    b.object(a, "a1", (1, 1, 2, 2))
    b.object(z, "z2", (1, 1, 2, 2))
    b.object(v, "m1", (1, 1, 2, 2))
    ds = b.build(sort_images=True)
    assert ds.images.file_name.tolist() == ["m.jpg", "a.jpg", "z.jpg"]
    names = [ds.categories.by_id(int(c)).name for c in ds.annotations.category_id]
    assert names == ["m1", "a1", "z1", "z2"] and ds.annotations.image_index.tolist() == [0, 1, 2, 2]


def test_every_column_and_ids():
    b = DatasetBuilder(_ctx())
    img = b.image("a.jpg", size=(100, 100), id=5)
    b.object(img, "x", (10, 10, 20, 20), id=11, score=0.25, track_id=4, iscrowd=True,
             keypoints=[[12, 12, 2], [15, 15, 1]])
    b.object(img, "x", obb=[[0, 0], [10, 0], [10, 10], [0, 10]], id=12,
             rle=vf.core.geometry.mask_to_rle(np.ones((100, 100), bool)))
    ann = b.build().annotations
    assert ann.id.tolist() == [11, 12] and ann.score[0] == 0.25 and np.isnan(ann.score[1])
    assert ann.track_id.tolist() == [4, -1] and ann.iscrowd.tolist() == [True, False]
    assert ann.keypoints.shape == (2, 2, 3) and np.isnan(ann.keypoints[1]).all()
    assert ann.has_obb().tolist() == [False, True] and ann.has_rle().tolist() == [False, True]
    np.testing.assert_array_equal(ann.xyxy[1], [0, 0, 10, 10])  # obb given first: its bounds


_coord = st.integers(0, 9000).map(lambda v: v / 100)


@st.composite
def _objects(draw):
    n_img = draw(st.integers(1, 4))
    images = [(f"im{i}.jpg", draw(st.sampled_from(["", "train", "val"])),
               draw(st.integers(100, 400)), draw(st.integers(100, 400))) for i in range(n_img)]
    objects = []
    for _ in range(draw(st.integers(0, 12))):
        img = draw(st.integers(0, n_img - 1))
        x1, y1 = draw(_coord), draw(_coord)
        box = (x1, y1, x1 + draw(st.integers(1, 900)) / 100, y1 + draw(st.integers(1, 900)) / 100)
        kind = draw(st.sampled_from(["box", "ring", "path", "label"]))
        objects.append((img, draw(st.sampled_from(["a", "b", "c"])), kind, box,
                        draw(st.one_of(st.none(), st.integers(0, 3)))))
    return images, objects, draw(st.sampled_from(["sorted", "first-use"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_objects())
def test_builder_dataset_native_round_trip(case):
    """Whatever the builder makes, the native format carries exactly, and the builder keeps
    each object's place, class and geometry."""
    images, objects, order = case
    b = DatasetBuilder(_ctx(), undeclared=order)
    handles = [b.image(n, s, size=(w, h)) for n, s, w, h in images]
    for img, label, kind, box, attr in objects:
        x1, y1, x2, y2 = box
        geometry = {"box": dict(box=box), "label": {},
                    "ring": dict(rings=[[[x1, y1], [x2, y1], [x2, y2]]]),
                    "path": dict(paths=[[[x1, y1], [x2, y2]]])}[kind]
        b.object(handles[img], label, attrs=None if attr is None else {"n": attr}, **geometry)
    ds = b.build()
    back = native.loads(native.dumps(ds))
    assert back.differences(ds) == []
    ann = ds.annotations
    assert ann.image_index.tolist() == [o[0] for o in objects]
    assert [ds.categories.by_id(int(c)).name for c in ann.category_id] == [o[1] for o in objects]
    used = list(dict.fromkeys(o[1] for o in objects))
    assert ds.categories.names == (sorted(used) if order == "sorted" else used)
    assert ann.is_label.tolist() == [o[2] == "label" for o in objects]
    assert ann.has_polygon().tolist() == [o[2] == "ring" for o in objects]
    assert ann.has_polyline().tolist() == [o[2] == "path" for o in objects]
    for j, (_, _, kind, box, _) in enumerate(objects):
        if kind in ("box", "ring", "path"):
            np.testing.assert_allclose(ann.xyxy[j], box)


def test_a_class_id_declared_twice_is_a_located_error():
    b = DatasetBuilder(_ctx())
    b.category("cat", id=3)
    with pytest.raises(ParseError, match=r"^label_map\.pbtxt:7: class id 3 is declared twice"):
        b.category("dog", id=3, where="label_map.pbtxt:7")


def test_columns_only_left_out_objects_used_stay_absent(tmp_path):
    """An image whose size cannot be known goes with its objects, and so do the columns only
    those objects used (errors="skip")."""
    b = DatasetBuilder(_ctx("skip"))
    keep = b.image("a.jpg", size=(10, 10))
    gone = b.image("gone.jpg", where="x:2")   # no size, no file
    b.object(keep, "x", (1, 1, 5, 5))
    b.object(gone, "x", rings=[[[0, 0], [4, 0], [4, 4]]], score=0.5, attrs={"note": "n"})
    ann = b.build().annotations
    assert len(ann) == 1 and ann.polygons is None and ann.score is None and not ann.attrs
