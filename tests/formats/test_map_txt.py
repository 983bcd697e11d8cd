"""The mAP tool's text format (Cartucho/mAP) as a format: its own example files, round trips,
images found beside or in a sibling folder, ground truth and predictions alike, bad input."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.core.errors import MissingImageError, ParseError
from visionflow.evaluation.predictions import load_predictions
from visionflow.formats import registry

from ..conftest import make_image, tree_snapshot

# The tool's README example for one image, ground truth and detections, byte for byte.
GT_EXAMPLE = ("tvmonitor 2 10 173 238\nbook 439 157 556 241\nbook 437 246 518 351 difficult\n"
              "pottedplant 272 190 316 259\n")
DR_EXAMPLE = ("tvmonitor 0.471781 0 13 174 244\ncup 0.414941 274 226 301 265\n"
              "book 0.460851 429 219 528 247\nchair 0.292345 0 199 88 436\n"
              "book 0.269833 433 260 506 336\n")

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _tool_input(root: Path) -> Path:
    """The tool's input/ folder: ground-truth/, detection-results/, images-optional/."""
    inp = root / "input"
    for sub in ("ground-truth", "detection-results"):
        (inp / sub).mkdir(parents=True)
    (inp / "ground-truth" / "image_1.txt").write_text(GT_EXAMPLE)
    (inp / "detection-results" / "image_1.txt").write_text(DR_EXAMPLE)
    (inp / "ground-truth" / "image_2.txt").write_text("chair 10 20 110 220\n")
    (inp / "detection-results" / "image_2.txt").write_text("chair 0.9 12 20 110 221\n")
    make_image(inp / "images-optional" / "image_1.jpg", (640, 480))
    make_image(inp / "images-optional" / "image_2.jpg", (320, 240))
    return inp


def test_the_tools_own_example_as_ground_truth_and_detections(tmp_path):
    inp = _tool_input(tmp_path)
    before = tree_snapshot(inp)
    assert registry.detect(inp).format == "map-txt"
    assert registry.detect(inp / "detection-results").format == "map-txt"
    gt = vf.load(inp)                                   # ground-truth/ wins over detections
    assert gt.source_format == "map-txt"
    assert gt.images.file_name.tolist() == ["image_1.jpg", "image_2.jpg"]
    assert (gt.images.width.tolist(), gt.images.height.tolist()) == ([640, 320], [480, 240])
    assert gt.categories.names == ["book", "chair", "pottedplant", "tvmonitor"]
    a = gt.annotations
    assert a.score is None
    assert a.xyxy.tolist()[:3] == [[2, 10, 173, 238], [439, 157, 556, 241],
                                  [437, 246, 518, 351]]        # pixel edges, never shifted
    assert a.attr("difficult").tolist() == [0, 0, 1, 0, 0]
    dr = vf.load(inp / "detection-results")
    assert dr.annotations.score.tolist() == [0.471781, 0.414941, 0.460851, 0.292345,
                                             0.269833, 0.9]
    assert "cup" in dr.categories.names
    # evaluate reads both sides as a format: ground truth folder against the detections
    r = run("evaluate", inp / "ground-truth", inp / "detection-results", "--metric", "voc",
            "--json")
    assert r.exit_code == 1 and "'cup'" in r.output      # the tool's example predicts a cup
    (inp / "detection-results" / "image_1.txt").write_text(DR_EXAMPLE.replace("cup", "book"))
    out = json.loads(run("evaluate", inp / "ground-truth", inp / "detection-results",
                         "--metric", "voc", "--json").output)
    assert out["per_class"]["chair"] == pytest.approx(1.0)
    assert 0 < out["mAP"] < 1
    assert tree_snapshot(inp).keys() == before.keys()


