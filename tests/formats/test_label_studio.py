"""Label Studio JSON export: label-studio-converter's real exports, percent coordinates,
rotation, brush RLE (checked against a port of the converter's reference decoder), choices,
key points, JSON-MIN, image URLs, writer output and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import rle_to_mask
from visionflow.core.report import Report
from visionflow.formats.label_studio import decode_rle, encode_rle

DATA = ("label-studio-converter-tests", "data")


def reference_decode(rle: list[int]) -> np.ndarray:
    """label-studio-converter's brush.decode_rle, on a bit string, as a test oracle."""
    bits = "".join(f"{b:08b}" for b in rle)
    pos = 0

    def read(n):
        nonlocal pos
        out = int(bits[pos:pos + n], 2)
        pos += n
        return out

    num, word = read(32), read(5) + 1
    sizes = [read(4) + 1 for _ in range(4)]
    out = np.zeros(num, np.uint8)
    i = 0
    while i < num:
        x = read(1)
        j = i + 1 + read(sizes[read(2)])
        if x:
            out[i:j] = read(word)
            i = j
        else:
            while i < j:
                out[i] = read(word)
                i += 1
    return out


def task(results, image="/data/upload/1/3f2a-a.jpg", id=1) -> dict:
    return {"id": id, "data": {"image": image},
            "annotations": [{"id": 1, "was_cancelled": False, "result": results}]}


def rect(x=10, y=20, w=30, h=40, label="cat", rotation=0, size=(200, 100)) -> dict:
    return {"id": "r", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": size[0], "original_height": size[1],
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation,
                      "rectanglelabels": [label]}}


# --- real exports -----------------------------------------------------------------------------

@pytest.mark.shared
def test_converter_export_rectangles(tmp_path):
    src = shared_path(*DATA, "test_export_yolo", "data.json")
    assert vf.detect(src)[0].format == "label-studio"
    report = Report()
    ds = vf.load(src, report=report)
    assert list(ds.images.file_name) == ["image1", "image2"]          # from /image1, /image2
    assert ds.images.width.tolist() == [2800, 2800]                  # original_width
    assert len(ds.annotations) == 4
    first = ds.annotations.xyxy[0]
    np.testing.assert_allclose(first[:2], [37.15846994535519 * 28, 70.67395264116576 * 28])
    assert "label-studio.annotations" in report.codes()              # task 1 has two
    vf.write(ds, tmp_path / "a", "label-studio", images="none")
    back = vf.load(tmp_path / "a", "label-studio")
    assert not back.differences(ds, atol=1e-6)
    vf.write(back, tmp_path / "b", "label-studio", images="none")
    assert (tmp_path / "a" / "result.json").read_bytes() == \
        (tmp_path / "b" / "result.json").read_bytes()


@pytest.mark.shared
def test_converter_export_rotated_rectangles():
    ds = vf.load(shared_path(*DATA, "test_export_yolo", "data_obb.json"), "label-studio")
    ann = ds.annotations
    assert ann.has_obb().all() and len(ann) == 25
    # the first corner is (x, y) and the first edge turns clockwise by `rotation`
    w = ds.images.width[0]
    h = ds.images.height[0]
    corners = ann.obb[0]
    np.testing.assert_allclose(corners[0], [10.537066764905694 * w / 100,
                                            79.55767690059092 * h / 100])
    edge = corners[1] - corners[0]
    assert math.isclose(math.degrees(math.atan2(edge[1], edge[0])) % 360, 328.33240366032834)
    np.testing.assert_allclose(ann.xyxy[0], [*corners.min(0), *corners.max(0)])


@pytest.mark.shared
def test_converter_export_polygons_with_label_config():
    src = shared_path(*DATA, "test_export_json_min", "data.json")
    ds = vf.load(src, "label-studio")
    assert ds.categories.names == ["Airplane", "Car"]                # label_config.xml order
    assert ds.images.file_name.tolist() == ["example.png"]
    assert ds.images.attrs["label-studio.image"].tolist() == ["/data/upload/29/example.png"]
    ring = ds.annotations.polygons.rings(0)[0]
    np.testing.assert_allclose(ring[0], [44.44444444444444 * 1.28, 48.25396825396825 * 1.28])


@pytest.mark.shared
def test_converter_export_with_remote_images_needs_no_fetch():
    src = shared_path(*DATA, "test_export_csv", "csv_test.json")
    report = Report()
    ds = vf.load(src, "label-studio", errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["0030019819f25b28.jpg", "00155094b7acc33b.jpg"]
    assert all(p is None for p in ds.images.path)
    # the second task's box reaches past its image (a real data error), reported by place
    assert [f.where.rsplit(": ", 2)[-2:] for f in report.errors] == [
        ["task [1] (id 2)", "result[0] (rectanglelabels Car)"]]


# --- brush RLE --------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 70000), st.sampled_from([0, 255, 7])), min_size=1,
                max_size=12))
def test_brush_rle_matches_the_reference_decoder(runs):
    values = np.concatenate([np.full(n, v, np.uint8) for n, v in runs])
    encoded = encode_rle(values)
    assert all(0 <= b < 256 for b in encoded)
    np.testing.assert_array_equal(reference_decode(encoded), values)
    np.testing.assert_array_equal(decode_rle(bytes(encoded)), values)


