import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.core.validate import validate


def _ds(boxes, cats=(1,), image_ids=(1,), ann_ids=None):
    n_img = len(image_ids)
    images = vf.Images.build([f"i{k}.jpg" for k in range(n_img)], [100] * n_img, [50] * n_img,
                             id=list(image_ids))
    ann = vf.Annotations.build([0] * len(boxes), [cats[0]] * len(boxes), boxes, id=ann_ids)
    return vf.Dataset(images, ann, vf.Categories.from_names(["thing"]))


def _run(ds, skip=False):
    report = vf.Report()
    out = validate(ds, report=report, skip_errors=skip, where_annotation=lambda i: f"file.txt:{i + 1}",
                   where_image=lambda i: f"image row {i}")
    return out, report


@pytest.mark.parametrize("box, message", [
    ([np.nan, 0, 10, 10], "file.txt:1: box has a NaN coordinate [nan, 0, 10, 10] on image 'i0.jpg' (100x50)"),
    ([10, 0, 5, 10], "file.txt:1: box has negative size"),
    ([10, 10, 10, 20], "file.txt:1: box has zero size"),
    ([150, 10, 160, 20], "file.txt:1: box lies outside the image [150, 10, 160, 20]"),
    ([-5, 0, 10, 10], "file.txt:1: box lies outside the image"),
])
def test_bad_boxes(box, message):
    with pytest.raises(vf.ValidationError) as e:
        _run(_ds([box]))
    assert str(e.value).startswith(message)


def test_box_a_hair_outside_is_accepted():
    out, report = _run(_ds([[-0.5, 0, 100.9, 50.5]]))
    assert len(out.annotations) == 1 and not report.findings


def test_unknown_category_and_duplicate_ids():
    with pytest.raises(vf.ValidationError, match="file.txt:1: unknown category id 9"):
        _run(_ds([[0, 0, 1, 1]], cats=(9,)))
    with pytest.raises(vf.ValidationError, match="file.txt:2: duplicate annotation id 4"):
        _run(_ds([[0, 0, 1, 1], [0, 0, 2, 2]], ann_ids=[4, 4]))
    images = vf.Images.build(["a.jpg", "b.jpg"], [10, 10], [10, 10], id=[3, 3])
    with pytest.raises(vf.ValidationError, match="image row 1: duplicate image id 3"):
        _run(vf.Dataset(images, vf.Annotations.empty(), vf.Categories()))


def test_ids_may_repeat_across_splits():
    images = vf.Images.build(["a.jpg", "a.jpg"], [10, 10], [10, 10], id=[1, 1], split=["train", "val"])
    ann = vf.Annotations.build([0, 1], [1, 1], [[0, 0, 1, 1]] * 2, id=[1, 1])
    out, report = _run(vf.Dataset(images, ann, vf.Categories.from_names(["x"])))
    assert len(out.annotations) == 2 and not report.findings


def test_skip_errors_drops_only_the_bad_rows():
    out, report = _run(_ds([[0, 0, 10, 10], [np.nan, 0, 1, 1], [5, 5, 6, 6]]), skip=True)
    assert out.annotations.id.tolist() == [1, 3]
    assert [f.where for f in report.findings] == ["file.txt:2"]
    assert report.findings[0].code == "skipped"


@settings(max_examples=200, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 2), st.integers(-3, 3)), max_size=30))
def test_duplicate_pairs_are_the_repeats_of_earlier_rows(pairs):
    from visionflow.core.validate import _duplicate_pairs
    a = np.array([p[0] for p in pairs], np.int64)
    b = np.array([p[1] for p in pairs], np.int64)
    seen, expected = set(), []
    for i, p in enumerate(pairs):
        if p in seen:
            expected.append(i)
        seen.add(p)
    assert _duplicate_pairs(a, b).tolist() == expected
