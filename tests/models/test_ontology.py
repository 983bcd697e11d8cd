"""The ontology: text, mapping and file forms, several sources to one class, one-line errors with
"did you mean", and the lookup table autolabel applies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionflow.core.errors import Error, ParseError, ValidationError
from visionflow.models.centernet import COCO80
from visionflow.models.ontology import Ontology, parse


def test_several_model_classes_to_one():
    o = parse("raccoon=bear,dog,cat")
    assert o.targets == ("raccoon",) and o.sources == (("bear", "dog", "cat"),)
    targets, lut = o.resolve(COCO80, "centernet")
    assert targets == ("raccoon",)
    assert {COCO80[k] for k in np.flatnonzero(lut == 0)} == {"bear", "dog", "cat"}
    assert (lut >= 0).sum() == 3


def test_bare_names_map_to_themselves_and_semicolons_end_a_list():
    assert parse("person,car") == Ontology(("person", "car"), (("person",), ("car",)))
    o = parse("raccoon=bear, dog ; person; vehicle=car,truck")
    assert o.targets == ("raccoon", "person", "vehicle")
    assert o.sources == (("bear", "dog"), ("person",), ("car", "truck"))
    assert o.prompts() == ("bear", "dog", "person", "car", "truck")


def test_repeated_target_collects_its_sources():
    o = parse("raccoon=bear;raccoon=teddy bear")
    assert o.sources == (("bear", "teddy bear"),)


def test_none_is_every_model_class():
    targets, lut = parse(None).resolve(("a", "b"))
    assert targets == ("a", "b") and lut.tolist() == [0, 1]


def test_mapping_and_files(tmp_path):
    o = parse({"raccoon": ["bear", "dog"], "person": None, "car": "car"})
    assert o.sources == (("bear", "dog"), ("person",), ("car",))
    yml = tmp_path / "classes.yaml"
    yml.write_text("raccoon: [bear, dog]\nperson: person\n")
    assert parse(str(yml)) == Ontology(("raccoon", "person"), (("bear", "dog"), ("person",)))
    js = tmp_path / "classes.json"
    js.write_text('{"raccoon": "bear"}')
    assert parse(js).sources == (("bear",),)
    assert parse(["a", "b"]).targets == ("a", "b")


def test_case_insensitive_model_class_lookup():
    _, lut = parse("people=Person").resolve(COCO80)
    assert lut[COCO80.index("person")] == 0


@pytest.mark.parametrize("text, message", [
    ("raccoon=bera", "did you mean 'bear'"),
    ("raccoon=unicorn", "centernet has no class 'unicorn'"),
])
def test_unknown_model_class_is_one_line_with_did_you_mean(text, message):
    with pytest.raises(Error, match=message) as e:
        parse(text).resolve(COCO80, "centernet")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("spec, message", [
    ("", "no class given"),
    ("raccoon=", "both sides"),
    ("=bear", "both sides"),
    ("a=b=c", "two '='"),
    ("a,,b", "empty name"),
    ("raccoon=bear;cat=bear", "mapped to both"),
    ({}, "empty"),
    ({"a": 3}, "sources must be"),
    (42, "not int"),
])
def test_bad_specs_are_one_line(spec, message):
    with pytest.raises(Error, match=message):
        parse(spec)


def test_bad_files(tmp_path):
    with pytest.raises(Error, match="no such classes file"):
        parse(str(tmp_path / "absent.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [b\n")
    with pytest.raises(ParseError, match="bad.yaml"):
        parse(str(bad))
    lst = tmp_path / "list.yaml"
    lst.write_text("- a\n- b\n")
    with pytest.raises(ValidationError, match="is a mapping"):
        parse(str(lst))


names = st.text(st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1,
                max_size=8)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(names, st.lists(names, min_size=1, max_size=4, unique=True),
                       min_size=1, max_size=5))
def test_text_form_round_trips_mappings(mapping):
    sources = [s for v in mapping.values() for s in v]
    if len(set(sources)) != len(sources):  # a source in two lists is refused, not parsed
        with pytest.raises(Error, match="mapped to both"):
            parse(mapping)
        return
    text = "; ".join(f"{t}={','.join(v)}" for t, v in mapping.items())
    assert parse(text) == parse(mapping)
    model = tuple(dict.fromkeys(sources))
    targets, lut = parse(text).resolve(model)
    for k, cls in enumerate(model):
        assert cls in mapping[targets[lut[k]]]
