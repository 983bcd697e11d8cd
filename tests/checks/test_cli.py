"""`visionflow check` and `visionflow fix` from the command line."""

from __future__ import annotations

import json
import re

import pytest
from lxml import html as lxml_html
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from ..conftest import tree_snapshot
from . import planted

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def defects(tmp_path_factory):
    return planted.build(tmp_path_factory.mktemp("cli") / "all", list(planted.KINDS))


@pytest.fixture(scope="module")
def warnings_only(tmp_path_factory):
    return planted.build(tmp_path_factory.mktemp("cli") / "warn", ["tiny", "duplicate_box"])


@pytest.mark.parametrize("command", ["check", "fix"])
def test_help_has_examples(command):
    result = run(command, "--help")
    assert result.exit_code == 0 and "Examples" in result.stdout


def test_clean_dataset(tmp_path):
    src = planted.build(tmp_path / "clean", [])
    result = run("check", src, "--fail-on", "warning")
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.stdout and "no findings" in result.stdout


@pytest.mark.parametrize("fail_on, expected", [
    (None, 0), ("never", 0), ("error", 1), ("warning", 1)])
def test_exit_code_with_errors(defects, fail_on, expected):
    args = ["check", defects] + (["--fail-on", fail_on] if fail_on else [])
    result = run(*args)
    assert result.exit_code == expected, result.output
    assert "image.truncated" in result.stdout and "split.leakage" in result.stdout


@pytest.mark.parametrize("fail_on, expected", [("error", 0), ("warning", 1)])
def test_exit_code_with_warnings_only(warnings_only, fail_on, expected):
    assert run("check", warnings_only, "--fail-on", fail_on).exit_code == expected


def test_json_on_stdout(defects):
    before = tree_snapshot(defects)
    result = run("check", defects, "--json", "--fail-on", "error")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    codes = {f["code"] for f in data["findings"]}
    assert {"box.out_of_bounds", "image.exif_rotation", "split.leakage"} <= codes
    assert data["summary"]["error"] == sum(f["severity"] == "error" for f in data["findings"])
    oob = next(f for f in data["findings"] if f["code"] == "box.out_of_bounds")
    assert oob["image"] == "img_005.jpg" and isinstance(oob["annotation_id"], int)
    assert data["statistics"]["images"] == 28 and "heatmaps" in data["statistics"]
    assert data["config"]["iou"] == 0.95
    assert tree_snapshot(defects) == before


def test_thresholds_from_the_command_line(warnings_only):
    data = json.loads(run("check", warnings_only, "--json", "--min-size", "0.1").stdout)
    assert [f["code"] for f in data["findings"]] == ["box.duplicate"]
    data = json.loads(run("check", warnings_only, "--json", "--no-images", "--iou", "1.0",
                          "--min-size", "0.1").stdout)
    assert [f["code"] for f in data["findings"]] == ["box.duplicate"]
    assert data["config"]["read_images"] is False


def test_html_report_is_self_contained(defects, tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = run("check", defects, "--report", out)
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)  # opens offline: no external URL at all
    tree = lxml_html.fromstring(text)
    assert tree.tag == "html" and tree.find("head/title") is not None
    sources = [img.get("src") for img in tree.iter("img")]
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert any(s.startswith("data:image/jpeg;base64,") for s in sources)   # thumbnails
    assert any(s.startswith("data:image/png;base64,") for s in sources)    # heatmaps
    assert len(list(tree.iter("svg"))) >= 4                                # charts
    assert not list(tree.iter("script")) and not list(tree.iter("link"))
    body = tree.text_content()
    assert "image.exif_rotation" in body and "rotated.jpg" in body
    assert not list(tmp_path.glob("sub/.*partial*"))


@pytest.mark.parametrize("args, message", [
    (["--fail-on", "sometimes"], "--fail-on must be one of error, warning, never"),
    (["--report", "out.pdf"], "--report must end in .html"),
    (["--iou", "2"], "iou must be in (0, 1]"),
])
def test_user_mistakes_are_one_line(warnings_only, args, message):
    result = run("check", warnings_only, *args)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output


def test_missing_dataset(tmp_path):
    result = run("check", tmp_path / "nope")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr


def test_fix_command(defects, tmp_path):
    before = tree_snapshot(defects)
    out, changes = tmp_path / "fixed", tmp_path / "changes.json"
    result = run("fix", defects, out, "--remap", "cat=cat", "--drop-class", "fish",
                 "--report-json", changes)
    assert result.exit_code == 0, result.output
    assert "fix.clip_box" in result.stdout and "classes as coco to" in result.stderr
    assert tree_snapshot(defects) == before
    data = json.loads(changes.read_text())
    assert data["counts"]["fix.clip_box"] == 1 and data["counts"]["fix.drop_class"] == 1
    assert "fish" not in vf.load(out).categories.names
    again = run("fix", defects, out)
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_fix_to_another_format(tmp_path):
    src = planted.build(tmp_path / "src", ["out_of_bounds"])
    result = run("fix", src, tmp_path / "yolo", "--to", "yolo")
    assert result.exit_code == 0, result.output
    ds = vf.load(tmp_path / "yolo")
    assert ds.source_format == "yolo" and len(ds.annotations) == 29
    assert ds.annotations.xyxy[:, 2].max() <= 96 + 1e-3  # YOLO keeps 6 decimals


@pytest.mark.parametrize("args, message", [
    (["--remap", "cat"], "--remap expects OLD=NEW, got 'cat'"),
    (["--remap", "tiger=cat"], "no class named 'tiger'"),
    (["--to", "nosuch"], "unknown format 'nosuch'"),
])
def test_fix_mistakes(tmp_path, args, message):
    src = planted.build(tmp_path / "src", [])
    result = run("fix", src, tmp_path / "out", *args)
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert not (tmp_path / "out").exists()
