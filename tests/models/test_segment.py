"""`segment_image` and `visionflow segment`: a box or clicks on an image file -> polygons (text
or --json), the mask written atomically with --out, any Segmenter accepted, and one-line
errors (exit 1) for a click outside the image, an unreadable image, no prompt, a model that
is not a segmenter."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("cv2")

import visionflow as vf  # noqa: E402
from visionflow.cli.main import app  # noqa: E402
from visionflow.core.errors import UsageError  # noqa: E402
from visionflow.models.base import ModelInfo  # noqa: E402
from visionflow.models.masks import mask_iou, polygons_to_mask  # noqa: E402
from visionflow.models.segment import (Segmentation, parse_points,  # noqa: E402
                                       segment_array, segment_image, write_mask)

from .test_grabcut import bounds, scene  # noqa: E402

runner = CliRunner()


@pytest.fixture
def photo(tmp_path):
    img, obj, other = scene(seed=5)
    path = tmp_path / "photo.png"
    Image.fromarray(img).save(path)
    return path, obj, other


def test_segment_image_box_gives_polygons_of_the_object(photo):
    path, obj, _ = photo
    box = bounds(obj) + [-6, -6, 6, 6]
    result = segment_image(path, box=box.tolist())
    assert isinstance(result, Segmentation) and result.model == "grabcut"
    assert (result.width, result.height) == (320, 240)
    assert len(result.polygons) == 1
    assert mask_iou(polygons_to_mask(result.polygons, 320, 240), obj) > 0.88
    assert result.area == int(result.mask.sum()) and result.score is None
    x1, y1, x2, y2 = result.xyxy
    assert box[0] <= x1 < x2 <= box[2] and box[1] <= y1 < y2 <= box[3]
    d = result.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert len(d["polygons"][0]) == 2 * len(result.polygons[0])   # flat x, y, x, y


def test_points_take_pairs_triples_and_signs():
    xy, lab = parse_points([(1, 2), (3, 4, "-"), [5, 6, 0], (7, 8, "+"), (9, 10, True)])
    assert xy.tolist() == [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]
    assert lab.tolist() == [1, 0, 0, 1, 1]
    assert parse_points(None) == (None, None) and parse_points([]) == (None, None)
    for bad, msg in [([(1,)], "a click is"), ([(1, 2, "x")], "label is"),
                     ([("a", 2)], "two numbers"), ([(1, 2, 5)], "1 .object. or 0")]:
        with pytest.raises(UsageError, match=msg):
            parse_points(bad)


def test_clicks_only_and_negative_clicks(photo):
    path, obj, other = photo
    cx, cy = 0.4 * 320, 0.5 * 240
    result = segment_image(path, points=[(cx, cy)])
    assert mask_iou(result.mask, obj) > 0.8 and not (result.mask & other).any()


class _Half:
    """A user's own Segmenter: the left half of the box."""
    info = ModelInfo("half", "segment")

    def segment(self, image, *, box=None, points=None, labels=None):
        m = np.zeros(image.shape[:2], bool)
        x1, y1, x2, y2 = np.asarray(box).astype(int)
        m[y1:y2, x1:(x1 + x2) // 2] = True
        return m


def test_any_segmenter_can_do_the_cutting(photo):
    path, _, _ = photo
    result = segment_image(path, box=[10, 20, 110, 120], model=_Half())
    assert result.model == "half" and result.area == 50 * 100
    (ring,) = result.polygons
    np.testing.assert_allclose(ring.min(axis=0), [10, 20], atol=0.2)
    np.testing.assert_allclose(ring.max(axis=0), [60, 120], atol=0.2)


def test_errors_are_one_line(photo, tmp_path):
    path, _, _ = photo
    for kwargs, msg in [({"points": [(320, 5)]}, r"click \(320, 5\) is outside the 320x240"),
                        ({}, "no prompt"),
                        ({"box": [5, 5, 5, 9]}, "no area")]:
        with pytest.raises(UsageError, match=msg):
            segment_image(path, **kwargs)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(vf.Error, match="bad.jpg"):
        segment_image(bad, box=[1, 1, 5, 5])
    with pytest.raises(vf.Error, match="no such image file"):
        segment_image(tmp_path / "absent.jpg", box=[1, 1, 5, 5])
    with pytest.raises(UsageError, match="not a segmenter"):
        segment_image(path, box=[1, 1, 5, 5], model=object())
    with pytest.raises(UsageError, match="RGB uint8"):
        segment_array(np.zeros((4, 4), np.uint8), box=[0, 0, 2, 2])


def test_a_detector_named_as_the_model_is_refused(photo, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from .test_pose import tiny_movenet
    path, _, _ = photo
    onnx_dir = tmp_path / "movenet"
    tiny_movenet(onnx_dir / "model.onnx", np.zeros((6, 56), np.float32))
    (onnx_dir / "manifest.json").write_text(json.dumps({"name": "movenet", "task": "pose",
                                                        "files": {}}))
    with pytest.raises(UsageError, match="is a pose model, not a segmenter"):
        segment_image(path, box=[1, 1, 50, 50], model=str(onnx_dir))


def test_write_mask_is_a_png_of_the_mask_and_never_the_image(photo, tmp_path):
    path, obj, _ = photo
    result = segment_image(path, box=(bounds(obj) + [-6, -6, 6, 6]).tolist())
    out = write_mask(result, tmp_path / "mask.png", image_path=path)
    back = np.array(Image.open(out))
    assert back.dtype == np.uint8 and set(np.unique(back)) <= {0, 255}
    np.testing.assert_array_equal(back == 255, result.mask)
    assert not list(tmp_path.glob(".mask.png.*"))                   # no temporary left
    png = tmp_path / "photo2.png"
    png.write_bytes(path.read_bytes())
    before = png.read_bytes()
    with pytest.raises(vf.Error, match="is the image being segmented"):
        write_mask(result, png, image_path=png)
    assert png.read_bytes() == before
    with pytest.raises(vf.Error, match="as PNG"):
        write_mask(result, tmp_path / "mask.jpg")
    with pytest.raises(vf.Error, match="no such folder"):
        write_mask(result, tmp_path / "nope" / "mask.png")


# --- the CLI -----------------------------------------------------------------------------

def run(*args):
    return runner.invoke(app, ["segment", *[str(a) for a in args]], catch_exceptions=False)


def test_cli_prints_polygons_and_json(photo, tmp_path):
    path, obj, _ = photo
    box = ",".join(f"{v:g}" for v in bounds(obj) + [-6, -6, 6, 6])
    text = run(path, "--box", box)
    assert text.exit_code == 0, text.output
    lines = text.stdout.strip().splitlines()
    assert len(lines) == 1
    pts = np.array([[float(v) for v in p.split(",")] for p in lines[0].split()])
    assert mask_iou(polygons_to_mask([pts], 320, 240), obj) > 0.88
    assert "grabcut 1 polygon" in text.stderr
    out = tmp_path / "m.png"
    js = run(path, "--box", box, "--point", "10,10,-", "--json", "--out", out)
    assert js.exit_code == 0, js.output
    doc = json.loads(js.stdout)
    assert doc["model"] == "grabcut" and doc["width"] == 320 and len(doc["polygons"]) == 1
    assert doc["area"] == int((np.array(Image.open(out)) == 255).sum())
    assert f"wrote{out}" in "".join(js.stderr.split())  # Rich may wrap a long path


def test_cli_click_only(photo):
    path, obj, _ = photo
    r = run(path, "--point", f"{0.4 * 320:g},{0.5 * 240:g}", "-p", "300,20,-", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    ring = np.array(doc["polygons"][0]).reshape(-1, 2)
    assert mask_iou(polygons_to_mask([ring], 320, 240), obj) > 0.8


@pytest.mark.parametrize("args, needle", [
    (["--point", "400,10"], "click (400, 10) is outside the 320x240 image"),
    ([], "no prompt"),
    (["--box", "1,2,3"], "--box '1,2,3': expected 4 numbers"),
    (["--point", "3,4,x"], "the third value is + (object) or -"),
    (["--point", "a,b"], "--point 'a,b': expected 2 numbers"),
    (["--box", "1,2,30,40", "--model", "nosuchmodel"], "nosuchmodel"),
])
def test_cli_errors_are_one_line_exit_1(photo, args, needle):
    path, _, _ = photo
    r = run(path, *args)
    assert r.exit_code == 1, r.output
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and needle in err and "Traceback" not in r.output


def test_cli_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    for target, needle in [(bad, "bad.jpg"), (tmp_path / "absent.png", "no such image file")]:
        r = run(target, "--box", "1,1,5,5")
        assert r.exit_code == 1 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_help_has_examples():
    r = runner.invoke(app, ["segment", "--help"])
    assert r.exit_code == 0
    assert "Examples" in r.stdout and "--box" in r.stdout and "--point" in r.stdout


def test_segment_command_does_not_import_opencv_until_it_runs():
    code = ("import sys, visionflow.cli.main, visionflow.cli.segment\n"
            "print('cv2' in sys.modules, 'onnxruntime' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_sam_named_by_folder_does_the_cutting(photo, tmp_path, monkeypatch):
    """A SAM model named by its folder (as a hub id would be) goes through registry.load and
    gives a full-size mask and polygons (a tiny random SAM: only frames are checked)."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from .tiny_sam import build_tiny_sam
    path, obj, _ = photo
    folder = build_tiny_sam(tmp_path / "sam")
    box = (bounds(obj) + [-6, -6, 6, 6]).tolist()
    a = segment_image(path, box=box, points=[(128, 120, "+")], model=str(folder),
                      tolerance=0)
    assert a.mask.shape == (240, 320) and a.model
    if a.polygons:   # exact rings cover only the mask's pixels (its holes filled)
        from .test_segment_masks import _fill_holes
        assert not (polygons_to_mask(a.polygons, 320, 240) & ~_fill_holes(a.mask)).any()
    b = segment_image(path, box=box, points=[(128, 120, "+")], model=str(folder),
                      tolerance=0)
    np.testing.assert_array_equal(a.mask, b.mask)
    from visionflow.models.segment import get_segmenter
    assert get_segmenter(str(folder)) is get_segmenter(str(folder))  # loaded once, kept
    with pytest.raises(UsageError, match="outside the 320x240 image"):
        segment_image(path, points=[(500, 5)], model=str(folder))

