"""The operation registry keeps its promises: every parameter is declared (type, converter,
help), values hold the declared types once built, examples load, old parameter names still work
with a deprecation warning, operations never change the sample they are given, and an
operation not marked `geometric` never moves an annotation."""

from __future__ import annotations

import types
import typing
from dataclasses import fields

import numpy as np
import pytest
import yaml

import visionflow as vf
from visionflow import Annotations, Categories, Category, Dataset, Images, Polygons
from visionflow.transforms import OPS, Recipe, RecipeError, run
from visionflow.transforms.engine import Context, make_plan
from visionflow.transforms.sample import Sample

from .synth import dataset

NAMES = sorted(OPS)


def _holds(value, hint) -> bool:
    """isinstance for the annotations the operations use (unions, tuple[...], dict[...])."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_holds(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is typing.Any:
        return True
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_holds(v, args[0]) for v in value)
        return len(value) == len(args) and all(_holds(v, a) for v, a in zip(value, args))
    if origin is dict:
        return isinstance(value, dict) and all(_holds(k, args[0]) and _holds(v, args[1])
                                               for k, v in value.items())
    if hint is float:
        return isinstance(value, float)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_declared_and_documented(name):
    cls = OPS[name]
    assert cls.summary(), f"{name} has no description"
    for f in fields(cls):
        assert "conv" in f.metadata, f"{name}.{f.name} is not declared with param()"
        assert f.metadata["help"], f"{name}.{f.name} has no help"
    assert [p.name for p in cls.params()][-1] == "p"


@pytest.mark.parametrize("name", NAMES)
def test_built_values_have_the_declared_types(name):
    cls = OPS[name]
    hints = typing.get_type_hints(cls)
    for op in (cls(**cls.example), Recipe.load({"preprocess": yaml.safe_load(cls.example_line())})
               .preprocess[0]):
        for f in fields(op):
            v = getattr(op, f.name)
            assert _holds(v, hints[f.name]), f"{name}.{f.name} = {v!r} is not {hints[f.name]}"


@pytest.mark.parametrize("name", NAMES)
def test_example_line_is_a_recipe_step_with_those_parameters(name):
    cls = OPS[name]
    step = yaml.safe_load(cls.example_line())
    op = Recipe.load({"preprocess": step}).preprocess[0]
    assert op == cls(**cls.example)
    assert Recipe.load(Recipe(preprocess=(op,)).to_dict()).preprocess[0] == op


RENAMED = [(name, old, new) for name in NAMES for old, new in OPS[name].renamed().items()]


def test_random_parameters_are_ranges():
    """Every parameter drawn at random is spelled `*_range` (the old spellings are renames)."""
    assert {(n, o) for n, o, _ in RENAMED} == {
        ("rotate", "limit"), ("shear", "x"), ("shear", "y"), ("brightness", "limit"),
        ("exposure", "limit"), ("contrast", "limit"), ("hue", "limit"), ("saturation", "limit"),
        ("blur", "limit"), ("noise", "limit")}
    assert all(new.endswith("_range") for _, _, new in RENAMED)
    for name in NAMES:
        for p in OPS[name].params():
            if p.type.startswith("[min, max]"):
                assert p.name.endswith("_range"), (name, p.name)


@pytest.mark.parametrize("name,old,new", RENAMED)
def test_old_parameter_names_still_work_and_are_reported(name, old, new, tmp_path):
    value = 0.1 if name in ("noise", "brightness", "saturation", "exposure", "contrast") else 3
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"augment": {"ops": [{name: {old: value}}]}}))
    recipe = Recipe.load(path)
    assert recipe.augment.ops[0] == OPS[name](**{new: value})
    assert recipe.notes == (f"{path}: augment step 1 ({name}): parameter {old!r} is deprecated, "
                            f"use {new!r} (same meaning)",)
    written = recipe.to_dict()["augment"]["ops"][0][name]  # stored under the new name
    assert new in written and old not in written
    with pytest.raises(RecipeError, match=f"give '{new}' or its old name '{old}', not both"):
        Recipe.load({"augment": {"ops": [{name: {old: value, new: value}}]}})


def test_deprecated_name_is_a_warning_in_the_run_report(tmp_path):
    ds = dataset(tmp_path, 2)
    report = vf.Report()
    recipe = Recipe.load({"preprocess": [{"brightness": {"limit": 0.3}}]})
    out = run(ds, recipe, tmp_path / "o", workers=1, report=report)
    assert len(out.images) == 2
    found = [f for f in report.findings if f.code == "recipe.deprecated"]
    assert [f.severity for f in found] == ["warning"] and "'amount_range'" in found[0].message


def test_a_bad_value_under_an_old_name_is_named_as_written():
    with pytest.raises(RecipeError) as e:
        Recipe.load({"augment": {"ops": [{"rotate": {"limit": "x"}}]}})
    assert "limit must be [min, max], got 'x' ('limit' is now 'angle_range')" in str(e.value)


# -- behaviour on a sample ------------------------------------------------------------------

def _sample() -> tuple[Sample, Context]:
    rng = np.random.default_rng(1)
    w, h = 80, 60
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    boxes = [[5, 6, 30, 40], [40, 10, 75, 50], [50, 45, 53, 48]]
    rings = [[np.array([[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]], float)]
             for b in boxes]
    ann = Annotations.build([0, 0, 0], [1, 2, 1], boxes, polygons=Polygons.from_lists(rings))
    s = Sample("a.png", "train", w, h, ann, {"tags": ["reviewed"]}, None, 1)
    s._image = img
    cats = Categories([Category(1, "car"), Category(2, "person")])
    ds = Dataset(Images.build(["a.png"], [w], [h]), Annotations.empty(), cats)
    return s, cats, ds


def _apply(name):
    s, cats, ds = _sample()
    op = OPS[name](**OPS[name].example)
    ctx = Context(make_plan(ds, Recipe(preprocess=(op,)), 0))
    _, state = op.bind(cats)
    before = (s.file_name, s.width, s.height, s.image.copy(), s.ann, s.ann.xyxy.copy(), s.changed)
    image = s.image
    outs = op(s, np.random.default_rng(3), ctx, state)
    return s, before, image, outs


@pytest.mark.parametrize("name", NAMES)
def test_ops_return_new_samples_and_leave_the_input_alone(name):
    s, before, image, outs = _apply(name)
    assert (s.file_name, s.width, s.height) == before[:3]
    assert s.image is image and np.array_equal(s.image, before[3])
    assert s.ann is before[4] and np.array_equal(s.ann.xyxy, before[5]) and s.changed == before[6]
    assert all(o is not s for o in outs)


@pytest.mark.parametrize("name", [n for n in NAMES if not OPS[n].geometric])
def test_ops_not_marked_geometric_move_no_annotation(name):
    s, before, _, outs = _apply(name)
    for o in outs:
        assert (o.width, o.height) == (s.width, s.height)
        rows = {tuple(b) for b in before[5].tolist()}
        assert {tuple(b) for b in o.ann.xyxy.tolist()} <= rows, name
