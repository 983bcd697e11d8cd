"""transform, resize, tile, split from the command line: output in the input's format (or
--to), atomic, source untouched, one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import tree_snapshot
from visionflow.cli.main import app

from .synth import dataset, tree_bytes

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def voc_src(tmp_path) -> Path:
    ds = dataset(tmp_path / "gen", 5, size=(120, 90))
    vf.write(ds, tmp_path / "src", "voc", images="copy")
    return tmp_path / "src"


def no_partials(parent: Path):
    assert not [p.name for p in parent.iterdir() if ".partial" in p.name]


@pytest.mark.parametrize("command", ["transform", "resize", "tile", "split"])
def test_help_has_examples(command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Examples:" in result.output


def test_transform_recipe_keeps_format_and_is_deterministic(voc_src, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("preprocess:\n  - resize: {size: [60, 60], mode: letterbox}\n"
                      "augment:\n  copies: 2\n  splits: ['*']\n  ops:\n    - flip: {p: 0.5}\n"
                      "    - brightness: {limit: 0.3}\n")
    before = tree_snapshot(voc_src)
    for out in ("a", "b"):
        result = cli("transform", voc_src, tmp_path / out, "--recipe", recipe, "--seed", 5, "--workers", 1)
        assert result.exit_code == 0, result.output
    assert tree_snapshot(voc_src) == before
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    out = vf.load(tmp_path / "a")
    assert out.source_format == "voc"
    assert len(out.images) == 10 and set(out.images.width.tolist()) == {60}
    no_partials(tmp_path)


def test_resize_to_another_format(voc_src, tmp_path):
    result = cli("resize", voc_src, tmp_path / "o", "--size", "240x180", "--mode", "stretch", "--to", "coco")
    assert result.exit_code == 0, result.output
    src, out = vf.load(voc_src), vf.load(tmp_path / "o")
    assert out.source_format == "coco"
    np.testing.assert_allclose(out.annotations.xyxy, src.annotations.xyxy * 2, atol=1e-6)
    with Image.open(out.images.path[0]) as im:
        assert im.size == (240, 180)


def test_tile_grid(voc_src, tmp_path):
    result = cli("tile", voc_src, tmp_path / "o", "--grid", "2x2", "--min-visibility", "0.3")
    assert result.exit_code == 0, result.output
    out = vf.load(tmp_path / "o")
    assert len(out.images) == 20 and set(out.images.width.tolist()) == {60}


def test_split_links_images(voc_src, tmp_path):
    result = cli("split", voc_src, tmp_path / "o", "--ratios", "60,40", "--seed", 3, "--stratify")
    assert result.exit_code == 0, result.output
    out = vf.load(tmp_path / "o")
    assert sorted(set(out.images.split.tolist())) == ["train", "val"]
    assert int((out.images.split == "train").sum()) == 3


@pytest.mark.parametrize("args,message", [
    (["resize", "{src}", "{tmp}/o", "--size", "big"], "resize: --size must be WIDTHxHEIGHT"),
    (["resize", "{src}", "{tmp}/o", "--size", "64x64", "--mode", "squash"], "mode must be one of"),
    (["tile", "{src}", "{tmp}/o"], "give exactly one of --grid"),
    (["split", "{src}", "{tmp}/o", "--ratios", "70,x"], "ratios: expected numbers"),
    (["transform", "{src}", "{tmp}/o", "--recipe", "{tmp}/none.yaml"], "recipe file not found"),
    (["transform", "{src}", "{tmp}/o", "--recipe", "{tmp}/bad.yaml"], "bad.yaml: augment step 1 (rotate): unknown parameter 'limt'"),
    (["transform", "{src}", "{tmp}/o", "--recipe", "{tmp}/ok.yaml", "--engine", "spark"], "--engine must be one of local, ray"),
    (["resize", "{src}", "{src}/inside", "--size", "64x64"], "destination lies inside the source"),
])
def test_errors_are_one_line(voc_src, tmp_path, args, message):
    (tmp_path / "bad.yaml").write_text("augment:\n  ops:\n    - rotate: {limt: 3}\n")
    (tmp_path / "ok.yaml").write_text("preprocess: [grayscale]\n")
    before = tree_snapshot(voc_src)
    result = cli(*[a.format(src=voc_src, tmp=tmp_path) for a in args])
    assert result.exit_code == 1
    assert message in result.output and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "o").exists()
    assert tree_snapshot(voc_src) == before
    no_partials(tmp_path)
