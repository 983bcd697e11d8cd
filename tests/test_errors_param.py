"""errors="raise"|"skip"|"keep": one parameter for what a bad record does, the deprecated
skip_errors/lenient spellings, and DataWarning when no report is passed (nothing skipped
silently)."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import make_image
from visionflow.cli.main import app

runner = CliRunner()


def _coco(root, *, outside: int = 1, orphans: int = 2):
    """A COCO dataset of 3 images (64x48): one good box per image, `outside` boxes far
    outside their image (they break the model's rules) and `orphans` annotations of an image
    id nobody declares (they cannot be represented at all)."""
    (root / "annotations").mkdir(parents=True)
    images = []
    for i, name in enumerate(("a.jpg", "b.jpg", "c.jpg"), 1):
        make_image(root / "images" / name, (64, 48))
        images.append({"id": i, "file_name": name, "width": 64, "height": 48})
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 20, 20]}
            for i in (1, 2, 3)]
    anns += [{"id": 10 + k, "image_id": 1, "category_id": 1, "bbox": [500, 500, 30, 30]}
             for k in range(outside)]
    anns += [{"id": 20 + k, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]}
             for k in range(orphans)]
    (root / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "cat"}]}))
    return root


def test_raise_is_the_default_and_stops_at_the_first_bad_record(tmp_path):
    root = _coco(tmp_path / "d")
    with pytest.raises(vf.LocatedError):
        vf.load(root)
    with pytest.raises(vf.LocatedError):
        vf.load(root, errors="raise")


def test_skip_and_keep_differ_as_documented(tmp_path):
    root = _coco(tmp_path / "d", outside=1, orphans=2)
    skip_report, keep_report = vf.Report(), vf.Report()
    skipped = vf.load(root, errors="skip", report=skip_report)
    kept = vf.load(root, errors="keep", report=keep_report)
    # skip: the box outside its image is dropped, like the orphans
    assert sorted(skipped.annotations.id.tolist()) == [1, 2, 3]
    assert skip_report.codes().count("skipped") == 3
    assert "invalid" not in skip_report.codes()
    # keep: the box outside is kept as it is (an "invalid" finding); orphans cannot be
    # represented, so they are skipped in both modes
    assert sorted(kept.annotations.id.tolist()) == [1, 2, 3, 10]
    assert keep_report.codes().count("invalid") == 1
    assert keep_report.codes().count("skipped") == 2
    row = kept.annotations.id.tolist().index(10)
    assert kept.annotations.xyxy[row].tolist() == [500, 500, 530, 530]


def test_without_a_report_skipped_rows_are_one_data_warning_per_kind(tmp_path):
    root = _coco(tmp_path / "d", outside=2, orphans=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vf.load(root, errors="skip")
    data = [w for w in caught if issubclass(w.category, vf.DataWarning)]
    assert len(data) == 1  # one kind ("skipped"), not one warning per row
    message = str(data[0].message)
    assert "5 record(s) skipped" in message and "first:" in message
    assert data[0].filename == __file__  # points at the caller's line

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vf.load(root, errors="keep")
    kinds = sorted(str(w.message).split("; first")[0].split(": ", 1)[1] for w in caught
                   if issubclass(w.category, vf.DataWarning))
    assert kinds == ["2 record(s) kept that break the model's rules (errors='keep')",
                     "3 record(s) skipped (errors='skip')"]


def test_with_a_report_there_is_no_warning(tmp_path):
    root = _coco(tmp_path / "d")
    with warnings.catch_warnings():
        warnings.simplefilter("error", vf.DataWarning)
        report = vf.Report()
        vf.load(root, errors="skip", report=report)
    assert report.codes().count("skipped") == 3


def test_data_warning_can_be_made_fatal(tmp_path):
    root = _coco(tmp_path / "d")
    with warnings.catch_warnings():
        warnings.simplefilter("error", vf.DataWarning)
        with pytest.raises(vf.DataWarning, match="skipped"):
            vf.load(root, errors="skip")


@pytest.mark.parametrize(("old", "mode"), [({"skip_errors": True}, "skip"),
                                            ({"lenient": True}, "keep")])
def test_deprecated_load_flags_warn_and_still_work(tmp_path, old, mode):
    root = _coco(tmp_path / "d")
    with pytest.warns(DeprecationWarning, match=f"errors={mode!r}"):
        via_old = vf.load(root, report=vf.Report(), **old)
    via_new = vf.load(root, errors=mode, report=vf.Report())
    assert via_old.annotations.id.tolist() == via_new.annotations.id.tolist()
    with pytest.warns(DeprecationWarning), pytest.raises(vf.LocatedError):
        vf.load(root, report=vf.Report(), **{k: False for k in old})  # False: still raise


def test_deprecated_write_flag_warns_and_still_skips_missing_images(tmp_path):
    root = _coco(tmp_path / "d", outside=0, orphans=0)
    ds = vf.load(root)
    (root / "images" / "b.jpg").unlink()
    with pytest.raises(vf.MissingImageError):
        vf.write(ds, tmp_path / "o1", "yolo")
    with pytest.warns(DeprecationWarning, match="errors='skip'"):
        old = vf.write(ds, tmp_path / "o2", "yolo", skip_errors=True)
    new = vf.write(ds, tmp_path / "o3", "yolo", errors="skip")
    assert old.written["images"] == new.written["images"] == 2
    assert [f.code for f in old.findings] == [f.code for f in new.findings]
    keep = vf.write(ds, tmp_path / "o4", "yolo", errors="keep")  # nothing to keep: as skip
    assert keep.written["images"] == 2


def test_deprecated_workspace_add_flag(tmp_path):
    root = _coco(tmp_path / "d")
    ws = vf.Workspace.init(tmp_path / "ws")
    try:
        with pytest.warns(DeprecationWarning):
            result = ws.add(root, "pets", skip_errors=True)
        assert result.annotations == 3 and result.report.codes().count("skipped") == 3
    finally:
        ws.close()


def test_a_misspelt_errors_value_is_one_line(tmp_path):
    root = _coco(tmp_path / "d")
    with pytest.raises(vf.Error, match=r"`errors` must be one of 'raise', 'skip', 'keep', "
                                       r"got 'skp'; did you mean 'skip'\?"):
        vf.load(root, errors="skp")
    with pytest.raises(vf.Error, match="`errors` must be one of"):
        vf.convert(root, tmp_path / "out", "yolo", errors="ignore")
    assert not (tmp_path / "out").exists()


def test_cli_skip_errors_is_errors_skip(tmp_path):
    root = _coco(tmp_path / "d")
    result = runner.invoke(app, ["info", str(root), "--json", "--skip-errors"])
    assert result.exit_code == 0, result.output
    report = vf.Report()
    want = vf.info(root, errors="skip", report=report)
    got = json.loads(result.stdout)
    assert got == json.loads(json.dumps(want))
    assert [p["code"] for p in got["problems"]].count("skipped") == 3
    refused = runner.invoke(app, ["info", str(root)])
    assert refused.exit_code == 1 and "Traceback" not in refused.output


def test_cli_shows_a_data_warning_as_one_line(tmp_path, monkeypatch):
    """A library call inside a command that passes no report: its DataWarning is one
    "warning:" line on stderr, not Python's warning format."""
    from visionflow import commands
    root = _coco(tmp_path / "d")

    def info(src, format=None, **kwargs):
        kwargs.pop("report", None)
        ds = vf.load(src, format, errors="skip")  # no report: DataWarning
        return {**ds.info(), "problems": []}
    monkeypatch.setattr(commands, "info", info)
    with warnings.catch_warnings():  # as a user's default filters, whatever pytest's -W says
        warnings.simplefilter("default", vf.DataWarning)
        result = runner.invoke(app, ["info", str(root), "--skip-errors"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "record(s) skipped" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: reading ")
    assert "DataWarning" not in result.stderr


def test_other_warnings_of_a_read_are_data_warnings_too(tmp_path):
    """Not only skipped rows: any warning a read records (here an unnamed class) reaches a
    caller who passed no report, once per kind with its count."""
    root = _coco(tmp_path / "d", outside=0, orphans=0)
    path = root / "annotations" / "instances_default.json"
    doc = json.loads(path.read_text())
    doc["categories"] += [{"id": 2, "name": ""}, {"id": 3, "name": " "}]
    path.write_text(json.dumps(doc))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vf.load(root)
    data = [str(w.message) for w in caught if issubclass(w.category, vf.DataWarning)]
    assert len(data) == 1 and "warning class.empty_name (x2): class id(s) 2, 3" in data[0]


def test_deprecated_convert_flag_holds_for_the_read_and_the_write(tmp_path):
    root = _coco(tmp_path / "d")
    (root / "images" / "c.jpg").unlink()
    with pytest.raises(vf.LocatedError):
        vf.convert(root, tmp_path / "none", "yolo")
    assert not (tmp_path / "none").exists()
    with pytest.warns(DeprecationWarning, match="errors='skip'"):
        report = vf.convert(root, tmp_path / "old", "yolo", skip_errors=True)
    new = vf.convert(root, tmp_path / "new", "yolo", errors="skip")
    assert report.written == new.written and report.written["images"] == 2
    assert report.codes().count("skipped") == new.codes().count("skipped") >= 4


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(outside=st.integers(0, 4), orphans=st.integers(0, 4))
def test_skip_and_keep_account_for_every_bad_record(tmp_path_factory, outside, orphans):
    """Whatever the mix of bad records: skip keeps the good ones and reports each bad one;
    keep also keeps the rule-breaking ones (reported "invalid"); nothing goes unreported;
    the DataWarnings of a report-less read carry the same counts."""
    root = _coco(tmp_path_factory.mktemp("h") / "d", outside=outside, orphans=orphans)
    skip, keep = vf.Report(), vf.Report()
    assert len(vf.load(root, errors="skip", report=skip).annotations) == 3
    assert len(vf.load(root, errors="keep", report=keep).annotations) == 3 + outside
    assert skip.codes().count("skipped") == outside + orphans
    assert (keep.codes().count("invalid"), keep.codes().count("skipped")) == (outside, orphans)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vf.load(root, errors="keep")
    said = " ".join(str(w.message) for w in caught if issubclass(w.category, vf.DataWarning))
    assert (f"{outside} record(s) kept" in said) == (outside > 0)
    assert (f"{orphans} record(s) skipped" in said) == (orphans > 0)
