"""One located-error base: every error about a place carries `where` and `problem`, and the
message is "where: problem"; FormatError always says where."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import visionflow as vf
from visionflow.core.errors import (AmbiguousFormat, LocatedError, NotDetected, UnknownFormat)
from visionflow.formats.base import Detection

SRC = Path(vf.__file__).parent
LOCATED = [vf.ParseError, vf.ValidationError, vf.UnsafeInputError, vf.MissingImageError,
           vf.FormatError]


@pytest.mark.parametrize("cls", LOCATED)
def test_each_located_error_has_where_and_problem(cls):
    e = cls(Path("data/a.json"), "record 3: box of NaN size")
    assert isinstance(e, LocatedError) and isinstance(e, vf.Error)
    assert e.where == "data/a.json" and e.problem == "record 3: box of NaN size"
    assert str(e) == "data/a.json: record 3: box of NaN size"
    with pytest.raises(LocatedError) as info:  # one except clause catches them all
        raise e
    assert info.value.where == "data/a.json"


def test_public_names_and_hierarchy_are_kept():
    assert issubclass(vf.ParseError, vf.FormatError)
    assert vf.LocatedError is LocatedError
    assert not issubclass(vf.LossError, LocatedError) and not issubclass(vf.OutputError,
                                                                         LocatedError)


def test_format_error_with_one_message_takes_the_place_from_it():
    e = vf.FormatError("/data/voc: no Pascal VOC annotations found; expected Annotations/")
    assert str(e) == "/data/voc: no Pascal VOC annotations found; expected Annotations/"
    assert e.where == "/data/voc"
    assert e.problem == "no Pascal VOC annotations found; expected Annotations/"
    bare = vf.FormatError("no place at all")  # kept as written; where is empty
    assert str(bare) == "no place at all" and bare.where == "" and bare.problem == str(bare)


def test_detection_errors_say_where_and_keep_their_text():
    e = NotDetected(Path("/x/y"))
    assert e.where == "/x/y" and str(e).startswith("/x/y: no known dataset format found here")
    assert "--from" in str(e)
    tie = AmbiguousFormat(Path("/d"), [Detection("coco", 0.9, ("a",)),
                                       Detection("yolo", 0.9, ("b",))])
    assert tie.where == "/d" and "coco (0.90: a); yolo (0.90: b)" in tie.problem
    unknown = UnknownFormat("yolov", ["yolo", "coco"])
    assert str(unknown) == ("unknown format 'yolov'; did you mean 'yolo'? "
                            "(known: coco, yolo)")
    assert unknown.where == "yolov" and unknown.name == "yolov"


def test_a_malformed_file_is_located_by_the_reader(tmp_path):
    root = tmp_path / "d"
    (root / "annotations").mkdir(parents=True)
    bad = root / "annotations" / "instances_default.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": "wide",
                                           "height": 10}], "annotations": [],
                               "categories": [{"id": 1, "name": "x"}]}))
    with pytest.raises(LocatedError) as info:
        vf.load(root, "coco")
    assert str(bad) in info.value.where
    assert str(info.value) == f"{info.value.where}: {info.value.problem}"


def _format_error_calls():
    """(file, line, call) for every FormatError(...) raised in src/."""
    for f in sorted(SRC.rglob("*.py")):
        tree = ast.parse(f.read_text(), str(f))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "FormatError":
                yield f, node.lineno, node


def _located(call: ast.Call) -> bool:
    """Two arguments (where, problem), or one message that starts with a place: an f-string
    whose first part is a value ({path}: ...)."""
    if len(call.args) >= 2:
        return True
    if len(call.args) != 1:
        return False
    arg = call.args[0]
    return isinstance(arg, ast.JoinedStr) and isinstance(arg.values[0], ast.FormattedValue)


def test_every_format_error_raised_in_the_source_says_where():
    calls = list(_format_error_calls())
    assert len(calls) > 20  # the scan sees the readers
    unlocated = [f"{f.relative_to(SRC)}:{line}" for f, line, call in calls
                 if not _located(call)]
    assert not unlocated, unlocated
