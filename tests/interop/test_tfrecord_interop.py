"""TFRecord against TensorFlow itself (tf.data + tf.io.parse_single_example + decode_image) and
Datumaro's tf_detection_api importer."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

tf = pytest.importorskip("tensorflow")

pytestmark = pytest.mark.interop

FEATURES = {
    "image/filename": tf.io.FixedLenFeature([], tf.string),
    "image/source_id": tf.io.FixedLenFeature([], tf.string),
    "image/height": tf.io.FixedLenFeature([], tf.int64),
    "image/width": tf.io.FixedLenFeature([], tf.int64),
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/format": tf.io.FixedLenFeature([], tf.string),
    "image/key/sha256": tf.io.FixedLenFeature([], tf.string),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/text": tf.io.VarLenFeature(tf.string),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
}


def _by_file(ds: vf.Dataset) -> dict[str, list[tuple[str, int, tuple[float, ...]]]]:
    names = {c.id: c.name for c in ds.categories}
    out: dict[str, list] = {str(f): [] for f in ds.images.file_name}
    ann = ds.annotations
    for r, c, box in zip(ann.image_index, ann.category_id, ann.xyxy):
        out[str(ds.images.file_name[r])].append((names[int(c)], int(c), tuple(box.tolist())))
    return {k: sorted(v) for k, v in out.items()}


def test_tensorflow_parses_our_records_and_decodes_every_image(tmp_path):
    ds = vf.load(shared_path("raccoon"), "voc")
    vf.write(ds, tmp_path / "tf", "tfrecord", shards=3)
    files = sorted(str(p) for p in (tmp_path / "tf").glob("default.tfrecord-*"))
    assert len(files) == 3
    seen: dict[str, list] = {}
    for raw in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(raw, FEATURES)
        image = tf.io.decode_image(ex["image/encoded"], channels=3).numpy()
        w, h = int(ex["image/width"]), int(ex["image/height"])
        assert image.shape[:2] == (h, w)
        name = ex["image/filename"].numpy().decode()
        boxes = np.stack([tf.sparse.to_dense(ex[f"image/object/bbox/{k}"]).numpy()
                          for k in ("xmin", "ymin", "xmax", "ymax")], axis=1).astype(np.float64)
        boxes *= [w, h, w, h]
        texts = [t.decode() for t in tf.sparse.to_dense(ex["image/object/class/text"],
                                                         default_value=b"").numpy()]
        labels = tf.sparse.to_dense(ex["image/object/class/label"]).numpy().tolist()
        seen[name] = sorted(zip(texts, labels, [tuple(b) for b in boxes]))
    expected = _by_file(ds)
    assert seen.keys() == expected.keys() and len(seen) == 200
    for name, objs in expected.items():
        assert [(t, c) for t, c, _ in seen[name]] == [(t, c) for t, c, _ in objs]
        np.testing.assert_allclose([b for *_, b in seen[name]], [b for *_, b in objs],
                                   atol=1e-3) if objs else None


def test_we_read_records_tensorflow_writes(tmp_path):
    jpg = make_image(tmp_path / "a.jpg", (64, 48)).read_bytes()

    def feature(values, kind):
        if kind == "b":
            return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
        if kind == "f":
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    path = tmp_path / "ds" / "val.record"
    path.parent.mkdir()
    (path.parent / "label_map.pbtxt").write_text("item {\n id: 3\n name: 'dog'\n}\n"
                                                 "item {\n id: 1\n name: 'cat'\n}\n")
    with tf.io.TFRecordWriter(str(path)) as w:
        for k in range(3):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "image/filename": feature([f"img{k}.jpg".encode()], "b"),
                "image/source_id": feature([str(10 + k).encode()], "b"),
                "image/encoded": feature([jpg], "b"),
                "image/format": feature([b"jpeg"], "b"),
                "image/width": feature([64], "i"), "image/height": feature([48], "i"),
                "image/object/bbox/xmin": feature([0.25, 0.5], "f"),
                "image/object/bbox/xmax": feature([0.5, 1.0], "f"),
                "image/object/bbox/ymin": feature([0.0, 0.5], "f"),
                "image/object/bbox/ymax": feature([0.5, 1.0], "f"),
                "image/object/class/text": feature([b"dog", b"cat"], "b"),
                "image/object/class/label": feature([3, 1], "i"),
                "image/object/difficult": feature([0, 1], "i"),
            }))
            w.write(ex.SerializeToString())
    ds = vf.load(path.parent)
    assert ds.source_format == "tfrecord"
    assert ds.images.id.tolist() == [10, 11, 12] and set(ds.images.split) == {"val"}
    assert ds.categories.ids == [3, 1] and ds.categories.names == ["dog", "cat"]
    assert ds.annotations.xyxy[:2].tolist() == [[16, 0, 32, 24], [32, 24, 64, 48]]
    assert ds.annotations.attr("difficult").tolist() == [0, 1] * 3
    assert Path(ds.images.path[0]).read_bytes() == jpg


def test_datumaro_imports_what_we_export(tmp_path):
    dm = pytest.importorskip("datumaro")
    ds = vf.load(shared_path("datumaro-assets", "tf_detection_api_dataset"))
    vf.write(ds, tmp_path / "out", "tfrecord")
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "tf_detection_api")
    labels = theirs.categories()[dm.AnnotationType.label]
    got = {}
    for item in theirs:
        got[(item.subset, item.id)] = sorted(
            (labels[a.label].name, tuple(round(v, 4) for v in (a.x, a.y, a.x + a.w, a.y + a.h)))
            for a in item.annotations if a.type == dm.AnnotationType.bbox)
        assert item.media.data.shape[:2] == item.media.size
    names = {c.id: c.name for c in ds.categories}
    expected = {}
    for r in range(len(ds.images)):
        rows = np.flatnonzero(ds.annotations.image_index == r)
        expected[(ds.images.split[r], ds.images.file_name[r].rsplit(".", 1)[0])] = sorted(
            (names[int(ds.annotations.category_id[i])],
             tuple(round(float(v), 4) for v in ds.annotations.xyxy[i])) for i in rows)
    assert got == expected
