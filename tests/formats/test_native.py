import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

import visionflow as vf


def test_embedded_image_bytes_become_files(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 10, 10)).save(buf, "PNG")
    src = tmp_path / "lm"
    src.mkdir()
    (src / "a.json").write_text(json.dumps({
        "version": "5.2.1", "flags": {}, "imagePath": "a.png", "imageHeight": 10, "imageWidth": 20,
        "imageData": base64.b64encode(buf.getvalue()).decode(),
        "shapes": [{"label": "x", "points": [[1, 1], [5, 5]], "shape_type": "rectangle",
                    "group_id": None, "flags": {}}]}))
    ds = vf.load(src, "labelme")
    vf.write(ds, tmp_path / "native", "visionflow")
    back = vf.load(tmp_path / "native")
    assert back.images.path[0] and Image.open(back.images.path[0]).size == (20, 10)
    assert back.annotations.xyxy.tolist() == [[1, 1, 5, 5]]


def test_refuses_unknown_schema_major(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.png"], [4], [4]), vf.Annotations.empty(), vf.Categories())
    vf.write(ds, tmp_path / "n", "visionflow", images="none")
    doc = json.loads((tmp_path / "n" / "visionflow.json").read_text())
    doc["schema_version"] = "2.0"
    (tmp_path / "n" / "visionflow.json").write_text(json.dumps(doc))
    with pytest.raises(vf.ParseError, match="schema_version 2.0 is not supported"):
        vf.load(tmp_path / "n", "visionflow")


def test_nan_columns_survive(tmp_path):
    images = vf.Images.build(["a.png"], [10], [10])
    ann = vf.Annotations.build([0, 0], [1, 1], [[np.nan] * 4, [1, 1, 2, 2]],
                               score=np.array([np.nan, 0.5]), obb=np.full((2, 4, 2), np.nan))
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["a"]))
    vf.write(ds, tmp_path / "n", "visionflow", images="none")
    assert not ds.differences(vf.load(tmp_path / "n"))
