"""`visionflow mistakes ... -w WS --tag NAME`: the images to review tagged in a NEW revision of
the workspace source, versions and earlier revisions untouched, earlier tags kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.evaluation.test_mistakes import planted  # noqa: F401 (fixture)
from visionflow.cli.main import app
from visionflow.evaluation.mistakes import find_mistakes
from visionflow.evaluation.run import evaluate

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def ws(planted, tmp_path):  # noqa: F811
    gp, rp = planted
    root = tmp_path / "ws"
    with vf.Workspace.init(root) as w:
        w.add(gp.parent, name="data", format="coco")
        w.create_version("v1")
    r = run("predictions", "import", rp, "-v", "v1", "-n", "model-a", "-w", root)
    assert r.exit_code == 0, r.output
    return root, gp, rp


def _tagged(ds: vf.Dataset, tag: str) -> list[str]:
    return sorted(ds.filter(tag=tag).images.file_name.tolist())


def _state(w: vf.Workspace, ref: str):
    ds = w.load(ref)
    return ds.images.file_name.tolist(), dict(ds.images.attrs), ds.annotations.xyxy.tolist()


def test_tag_lands_in_a_new_revision_and_the_version_stays(ws):
    root, gp, rp = ws
    with vf.Workspace.open(root) as w:
        before_v1, before_r1 = _state(w, "v1"), _state(w, "data@1")
    expected = sorted(str(n) for n in evaluate(gp, rp, iou="0.5").gt.images.file_name[
        find_mistakes(evaluate(gp, rp, iou="0.5"), confidence=0.5).image_rows[:2]])
    r = run("mistakes", "v1", "model-a", "-w", root, "--tag", "review", "--top", "2")
    assert r.exit_code == 0, r.output
    assert "tagged 2 images 'review' in source data, revision 2" in r.output
    assert "data@2" in r.output and "filter(tag='review')" in r.output
    with vf.Workspace.open(root) as w:
        new = w.load("data@2")
        assert _tagged(new, "review") == expected and len(expected) == 2
        assert _state(w, "v1") == before_v1 and _state(w, "data@1") == before_r1
        assert "tags" not in w.load("v1").images.attrs
        revs = w.sources()[0]["revisions"]
        assert [x["revision"] for x in revs] == [1, 2]
        assert revs[1]["origin"]["mistakes"]["tag"] == "review"
        assert new.annotations.xyxy.tolist() == before_r1[2]       # labels unchanged
        assert [v["name"] for v in w.versions()] == ["v1"]
    # a second tag keeps the first; the same tag again records nothing new
    r = run("mistakes", "v1", "model-a", "-w", root, "--tag", "again", "--top", "4")
    assert r.exit_code == 0, r.output
    r = run("mistakes", "v1", "model-a", "-w", root, "--tag", "again", "--top", "4")
    assert r.exit_code == 0 and "no new revision" in r.output, r.output
    with vf.Workspace.open(root) as w:
        latest = w.load("data@latest")
        assert _tagged(latest, "review") == expected
        assert len(_tagged(latest, "again")) == 4
        assert [x["revision"] for x in w.sources()[0]["revisions"]] == [1, 2, 3]
        both = latest.images.attr("tags")[latest.images.file_name == expected[0]][0]
        assert list(both) == ["review", "again"]
        # a version made from the new revision carries the tags
        w.create_version("v2")
        assert _tagged(w.load("v2"), "review") == expected


def test_tag_with_out_and_json_together(ws, tmp_path):
    root, _, _ = ws
    out = tmp_path / "review"
    r = run("mistakes", "v1", "model-a", "-w", root, "--tag", "t", "--out", out, "--json",
            "--top", "3", "--to", "coco")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)["images"]
    written = vf.load(out)
    assert sorted(written.images.file_name.tolist()) == sorted(
        i["image"] for i in listed) and len(listed) == 3
    with vf.Workspace.open(root) as w:
        assert _tagged(w.load("data@latest"), "t") == sorted(i["image"] for i in listed)


def test_gt_folder_that_is_a_source_and_a_source_revision(ws, tmp_path):
    root, gp, rp = ws
    r = run("mistakes", gp.parent, rp, "-w", root, "--tag", "f", "--top", "1")
    assert r.exit_code == 0, r.output
    r = run("mistakes", "data@1", rp, "-w", root, "--tag", "g", "--top", "1")
    assert r.exit_code == 0, r.output
    with vf.Workspace.open(root) as w:
        latest = w.load("data@latest")
        assert len(_tagged(latest, "f")) == 1 and _tagged(latest, "f") == _tagged(latest, "g")
        assert "tags" not in w.load("data@1").images.attrs


def _one_line_error(r, *words):
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    for w in words:
        assert w in r.output, r.output


def test_refusals(ws, tmp_path):
    root, gp, rp = ws
    _one_line_error(run("mistakes", gp, rp, "--tag", "x"), "--tag needs --workspace")
    other = tmp_path / "other"
    other.mkdir()
    (other / "annotations.json").write_bytes(gp.read_bytes())
    import shutil
    shutil.copytree(gp.parent / "images", other / "images")
    _one_line_error(run("mistakes", other, rp, "-w", root, "--tag", "x"),
                    "not a source of workspace", "data")
    _one_line_error(run("mistakes", "v1", "model-a", "-w", root, "--tag", " x"), "--tag")
    _one_line_error(run("mistakes", "v9", "model-a", "-w", root, "--tag", "x"), "v9")
    with vf.Workspace.open(root) as w:
        assert [x["revision"] for x in w.sources()[0]["revisions"]] == [1]
        assert np.array_equal(w.load("v1").images.file_name, w.load("data@1").images.file_name)


def test_a_refused_out_records_no_tag(ws, tmp_path):
    """--tag with an --out that will be refused: nothing is recorded (no new revision)."""
    root, gp, rp = ws
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "mine.txt").write_text("the user's file\n")
    r = run("mistakes", "v1", "model-a", "-w", root, "--tag", "review", "--top", "2",
            "--out", taken)
    assert r.exit_code == 1 and "not empty" in r.output
    with vf.Workspace.open(root) as w:
        with pytest.raises(vf.Error):
            w.load("data@2")
    assert (taken / "mine.txt").read_text() == "the user's file\n"
