"""The COCO reader's bulk paths (msgspec typed chunks, images all at once) must read exactly
what the record-by-record path reads, on any mix of records, and fall back where needed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.formats import _coco_annotations, _coco_emit, coco

from ..conftest import make_image

_NUM = st.one_of(st.integers(-5, 400), st.floats(0, 400, allow_nan=False).map(lambda v: round(v, 3)))


@st.composite
def _annotation(draw, i: int, image_ids: list[int]) -> dict:
    x, y = draw(st.floats(0, 50)), draw(st.floats(0, 50))
    a = {"id": i + 1, "image_id": draw(st.sampled_from(image_ids)),
         "category_id": draw(st.sampled_from([1, 18, 90])),
         "bbox": [round(x, 2), round(y, 2), draw(st.integers(1, 10)), round(draw(st.floats(1, 10)), 4)]}
    kind = draw(st.sampled_from(["plain", "plain", "plain", "area-int", "crowd", "bare-seg",
                                 "polygon", "polygon", "two-rings", "poly-nobox", "extra",
                                 "attributes", "score"]))
    if kind in ("plain", "area-int"):
        a["area"] = draw(_NUM) if kind == "plain" else draw(st.integers(0, 99))
        a["iscrowd"] = 0
        a["segmentation"] = []
    elif kind == "crowd":
        a["iscrowd"] = draw(st.sampled_from([0, 1]))
    elif kind in ("polygon", "two-rings", "poly-nobox"):
        ring = [round(x, 2), round(y, 2), round(x + 5.5, 2), y, x + 5, round(y + 5.25, 3)]
        a["segmentation"] = [ring, [v + 1 for v in ring] + [x, y]] if kind == "two-rings" \
            else [ring]
        a["area"] = draw(_NUM)
        if kind == "poly-nobox":
            del a["bbox"]
    elif kind == "extra":
        a["note"] = draw(st.text(max_size=3))
    elif kind == "attributes":
        a["attributes"] = {"occluded": draw(st.booleans())}
    elif kind == "score":
        a["score"] = round(draw(st.floats(0, 1)), 3)
    keys = list(a)
    order = draw(st.permutations(keys))
    return {k: a[k] for k in order}


@st.composite
def _document(draw) -> dict:
    n_images = draw(st.integers(1, 6))
    images = [{"id": 10 + i, "file_name": f"{i}.jpg", "width": 64, "height": 64} for i in range(n_images)]
    if draw(st.booleans()):
        images[0]["license"] = 3
        images[-1]["coco_url"] = "http://example.org/x.jpg"
    ids = [im["id"] for im in images]
    n = draw(st.integers(0, 40))
    anns = [draw(_annotation(i, ids)) for i in range(n)]
    return {"info": {"v": 1}, "images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"},
                           {"id": 90, "name": "toothbrush"}]}


def _columns(ds: vf.Dataset) -> dict:
    a = ds.annotations
    return {"images": [list(ds.images.id), list(ds.images.file_name), list(ds.images.path),
                       {k: list(v) for k, v in ds.images.attrs.items()}],
            "ids": a.id.tolist(), "image_index": a.image_index.tolist(),
            "cat": a.category_id.tolist(), "xyxy": a.xyxy.tobytes(),
            "crowd": None if a.iscrowd is None else a.iscrowd.tolist(),
            "score": None if a.score is None else a.score.tobytes(),
            "polygons": None if a.polygons is None else [
                [r.tobytes() for r in a.polygons.rings(i)] for i in range(len(a))],
            "attrs": {k: [repr(v) for v in vals] for k, vals in a.attrs.items()},
            "meta": ds.meta}


def _write(tmp_path: Path, doc: dict, name: str) -> Path:
    root = tmp_path / name
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(doc))
    return root


def _generic(monkeypatch) -> None:
    """Force the record-by-record path: orjson dicts and no bulk image path."""
    def orjson_only(file, data):
        return coco.orjson.loads(data), lambda value: value
    monkeypatch.setattr(coco, "_top_level", orjson_only)
    monkeypatch.setattr(coco, "_plain_images", lambda *a: None)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=_document(), chunk=st.sampled_from([1, 3, 16384]))
def test_bulk_paths_read_what_the_record_path_reads(tmp_path_factory, doc, chunk):
    tmp = tmp_path_factory.mktemp("bulk")
    root = _write(tmp, doc, "ds")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_coco_annotations, "_CHUNK", chunk)  # the reader's chunk (kit of coco.py)
        fast = _columns(vf.load(root, "coco"))
    with pytest.MonkeyPatch.context() as mp:
        _generic(mp)
        slow = _columns(vf.load(root, "coco"))
    assert fast == slow


def test_plain_chunks_are_decoded_without_dicts(tmp_path, monkeypatch):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
           "annotations": [{"id": i, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2],
                            "area": 4, "iscrowd": 0, "segmentation": []} for i in range(1, 6)],
           "categories": [{"id": 1, "name": "a"}]}
    root = _write(tmp_path, doc, "ds")
    calls = []
    monkeypatch.setattr(_coco_annotations._Columns, "fill_dicts",
                        lambda self, *a: calls.append(a) or True)
    ds = vf.load(root, "coco")
    assert calls == [] and ds.annotations.id.tolist() == [1, 2, 3, 4, 5]
    assert list(ds.annotations.attrs["coco.area"]) == [4] * 5  # ints stay ints


def test_a_bad_record_inside_a_plain_file_is_named(tmp_path):
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]} for i in range(1, 40)]
    anns[25]["bbox"] = [0, 0, "wide", 2]
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
           "annotations": anns, "categories": [{"id": 1, "name": "a"}]}
    root = _write(tmp_path, doc, "ds")
    with pytest.raises(vf.ParseError, match=r"annotations\[25\] \(id 26\).*bbox"):
        vf.load(root, "coco")


def test_huge_ids_fall_back_to_the_record_path_and_are_named(tmp_path):
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
           "annotations": [{"id": 2 ** 70, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}],
           "categories": [{"id": 1, "name": "a"}]}
    root = _write(tmp_path, doc, "ds")
    with pytest.raises(vf.ParseError, match=r"annotations\[0\].*id must be a 64-bit integer"):
        vf.load(root, "coco")


def test_images_bulk_path_keeps_missing_and_symlinked_images_safe(tmp_path):
    outside = tmp_path / "outside.jpg"
    make_image(outside, (8, 8))
    doc = {"images": [{"id": 1, "file_name": "here.jpg", "width": 8, "height": 8},
                      {"id": 2, "file_name": "missing.jpg", "width": 8, "height": 8},
                      {"id": 3, "file_name": "link.jpg", "width": 8, "height": 8}],
           "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    root = _write(tmp_path, doc, "ds")
    folder = root / "images" / "default"
    make_image(folder / "here.jpg", (8, 8))
    (folder / "link.jpg").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match=r"images\[2\] \(id 3\).*outside"):
        vf.load(root, "coco")
    (folder / "link.jpg").unlink()
    ds = vf.load(root, "coco")
    paths = list(ds.images.path)
    assert paths[0] == str(np.str_(folder.absolute() / "here.jpg")) and paths[1:] == [None, None]


# --- writer ----------------------------------------------------------------------------------

_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3))


@st.composite
def _plain_box_datasets(draw) -> vf.Dataset:
    """Box-only datasets with what the writer's column path must reproduce: whole and
    fractional coordinates, stored areas (int, float or missing), iscrowd, plain attributes
    and other formats' namespaced attrs."""
    n_img = draw(st.integers(1, 3))
    images = vf.Images.build([f"{i}.jpg" for i in range(n_img)], [640] * n_img, [480] * n_img,
                             id=[5 + i for i in range(n_img)])
    n = draw(st.integers(0, 12))
    coord = st.one_of(st.integers(0, 300).map(float), st.floats(0, 300).map(lambda v: round(v, 3)))
    xy = np.array([[draw(coord), draw(coord)] for _ in range(n)]).reshape(n, 2)
    wh = np.array([[draw(st.one_of(st.just(1e-9), coord)) + 0.5, draw(coord) + 1.0 / 3]
                   for _ in range(n)]).reshape(n, 2)
    attrs = {}
    if draw(st.booleans()):
        attrs["coco.area"] = np.array(
            [draw(st.one_of(st.none(), st.integers(0, 9), st.floats(0, 9).map(lambda v: round(v, 2))))
             for _ in range(n)], dtype=object)
    for key in draw(st.lists(st.sampled_from(["occluded", "difficult", "voc.pose"]), unique=True)):
        attrs[key] = np.array([draw(_VALUE) for _ in range(n)], dtype=object)
    ann = vf.Annotations(
        np.array([draw(st.integers(0, n_img - 1)) for _ in range(n)], np.int64),
        np.array([draw(st.sampled_from([1, 7])) for _ in range(n)], np.int64),
        np.arange(1, n + 1, dtype=np.int64), np.concatenate([xy, xy + wh], axis=1),
        iscrowd=np.array([draw(st.booleans()) for _ in range(n)]) if draw(st.booleans()) else None,
        attrs=attrs)
    cats = vf.Categories([vf.Category(1, "a"), vf.Category(7, "b")])
    return vf.Dataset(images, ann, cats, {})


