"""`-O KEY=VALUE` on every command that writes a dataset (issue 12): the option reaches the
writer and changes the output; a misspelt key or value is one line with a "did you mean" and
exit status 1; a Roboflow COCO export written back in its own format stays Roboflow; the
`formats` listing and the `-O` help come from the formats' declarations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.formats import registry

from ..conftest import make_image, shared_path

runner = CliRunner()
RECIPE = {"preprocess": ["grayscale"]}


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def layout_written(before: list, dst: Path, after: list, *options: str) -> str:
    """Run a writing command (arguments before and after DST) and say the COCO layout of DST."""
    r = run(*before, dst, *after, *options)
    assert r.exit_code == 0, r.output
    return _layout(dst)


def _coco(root: Path, *, roboflow: bool = False) -> Path:
    """Four images over train and val, one box each, in the standard or Roboflow layout."""
    for split in ("train", "val"):
        doc = {"images": [{"id": i, "file_name": f"{split}{i}.jpg", "width": 64, "height": 48}
                          for i in (1, 2)],
               "annotations": [{"id": i, "image_id": i, "category_id": 1,
                                "bbox": [4, 4, 20 + i, 10], "area": 10 * (20 + i),
                                "iscrowd": 0} for i in (1, 2)],
               "categories": [{"id": 1, "name": "cat"}]}
        folder = root / (("valid" if split == "val" else split) if roboflow
                         else f"images/{split}")
        for i in (1, 2):  # no two alike: fix drops exact duplicate images
            make_image(folder / f"{split}{i}.jpg",
                       color=(40 * i, 100 if split == "val" else 0, 9))
        ann = (folder / "_annotations.coco.json" if roboflow
               else root / "annotations" / f"instances_{split}.json")
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(json.dumps(doc))
    return root


def _layout(out: Path) -> str:
    if list(out.glob("*/_annotations.coco.json")):
        assert not (out / "annotations").exists()
        return "roboflow"
    assert list(out.glob("annotations/instances_*.json"))
    return "standard"


def _one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and "Traceback" not in result.output
    assert len(text.splitlines()) == 1, text
    for f in fragments:
        assert f in text, text


@pytest.fixture
def workspace(tmp_path):
    ws = tmp_path / "ws"
    assert run("init", ws).exit_code == 0
    r = run("add", _coco(tmp_path / "pets"), "-w", ws)
    assert r.exit_code == 0, r.output
    r = run("version", "create", "--name", "v1", "-w", ws)
    assert r.exit_code == 0, r.output
    return ws


def _commands(tmp_path: Path, src: Path, workspace: Path | None = None) -> dict[str, list]:
    """Each command that writes a dataset, with its arguments before DST and after it."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps(RECIPE))
    cmds = {"convert": (["convert", src], ["--to", "coco"]),
            "split": (["split", src], ["--ratios", "50,50", "--no-near-duplicates"]),
            "fix": (["fix", src], []),
            "transform": (["transform", src], ["--recipe", recipe, "--workers", "1"]),
            "resize": (["resize", src], ["--size", "32x24", "--workers", "1"]),
            "tile": (["tile", src], ["--grid", "2x1", "--workers", "1"])}
    if workspace is not None:
        cmds["version export"] = (["version", "export", "v1"], ["--to", "coco", "-w", workspace])
    return cmds


COMMANDS = ["convert", "split", "fix", "transform", "resize", "tile", "version export"]


@pytest.mark.parametrize("command", COMMANDS)
def test_option_changes_the_output_of_every_writing_command(command, tmp_path, workspace):
    src = _coco(tmp_path / "src")
    before, after = _commands(tmp_path, src, workspace)[command]
    assert layout_written(before, tmp_path / "plain", after) == "standard"
    assert layout_written(before, tmp_path / "rf", after, "-O", "layout=roboflow") == "roboflow"
    assert len(vf.load(tmp_path / "rf").annotations) >= 4


