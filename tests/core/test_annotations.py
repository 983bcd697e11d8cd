import numpy as np
import pytest

import visionflow as vf


def _ann():
    polys = vf.Polygons.from_lists([[np.array([[0, 0], [2, 0], [2, 2]])], [],
                                    [np.array([[1, 1], [3, 1], [3, 3]]), np.array([[5, 5], [6, 5], [6, 6]])]])
    return vf.Annotations.build([0, 0, 1], [1, 2, 1], [[0, 0, 2, 2], [1, 1, 4, 4], [1, 1, 6, 6]],
                                polygons=polys, attrs={"occluded": np.array([0, 1, None], object)})


def test_slicing_moves_every_column_together():
    ann = _ann()
    sub = ann[np.array([False, True, True])]
    assert sub.category_id.tolist() == [2, 1]
    assert sub.id.tolist() == [2, 3]
    assert sub.attrs["occluded"].tolist() == [1, None]
    assert sub.polygons.counts().tolist() == [0, 2]
    assert sub.polygons.rings(1)[1].tolist() == [[5, 5], [6, 5], [6, 6]]
    assert ann[[2, 0]].xyxy[:, 2].tolist() == [6, 2]
    assert len(ann[1:]) == 2


def test_columns_must_agree_in_length():
    with pytest.raises(ValueError, match="column category_id has 1 rows, expected 2"):
        vf.Annotations(np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(2, np.int64),
                       np.zeros((2, 4)))


def test_concat_fills_absent_columns():
    a = _ann()
    b = vf.Annotations.build([0], [3], [[0, 0, 1, 1]], keypoints=np.ones((1, 2, 3)))
    both = vf.Annotations.concat([a, b])
    assert len(both) == 4
    assert both.keypoints.shape == (4, 2, 3)
    assert np.isnan(both.keypoints[:3]).all()
    assert both.polygons.counts().tolist() == [1, 0, 2, 0]
    assert both.attr("occluded").tolist() == [0, 1, None, None]


def test_missing_optional_column_equals_one_of_nothing():
    a = vf.Annotations.build([0], [1], [[0, 0, 1, 1]])
    b = a.replace(iscrowd=np.zeros(1, bool), score=np.full(1, np.nan))
    assert a.equals(b)
    assert not a.equals(a.replace(iscrowd=np.ones(1, bool)))


def test_geometry_counts_and_labels():
    ann = vf.Annotations.build([0, 0], [1, 1], [[np.nan] * 4, [0, 0, 1, 1]])
    assert ann.is_label.tolist() == [True, False]
    assert ann.geometry_counts() == {"boxes": 1, "labels": 1}


def test_categories_keep_ids_and_order():
    cats = vf.Categories([vf.Category(17, "cat"), vf.Category(1, "person"), vf.Category(5, "cat")])
    assert cats.index_of(1) == 1
    assert cats.by_id(5).name == "cat"
    assert [c.id for c in cats.by_name("cat")] == [17, 5]
    with pytest.raises(ValueError, match="duplicate category id 1"):
        vf.Categories([vf.Category(1, "a"), vf.Category(1, "b")])


def test_select_images_remaps_annotations():
    images = vf.Images.build(["a.jpg", "b.jpg", "c.jpg"], [10] * 3, [10] * 3)
    ann = vf.Annotations.build([0, 2, 2], [1, 1, 1], [[0, 0, 1, 1]] * 3)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    sub = ds.select_images(np.array([False, True, True]))
    assert sub.images.file_name.tolist() == ["b.jpg", "c.jpg"]
    assert sub.annotations.image_index.tolist() == [1, 1]
    assert sub.annotations.id.tolist() == [2, 3]


def test_from_objects_builds_only_the_columns_objects_use():
    ring = np.array([[0, 0], [2, 0], [2, 2]])
    ann = vf.Annotations.from_objects(
        [0, 0, 1], [1, 2, 1], [[0, 0, 2, 2], [1, 1, 4, 4], [0, 0, 1, 1]],
        rings=[[ring], [], []], rle=[None, None, None], obb=[None, np.ones((4, 2)), None],
        attrs=[{"occluded": 1}, {}, {"note": "x"}])
    assert ann.polygons.counts().tolist() == [1, 0, 0]
    assert ann.rle is None  # no object has a mask
    assert np.isnan(ann.obb[[0, 2]]).all() and ann.obb[1].tolist() == [[1, 1]] * 4
    assert ann.attr("occluded").tolist() == [1, None, None]
    assert list(ann.attrs) == ["occluded", "note"]
    empty = vf.Annotations.from_objects([], [], [], rings=[], attrs=[])
    assert len(empty) == 0 and empty.polygons is None