def test_predictions_loader_detects_the_folder_without_images(tmp_path):
    inp = _tool_input(tmp_path)
    gt = vf.load(inp)
    (inp / "detection-results" / "image_1.txt").write_text(DR_EXAMPLE.replace("cup", "book"))
    import shutil
    shutil.rmtree(inp / "images-optional")               # predictions need no images
    for fmt in (None, "map-txt"):
        p = load_predictions(inp / "detection-results", gt, fmt)
        assert len(p.annotations) == 6 and p.annotations.score.max() == 0.9
        assert p.images is gt.images


def test_images_beside_in_images_folder_or_images_dir(tmp_path):
    a = tmp_path / "beside"
    a.mkdir()
    (a / "x.txt").write_text("big dog 1 2 30 40\n")
    make_image(a / "x.png", (50, 60))
    ds = vf.load(a, "map-txt")
    assert ds.images.file_name.tolist() == ["x.png"] and ds.categories.names == ["big dog"]
    b = tmp_path / "sib"
    (b / "labels").mkdir(parents=True)
    (b / "labels" / "x.txt").write_text("cat 1 2 30 40\n")
    make_image(b / "images" / "x.jpg", (50, 60))
    assert vf.load(b / "labels", "map-txt").images.width.tolist() == [50]
    c = tmp_path / "apart"
    c.mkdir()
    (c / "x.txt").write_text("cat 1 2 30 40\n")
    with pytest.raises(MissingImageError, match=r"x\.txt.*no image x\.\*"):
        vf.load(c, "map-txt")
    assert vf.load(c, "map-txt", images_dir=b / "images").images.height.tolist() == [60]
    r = run("convert", c, tmp_path / "out", "--from", "map-txt", "--to", "coco")
    assert r.exit_code == 1 and "Traceback" not in r.output and "x.txt" in r.output


