"""`visionflow predictions import`: prediction sets on a workspace version, compared by name."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.evaluation.test_mistakes import planted  # noqa: F401 (fixture)
from visionflow.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def ws(planted, tmp_path):  # noqa: F811
    gp, rp = planted
    root = tmp_path / "ws"
    w = vf.Workspace.init(root)
    w.add(gp.parent, name="data", format="coco")
    w.create_version("v1")
    w.close()
    return root, rp


def test_import_list_and_evaluate_two_models(ws, tmp_path):
    root, rp = ws
    r = run("predictions", "import", rp, "--version", "v1", "--name", "model-a", "-w", root)
    assert r.exit_code == 0, r.output
    perfect = tmp_path / "perfect.json"
    gt = json.loads((tmp_path / "gt" / "annotations.json").read_text())
    perfect.write_text(json.dumps([{"image_id": a["image_id"], "category_id": a["category_id"],
                                    "bbox": a["bbox"], "score": 0.9} for a in gt["annotations"]]))
    # the version renumbers nothing here, but match by file name would work as well
    r = run("predictions", "import", perfect, "-v", "v1", "-n", "model-b", "-w", root)
    assert r.exit_code == 0, r.output
    listed = json.loads(run("predictions", "list", "-w", root, "--json").output)
    assert [(m["version"], m["name"], m["predictions"]) for m in listed] == [
        ("v1", "model-a", 5), ("v1", "model-b", 4)]
    a = json.loads(run("evaluate", "v1", "model-a", "-w", root, "--json").output)
    b = json.loads(run("evaluate", "v1", "model-b", "-w", root, "--json").output)
    direct = json.loads(run("evaluate", tmp_path / "gt" / "annotations.json", rp,
                            "--json").output)
    assert a["AP"] == pytest.approx(direct["AP"], abs=1e-12) and b["AP"] == pytest.approx(1.0)


def test_refusals(ws):
    root, rp = ws
    assert run("predictions", "import", rp, "-v", "v1", "-n", "m", "-w", root).exit_code == 0
    r = run("predictions", "import", rp, "-v", "v1", "-n", "m", "-w", root)
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert run("predictions", "import", rp, "-v", "v1", "-n", "m", "-w", root,
               "--overwrite").exit_code == 0
    r = run("predictions", "import", rp, "-v", "nope", "-n", "m", "-w", root)
    assert r.exit_code == 1 and "nope" in r.output
    r = run("predictions", "import", rp, "-v", "v1", "-n", "../evil", "-w", root)
    assert r.exit_code == 1 and "name" in r.output
    r = run("evaluate", "v1", "missing", "-w", root)
    assert r.exit_code == 1 and "v1/m" in r.output
