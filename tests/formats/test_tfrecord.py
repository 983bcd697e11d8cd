"""TFRecord (TF Object Detection API): real records, our framing and codec, bad input."""

from __future__ import annotations

import csv
import hashlib
import io
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.core.errors import Error, FormatError, ParseError, UnsafeInputError
from visionflow.formats import registry
from visionflow.io import tfrecord as tfr

from ..conftest import make_image, shared_path, tree_snapshot


def _examples(path: Path) -> list[dict]:
    out = []
    for f in sorted(path.glob("*.tfrecord*")) if path.is_dir() else [path]:
        with open(f, "rb") as fh:
            out += [tfr.decode_example(r) for r in tfr.read_records(fh)]
    return out


def _write_records(path: Path, examples: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(tfr.frame(tfr.encode_example(e)) for e in examples))
    return path


def _example(name="a.jpg", w=100, h=50, boxes=((0.1, 0.2, 0.5, 0.6),), labels=(1,),
             texts=(b"cat",), encoded=b"", **extra) -> dict:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    ex = {"image/filename": [name.encode()], "image/source_id": [b""],
          "image/width": np.array([w]), "image/height": np.array([h]),
          "image/encoded": [encoded], "image/format": [b"jpeg" if encoded else b""],
          "image/object/bbox/xmin": b[:, 0], "image/object/bbox/ymin": b[:, 1],
          "image/object/bbox/xmax": b[:, 2], "image/object/bbox/ymax": b[:, 3],
          "image/object/class/label": np.array(labels, np.int64),
          "image/object/class/text": list(texts)}
    ex.update(extra)
    return ex


# --- codec ------------------------------------------------------------------------------------

def test_codec_round_trips_negative_ints_floats_and_bytes():
    ex = {"a": np.array([-1, 0, 2**40], np.int64), "b": np.array([0.5, -2.25], np.float32),
          "c": [b"", b"\x00\xff"], "d": np.array([], np.int64)}
    back = tfr.decode_example(tfr.encode_example(ex))
    assert back["a"].tolist() == [-1, 0, 2**40]
    assert back["b"].tolist() == [0.5, -2.25]
    assert back["c"] == [b"", b"\x00\xff"]
    assert len(back["d"]) == 0


def test_framing_matches_the_published_crc():
    # masked CRC32C of b"" is the TFRecord constant for an empty payload
    assert tfr.masked_crc(b"") == ((0 >> 15 | 0 << 17) + 0xA282EAD8) & 0xFFFFFFFF
    framed = tfr.frame(b"hello")
    assert struct.unpack("<Q", framed[:8])[0] == 5
    assert list(tfr.read_records(io.BytesIO(framed * 3))) == [b"hello"] * 3


def test_label_map_text_format():
    items = tfr.parse_text_proto("# comment\nitem {\n id: 2\n name: 'it\\'s'\n"
                                 " display_name: \"D\"\n keypoints { id: 0 label: 'nose' }\n}\n"
                                 "item < name: \"b\" id: 3 >")
    assert [(k, line) for k, _, line in items] == [("item", 2), ("item", 8)]
    first = {k: v for k, v, _ in items[0][1]}
    assert first["id"] == 2 and first["name"] == "it's" and first["display_name"] == "D"
    with pytest.raises(ValueError, match="line 3"):
        tfr.parse_text_proto("item {\n id: 1\n name: 'x\n}")


# --- real data --------------------------------------------------------------------------------

