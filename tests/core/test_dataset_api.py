"""The Python API on Dataset: len, indexing by row / name / mask, iteration as light views,
filter, classes, splits, image(), and the Arrow/pandas round trip."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from PIL import Image

import visionflow as vf
from tests.conftest import make_image
from tests.strategies import datasets
from visionflow.formats import registry


def _ds(tmp_path=None) -> vf.Dataset:
    paths = None
    if tmp_path is not None:
        paths = [str(make_image(tmp_path / n, (40, 30))) for n in ("a.jpg", "b.jpg", "a2.jpg")]
    images = vf.Images.build(["a.jpg", "b.jpg", "a.jpg"], [40, 40, 40], [30, 30, 30],
                             split=["train", "train", "val"], id=[1, 2, 1], path=paths,
                             attrs={"tags": [["night", "rain"], None, "night"],
                                    "camera": ["c1", "c2", None]})
    # annotation rows deliberately not grouped by image
    ann = vf.Annotations.build([2, 0, 0, 2], [3, 1, 3, 1],
                               [[1, 1, 5, 5], [2, 2, 8, 9], [0, 0, 4, 4], [3, 3, 6, 6]],
                               id=[10, 11, 12, 13])
    return vf.Dataset(images, ann, vf.Categories([vf.Category(3, "dog"), vf.Category(1, "cat")]))


def test_len_index_and_names():
    ds = _ds()
    assert len(ds) == 3
    view = ds[0]
    assert (view.file_name, view.split, view.size, view.id) == ("a.jpg", "train", (40, 30), 1)
    assert view.annotations.id.tolist() == [11, 12]
    assert view.xyxy.tolist() == [[2, 2, 8, 9], [0, 0, 4, 4]]
    assert view.class_names.tolist() == ["cat", "dog"]
    assert view.class_index.tolist() == [1, 0]  # position in ds.classes, not the id
    assert ds[-1].row == 2 and ds["b.jpg"].row == 1
    assert ds["val/a.jpg"].row == 2 and ds["train/a.jpg"].row == 0
    with pytest.raises(KeyError, match=r"2 images are named 'a.jpg'.*train/a.jpg.*val/a.jpg"):
        ds["a.jpg"]
    with pytest.raises(KeyError, match="no image named 'c.jpg'"):
        ds["c.jpg"]
    with pytest.raises(IndexError, match="image index 3 is out of range for 3 images"):
        ds[3]
    with pytest.raises(IndexError, match="image indices must be in"):
        ds[np.array([0, 5])]
    with pytest.raises(IndexError, match="boolean mask has shape"):
        ds[np.array([True, False])]
    with pytest.raises(TypeError):
        ds[1.5]


def test_masks_arrays_and_slices_give_datasets():
    ds = _ds()
    sub = ds[np.array([False, True, True])]
    assert isinstance(sub, vf.Dataset) and sub.images.file_name.tolist() == ["b.jpg", "a.jpg"]
    assert sub.annotations.id.tolist() == [10, 13] and sub.annotations.image_index.tolist() == [1, 1]
    assert ds[np.array([2, 0])].images.split.tolist() == ["val", "train"]
    assert ds[:1].annotations.id.tolist() == [11, 12]
    assert len(ds[np.array([], np.int64)]) == 0


def test_iteration_yields_views_with_their_own_columns():
    ds = _ds()
    views = list(ds)
    assert [v.row for v in views] == [0, 1, 2]
    assert [v.annotations.id.tolist() for v in views] == [[11, 12], [], [10, 13]]
    assert [len(v) for v in views] == [2, 0, 2]
    assert views[1].class_names.tolist() == [] and views[1].xyxy.shape == (0, 4)
    assert views[0].tags == ["night", "rain"] and views[2].tags == ["night"]
    assert views[0].attrs == {"tags": ["night", "rain"], "camera": "c1"}


def test_filter_classes_splits_tags_attrs_and_masks():
    ds = _ds()
    assert ds.classes == ["dog", "cat"] and ds.splits == ["train", "val"]
    rows = lambda d: list(zip(d.images.split, d.images.file_name))
    assert len(ds.filter(classes="dog")) == 2
    assert rows(ds.filter(classes=["cat"], split="val")) == [("val", "a.jpg")]
    assert rows(ds.filter(classes=[3])) == [("train", "a.jpg"), ("val", "a.jpg")]
    assert rows(ds.filter(split=["train"])) == [("train", "a.jpg"), ("train", "b.jpg")]
    assert rows(ds.filter(tag="rain")) == [("train", "a.jpg")]
    assert len(ds.filter(tag="night")) == 2
    assert rows(ds.filter(attr={"camera": "c2"})) == [("train", "b.jpg")]
    assert len(ds.filter(attr={"camera": None})) == 2
    assert rows(ds.filter(mask=np.array([False, False, True]))) == [("val", "a.jpg")]
    kept = ds.filter(classes="cat", split="train")
    assert kept.annotations.id.tolist() == [11, 12]  # the image keeps all its annotations
    with pytest.raises(KeyError, match="no class named 'cow'"):
        ds.filter(classes="cow")
    with pytest.raises(ValueError, match="mask must be a boolean array"):
        ds.filter(mask=[1, 0, 1])


def test_image_level_labels_are_tags():
    ds = _ds()
    labels = vf.Annotations.build([1, 0], [1, 3], [[np.nan] * 4] * 2, id=[20, 21])
    ds = ds.replace(annotations=vf.Annotations.concat([ds.annotations, labels]))
    assert ds[1].tags == ["cat"] and ds[0].tags == ["dog", "night", "rain"]
    assert ds.filter(tag="cat").images.file_name.tolist() == ["b.jpg"]
    assert len(ds.filter(tag="dog")) == 1 and len(ds.filter(tag="night")) == 2


def test_image_decodes_upright(tmp_path):
    ds = _ds(tmp_path)
    pixels = ds.image(0)
    assert pixels.shape == (30, 40, 3) and pixels.dtype == np.uint8
    assert np.array_equal(ds[2].image(), ds.image("val/a.jpg"))
    # EXIF orientation 6 (rotate 90 clockwise): stored 40x30, shown 30x40
    arr = np.zeros((30, 40, 3), np.uint8)
    arr[:, :20] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "rot.jpg"
    Image.fromarray(arr).save(p, exif=exif)
    one = vf.Dataset(vf.Images.build(["rot.jpg"], [30], [40], path=[str(p)]),
                     vf.Annotations.empty(), vf.Categories())
    assert one.image(0).shape == (40, 30, 3)
    assert one.image(0)[5, 25].mean() > 200 and one.image(0)[35, 25].mean() < 50
    with pytest.raises(vf.MissingImageError, match="b.jpg"):
        _ds().image(1)


# --- Arrow / pandas -------------------------------------------------------------------------

def test_arrow_layout_one_row_per_annotation_and_bare_images():
    pytest.importorskip("pyarrow")
    ds = _ds()
    t = ds.to_arrow()
    assert t.num_rows == 5  # 4 annotations + image b.jpg without any
    rows = t.to_pylist()
    assert [r["annotation_id"] for r in rows] == [10, 11, 12, 13, None]
    assert rows[0]["file_name"] == "a.jpg" and rows[0]["split"] == "val"
    assert rows[0]["category"] == "dog" and rows[0]["xyxy"] == [1, 1, 5, 5]
    assert rows[4]["file_name"] == "b.jpg" and rows[4]["xyxy"] is None
    # tags mix lists and strings: Arrow would not give them back as they were, so JSON text
    assert rows[0]["image.tags"] == '"night"' and rows[1]["image.tags"] == '["night","rain"]'
    assert rows[0]["image.camera"] is None and rows[1]["image.camera"] == "c1"
    back = vf.from_arrow(t)
    assert back.differences(ds) == [] and back.categories == ds.categories
    assert back.images.differences(ds.images, paths=True) == []


def test_arrow_round_trip_of_every_column_and_odd_attributes():
    pytest.importorskip("pyarrow")
    pytest.importorskip("pandas")
    rings = [[np.array([[0, 0], [4, 0], [4, 4]])], [],
             [np.array([[1, 1], [3, 1], [2, 3]]), np.array([[5, 5], [6, 5], [6, 6.5]])]]
    mask = np.zeros((30, 40), bool)
    mask[2:5, 3:9] = True
    rle = np.empty(3, object)
    rle[:] = [None, vf.core.geometry.mask_to_rle(mask), None]
    kp = np.full((3, 2, 3), np.nan)
    kp[0] = [[1, 2, 2], [0, 0, 0]]
    obb = np.full((3, 4, 2), np.nan)
    obb[2] = [[0, 0], [2, 0], [2, 2], [0, 2]]
    attrs = {"mixed": np.array([1, "x", None], object),
             "nested": np.array([{"a": [1, 2]}, {"b": None}, None], object),
             "ints": np.array([1, 2, 3], object), "float_int": np.array([1.0, 2, 3.5], object)}
    ann = vf.Annotations.build([1, 0, 1], [2, 1, 2], [[0, 0, 4, 4], [3, 2, 9, 5],
                                                      [np.nan] * 4],
                               polygons=vf.Polygons.from_lists(rings), rle=rle, keypoints=kp,
                               obb=obb, score=np.array([0.5, np.nan, 1]),
                               iscrowd=np.array([False, True, False]),
                               track_id=np.array([-1, 7, 3]), attrs=attrs)
    images = vf.Images.build(["x/a.png", "b.png", "c.png"], [40, 40, 10], [30, 30, 10],
                             id=[5, 6, 7], attrs={"meta": [{"k": 1}, None, [1, "a"]]})
    ds = vf.Dataset(images, ann, vf.Categories([vf.Category(2, "p", "s", ("l", "r"), ((1, 2),)),
                                                vf.Category(1, "q")]))
    for back in (vf.from_arrow(ds.to_arrow()), vf.from_arrow(ds.to_pandas())):
        assert back.differences(ds) == []
        assert back.categories == ds.categories
        assert [type(v) for v in back.annotations.attrs["float_int"]] == [float, int, float]


@settings(max_examples=60, deadline=None)
@given(datasets(registry.get("visionflow")))
def test_arrow_round_trip_is_exact(ds):
    pytest.importorskip("pyarrow")
    back = vf.from_arrow(ds.to_arrow())
    assert back.differences(ds) == []
    assert back.categories == ds.categories


def test_pandas_frame_is_for_analysis():
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = _ds().to_pandas()
    assert isinstance(df, pd.DataFrame)
    assert df.groupby("category")["annotation_id"].count().to_dict() == {"cat": 2, "dog": 2}
    assert df["annotation_id"].isna().sum() == 1


def test_from_arrow_without_our_metadata_takes_classes_from_the_rows():
    pytest.importorskip("pyarrow")
    ds = _ds()
    bare = ds.to_arrow().replace_schema_metadata(None).drop_columns(["image.tags"])
    back = vf.from_arrow(bare)
    assert [(c.id, c.name) for c in back.categories] == [(1, "cat"), (3, "dog")]
    assert back.annotations.differences(ds.annotations) == []
    assert back.images.file_name.tolist() == ds.images.file_name.tolist()


def test_from_arrow_refuses_a_table_of_something_else():
    pa = pytest.importorskip("pyarrow")
    with pytest.raises(vf.Error, match="no file_name, width, height, category_id column"):
        vf.from_arrow(pa.table({"x": [1]}))
    with pytest.raises(vf.Error, match="pyarrow Table or a pandas DataFrame"):
        vf.from_arrow([1, 2])