@settings(max_examples=150, deadline=None)
@given(ds=_plain_box_datasets())
def test_column_records_are_the_row_records(ds):
    cols = coco._AnnColumns(ds)
    assert cols.plain
    rows = np.arange(len(ds.annotations))[::-1]
    dump = lambda records: coco.orjson.dumps(list(records),  # noqa: E731
                                             option=coco.orjson.OPT_SERIALIZE_NUMPY)
    cols.plain = False
    by_row = cols.records(rows)  # the general path: _ann_dict row by row
    cols.plain = True
    assert dump(cols.records(rows)) == dump(by_row)
    assert dump(cols.records(rows[:1])) == dump(by_row[:1])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ds=_plain_box_datasets(), chunk=st.sampled_from([1, 2, 16384]))
def test_streamed_file_is_the_whole_document(tmp_path_factory, ds, chunk):
    out = tmp_path_factory.mktemp("w") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_coco_emit, "_CHUNK", chunk)  # the writer's chunk (kit of coco.py)
        vf.write(ds, out, "coco", images="none")
    doc = json.loads((out / "annotations" / "instances_default.json").read_bytes())
    assert list(doc) == ["categories", "images", "annotations"]
    assert [a["id"] for a in doc["annotations"]] == sorted(
        ds.annotations.id.tolist(), key=lambda i: (ds.annotations.image_index[i - 1], i))
    assert [im["id"] for im in doc["images"]] == ds.images.id.tolist()