@pytest.mark.parametrize("command", COMMANDS)
def test_a_misspelt_option_is_one_line_with_did_you_mean(command, tmp_path, workspace):
    src = _coco(tmp_path / "src")
    before, after = _commands(tmp_path, src, workspace)[command]
    r = run(*before, tmp_path / "out", *after, "-O", "layuot=roboflow")
    _one_line_error(r, "unknown writer option 'layuot' for format coco; did you mean 'layout'?")
    assert not (tmp_path / "out").exists()
    r = run(*before, tmp_path / "out", *after, "-O", "layout=robofow")
    _one_line_error(r, "coco writer option layout='robofow': expected one of standard, "
                       "roboflow; did you mean 'roboflow'?")
    assert not (tmp_path / "out").exists()
    r = run(*before, tmp_path / "out", *after, "-O", "layout")
    _one_line_error(r, "expects KEY=VALUE")


@pytest.mark.parametrize("command", ["split", "fix", "transform", "resize", "tile"])
def test_a_roboflow_export_stays_roboflow_unless_told(command, tmp_path):
    src = _coco(tmp_path / "src", roboflow=True)
    before, after = _commands(tmp_path, src)[command]
    assert layout_written(before, tmp_path / "same", after) == "roboflow"
    assert layout_written(before, tmp_path / "std", after, "-O", "layout=standard") == "standard"
    r = run(*before, tmp_path / "yolo", *after, "--to", "yolo")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "yolo" / "data.yaml").is_file()


def test_real_roboflow_export_split_stays_roboflow(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    assert layout_written(["split", src], tmp_path / "out", ["--ratios", "80,20", "--images",
                                                          "link", "--no-near-duplicates"]) \
        == "roboflow"
    assert len(vf.load(tmp_path / "out").annotations) == len(vf.load(src).annotations)


def test_typed_values_from_the_command_line(tmp_path):
    src = _coco(tmp_path / "src")
    r = run("convert", src, tmp_path / "tf", "--to", "tfrecord", "-O", "shards=2")
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "tf").glob("train.tfrecord-*")) == \
        ["train.tfrecord-00000-of-00002", "train.tfrecord-00001-of-00002"]
    r = run("convert", src, tmp_path / "bad", "--to", "tfrecord", "-O", "shards=two")
    _one_line_error(r, "tfrecord writer option shards='two': shards must be an integer")
    r = run("convert", src, tmp_path / "voc", "--to", "voc", "-O", "coords=ONE_BASED")
    assert r.exit_code == 0, r.output
    assert "<xmin>5</xmin>" in (tmp_path / "voc" / "Annotations" / "train1.xml").read_text()
    r = run("info", tmp_path / "voc", "-I", "coords=tow-based")
    _one_line_error(r, "voc reader option coords='tow-based': expected one of zero-based, "
                       "one-based; did you mean 'one-based'?")


def test_formats_lists_the_declared_options(tmp_path):
    rows = {r["name"]: r for r in json.loads(run("formats", "--json").stdout)}
    coco = rows["coco"]
    assert coco["options"] == {"layout": coco["write_options"][0]["help"]}  # older field kept
    assert coco["write_options"][0] | {"help": None} == {
        "name": "layout", "type": "text", "default": "standard",
        "choices": ["standard", "roboflow"], "help": None, "example": "roboflow"}
    assert [o["name"] for o in rows["hf-parquet"]["read_options"]] == ["bbox_format",
                                                                        "image_dir"]
    for fmt in registry.all_formats():
        assert [o["name"] for o in rows[fmt.name]["write_options"]] == \
            [o.name for o in fmt.write_options]
    from visionflow.cli import render  # its Console read COLUMNS when it was made: widen it
    width = render.out._width
    render.out.width = 200
    try:
        table = runner.invoke(app, ["formats"]).output
    finally:
        render.out._width = width
    assert "-O layout=standard|roboflow" in table and "-I task=detect|segment|pose|obb" in table


@pytest.mark.parametrize("command", [["convert"], ["split"], ["fix"], ["transform"],
                                     ["resize"], ["tile"], ["version", "export"]])
def test_option_help_is_generated_from_the_declarations(command):
    text = " ".join(runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
                    .output.split())
    assert "coco layout=standard|roboflow" in text and "tfrecord shards=integer" in text
