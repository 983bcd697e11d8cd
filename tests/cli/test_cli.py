"""Every command, and every way a user can get it wrong: one line, exit 1, nothing half-written,
the source untouched."""

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from ..conftest import make_image, tree_snapshot

runner = CliRunner()
COMMANDS = ["convert", "info", "show", "detect", "formats"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def coco_src(tmp_path) -> Path:
    root = tmp_path / "src"
    (root / "annotations").mkdir(parents=True)
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                      {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 4, 20, 10],
                            "iscrowd": 0, "segmentation": [[4, 4, 24, 4, 24, 14]]}],
           "categories": [{"id": 3, "name": "cat"}, {"id": 8, "name": "dog"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    for name in ("a.png", "b.png"):
        make_image(root / "images" / "train" / name)
    return root


def _no_partial_output(parent: Path, name: str):
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]
    assert not (parent / name).exists() and not leftovers, leftovers


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and "Traceback" not in result.output
    for f in fragments:
        assert f in " ".join(text.split()), text


def _all_commands():
    import typer.main
    root = typer.main.get_command(app)
    stack, found = [((), root)], []
    while stack:
        path, cmd = stack.pop()
        if hasattr(cmd, "commands"):
            stack += [((*path, name), sub) for name, sub in cmd.commands.items()]
        else:
            found.append(path)
    return sorted(found)


def test_core_commands_exist():
    assert {c[0] for c in _all_commands()} >= set(COMMANDS)


@pytest.mark.parametrize("command", _all_commands(), ids=" ".join)
def test_every_command_has_help_with_examples(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Examples" in result.stdout, command


def test_version_and_no_args():
    assert run("--version").stdout.startswith("visionflow ")
    assert "convert" in run().output


def test_convert_coco_to_yolo_and_back(coco_src, tmp_path):
    before = tree_snapshot(coco_src)
    result = run("convert", coco_src, tmp_path / "yolo", "--to", "yolo")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "yolo" / "data.yaml").is_file()
    assert (tmp_path / "yolo" / "labels" / "train" / "b.txt").read_text() == ""  # negative kept
    # copied by default (never sharing a file with the source), the same bytes
    assert os.stat(tmp_path / "yolo/images/train/a.png").st_ino != os.stat(coco_src / "images/train/a.png").st_ino
    assert (tmp_path / "yolo/images/train/a.png").read_bytes() == (coco_src / "images/train/a.png").read_bytes()
    result = run("convert", tmp_path / "yolo", tmp_path / "coco", "--to", "coco", "--images", "link")
    assert result.exit_code == 0, result.output
    back = vf.load(tmp_path / "coco")
    assert back.categories.ids == [3, 8]  # COCO ids survive YOLO
    # YOLO holds 6 decimals of the normalized box: 48e-6 px on this 48 px high image.
    assert back.annotations.xyxy[0].tolist() == pytest.approx([4, 4, 24, 14], abs=1e-4)
    assert tree_snapshot(coco_src) == before


def test_convert_reports_losses_and_strict_refuses(coco_src, tmp_path):
    result = run("convert", coco_src, tmp_path / "voc", "--to", "voc")
    assert result.exit_code == 0
    assert "warning: polygons" in result.stderr
    result = run("convert", coco_src, tmp_path / "voc2", "--to", "voc", "--strict")
    _one_line_error(result, "voc cannot hold polygons")
    _no_partial_output(tmp_path, "voc2")


def test_convert_writer_option(coco_src, tmp_path):
    result = run("convert", coco_src, tmp_path / "rf", "--to", "coco", "-O", "layout=roboflow")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rf" / "train" / "_annotations.coco.json").is_file()
    _one_line_error(run("convert", coco_src, tmp_path / "x", "--to", "coco", "-O", "layout"),
                    "--option expects KEY=VALUE")


@pytest.mark.parametrize("args, fragments", [
    (["--to", "yolov99"], ["unknown format 'yolov99'", "did you mean"]),
    (["--to", "coco", "--from", "vocc"], ["unknown format 'vocc'"]),
    (["--to", "coco", "--images", "symlink"], ["--images must be one of link, copy, none"]),
])
def test_convert_bad_arguments(coco_src, tmp_path, args, fragments):
    _one_line_error(run("convert", coco_src, tmp_path / "out", *args), *fragments)
    _no_partial_output(tmp_path, "out")


def test_missing_source(tmp_path):
    _one_line_error(run("convert", tmp_path / "nope", tmp_path / "out", "--to", "coco"),
                    "nope: no such file or folder")
    _one_line_error(run("info", tmp_path / "nope"), "no such file or folder")


def test_destination_not_empty_or_inside_source(coco_src, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    _one_line_error(run("convert", coco_src, tmp_path / "full", "--to", "yolo"),
                    "already exists and is not empty", "--overwrite")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    before = tree_snapshot(coco_src)
    _one_line_error(run("convert", coco_src, coco_src / "out", "--to", "yolo"),
                    "destination lies inside the source dataset")
    assert tree_snapshot(coco_src) == before


def test_malformed_input_leaves_nothing(coco_src, tmp_path):
    ann = coco_src / "annotations" / "instances_train.json"
    ann.write_text('{"images": [\n{"id": 1,]}')
    before = tree_snapshot(coco_src)
    result = run("convert", coco_src, tmp_path / "out", "--to", "yolo")
    _one_line_error(result, "instances_train.json:2:", "malformed JSON")
    _no_partial_output(tmp_path, "out")
    assert tree_snapshot(coco_src) == before


def test_bad_records_and_skip_errors(coco_src, tmp_path):
    ann = coco_src / "annotations" / "instances_train.json"
    doc = json.loads(ann.read_text())
    doc["annotations"].append({"id": 2, "image_id": 2, "category_id": 3, "bbox": [1, 1, 0, 5]})
    doc["annotations"].append({"id": 3, "image_id": 1, "category_id": 42, "bbox": [1, 1, 5, 5]})
    ann.write_text(json.dumps(doc))
    _one_line_error(run("convert", coco_src, tmp_path / "out", "--to", "yolo"),
                    "annotations[1] (id 2): box has zero size")
    _no_partial_output(tmp_path, "out")
    result = run("convert", coco_src, tmp_path / "out", "--to", "yolo", "--skip-errors")
    assert result.exit_code == 0, result.output
    assert "2 problem(s) skipped" in result.stderr
    assert "unknown category id 42" in result.stderr
    assert (tmp_path / "out" / "labels" / "train" / "a.txt").read_text().count("\n") == 1


def test_missing_image_names_it(coco_src, tmp_path):
    (coco_src / "images" / "train" / "b.png").unlink()
    _one_line_error(run("convert", coco_src, tmp_path / "out", "--to", "voc"), "b.png", "not found")
    _no_partial_output(tmp_path, "out")
    assert run("convert", coco_src, tmp_path / "out", "--to", "voc", "--images", "none").exit_code == 0


def test_undecodable_image_in_yolo(tmp_path):
    root = tmp_path / "y"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "images" / "train" / "x.jpg").write_bytes(b"garbage")
    (root / "labels" / "train" / "x.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: {0: a}\n")
    _one_line_error(run("info", root), "x.jpg", "cannot read image")


def test_interrupt_leaves_no_output(coco_src, tmp_path, monkeypatch):
    from visionflow.formats import registry
    fmt = registry.get("yolo")

    def interrupted(ds, out, ctx):
        (out / "half.txt").write_text("x")
        raise KeyboardInterrupt

    monkeypatch.setattr(registry, "get", lambda name: fmt.__class__(**{**fmt.__dict__, "write": interrupted}))
    result = run("convert", coco_src, tmp_path / "out", "--to", "yolo")
    assert result.exit_code == 130
    _no_partial_output(tmp_path, "out")


def test_info_table_and_json(coco_src):
    result = run("info", coco_src)
    assert result.exit_code == 0 and "cat" in result.stdout and "train" in result.stdout
    data = json.loads(run("info", coco_src, "--json").stdout)
    assert data["images"] == 2 and data["annotations"] == 1
    assert data["annotations_per_class"] == {"train": {"cat": 1, "dog": 0}}
    assert data["splits"]["train"]["images_without_annotations"] == 1
    assert data["geometry"] == {"boxes": 1, "polygons": 1}


def test_show_draws_a_grid(coco_src, tmp_path):
    result = run("show", coco_src, "--out", tmp_path / "g.png", "--tile-size", "100")
    assert result.exit_code == 0, result.output
    from PIL import Image
    assert Image.open(tmp_path / "g.png").size == (200, 100)
    _one_line_error(run("show", coco_src, "--out", tmp_path / "h.png", "--class", "cta"),
                    "cta")
    assert not (tmp_path / "h.png").exists()


def test_detect_and_formats(coco_src, tmp_path):
    result = run("detect", coco_src)
    assert result.exit_code == 0 and result.stdout.startswith("coco")
    found = json.loads(run("detect", coco_src, "--json").stdout)
    assert found[0]["format"] == "coco" and found[0]["reasons"]
    (tmp_path / "empty").mkdir()
    _one_line_error(run("detect", tmp_path / "empty"), "no known dataset format found")
    listed = json.loads(run("formats", "--json").stdout)
    names = {f["name"] for f in listed}
    assert {"coco", "voc", "yolo", "yolo-darknet", "visionflow"} <= names
    assert all(f["read"] and f["write"] for f in listed)


def test_python_m_entry_point(coco_src):
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "visionflow", "detect", str(coco_src)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("coco")
    out = subprocess.run([sys.executable, "-m", "visionflow", "info", str(coco_src / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 1 and out.stderr.startswith("error: ") and "Traceback" not in out.stderr
