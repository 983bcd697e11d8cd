"""`visionflow dedup`: the deduplicated dataset written atomically in any format, --json in
exactly the issue's shape, an offline HTML report, merged labels, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.core.annotations import Annotations
from visionflow.core.categories import Categories
from visionflow.core.dataset import Dataset
from visionflow.core.images import Images

from ..conftest import tree_snapshot
from .dedup_planted import skimage_photos

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def src(tmp_path, monkeypatch):
    """A COCO dataset: astronaut, coffee, rocket, a half-size astronaut, a brightened coffee;
    one box each, two on the small astronaut."""
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))
    photos = {p.stem: p for p in skimage_photos(tmp_path / "photos")}
    folder = tmp_path / "images"
    folder.mkdir()
    for n in ("astronaut", "coffee", "rocket"):
        shutil.copy(photos[n], folder / f"{n}.jpg")
    astro = Image.open(photos["astronaut"])
    astro.resize((256, 256)).save(folder / "astro-small.jpg", quality=85)
    ImageEnhance.Brightness(Image.open(photos["coffee"])).enhance(1.2).save(
        folder / "coffee-bright.jpg", quality=85)
    names = ["astronaut.jpg", "coffee.jpg", "rocket.jpg", "astro-small.jpg", "coffee-bright.jpg"]
    sizes = [Image.open(folder / n).size for n in names]
    ds = Dataset(Images.build(names, [s[0] for s in sizes], [s[1] for s in sizes],
                              path=[str(folder / n) for n in names]),
                 Annotations.build([0, 1, 2, 3, 3, 4], [1, 2, 1, 1, 2, 2],
                                   [[160, 40, 320, 220], [100, 50, 300, 300], [10, 10, 60, 60],
                                    [80, 20, 160, 110], [10, 150, 60, 250], [5, 5, 50, 50]]),
                 Categories.from_names(["face", "cup"]))
    vf.write(ds, tmp_path / "data", "coco")
    return tmp_path / "data"


def test_help_has_examples():
    result = cli("dedup", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output
    assert "--merge-labels" in result.output and "--confirm" in result.output


def test_json_is_exactly_groups_kept_removed(src, tmp_path):
    before = tree_snapshot(src)
    result = cli("dedup", src, tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "groups": [["astronaut.jpg", "astro-small.jpg"], ["coffee.jpg", "coffee-bright.jpg"]],
        "kept": ["astronaut.jpg", "coffee.jpg"],
        "removed": ["astro-small.jpg", "coffee-bright.jpg"]}
    out = vf.load(tmp_path / "out")
    assert sorted(out.images.file_name.tolist()) == ["astronaut.jpg", "coffee.jpg",
                                                     "rocket.jpg"]
    assert len(out.annotations) == 3 and out.source_format == "coco"
    assert tree_snapshot(src) == before  # the source untouched
    assert "3 annotations of removed images left out (listed below)" in result.stderr
    # without --report the lost annotations are named on stderr, never silently dropped
    assert "left out: astro-small.jpg (2 annotations), a duplicate of astronaut.jpg" in \
        result.stderr
    assert "left out: coffee-bright.jpg (1 annotation), a duplicate of coffee.jpg" in \
        result.stderr


def test_merge_labels_to_another_format_with_report(src, tmp_path):
    report = tmp_path / "dups.html"
    result = cli("dedup", src, tmp_path / "out", "--merge-labels", "--to", "yolo",
                 "--keep", "first", "--report", report)
    assert result.exit_code == 0, result.output
    out = vf.load(tmp_path / "out")
    assert out.source_format == "yolo" and len(out.images) == 3
    # astronaut: its face + the small copy's cup (its face is the same face, IoU >= 0.9);
    # coffee: its cup + the brightened copy's box; rocket: its own
    assert len(out.annotations) == 5
    assert "scaled by 2.000 x 2.000" in result.stderr
    html = report.read_text()
    assert html.count("<img ") == 4 and "data:image/jpeg;base64," in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "kept: first in dataset order" in html and "merged into the kept image" in html


def test_second_run_reuses_stored_hashes_and_refuses_a_full_destination(src, tmp_path):
    assert cli("dedup", src, tmp_path / "out").exit_code == 0
    again = cli("dedup", src, tmp_path / "out")
    assert again.exit_code == 1 and "error:" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert cli("dedup", src, tmp_path / "out", "--overwrite").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--keep", "biggest"], "--keep must be one of"),
    (["--method", "hsah"], "did you mean 'hash'"),
    (["--method", "hash", "--model", "openai/clip-vit-base-patch32"], "--method hash takes"),
    (["--method", "embedding"], "needs a model"),
    (["--threshold", "99"], "0 to 63"),
    (["--report", "dups.txt"], "--report must end in .html"),
    (["--confirm", "eyes"], "--confirm must be one of"),
])
def test_errors_are_one_line(src, tmp_path, args, message):
    result = cli("dedup", src, tmp_path / "out", *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_destination_inside_the_source_is_refused(src):
    result = cli("dedup", src, src / "out")
    assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1
    assert not (src / "out").exists()


def test_report_among_the_source_images_is_refused_before_anything_is_written(tmp_path):
    """VOC annotations in raccoon/annotations, images in raccoon/images: a report in raccoon/
    is refused once the image folder is known, still before the output is written."""
    from ..conftest import shared_path
    root = shared_path("raccoon")
    result = cli("dedup", root / "annotations", tmp_path / "out", "--report",
                 root / "dups.html")
    assert result.exit_code == 1 and "lies inside the source dataset" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (root / "dups.html").exists()