def test_a_bad_ring_inside_a_polygon_chunk_is_named(tmp_path):
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2],
             "segmentation": [[0, 0, 2, 0, 2, 2]]} for i in range(1, 30)]
    anns[12]["segmentation"] = [[0, 0, 2, 0, 2]]
    doc = {"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}],
           "annotations": anns, "categories": [{"id": 1, "name": "a"}]}
    root = _write(tmp_path, doc, "ds")
    with pytest.raises(vf.ParseError, match=r"annotations\[12\] \(id 13\).*at least 3"):
        vf.load(root, "coco")
    ds = vf.load(root, "coco", errors="skip")
    assert len(ds.annotations) == 28 and ds.annotations.polygons.counts().tolist() == [1] * 28


def test_polygon_take_and_concat_are_the_list_versions():
    rng = np.random.default_rng(0)
    objects = [[rng.random((int(rng.integers(3, 6)), 2)) for _ in range(int(rng.integers(0, 3)))]
               for _ in range(40)]
    polys = vf.Polygons.from_lists(objects)
    for index in (np.array([3, 1, 1, 39, 0]), np.arange(40)[::-2], np.zeros(0, np.int64),
                  rng.random(40) < 0.5, np.array([-1, -40])):
        picked = np.arange(40)[index]
        assert polys.take(index).equals(vf.Polygons.from_lists([objects[i] for i in picked]))
    halves = [vf.Polygons.from_lists(objects[:13]), vf.Polygons.from_lists([]),
              vf.Polygons.from_lists(objects[13:])]
    assert vf.Polygons.concat(halves).equals(polys)