def test_raccoon_record_matches_its_csv_and_embeds_the_original_jpegs():
    record = shared_path("raccoon", "data", "test.record")
    report = vf.Report()
    ds = vf.load(record, report=report)
    assert ds.source_format == "tfrecord" and not report.findings
    assert (len(ds.images), len(ds.annotations)) == (40, 44)
    assert ds.categories.names == ["raccoon"] and ds.categories.ids == [1]
    assert set(ds.images.split) == {"test"}
    # The boxes are the CSV's integers again, not float32 noise.
    rows = list(csv.DictReader((record.parent / "test_labels.csv").read_text().splitlines()))
    expected = sorted((r["filename"], *(float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")))
                      for r in rows)
    got = sorted((ds.images.file_name[i], *map(float, b))
                 for i, b in zip(ds.annotations.image_index, ds.annotations.xyxy))
    assert got == expected
    # Extracted images are the original files, byte for byte, outside the dataset folder.
    images = record.parents[1] / "images"
    for name, path in zip(ds.images.file_name, ds.images.path):
        assert Path(path).read_bytes() == (images / name).read_bytes()
        assert not Path(path).is_relative_to(record.parents[1])
    assert ds.images.attr("tfrecord.source_id")[0] == ds.images.file_name[0]


def test_raccoon_write_embeds_original_bytes_and_shards(tmp_path):
    root = shared_path("raccoon")
    before = tree_snapshot(root / "data")
    ds = vf.load(root / "data" / "test.record")
    vf.write(ds, tmp_path / "out", "tfrecord", shards=4)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == [".visionflow-output", "label_map.pbtxt"] + [
        f"test.tfrecord-{k:05d}-of-00004" for k in range(4)]
    examples = _examples(tmp_path / "out")
    assert len(examples) == 40
    for ex in examples:
        name = ex["image/filename"][0].decode()
        original = (root / "images" / name).read_bytes()
        assert ex["image/encoded"][0] == original
        assert ex["image/key/sha256"][0] == hashlib.sha256(original).hexdigest().encode()
        assert ex["image/format"] == [b"jpeg"]
    back = vf.load(tmp_path / "out")
    assert not ds.differences(back)
    # One shard named: the whole set is read.
    assert len(vf.load(tmp_path / "out" / "test.tfrecord-00002-of-00004").images) == 40
    assert tree_snapshot(root / "data") == before


def test_raccoon_voc_to_tfrecord_keeps_every_box(tmp_path):
    voc = vf.load(shared_path("raccoon"), "voc")
    vf.write(voc, tmp_path / "tf", "tfrecord")
    back = vf.load(tmp_path / "tf")
    assert back.images.splits() == [""] and (tmp_path / "tf" / "default.tfrecord").is_file()
    assert np.array_equal(back.annotations.xyxy, voc.annotations.xyxy)
    assert back.annotations.attr("difficult").tolist() == voc.annotations.attr("difficult").tolist()


def test_datumaro_fixture_splits_labels_and_unlabeled_object():
    report = vf.Report()
    ds = vf.load(shared_path("datumaro-assets", "tf_detection_api_dataset"), report=report)
    assert ds.images.splits() == ["train", "val", "test"]
    assert ds.categories.ids == list(range(1, 11))
    assert ds.categories.names[:3] == ["label_0", "label_1", "label_2"]
    assert ds.images.id.tolist() == [1, 2, 3]  # source ids "1", "2", "3"
    train = ds.split("train")
    assert train.annotations.category_id.tolist() == [3, 4]
    assert train.annotations.xyxy.tolist() == [[0, 4, 4, 12], [0, 4, 4, 8]]
    assert report.codes() == ["tfrecord.unlabeled"]


def test_roboflow_fixture_holds_boxes_only():
    ds = vf.load(shared_path("datumaro-assets", "roboflow_dataset", "tfrecord"))
    assert ds.images.splits() == ["train", "val"]
    assert list(ds.images.path) == [None, None, None]
    assert ds.images.width.tolist() == [10, 10, 10]
    assert ds.annotations.xyxy[0].tolist() == [2, 1, 5, 2]
    assert ds.categories.names == ["label_0", "label_1"]


@pytest.mark.parametrize("where, expected", [
    (("raccoon",), "voc"),
    (("raccoon", "data"), "tfrecord"),
    (("raccoon", "data", "test.record"), "tfrecord"),
    (("datumaro-assets", "tf_detection_api_dataset"), "tfrecord"),
    (("datumaro-assets", "roboflow_dataset", "tfrecord"), "tfrecord"),
])
def test_detection(where, expected):
    assert registry.detect(shared_path(*where)).format == expected


# --- our own files ----------------------------------------------------------------------------

def test_boxes_only_records_find_images_on_disk(tmp_path):
    make_image(tmp_path / "ds" / "images" / "a.jpg", (100, 50))
    _write_records(tmp_path / "ds" / "train.tfrecord", [_example()])
    ds = vf.load(tmp_path / "ds")
    assert ds.images.path[0] == str((tmp_path / "ds" / "images" / "a.jpg").absolute())
    assert ds.annotations.xyxy.tolist() == [[10, 10, 50, 30]]
    assert ds.categories.names == ["cat"]


def test_size_from_embedded_image_when_features_lack_it(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "PNG")
    ex = _example(encoded=buf.getvalue())
    del ex["image/width"], ex["image/height"]
    _write_records(tmp_path / "x.tfrecord", [ex])
    ds = vf.load(tmp_path / "x.tfrecord", "tfrecord")
    assert (ds.images.width[0], ds.images.height[0]) == (40, 30)
    assert ds.images.split[0] == "x"


def test_images_none_and_attributes(tmp_path):
    make_image(tmp_path / "src" / "a.jpg", (100, 50))
    ds = vf.Dataset(
        vf.Images.build(["a.jpg"], [100], [50], id=[7], split="val",
                        path=[str(tmp_path / "src" / "a.jpg")]),
        vf.Annotations.build([0, 0], [5, 2], [[1, 2, 30, 40], [5, 5, 6, 6]],
                             iscrowd=np.array([False, True]),
                             attrs={"difficult": np.array([1, 0], object),
                                    "view": np.array(["front", None], object)}),
        vf.Categories([vf.Category(5, "b"), vf.Category(2, "a")]))
    vf.write(ds, tmp_path / "out", "tfrecord", images="none")
    ex, = _examples(tmp_path / "out")
    assert ex["image/encoded"] == [b""] and ex["image/source_id"] == [b"7"]
    assert ex["image/object/view"] == [b"front", b""]
    back = vf.load(tmp_path / "out")
    assert back.images.path[0] is None and back.images.id[0] == 7
    assert back.categories == ds.categories  # ids and label-map order survive
    assert back.annotations.iscrowd.tolist() == [False, True]
    assert back.annotations.attr("difficult").tolist() == [1, 0]
    assert (tmp_path / "out" / "label_map.pbtxt").read_text().startswith("item {\n  id: 5\n")


def test_exif_rotated_jpeg_is_reported(tmp_path):
    im = Image.new("RGB", (40, 20))
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "r.jpg", exif=exif)
    ds = vf.Dataset(vf.Images.build(["r.jpg"], [20], [40], path=[str(tmp_path / "r.jpg")]),
                    vf.Annotations.empty(), vf.Categories.from_names(["x"]))
    report = vf.write(ds, tmp_path / "out", "tfrecord")
    assert "tfrecord.exif_orientation" in report.codes()


def test_category_ids_below_one_are_renumbered_and_reported(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [10], [10]),
                    vf.Annotations.build([0], [0], [[1, 1, 5, 5]]),
                    vf.Categories([vf.Category(0, "zero"), vf.Category(3, "three")]))
    report = vf.write(ds, tmp_path / "out", "tfrecord", images="none")
    assert "loss.category_ids" in report.codes()
    assert vf.load(tmp_path / "out").categories.ids == [1, 2]


