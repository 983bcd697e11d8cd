"""Recipes: loading (YAML, JSON, dict), round trip through to_dict, and every kind of mistake
reported with the step and the operation named."""

from __future__ import annotations

import json

import pytest

import visionflow as vf
from visionflow.transforms import OPS, Recipe, RecipeError
from visionflow.transforms.ops import InvalidStep

ISSUE_RECIPE = """
preprocess:                     # applied to every split, in order
  - resize: {size: [640, 640], mode: fit}
augment:                        # applied to the train split, `copies` outputs per image
  copies: 3
  ops:
    - rotate: {limit: 15}
    - brightness: {limit: 0.2}
    - flip: {direction: horizontal, p: 0.5}
"""


def test_issue_example_loads(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(ISSUE_RECIPE)
    r = Recipe.load(path)
    assert r.preprocess[0].size == (640, 640) and r.preprocess[0].mode == "fit"
    assert r.augment.copies == 3 and r.augment.splits == ("train",)
    assert [op.name for op in r.augment.ops] == ["rotate", "brightness", "flip"]
    assert r.augment.ops[0].angle_range == (-15.0, 15.0) and r.augment.ops[2].p == 0.5


def test_json_and_dict_and_round_trip(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(ISSUE_RECIPE)
    r = Recipe.load(path)
    d = r.to_dict()
    (tmp_path / "r.json").write_text(json.dumps(d))
    assert Recipe.load(tmp_path / "r.json") == r
    assert Recipe.load(d) == r
    assert Recipe.load(d).to_dict() == d


def test_every_op_round_trips_with_defaults():
    needs = {"static_crop": {"xyxy_norm": [0, 0, 0.5, 0.5]}, "tile": {"grid": [2, 2]},
             "modify_classes": {"drop": ["a"]}, "filter_images": {"tags": ["x"]},
             "drop_small": {"area": 4}}
    for name in OPS:
        r = Recipe.load({"preprocess": [{name: needs.get(name, {})}]})
        assert Recipe.load(r.to_dict()) == r, name


def test_bare_names_and_null_params():
    r = Recipe.load({"preprocess": ["auto_orient", {"grayscale": None}]})
    assert [op.name for op in r.preprocess] == ["auto_orient", "grayscale"]


BAD = [
    ({"preprocess": [{"resise": {}}]}, "preprocess step 1: unknown operation 'resise'; did you mean 'resize'?"),
    ({"preprocess": [{"resize": {"size": "big"}}]}, "preprocess step 1 (resize): size must be WIDTHxHEIGHT"),
    ({"preprocess": ["grayscale", {"resize": {"mode": "crop"}}]},
     "preprocess step 2 (resize): mode must be one of stretch, fit, letterbox, fill, got 'crop'"),
    ({"preprocess": [{"resize": {"sise": 3}}]}, "preprocess step 1 (resize): unknown parameter 'sise'; did you mean 'size'?"),
    ({"augment": {"ops": [{"rotate": {"limit": "x"}}]}}, "augment step 1 (rotate): limit must be [min, max]"),
    ({"augment": {"ops": [{"flip": {"p": 1.5}}]}}, "augment step 1 (flip): p must be between 0.0 and 1.0, got 1.5"),
    ({"augment": {"copies": 0, "ops": ["flip"]}}, "augment: copies must be a whole number from 1 to 1000, got 0"),
    ({"augment": {"ops": []}}, "augment: ops must be a non-empty list"),
    ({"preprocess": [{"tile": {}}]}, "preprocess step 1 (tile): give exactly one of grid"),
    ({"preprocess": [{"tile": {"tile_size": 64, "overlap": 64}}]}, "overlap (64) must be smaller"),
    ({"preprocess": [{"static_crop": {"xyxy": [10, 10, 5, 20]}}]}, "x_max > x_min"),
    ({"preprocess": [{"resize": {"color": "#zzzzzz"}}]}, "color must be a name"),
    ({"preprocess": [{"modify_classes": {}}]}, "give at least one of rename, merge or drop"),
    ({"preprocesss": []}, "unknown key 'preprocesss'; did you mean 'preprocess'?"),
    ({"min_visibility": 2, "preprocess": ["grayscale"]}, "min_visibility must be a fraction"),
    ({"split": {"ratios": [-1, 2]}}, "split: ratios must be >= 0"),
    ({}, "recipe has nothing to do"),
    ([1, 2], "a recipe is a mapping"),
    ({"preprocess": [["resize"]]}, "preprocess step 1: expected {operation: {parameters}}"),
]


@pytest.mark.parametrize("data,message", BAD)
def test_bad_recipes(data, message):
    with pytest.raises(RecipeError) as e:
        Recipe.load(data)
    assert message in str(e.value)
    assert isinstance(e.value, vf.Error) and "\n" not in str(e.value)


def test_bad_file_names_the_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("preprocess:\n  - resize: {mode: crop}\n")
    with pytest.raises(RecipeError, match=r"r\.yaml: preprocess step 1 \(resize\): mode must be"):
        Recipe.load(path)
    path.write_text("preprocess: [\n")
    with pytest.raises(vf.ParseError, match=r"r\.yaml:\d+: not valid YAML"):
        Recipe.load(path)
    with pytest.raises(RecipeError, match="recipe file not found"):
        Recipe.load(tmp_path / "missing.yaml")


def test_op_constructed_in_python_names_itself():
    with pytest.raises(InvalidStep, match=r"^resize: mode must be one of"):
        OPS["resize"](mode="nope")


def test_unknown_class_named_with_step():
    from visionflow.transforms.engine import make_plan
    ds = vf.Dataset(vf.Images.build([], [], []), vf.Annotations.empty(), vf.Categories.from_names(["cat", "dog"]))
    r = Recipe.load({"preprocess": ["grayscale", {"modify_classes": {"drop": ["cow"]}}]})
    with pytest.raises(RecipeError, match=r"preprocess step 2 \(modify_classes\): unknown class 'cow' \(classes: cat, dog\)"):
        make_plan(ds, r, 0)
