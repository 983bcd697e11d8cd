"""Typed format options (issue 12): every format declares its reader and writer options as
`Option` values; strings (`-O key=value`) are converted by the declared type, a misspelt name
or value is refused with a "did you mean", and the `-O`/`-I` help is generated from the same
declarations. Parametrised over the registry, so a new format's options are covered as soon
as it declares them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.cli.format_help import OPTIONS_FILE, options_module
from visionflow.core.errors import Error, OutputError
from visionflow.core.geometry import mask_to_rle
from visionflow.formats import registry
from visionflow.formats.base import (BOXES, MASKS, SOURCE_OPTIONS, Format, Option,
                                     parse_options)

from ..conftest import make_image, shared_path

FORMATS = registry.all_formats()
WRITE_CASES = [(f, o, v) for f in FORMATS if f.write and f.read for o in f.write_options
               for v in (o.choices or (o.sample(),))]
READ_CASES = [(f, o) for f in FORMATS if f.write and f.read for o in f.read_options]


def _dataset(fmt: Format, root: Path) -> vf.Dataset:
    """Two images with one object each, of a kind `fmt` holds (box, else mask, else label)."""
    paths = [str(make_image(root / "src" / f"{j}.png")) for j in range(2)]
    images = vf.Images.build(["a.png", "b.png"], [64, 64], [48, 48], split=["train", "val"],
                             path=paths)
    cats = vf.Categories.from_names(["cat", "dog"])
    if BOXES in fmt.supports:
        ann = vf.Annotations.build([0, 1], [1, 2], [[1, 2, 20, 30]] * 2)
    elif MASKS in fmt.supports:
        mask = np.zeros((48, 64), bool)
        mask[2:30, 1:20] = True
        rle = np.empty(2, object)
        rle[:] = [mask_to_rle(mask)] * 2
        ann = vf.Annotations.build([0, 1], [1, 2], [[1, 2, 20, 30]] * 2, rle=rle)
    else:
        ann = vf.Annotations.build([0, 1], [1, 2], [[np.nan] * 4] * 2)
    return vf.Dataset(images, ann, cats)


def _spy(monkeypatch, fmt: Format, side: str) -> dict:
    """Make registry.get(fmt.name) hand out fmt with its read or write wrapped, recording the
    options the format receives before running the real function."""
    seen: dict = {}
    real = getattr(fmt, side)

    def wrapped(*args):
        seen.update(args[-1].options)
        return real(*args)

    spied = dataclasses.replace(fmt, **{side: wrapped})
    get = registry.get
    monkeypatch.setattr(registry, "get",
                        lambda name: spied if get(name).name == fmt.name else get(name))
    return seen


def _value(option: Option, text: str, tmp_path: Path):
    """The typed value `text` stands for (a folder option: a folder under tmp_path)."""
    if option.type is Path:
        return tmp_path / text
    return option.parse(text, "test")


def test_every_format_declares_options_as_option_values():
    for fmt in FORMATS:
        for option in (*fmt.write_options, *fmt.read_options):
            assert isinstance(option, Option), (fmt.name, option)
            assert option.help, f"{fmt.name} option {option.name} has no help"
            if option.choices and option.default is not None:
                assert option.default in option.choices, (fmt.name, option.name)
            assert option.parse(option.sample() if option.type is not Path else "x",
                                "t") is not None


def test_the_registry_has_options_to_test():
    """The parametrised tests below must not pass by having nothing to run."""
    assert {(f.name, o.name) for f, o, _ in WRITE_CASES} >= {
        ("coco", "layout"), ("voc", "coords"), ("tfrecord", "shards"),
        ("sagemaker", "s3_prefix"), ("cls-csv", "style"), ("jsonl-vlm", "style"),
        ("yolo-keras", "coords")}
    assert {(f.name, o.name) for f, o in READ_CASES} >= {
        ("voc", "coords"), ("yolo", "task"), ("tfrecord", "images"),
        ("hf-parquet", "bbox_format"), ("hf-parquet", "image_dir")}


@pytest.mark.parametrize("fmt,option,text", WRITE_CASES,
                         ids=lambda x: getattr(x, "name", str(x)))
def test_every_writer_option_from_a_string_reaches_the_writer_typed(fmt, option, text,
                                                                     tmp_path, monkeypatch):
    seen = _spy(monkeypatch, fmt, "write")
    given = str(tmp_path / text) if option.type is Path else text
    vf.write(_dataset(fmt, tmp_path), tmp_path / "out", fmt.name, **{option.name: given})
    expected = _value(option, text, tmp_path)
    assert seen[option.name] == expected and type(seen[option.name]) is type(expected)
    for other in fmt.write_options:  # the others with their declared defaults
        if other.name != option.name and other.default is not None:
            assert seen[other.name] == other.default
    back = vf.load(tmp_path / "out", fmt.name)
    assert len(back.images) == 2


@pytest.mark.parametrize("fmt,option", READ_CASES, ids=lambda x: getattr(x, "name", str(x)))
def test_every_reader_option_from_a_string_reaches_the_reader_typed(fmt, option, tmp_path,
                                                                    monkeypatch):
    vf.write(_dataset(fmt, tmp_path), tmp_path / "out", fmt.name)
    seen = _spy(monkeypatch, fmt, "read")
    text = option.sample()
    given = str(tmp_path / text) if option.type is Path else text.upper()  # any case
    back = vf.load(tmp_path / "out", fmt.name, **{option.name: given})
    assert len(back.images) == 2
    assert seen[option.name] == _value(option, text, tmp_path)


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f.write], ids=lambda f: f.name)
def test_a_misspelt_writer_option_is_refused_before_anything_is_written(fmt, tmp_path):
    ds = _dataset(fmt, tmp_path)
    known = [o.name for o in fmt.write_options]
    wrong = known[0][:-1] + known[0][-1].upper() + "x" if known else "layuot"
    with pytest.raises(Error, match=f"unknown writer option '{wrong}' for format {fmt.name}"):
        vf.write(ds, tmp_path / "out", fmt.name, **{wrong: "1"})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt,option", [(f, o) for f in FORMATS for o in f.write_options
                                        if o.choices], ids=lambda x: x.name)
def test_a_misspelt_choice_is_refused_with_did_you_mean(fmt, option, tmp_path):
    wrong = option.choices[-1][:-1]  # 'roboflo'
    with pytest.raises(OutputError, match=rf"{fmt.name} writer option {option.name}="
                                          rf"'{wrong}': expected one of .*did you mean "
                                          rf"'{option.choices[-1]}'"):
        vf.write(_dataset(fmt, tmp_path), tmp_path / "out", fmt.name, **{option.name: wrong})
    assert not (tmp_path / "out").exists()


def test_misspelt_names_and_values_say_what_was_meant():
    coco = registry.get("coco")
    with pytest.raises(Error, match=r"unknown writer option 'layuot' for format coco; did you "
                                    r"mean 'layout'\? \(it accepts layout\)"):
        parse_options(coco, {"layuot": "roboflow"}, "writer")
    with pytest.raises(Error, match="unknown reader option 'layout' for format coco .it has "
                                    "none"):
        parse_options(coco, {"layout": "roboflow"}, "reader")
    with pytest.raises(Error, match="did you mean 'task'") as e:
        parse_options(registry.get("yolo"), {"tsak": "pose"}, "reader")
    assert not isinstance(e.value, OutputError)  # a reader option: not about an output
    with pytest.raises(Error, match="expected one of detect, segment, pose, obb; did you mean "
                                    "'pose'"):
        parse_options(registry.get("yolo"), {"task": "poes"}, "reader")


def test_values_are_converted_by_type():
    assert Option("b", bool).parse("yes", "t") is True
    for text, value in [("true", True), ("False", False), ("YES", True), ("no", False),
                        ("1", True), ("0", False), (True, True)]:
        assert Option("b", bool).parse(text, "t") is value
    for bad in ("maybe", "", 2):
        with pytest.raises(Error, match="expected true or false"):
            Option("b", bool).parse(bad, "x option")
    assert Option("n", int).parse(" 7 ", "t") == 7 and Option("n", int).parse(3, "t") == 3
    for bad in ("7.5", "x", 2.5, True, None):
        with pytest.raises(Error, match="n must be an integer"):
            Option("n", int).parse(bad, "t")
    assert Option("f", float).parse("0.25", "t") == 0.25 and Option("f", float).parse(2, "t") == 2.0
    with pytest.raises(Error, match="f must be a number"):
        Option("f", float).parse("half", "t")
    assert Option("p", Path).parse("a/b", "t") == Path("a/b")
    with pytest.raises(Error, match="expected a folder path"):
        Option("p", Path).parse("", "t")
    with pytest.raises(Error, match="expected text"):
        Option("s").parse(3, "t")
    with pytest.raises(TypeError, match="type must be one of"):
        Option("x", list)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(-10**12, 10**12), x=st.floats(allow_nan=False, allow_infinity=False),
       flag=st.booleans())
def test_values_written_as_text_read_back_as_the_same_value(n, x, flag):
    assert Option("n", int).parse(str(n), "t") == n
    assert Option("x", float).parse(repr(x), "t") == x
    assert Option("b", bool).parse(str(flag), "t") is flag


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_declared_choice_reads_back_in_any_spelling(data):
    fmt, option = data.draw(st.sampled_from([(f, o) for f in FORMATS
                                             for o in (*f.write_options, *f.read_options)
                                             if o.choices]))
    choice = data.draw(st.sampled_from(option.choices))
    spelt = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in choice)
    spelt = spelt.replace("-", data.draw(st.sampled_from(["-", "_", ""])))
    assert option.parse(spelt, f"{fmt.name} option") == choice


def test_choices_ignore_case_dashes_and_underscores_and_take_aliases():
    coords = registry.get("voc").read_options[0]
    for text in ("one-based", "ONE_BASED", "onebased", "1"):
        assert coords.parse(text, "t") == "one-based"
    assert coords.parse(0, "t") == "zero-based"
    style = registry.get("jsonl-vlm").write_options[0]
    assert style.parse("Florence-2", "t") == "florence2"
    images = registry.get("tfrecord").read_options[0]
    assert images.parse("skip", "t") == images.parse("false", "t") == "none"
    with pytest.raises(Error, match="expected one of extract, none"):
        images.parse("some", "t")


def test_declared_defaults_are_filled_in_and_none_means_the_format_decides():
    assert parse_options(registry.get("coco"), {}, "writer") == {"layout": "standard"}
    assert parse_options(registry.get("tfrecord"), {"shards": "3"}, "writer") == {"shards": 3}
    assert parse_options(registry.get("yolo"), {}, "reader") == {}  # task: from the data


def test_the_older_dict_declaration_still_works_for_plugins():
    fmt = Format("plug", "a plugin", frozenset(), detect=lambda p: None,
                 options={"colour": "the colour"}, read_options={"depth": "how deep"})
    assert fmt.write_options == (Option("colour", help="the colour"),)
    assert fmt.read_options == (Option("depth", help="how deep"),)
    assert parse_options(fmt, {"colour": "red"}, "writer") == {"colour": "red"}
    assert dataclasses.replace(fmt, name="plug2").write_options == fmt.write_options


def test_option_descriptions_are_json():
    rows = [o.describe() for f in FORMATS for o in (*f.write_options, *f.read_options)]
    assert json.loads(json.dumps(rows)) == rows
    shards = registry.get("tfrecord").write_options[0].describe()
    assert shards == {"name": "shards", "type": "integer", "default": 1, "choices": [],
                      "help": shards["help"], "example": "2"}


def test_generated_option_help_is_current():
    assert OPTIONS_FILE.read_text() == options_module(), \
        "run: python -m visionflow.cli.format_help (cli/_format_options.py is stale)"
    from visionflow.cli._format_options import READ_HELP, WRITE_HELP
    for fmt in map(registry.get, registry.BUILTIN):
        for o in fmt.write_options:
            assert f"{o.name}={o.kind}" in WRITE_HELP
        for o in fmt.read_options:
            assert f"{o.name}={o.kind}" in READ_HELP
    assert "coco layout=standard|roboflow" in WRITE_HELP


# --- a Roboflow layout stays Roboflow ---------------------------------------------------------

def _roboflow(root: Path) -> Path:
    for split in ("train", "valid"):
        make_image(root / split / f"{split}.jpg")
        doc = {"images": [{"id": 0, "file_name": f"{split}.jpg", "width": 64, "height": 48}],
               "annotations": [{"id": 0, "image_id": 0, "category_id": 1,
                                "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0}],
               "categories": [{"id": 1, "name": "cat"}]}
        (root / split / "_annotations.coco.json").write_text(json.dumps(doc))
    return root


def test_coco_written_back_keeps_the_layout_it_was_read_in(tmp_path):
    ds = vf.load(_roboflow(tmp_path / "rf"))
    assert ds.meta[SOURCE_OPTIONS] == {"layout": "roboflow"}
    vf.write(ds, tmp_path / "same", None)  # no format: the source's, as it was read
    assert (tmp_path / "same" / "train" / "_annotations.coco.json").is_file()
    assert not (tmp_path / "same" / "annotations").exists()
    vf.write(ds, tmp_path / "std", None, layout="standard")  # said otherwise: as said
    assert (tmp_path / "std" / "annotations" / "instances_train.json").is_file()
    vf.write(ds, tmp_path / "named", "coco")  # a format named: its declared defaults
    assert (tmp_path / "named" / "annotations" / "instances_val.json").is_file()
    standard = vf.load(tmp_path / "std")
    assert SOURCE_OPTIONS not in standard.meta
    vf.write(standard, tmp_path / "std2", None)
    assert (tmp_path / "std2" / "annotations" / "instances_val.json").is_file()
    with pytest.raises(Error, match="no output format given, and the dataset was not read"):
        vf.write(vf.Dataset(ds.images, ds.annotations, ds.categories), tmp_path / "x", None)


def test_a_single_roboflow_file_is_not_a_layout(tmp_path):
    root = _roboflow(tmp_path / "rf")
    ds = vf.load(root / "train" / "_annotations.coco.json")
    assert SOURCE_OPTIONS not in ds.meta


def test_real_roboflow_export_fixed_and_split_stays_roboflow(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    from visionflow.checks.fixes import fix_path
    from visionflow.transforms import split

    ds = vf.load(src)
    assert ds.meta[SOURCE_OPTIONS] == {"layout": "roboflow"}
    fix_path(src, tmp_path / "fixed", images="none")
    assert sorted(p.parent.name for p in (tmp_path / "fixed").glob("*/_annotations.coco.json")) \
        == sorted(p.parent.name for p in src.glob("*/_annotations.coco.json"))
    out = split(ds, (0.8, 0.2), seed=1, near_duplicates=False)
    vf.write(out, tmp_path / "split", None, images="none")
    assert {p.parent.name for p in (tmp_path / "split").glob("*/_annotations.coco.json")} == \
        {"train", "valid"}  # Roboflow's name for val
    assert len(vf.load(tmp_path / "split").annotations) == len(ds.annotations)