# --- bad input --------------------------------------------------------------------------------

def _corrupt(path: Path, offset_from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, match", [
    (lambda p: _corrupt(p, 10), r"b\.tfrecord: record 1: data CRC mismatch"),
    (lambda p: p.write_bytes(p.read_bytes()[:-3]), r"b\.tfrecord: record 1: file ends inside"),
    (lambda p: p.write_bytes(p.read_bytes() + b"\x01\x02"), r"record 2: file ends inside"),
])
def test_damaged_record_files(tmp_path, damage, match):
    f = _write_records(tmp_path / "ds" / "b.tfrecord", [_example("a.jpg"), _example("b.jpg")])
    damage(f)
    with pytest.raises(ParseError, match=match):
        vf.load(tmp_path / "ds", "tfrecord")
    # --skip-errors keeps what was read before the damage.
    report = vf.Report()
    ds = vf.load(tmp_path / "ds", "tfrecord", errors="skip", report=report)
    assert len(ds.images) >= 1 and report.errors


def test_length_crc_mismatch_names_the_record(tmp_path):
    f = _write_records(tmp_path / "b.tfrecord", [_example("a.jpg"), _example("b.jpg")])
    data = bytearray(f.read_bytes())
    first = len(tfr.frame(tfr.encode_example(_example("a.jpg"))))
    data[first + 9] ^= 1
    f.write_bytes(bytes(data))
    with pytest.raises(ParseError, match=r"b\.tfrecord: record 1: length CRC mismatch"):
        vf.load(f, "tfrecord")