def test_brush_mask_read_and_written(tmp_path):
    mask = np.zeros((10, 20), np.uint8)
    mask[2:5, 3:9] = 255
    result = {"id": "b", "type": "brushlabels", "from_name": "tag", "to_name": "image",
              "original_width": 20, "original_height": 10,
              "value": {"format": "rle", "rle": encode_rle(np.repeat(mask.reshape(-1), 4)),
                        "brushlabels": ["road"]}}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.json").write_text(json.dumps([task([result])]))
    ds = vf.load(tmp_path / "src" / "t.json")
    np.testing.assert_array_equal(rle_to_mask(ds.annotations.rle[0]), mask > 0)
    np.testing.assert_allclose(ds.annotations.xyxy[0], [3, 2, 9, 5])
    vf.write(ds, tmp_path / "out", "label-studio", images="none")
    doc = json.loads((tmp_path / "out" / "result.json").read_text())
    out = doc[0]["annotations"][0]["result"][0]
    assert out["type"] == "brushlabels" and out["from_name"] == "tag"
    decoded = reference_decode(out["value"]["rle"]).reshape(10, 20, 4)[:, :, 3]
    np.testing.assert_array_equal(decoded, mask)


# --- other result kinds -----------------------------------------------------------------------

def test_choices_keypoints_and_several_labels(tmp_path):
    make_image(tmp_path / "src" / "a.jpg", (200, 100))
    results = [rect(label="cat"),
               {"type": "choices", "from_name": "c", "to_name": "image",
                "value": {"choices": ["indoor"]}},
               {"type": "keypointlabels", "from_name": "k", "to_name": "image",
                "original_width": 200, "original_height": 100,
                "value": {"x": 50, "y": 50, "width": 0.5, "keypointlabels": ["nose"]}},
               {"type": "polygonlabels", "value": {"points": [[0, 0], [10, 0], [10, 10]],
                                                   "polygonlabels": ["a", "b"]}},
               {"type": "textarea", "value": {"text": ["hi"]}}]
    (tmp_path / "src" / "t.json").write_text(json.dumps([task(results, image="a.jpg")]))
    report = Report()
    ds = vf.load(tmp_path / "src", report=report)
    ann = ds.annotations
    names = {c.id: c.name for c in ds.categories}
    assert [names[c] for c in ann.category_id] == ["cat", "indoor", "nose", "a", "b"]
    np.testing.assert_allclose(ann.xyxy[0], [20, 20, 80, 60])
    assert ann.is_label.tolist() == [False, True, False, False, False]
    np.testing.assert_allclose(ann.xyxy[2], [99.5, 49.5, 100.5, 50.5])
    assert "label-studio.skipped" in report.codes()
    vf.write(ds, tmp_path / "out", "label-studio")
    assert (tmp_path / "out" / "a.jpg").is_file()
    config = (tmp_path / "out" / "label_config.xml").read_text()
    assert '<Choices name="c" toName="image">' in config
    back = vf.load(tmp_path / "out")
    # the polygon result had no from_name/to_name: the writer names them ("polygon", "image")
    assert back.differences(ds, atol=1e-6) == ["annotations.attrs['label-studio.from_name']",
                                               "annotations.attrs['label-studio.to_name']"]
    assert back.annotations.attrs["label-studio.from_name"].tolist()[3:] == ["polygon"] * 2


def test_json_min_export(tmp_path):
    item = {"image": "/data/upload/1/a.jpg", "id": 3, "annotation_id": 9,
            "label": [{"x": 10, "y": 10, "width": 50, "height": 50, "rotation": 0,
                       "rectanglelabels": ["cat"], "original_width": 40,
                       "original_height": 20}]}
    (tmp_path / "min.json").write_text(json.dumps([item]))
    assert vf.detect(tmp_path / "min.json")[0].format == "label-studio"
    ds = vf.load(tmp_path / "min.json")
    np.testing.assert_allclose(ds.annotations.xyxy, [[4, 2, 24, 12]])


def test_local_files_url_and_split_folders(tmp_path):
    make_image(tmp_path / "ds" / "train" / "sub" / "a.jpg", (200, 100))
    (tmp_path / "ds" / "train" / "t.json").write_text(json.dumps(
        [task([rect()], image="/data/local-files/?d=sub/a.jpg")]))
    ds = vf.load(tmp_path / "ds")
    assert ds.images.split.tolist() == ["train"]
    assert ds.images.path[0].endswith("sub/a.jpg")


BAD = [
    ("[{", vf.ParseError, r"t\.json:1:\d+: malformed JSON"),
    ('{"data": {}}', vf.ParseError, r"t\.json: expected a JSON list of tasks"),
    (json.dumps([{"data": {"text": "hi"}, "annotations": []}]), vf.ParseError,
     r"t\.json: task \[0\]: task has no data\.image"),
    (json.dumps([task([rect(x="a")])]), vf.ParseError,
     r"t\.json: task \[0\] \(id 1\): result\[0\] \(rectanglelabels cat\): value needs numbers"),
    (json.dumps([task([{"type": "rectanglelabels", "original_width": 9, "original_height": 9,
                        "value": {"rectanglelabels": "cat"}}])]),
     vf.ParseError, r"result\[0\]: value\.rectanglelabels must be a non-empty list"),
    (json.dumps([task([{"type": "brushlabels", "original_width": 4, "original_height": 4,
                        "value": {"rle": [1, 2, 3], "brushlabels": ["x"]}}])]),
     vf.ParseError, r"result\[0\] \(brushlabels x\): brush rle is not valid"),
    (json.dumps([task([])]), vf.ParseError,
     r"task \[0\] \(id 1\): image '3f2a-a\.jpg' not found and no result gives original_width"),
    (json.dumps([task([rect(x=90)])]), vf.ValidationError,
     r"task \[0\] \(id 1\): result\[0\] \(rectanglelabels cat\): box lies outside the image"),
    (json.dumps([task([], image="../../x.jpg")]), vf.UnsafeInputError,
     r"task \[0\] \(id 1\): file name '\.\./\.\./x\.jpg' points outside"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    (tmp_path / "t.json").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "t.json", "label-studio")
