"""`visionflow ops` lists the registry as declared; the resize and tile options are generated
from the same declarations (cli/_op_options.py, kept current by this test); an old recipe
parameter name runs with a warning, not an error."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.cli.ops import OPTION_OPS, OPTIONS_FILE, options_module
from visionflow.transforms import OPS, Recipe

from .synth import dataset

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_ops_json_lists_every_operation_with_its_parameters():
    result = cli("ops", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["name"] for r in rows] == sorted(OPS)
    for r in rows:
        cls = OPS[r["name"]]
        assert [p["name"] for p in r["parameters"]] == [p.name for p in cls.params()]
        for p in r["parameters"]:
            assert p["type"] and p["help"] and "default" in p
        step = Recipe.load({"preprocess": yaml.safe_load(r["example"])}).preprocess[0]
        assert step == cls(**cls.example)
    rotate = next(r for r in rows if r["name"] == "rotate")
    assert rotate["parameters"][0] == {
        "name": "angle_range", "type": "[min, max] in -360..360; n = [-n, n]",
        "default": [-15.0, 15.0], "help": "degrees", "deprecated_name": "limit"}


def test_ops_table_names_operations_parameters_and_examples():
    result = cli("ops", "resize", "tile")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for word in ("resize", "tile", "size", "mode", "letterbox", "tile_size", "overlap",
                 "min_visibility", "- resize: {size: 640x640", "- tile: {tile_size: 640x640"):
        assert word in out, word
    assert "rotate" not in out


def test_ops_unknown_name_is_one_line():
    result = cli("ops", "resise")
    assert result.exit_code == 1
    assert "resise: unknown operation; did you mean 'resize'?" in result.output
    assert result.output.count("\n") == 1


def test_ops_help_has_examples():
    result = cli("ops", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output


def test_generated_cli_options_are_current():
    assert OPTIONS_FILE.read_text() == options_module(), \
        "run: python -m visionflow.cli.ops (cli/_op_options.py is stale)"


@pytest.mark.parametrize("name", OPTION_OPS)
def test_command_has_an_option_per_operation_parameter(name):
    result = cli(name, "--help")
    assert result.exit_code == 0
    flags = " ".join(result.output.split())
    for p in OPS[name].params():
        if p.name != "p":
            assert f"--{p.name.replace('_', '-')} " in flags, p.name


def test_tile_options_reach_the_operation(tmp_path):
    ds = dataset(tmp_path / "gen", 2, size=(120, 90))
    vf.write(ds, tmp_path / "src", "voc", images="copy")
    result = cli("tile", tmp_path / "src", tmp_path / "o", "--tile-size", "64x64", "--overlap", "8")
    assert result.exit_code == 0, result.output
    out = vf.load(tmp_path / "o")
    # 120 wide: tiles at x 0 and 56; 90 high: y 0 and 26 -> 4 tiles of 64x64 per image
    assert len(out.images) == 8 and set(out.images.width.tolist()) == {64}
    result = cli("tile", tmp_path / "src", tmp_path / "o2", "--grid", "2x2", "--overlap", "-1")
    assert result.exit_code == 1 and "tile: --overlap must be >= 0, got -1" in result.output


def test_old_recipe_name_runs_with_a_warning(tmp_path):
    ds = dataset(tmp_path / "gen", 2, size=(120, 90))
    vf.write(ds, tmp_path / "src", "voc", images="copy")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("preprocess:\n  - brightness: {limit: 0.3}\n")
    result = cli("transform", tmp_path / "src", tmp_path / "o", "--recipe", recipe)
    assert result.exit_code == 0, result.output
    assert "warning: " in result.output and "parameter 'limit' is deprecated, use 'amount_range'" \
        in " ".join(result.output.split())