@pytest.mark.parametrize("line, words", [
    ("cat 1 2 x 4", ["x.txt:2", "finite numbers"]),
    ("cat 10 2 5 4", ["x.txt:2", "right < left"]),
    ("cat 1 2 3", ["x.txt:2", "class_name left top right bottom"]),
    ("cat 1 2 nan 4", ["x.txt:2", "finite"]),
])
def test_bad_lines_name_file_and_line(tmp_path, line, words):
    (tmp_path / "ground-truth").mkdir()
    (tmp_path / "ground-truth" / "x.txt").write_text(f"cat 1 1 5 5\n{line}\n")
    make_image(tmp_path / "images-optional" / "x.jpg", (50, 60))
    with pytest.raises(ParseError) as e:
        vf.load(tmp_path, "map-txt")
    for w in words:
        assert w in str(e.value)
    r = run("convert", tmp_path, tmp_path.parent / f"{tmp_path.name}-out", "--from", "map-txt",
            "--to", "coco")
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_yolo_labels_are_not_taken_for_map_txt(tmp_path):
    (tmp_path / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert registry.get("map-txt").detect(tmp_path) is None


def test_writer_layout_splits_classes_and_warnings(tmp_path):
    make_image(tmp_path / "src" / "a.jpg", (100, 80))
    make_image(tmp_path / "src" / "b.jpg", (100, 80))
    imgs = vf.Images.build(["a.jpg", "b.jpg"], [100, 100], [80, 80], split=["train", "val"],
                           path=[str(tmp_path / "src" / "a.jpg"), str(tmp_path / "src" / "b.jpg")])
    cats = vf.Categories.from_names(["traffic light", "unused", "car"])
    ann = vf.Annotations.build([0, 0], [1, 3], np.array([[1, 2, 3.5, 4], [5, 6, 7, 8]]))
    report = vf.write(vf.Dataset(imgs, ann, cats), tmp_path / "out", "map-txt")
    out = tmp_path / "out"
    assert (out / "train" / "ground-truth" / "a.txt").read_text() == \
        "traffic light 1 2 3.5 4\ncar 5 6 7 8\n"
    assert (out / "val" / "ground-truth" / "b.txt").read_text() == ""   # the tool needs it
    assert (out / "val" / "images-optional" / "b.jpg").is_file()
    assert (out / "classes.txt").read_text() == "traffic light\nunused\ncar\n"
    assert any(f.code == "map_txt.spaces" for f in report.findings)
    back = vf.load(out)
    assert back.categories.names == ["traffic light", "unused", "car"]
    assert back.images.split.tolist() == ["train", "val"]
    bad = vf.Dataset(imgs, ann, vf.Categories.from_names(["a  b", "x", "y"]))
    with pytest.raises(vf.core.errors.OutputError, match="several spaces"):
        vf.write(bad, tmp_path / "bad", "map-txt")


_NAMES = st.sampled_from(["cat", "big dog", "traffic light", "person", "a_b-c", "type 2"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), scored=st.booleans())
def test_round_trip(data, scored):
    names = data.draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
    n_img = data.draw(st.integers(1, 3))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sizes = [(data.draw(st.integers(16, 300)), data.draw(st.integers(16, 300)))
                 for _ in range(n_img)]
        paths = [str(make_image(tmp / "src" / f"im{i}.png", s)) for i, s in enumerate(sizes)]
        rows, cats, boxes, diff = [], [], [], []
        for r, (w, h) in enumerate(sizes):
            for _ in range(data.draw(st.integers(0, 4))):
                x1 = data.draw(st.floats(0, w - 1, allow_nan=False))
                y1 = data.draw(st.floats(0, h - 1, allow_nan=False))
                x2 = data.draw(st.floats(x1 + 0.5, w, allow_nan=False))
                y2 = data.draw(st.floats(y1 + 0.5, h, allow_nan=False))
                rows.append(r)
                cats.append(data.draw(st.integers(1, len(names))))
                boxes.append([x1, y1, x2, y2])
                diff.append(0 if scored else data.draw(st.integers(0, 1)))
        n = len(rows)
        extra = {}
        if scored:
            extra["score"] = np.array([data.draw(st.floats(0, 1)) for _ in range(n)])
        col = np.empty(n, object)
        col[:] = diff
        ann = vf.Annotations.build(rows, cats, np.array(boxes, float).reshape(n, 4),
                                   attrs={"difficult": col}, **extra)
        ds = vf.Dataset(vf.Images.build([f"im{i}.png" for i in range(n_img)],
                                        [w for w, _ in sizes], [h for _, h in sizes],
                                        path=paths), ann, vf.Categories.from_names(names))
        vf.write(ds, tmp / "out", "map-txt", images="link")
        back = vf.load(tmp / "out")
        assert back.source_format == "map-txt"
        assert back.categories.names == names
        assert back.annotations.category_id.tolist() == cats
        np.testing.assert_array_equal(back.annotations.xyxy, ann.xyxy)   # exact: repr floats
        assert back.annotations.attr("difficult").tolist() == diff
        if scored and n:
            np.testing.assert_array_equal(back.annotations.score, ann.score)
        else:
            assert back.annotations.score is None or not n


def test_converted_like_any_format_through_voc_and_back(tmp_path):
    inp = _tool_input(tmp_path)
    r = run("convert", inp, tmp_path / "voc", "--to", "voc")
    assert r.exit_code == 0, r.output
    r = run("convert", tmp_path / "voc", tmp_path / "back", "--to", "map-txt")
    assert r.exit_code == 0, r.output
    # the tool's own lines come back byte for byte, difficult included, no pixel shift
    assert (tmp_path / "back" / "ground-truth" / "image_1.txt").read_text() == GT_EXAMPLE
    assert (tmp_path / "back" / "images-optional" / "image_2.jpg").is_file()
    r = run("convert", inp / "detection-results", tmp_path / "dr", "--to", "map-txt",
            "--images-dir", inp / "images-optional")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "dr" / "detection-results" / "image_1.txt").read_text() == DR_EXAMPLE
