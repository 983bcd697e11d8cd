"""SageMaker Ground Truth manifests: bounding-box and semantic-segmentation jobs, s3:// refs
mapped to local files (never fetched), class ids, scores, writer options and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from tests.conftest import make_image
from visionflow.core.geometry import rle_to_mask
from visionflow.core.report import Report


def line(ref="s3://bucket/raw/a.jpg", anns=(), conf=None, cmap=None, size=(64, 48)) -> str:
    meta = {"class-map": cmap or {"3": "cat", "7": "dog"},
            "type": "groundtruth/object-detection", "human-annotated": "yes"}
    if conf is not None:
        meta["objects"] = [{"confidence": c} for c in conf]
    return json.dumps({"source-ref": ref, "job": {
        "image_size": [{"width": size[0], "height": size[1], "depth": 3}],
        "annotations": list(anns)}, "job-metadata": meta})


def box(cid=3, left=1, top=2, w=10, h=20) -> dict:
    return {"class_id": cid, "left": left, "top": top, "width": w, "height": h}


def test_bounding_box_manifest(tmp_path):
    make_image(tmp_path / "src" / "images" / "a.jpg", (64, 48))
    (tmp_path / "src" / "output.manifest").write_text(
        line(anns=[box(), box(7, 5, 5, 4, 4)], conf=[0.9, 0.5]) + "\n"
        + line("s3://bucket/raw/b.jpg") + "\n")
    ds = vf.load(tmp_path / "src")
    assert ds.source_format == "sagemaker"
    assert [(c.id, c.name) for c in ds.categories] == [(3, "cat"), (7, "dog")]
    assert list(ds.images.file_name) == ["a.jpg", "b.jpg"]
    assert ds.images.path[0].endswith("images/a.jpg") and ds.images.path[1] is None
    np.testing.assert_allclose(ds.annotations.xyxy, [[1, 2, 11, 22], [5, 5, 9, 9]])
    assert ds.annotations.score.tolist() == [0.9, 0.5]
    vf.write(ds, tmp_path / "out", "sagemaker", images="none", s3_prefix="s3://b/p/")
    first = json.loads((tmp_path / "out" / "output.manifest").read_text().splitlines()[0])
    assert first["source-ref"] == "s3://b/p/a.jpg"
    assert first["job-metadata"]["class-map"] == {"3": "cat", "7": "dog"}
    back = vf.load(tmp_path / "out")
    assert not back.differences(ds)


def test_semantic_segmentation_manifest(tmp_path):
    mask = np.full((10, 12, 3), 255, np.uint8)          # background white
    mask[2:5, 3:7] = (0x2C, 0xA0, 0x2C)                # class 1
    Image.fromarray(mask).save(tmp_path / "a.png")
    make_image(tmp_path / "a.jpg", (12, 10))
    doc = {"source-ref": "s3://b/a.jpg", "seg-ref": "s3://b/masks/a.png", "seg-ref-metadata": {
        "internal-color-map": {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"},
                               "1": {"class-name": "grass", "hex-color": "#2ca02c"}},
        "type": "groundtruth/semantic-segmentation"}}
    (tmp_path / "output.manifest").write_text(json.dumps(doc) + "\n")
    found = vf.detect(tmp_path)
    assert found[0].format == "sagemaker" and "semantic segmentation" in found[0].reasons[0]
    ds = vf.load(tmp_path)
    assert ds.categories.names == ["grass"]
    np.testing.assert_array_equal(rle_to_mask(ds.annotations.rle[0]), (mask[..., 0] == 0x2C))
    np.testing.assert_allclose(ds.annotations.xyxy, [[3, 2, 7, 5]])


BAD = [
    ("{oops\n", vf.ParseError, r"output\.manifest:1:2: malformed JSON"),
    ('{"x": 1}\n', vf.ParseError, (r"output\.manifest:1: expected a JSON object with a "
     r"\"source-ref\"")),
    (line(anns=[{"class_id": "a", "left": 1, "top": 1, "width": 1, "height": 1}]) + "\n",
     vf.ParseError, r"output\.manifest:1 \(a\.jpg\): annotations\[0\]: class_id must be"),
    (line(anns=[{"class_id": 3}]) + "\n", vf.ParseError,
     r"output\.manifest:1 \(a\.jpg\): annotations\[0\]: expected class_id, left"),
    (line() + "\n" + line(cmap={"3": "bird"}) + "\n", vf.ValidationError,
     r"output\.manifest:2 \(a\.jpg\): class id 3 is 'bird' here but 'cat'"),
    (line(ref="../../secret.jpg") + "\n", vf.UnsafeInputError,
     r"output\.manifest:1: file name '\.\./\.\./secret\.jpg' points outside"),
    (line(anns=[box(w=100)]) + "\n", vf.ValidationError,
     r"output\.manifest:1 \(a\.jpg\): annotations\[0\]: box lies outside"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    (tmp_path / "output.manifest").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "output.manifest", "sagemaker")


def test_skip_errors_goes_on(tmp_path):
    (tmp_path / "output.manifest").write_text("{oops\n" + line(anns=[box()]) + "\n")
    report = Report()
    ds = vf.load(tmp_path, "sagemaker", errors="skip", report=report)
    assert len(ds.images) == 1 and len(report.errors) == 1


def test_bad_s3_prefix(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "output.manifest").write_text(line() + "\n")
    ds = vf.load(tmp_path / "src")
    with pytest.raises(vf.OutputError, match="s3_prefix must start with s3://"):
        vf.write(ds, tmp_path / "out", "sagemaker", images="none", s3_prefix="http://x")
