"""The web app's filter index: query parsing, and selections and facets equal to a
straightforward per-image reference on generated datasets (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.app.index import UNKNOWN_CLASS, Filter, FilterError, Index, NotReady

pytest.importorskip("fastapi")

CLASSES = [(1, "cat"), (2, "dog"), (7, "cat"), (9, "bird")]  # "cat" twice: one name, two ids
SPLITS = ["train", "val", "test", ""]
TAGS = ["review", "night", "blurry"]
NAMES = ["a.jpg", "sub/B.png", "img_001.jpg", "x y.jpeg", "dog-01.jpg", "Ä.jpg"]


@st.composite
def datasets(draw) -> vf.Dataset:
    n = draw(st.integers(0, 12))
    files = [f"{draw(st.sampled_from(NAMES)).split('.')[0]}_{i}.jpg" for i in range(n)]
    w = draw(st.lists(st.integers(1, 80), min_size=n, max_size=n))
    h = draw(st.lists(st.integers(1, 80), min_size=n, max_size=n))
    split = draw(st.lists(st.sampled_from(SPLITS), min_size=n, max_size=n))
    tags = draw(st.lists(st.one_of(st.none(), st.lists(st.sampled_from(TAGS), max_size=2),
                                   st.sampled_from(TAGS)), min_size=n, max_size=n))
    img, cat, xyxy = [], [], []
    for i in range(n):
        for _ in range(draw(st.integers(0, 5))):
            img.append(i)
            cat.append(draw(st.sampled_from([1, 2, 7, 9, 9, 42])))  # 42: undeclared id
            if draw(st.integers(0, 9)) == 0:
                xyxy.append([np.nan] * 4)                         # an image-level label
            else:
                x0 = draw(st.integers(0, w[i] - 1))
                y0 = draw(st.integers(0, h[i] - 1))
                xyxy.append([x0, y0, draw(st.integers(x0 + 1, w[i])),
                             draw(st.integers(y0 + 1, h[i]))])
    order = draw(st.permutations(list(range(len(img)))))            # readers' order varies
    images = vf.Images.build(files, w, h, split=split, attrs={"tags": tags})
    ann = vf.Annotations.build(np.asarray(img, np.int64)[order] if img else [],
                               np.asarray(cat, np.int64)[order] if cat else [],
                               np.asarray(xyxy, float).reshape(-1, 4)[order])
    cats = vf.Categories([vf.Category(i, name) for i, name in CLASSES])
    return vf.Dataset(images, ann, cats)


def _range(draw, lo: float, hi: float) -> str:
    a = draw(st.one_of(st.none(), st.floats(lo, hi, allow_nan=False).map(lambda v: round(v, 3))))
    b = draw(st.one_of(st.none(), st.floats(lo, hi, allow_nan=False).map(lambda v: round(v, 3))))
    if a is not None and b is not None and a > b:
        a, b = b, a
    return f"{'' if a is None else a}:{'' if b is None else b}"


@st.composite
def filters(draw, ds: vf.Dataset) -> list[tuple[str, str]]:
    splits = ds.splits
    if not splits:
        return []
    classes = ["cat", "dog", "bird"] + ([UNKNOWN_CLASS] if (ds.annotations.category_id == 42)
                                        .any() else [])
    present_tags = sorted({t for v in ds.images.attr("tags") if v is not None
                           for t in ([v] if isinstance(v, str) else v)})
    out = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["split", "class", "no_class", "count", "empty", "tag",
                                     "area", "aspect", "width", "height", "q"]))
        if kind == "split":
            v = ",".join(draw(st.lists(st.sampled_from(splits), min_size=1, max_size=2)))
            if "" in v.split(","):
                continue                           # "" cannot be written in a comma list
        elif kind in ("class", "no_class"):
            v = ",".join(draw(st.lists(st.sampled_from(classes), min_size=1, max_size=2)))
        elif kind == "count":
            lo, hi = sorted(draw(st.lists(st.integers(0, 4), min_size=2, max_size=2)))
            lo_s = draw(st.sampled_from([str(lo), ""]))
            hi_s = draw(st.sampled_from([str(hi), ""]))
            v = f"{draw(st.sampled_from(classes))}:{lo_s}:{hi_s}"
        elif kind == "empty":
            v = draw(st.sampled_from(["1", "0"]))
        elif kind == "tag":
            if not present_tags:
                continue
            v = ",".join(draw(st.lists(st.sampled_from(present_tags), min_size=1, max_size=2)))
        elif kind == "area":
            v = _range(draw, 0, 1)
        elif kind == "aspect":
            v = _range(draw, 0, 4)
        elif kind in ("width", "height"):
            v = _range(draw, 0, 80)
        else:
            v = draw(st.sampled_from(["a", "_1", ".JPG", "ä", "zz"]))
        out.append((kind, v))
    return out


# -- the reference: one image at a time, as the API text says ---------------------------------

def _objects(ds: vf.Dataset, i: int) -> list[tuple[str, np.ndarray]]:
    names = {c.id: c.name for c in ds.categories}
    ann = ds.annotations
    return [(names.get(int(ann.category_id[k]), UNKNOWN_CLASS), ann.xyxy[k])
            for k in range(len(ann)) if ann.image_index[k] == i]


def _tags_of(v) -> set[str]:
    return set() if v is None else {v} if isinstance(v, str) else set(v)


def _within(v: float, text: str) -> bool:
    lo, _, hi = text.partition(":")
    return (lo == "" or v >= float(lo)) and (hi == "" or v <= float(hi))


def _passes(ds: vf.Dataset, i: int, kind: str, value: str) -> bool:
    objs = _objects(ds, i)
    w, h = int(ds.images.width[i]), int(ds.images.height[i])
    alts = [value] if kind == "q" else value.split(",")
    if kind == "split":
        return ds.images.split[i] in alts
    if kind == "class":
        return any(name in alts for name, _ in objs)
    if kind == "no_class":
        return not any(name in alts for name, _ in objs)
    if kind == "count":
        return any(_within(sum(name == a.rsplit(":", 2)[0] for name, _ in objs),
                           ":".join(a.rsplit(":", 2)[1:])) for a in alts)
    if kind == "empty":
        return (len(objs) == 0) == (value == "1")
    if kind == "tag":
        return bool(_tags_of(ds.images.attr("tags")[i]) & set(alts))
    if kind == "area":
        return any(not np.isnan(b).all() and _within(
            float((b[2] - b[0]) * (b[3] - b[1]) / float(w * h)), a) for _, b in objs for a in alts)
    if kind == "aspect":
        return any(_within(w / h, a) for a in alts)
    if kind in ("width", "height"):
        return any(_within(w if kind == "width" else h, a) for a in alts)
    if kind == "q":
        return value.lower() in ds.images.file_name[i].lower()
    raise AssertionError(kind)


def _reference(ds: vf.Dataset, params: list[tuple[str, str]]) -> list[int]:
    return [i for i in range(len(ds.images)) if all(_passes(ds, i, k, v) for k, v in params)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_select_and_facets_equal_the_per_image_reference(data) -> None:
    ds = data.draw(datasets())
    params = data.draw(filters(ds))
    index = Index.from_dataset(ds, "r1")
    flt = Filter.parse(params)
    got = index.select(flt).tolist()
    assert got == _reference(ds, params), params
    facets = index.facets(flt)
    assert facets["total"] == len(got)
    # every facet counts the images passing the filter without its own clauses
    own = {"split": ("split",), "class": ("class", "no_class", "count"), "tag": ("tag",)}
    for facet, kinds in own.items():
        rest = [(k, v) for k, v in params if k not in kinds]
        ref = _reference(ds, rest)
        for name, count in facets[facet].items():
            if facet == "split":
                want = sum(ds.images.split[i] == name for i in ref)
            elif facet == "class":
                want = sum(any(n == name for n, _ in _objects(ds, i)) for i in ref)
            else:
                want = sum(name in _tags_of(ds.images.attr("tags")[i]) for i in ref)
            assert count == want, (facet, name, params)
    ref_w = _reference(ds, [(k, v) for k, v in params if k != "width"])
    assert sum(facets["width"]["counts"]) == len(ref_w)
    ref_e = _reference(ds, [(k, v) for k, v in params if k != "empty"])
    assert facets["empty"]["empty"] == sum(not _objects(ds, i) for i in ref_e)
    assert sum(facets["objects"]["counts"]) == len(ref_e)
    ref_a = _reference(ds, [(k, v) for k, v in params if k != "area"])
    boxes = sum(not np.isnan(b).all() for i in ref_a for _, b in _objects(ds, i))
    assert sum(facets["area"]["counts"]) == boxes
    # a page of the grid: each image's boxes in the dataset's order, labels left out
    for item in index.page(np.asarray(got[:5], np.int64)):
        objs = _objects(ds, item["id"])
        assert item["objects"] == len(objs)
        boxes = [b for _, b in objs if not np.isnan(b).all()]
        want = [[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b in boxes]
        np.testing.assert_allclose(np.asarray([bx[1:] for bx in item["boxes"]]).reshape(-1, 4),
                                   np.asarray(want).reshape(-1, 4), atol=0.01)


@settings(max_examples=30, deadline=None)
@given(datasets())
def test_saved_index_reads_back_equal(tmp_path_factory, ds) -> None:
    folder = tmp_path_factory.mktemp("idx") / "index"
    a = Index.from_dataset(ds, "src@3")
    a.save(folder)
    b = Index.load(folder, "src@3")
    assert b is not None
    assert Index.load(folder, "src@4") is None             # another revision: not reused
    assert_same_index(a, b)


def assert_same_index(a: Index, b: Index) -> None:
    assert a.file_name.tolist() == b.file_name.tolist()
    assert a.split_names == b.split_names
    for k in Index._ARRAYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
    for pairs in ("classes", "tags"):
        pa, pb = getattr(a, pairs), getattr(b, pairs)
        assert pa.names == pb.names
        for k in ("image", "code", "start", "count"):
            np.testing.assert_array_equal(getattr(pa, k), getattr(pb, k))
    assert a.category_ids == b.category_ids and a.category_names == b.category_names


# -- parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize("params, message", [
    ([("colour", "red")], "unknown filter parameter 'colour'"),
    ([("clas", "cat")], "did you mean 'class'"),
    ([("split", "")], "filter split= is empty"),
    ([("split", "train,,val")], "empty item"),
    ([("area", "0.5")], "expected lo:hi"),
    ([("area", "x:1")], "'x' is not a number"),
    ([("area", "0.6:0.2")], "lower bound is above"),
    ([("width", "nan:")], "not a finite number"),
    ([("count", "cat:2")], "expected CLASS:lo:hi"),
    ([("count", ":1:2")], "expected CLASS:lo:hi"),
    ([("empty", "maybe")], "expected 1 or 0"),
    ([("outcome", "tp,oops")], "'oops' is not one of tp, fp, fn"),
    ([("similar", "x")], "not an integer"),
    ([("pred", "a"), ("pred", "b")], "pred= given twice"),
])
def test_bad_filters_are_one_line_errors(params, message) -> None:
    with pytest.raises(FilterError, match=message) as e:
        Filter.parse(params)
    assert "\n" not in str(e.value)


def test_names_are_checked_against_the_dataset() -> None:
    images = vf.Images.build(["a.jpg", "b.jpg"], [10, 10], [10, 10], split=["train", "val"])
    ann = vf.Annotations.build([0], [1], [[0, 0, 5, 5]])
    index = Index.from_dataset(vf.Dataset(images, ann, vf.Categories.from_names(["cat"])), "r")
    with pytest.raises(FilterError, match="no split named 'trian'.*did you mean 'train'"):
        index.select(Filter.parse([("split", "trian")]))
    with pytest.raises(FilterError, match="no class named 'dog'"):
        index.select(Filter.parse([("class", "dog")]))
    odd = vf.Images.build(["a.jpg", "b.jpg"], [10, 10], [10, 10], attrs={"tags": [7, ("x",)]})
    odd_index = Index.from_dataset(vf.Dataset(odd, vf.Annotations.empty(),
                                              vf.Categories.from_names(["cat"])), "r")
    assert odd_index.tags.names == ["7", "x"]                # a number is a tag as written
    assert odd_index.select(Filter.parse([("tag", "7")])).tolist() == [0]
    with pytest.raises(FilterError, match="no tag named 'x'"):
        index.select(Filter.parse([("tag", "x")]))
    with pytest.raises(NotReady, match="still being computed"):
        index.select(Filter.parse([("finding", "box.out_of_bounds")]))
    with pytest.raises(FilterError, match="no prediction set is stored"):
        index.select(Filter.parse([("outcome", "fp")]))
    with pytest.raises(FilterError, match="no embeddings are stored"):
        index.select(Filter.parse([("similar", "1")]))
    with pytest.raises(FilterError, match="no near-duplicate groups"):
        index.select(Filter.parse([("dup", "1")]))
    index.set_findings(["box.tiny", "box.tiny", "image.dark"], [1, 1, 0])
    assert index.select(Filter.parse([("finding", "box.tiny")])).tolist() == [1]
    assert index.select(Filter.parse([("finding", "box.tiny,image.dark")])).tolist() == [0, 1]
    assert index.select(Filter.parse([("finding", "no.such_code")])).tolist() == []
    assert index.facets(Filter.parse([]))["finding"] == {"box.tiny": 1, "image.dark": 1}


def test_same_filter_in_another_order_is_one_cache_entry() -> None:
    a = Filter.parse([("split", "train"), ("class", "cat")])
    b = Filter.parse([("class", "cat"), ("split", "train"), ("offset", "5")], ignore=["offset"])
    assert a.key == b.key
    assert a.without(["split"]).key == Filter.parse([("class", "cat")]).key