@pytest.mark.parametrize("example, error, match", [
    (_example(boxes=((0.1, 0.1, 0.2, 0.2), (0.3, 0.3, 0.4, 0.4)), labels=(1,),
              texts=(b"a", b"b")), ParseError,
     r"record 0: feature 'image/object/class/label' should hold 2 ints, got 1"),
    ({**_example(), "image/object/bbox/xmax": np.array([0.5, 0.6], np.float32)}, ParseError,
     r"record 0: feature 'image/object/bbox/xmin' should hold 2 floats, got 1 values"),
    (_example(name="../../etc/passwd"), UnsafeInputError, r"record 0: .*outside the dataset"),
    (_example(name="/abs/a.jpg"), UnsafeInputError, r"record 0: .*absolute path"),
    ({**_example(), "image/width": [b"100"]}, ParseError,
     r"record 0: feature 'image/width' should be an int64 list"),
    (_example(boxes=((0.1, 0.2, 1.5, 0.6),)), vf.ValidationError,
     r"record 0, object 0: box lies outside the image"),
])
def test_bad_examples(tmp_path, example, error, match):
    _write_records(tmp_path / "bad.tfrecord", [example])
    with pytest.raises(error, match=match):
        vf.load(tmp_path / "bad.tfrecord", "tfrecord")


def test_record_that_is_not_an_example(tmp_path):
    (tmp_path / "x.tfrecord").write_bytes(tfr.frame(b"\x0a\x05\x0a\x03\xff\xff"))
    with pytest.raises(ParseError, match=r"x\.tfrecord: record 0: not a tf.train.Example"):
        vf.load(tmp_path / "x.tfrecord", "tfrecord")


def test_bad_label_map(tmp_path):
    _write_records(tmp_path / "train.tfrecord", [_example()])
    (tmp_path / "label_map.pbtxt").write_text("item {\n  id: 1\n  name: 'cat\n}\n")
    with pytest.raises(ParseError, match=r"label_map\.pbtxt:3: malformed label map"):
        vf.load(tmp_path, "tfrecord")
    (tmp_path / "label_map.pbtxt").write_text("item { id: 1 name: 'a' }\nitem { id: 1 name: 'b' }")
    with pytest.raises(ParseError, match=r"label_map\.pbtxt:2: id 1 is 'b' here but 'a'"):
        vf.load(tmp_path, "tfrecord")


def test_conflicting_class_text_without_label_map(tmp_path):
    _write_records(tmp_path / "t.tfrecord", [_example("a.jpg", texts=(b"cat",)),
                                             _example("b.jpg", texts=(b"dog",))])
    with pytest.raises(ParseError, match=r"record 1, object 0: class 1 is named 'dog'"):
        vf.load(tmp_path, "tfrecord")


def test_missing_shards_are_reported(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.jpg", "b.jpg"], [10, 10], [10, 10], split="train"),
                    vf.Annotations.empty(), vf.Categories.from_names(["x"]))
    vf.write(ds, tmp_path / "out", "tfrecord", images="none", shards=2)
    (tmp_path / "out" / "train.tfrecord-00001-of-00002").unlink()
    report = vf.Report()
    assert len(vf.load(tmp_path / "out", report=report).images) == 1
    assert report.codes() == ["tfrecord.missing_shards"]


@pytest.mark.parametrize("value", ["0", "x", "-2"])
def test_bad_shards_option(tmp_path, value):
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [10], [10]), vf.Annotations.empty(),
                    vf.Categories.from_names(["x"]))
    with pytest.raises(Error, match="shards must be an integer"):
        vf.write(ds, tmp_path / "out", "tfrecord", images="none", shards=value)


def test_missing_image_file_when_embedding(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [10], [10], path=[str(tmp_path / "gone.jpg")]),
                    vf.Annotations.empty(), vf.Categories.from_names(["x"]))
    with pytest.raises(vf.MissingImageError, match="gone.jpg: image file not found"):
        vf.write(ds, tmp_path / "out", "tfrecord")


def test_not_tfrecord(tmp_path):
    (tmp_path / "a.tfrecord").write_bytes(b"not a record at all")
    assert all(d.format != "tfrecord" for d in registry.candidates(tmp_path))
    with pytest.raises(ParseError, match=r"a\.tfrecord: record 0: length CRC mismatch"):
        vf.load(tmp_path, "tfrecord")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no TFRecord files"):
        vf.load(tmp_path / "empty", "tfrecord")
