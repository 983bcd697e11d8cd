"""`--errors raise|skip|keep` on every command that reads a dataset, with `--skip-errors` kept
as an alias of `--errors skip`: keep keeps the invalid rows that skip drops, raise stops with
one line, the two spellings agree or are refused in one line, and --help lists the option."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app


runner = CliRunner()
RECIPE = {"preprocess": ["grayscale"]}
READING = ["info", "show", "convert", "transform", "resize", "tile", "split", "add", "embed",
           "dedup", "search", "sample", "map"]


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def src(tmp_path) -> Path:
    """COCO: three distinct images (no two near-duplicates) with a box each, and a fourth box
    on a2.jpg lying outside its image (the planted invalid row)."""
    root = tmp_path / "planted"
    images, anns = [], []
    rng = np.random.default_rng(5)
    (root / "images").mkdir(parents=True)
    for i in (1, 2, 3):
        blobs = rng.integers(0, 255, (3, 4, 3), dtype=np.uint8)  # coarse: a distinct pHash
        Image.fromarray(blobs).resize((64, 48), Image.Resampling.BICUBIC).save(
            root / "images" / f"a{i}.jpg", quality=95)
        images.append({"id": i, "file_name": f"a{i}.jpg", "width": 64, "height": 48})
        anns.append({"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 20, 10],
                     "area": 200, "iscrowd": 0})
    anns.append({"id": 9, "image_id": 2, "category_id": 1, "bbox": [50, 40, 100, 100],
                 "area": 10000, "iscrowd": 0})
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}]}))
    return root


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and "Traceback" not in result.output
    assert len(text.splitlines()) == 1, text
    for f in fragments:
        assert f in text, text


def _info(src, *flags) -> dict:
    r = run("info", src, "--json", *flags)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_info_raise_skip_keep(src):
    _one_line_error(run("info", src), "annotations[3] (id 9)", "outside the image")
    _one_line_error(run("info", src, "--errors", "raise"), "outside the image")
    skip, keep = _info(src, "--errors", "skip"), _info(src, "--errors", "keep")
    assert (skip["annotations"], keep["annotations"]) == (3, 4)
    assert [p["code"] for p in skip["problems"]] == ["skipped"]
    assert [p["code"] for p in keep["problems"]] == ["invalid"]


def test_skip_errors_is_an_alias_of_errors_skip(src):
    alias = _info(src, "--skip-errors")
    assert alias == _info(src, "--errors", "skip")
    assert alias == _info(src, "--errors", "skip", "--skip-errors")  # agreeing: fine


def test_disagreeing_spellings_and_bad_values_are_one_line(src):
    _one_line_error(run("info", src, "--errors", "keep", "--skip-errors"),
                    "--skip-errors means --errors skip", "--errors keep")
    _one_line_error(run("info", src, "--errors", "raise", "--skip-errors"), "give one")
    _one_line_error(run("info", src, "--errors", "kep"),
                    "--errors must be one of", "did you mean 'keep'?")
    _one_line_error(run("dedup", src, src.parent / "o", "--errors", "nope"), "--errors")
    assert not (src.parent / "o").exists()


def _writers(tmp_path: Path, src: Path) -> dict[str, tuple[list, list]]:
    """Commands that read SRC and write a dataset: arguments before DST and after it."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE))
    return {"convert": (["convert", src], ["--to", "coco"]),
            "transform": (["transform", src], ["--recipe", recipe, "--workers", "1"]),
            "resize": (["resize", src], ["--size", "64x48", "--workers", "1"]),
            "tile": (["tile", src], ["--grid", "1x1", "--workers", "1"]),
            "split": (["split", src], ["--ratios", "50,50", "--no-near-duplicates"]),
            "dedup": (["dedup", src], []),
            "search": (["search", src, "--like", src / "images" / "a2.jpg", "--model",
                        "phash", "--top", "3", "--out"], []),
            "sample": (["sample", src], ["--n", "3", "--strategy", "random"])}


@pytest.mark.parametrize("command", ["convert", "transform", "resize", "tile", "split",
                                     "dedup", "search", "sample"])
def test_keep_keeps_the_row_that_skip_drops_in_the_written_dataset(command, tmp_path, src):
    before, after = _writers(tmp_path, src)[command]
    counts = {}
    for mode in ("skip", "keep"):
        r = run(*before, tmp_path / mode, *after, "--errors", mode)
        assert r.exit_code == 0, r.output
        out = vf.load(tmp_path / mode, errors="keep", report=vf.Report())
        assert len(out.images) == 3
        counts[mode] = len(out.annotations)
    assert counts == {"skip": 3, "keep": 4}
    r = run(*before, tmp_path / "raise", *after)
    _one_line_error(r, "outside the image")
    assert not (tmp_path / "raise").exists()


def test_reading_commands_without_output_folder(tmp_path, src):
    """show, map, embed and a workspace add take --errors too, and pass it to the reader."""
    for cmd in (["show", src, "--out", tmp_path / "g.png"],
                ["map", src, "--out", tmp_path / "m.html"], ["embed", src]):
        _one_line_error(run(*cmd), "outside the image")
        r = run(*cmd, "--errors", "keep")
        assert r.exit_code == 0, r.output
    r = run("embed", src, "--json", "--errors", "skip")
    assert r.exit_code == 0 and json.loads(r.stdout)["images"] == 3, r.output
    ws = tmp_path / "ws"
    assert run("init", ws).exit_code == 0
    _one_line_error(run("add", src, "-w", ws), "outside the image")
    r = run("add", src, "-w", ws, "--errors", "keep")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("command", READING)
def test_help_lists_errors_and_the_alias(command):
    r = run(command, "--help")
    assert r.exit_code == 0
    assert "--errors" in r.output and "raise|skip|keep" in r.output
    assert "--skip-errors" in r.output
