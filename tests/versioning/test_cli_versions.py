"""Every workspace command through the CLI: output, --json, and one-line errors with exit 1."""

import json

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from .helpers import write_coco

runner = CliRunner()
TOP = ["init", "add", "sources", "merge", "gc", "verify"]
VERSION = ["create", "list", "show", "diff", "export", "delete", "tag"]


@pytest.fixture(autouse=True)
def _author(monkeypatch):
    monkeypatch.setenv("VISIONFLOW_AUTHOR", "tester")


def run(*args, code=0):
    r = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == code, r.output
    return r


@pytest.fixture
def ws(tmp_path):
    run("init", tmp_path / "ws")
    src = write_coco(tmp_path / "pets", [(0, 1, [1, 1, 10, 10]), (1, 2, [2, 2, 5, 5])])
    run("add", src, "-w", tmp_path / "ws")
    return tmp_path / "ws"


@pytest.mark.parametrize("args", [[c] for c in TOP] + [["version", c] for c in VERSION])
def test_every_command_has_help_with_examples(args):
    r = run(*args, "--help")
    assert "Examples:" in r.output


def test_init_add_sources(tmp_path, monkeypatch):
    r = run("init", tmp_path / "w")
    assert "initialized an empty workspace" in r.output
    src = write_coco(tmp_path / "pets", [(0, 1, [1, 1, 10, 10])])
    monkeypatch.chdir(tmp_path / "w")  # found from the current folder
    r = run("add", src, "--json")
    assert json.loads(r.stdout)["revision"] == 1
    r = run("add", src)
    assert "pets: unchanged since revision 1" in r.output
    write_coco(src, [(0, 1, [2, 1, 10, 10])])
    r = run("add", src)
    assert "pets: revision 2" in r.output and "moved" in r.output
    data = json.loads(run("sources", "--json").stdout)
    assert [r["revision"] for r in data[0]["revisions"]] == [1, 2]
    assert data[0]["revisions"][1]["changes"]["per_class"]["cat"]["moved"] == 1
    assert "pets" in run("sources").output


def test_version_create_list_show_diff_export_tag_delete(ws, tmp_path):
    r = run("version", "create", "--name", "v1", "-w", ws)
    assert "version v1" in r.output and "pets@1" in r.output
    write_coco(tmp_path / "pets", [(0, 1, [1, 1, 10, 10])])
    run("add", tmp_path / "pets", "-w", ws)
    run("version", "create", "--name", "v2", "--sources", "pets", "-w", ws)
    rows = json.loads(run("version", "list", "--json", "-w", ws).stdout)
    assert [(r["name"], r["annotations"]) for r in rows] == [("v1", 2), ("v2", 1)]
    assert "v2" in run("version", "list", "-w", ws).output
    shown = json.loads(run("version", "show", "v1", "--json", "-w", ws).stdout)
    assert shown["lineage"]["sources"][0]["revision"] == 1
    assert "pets@1" in run("version", "show", "v1", "-w", ws).output
    d = json.loads(run("version", "diff", "v1", "v2", "--json", "-w", ws).stdout)
    assert d["per_class"] == {"dog": {"added": 0, "removed": 1, "moved": 0}}
    assert "dog" in run("version", "diff", "v1", "v2", "-w", ws).output
    run("version", "export", "v1", tmp_path / "out", "--to", "yolo", "-w", ws)
    assert len(vf.load(tmp_path / "out").annotations) == 2
    run("version", "tag", "v1", "--note", "trained run 7", "-w", ws)
    assert json.loads(run("version", "show", "v1", "--json", "-w", ws).stdout)["tags"][0][
        "note"] == "trained run 7"
    r = run("version", "delete", "v1", "-w", ws, code=1)
    assert "pass --force" in r.output
    run("version", "delete", "v1", "--force", "-w", ws)
    run("version", "create", "--name", "v2b", "--like", "v2", "-w", ws)
    assert json.loads(run("gc", "--json", "-w", ws).stdout)["blobs_removed"] == 0
    assert json.loads(run("verify", "--json", "-w", ws).stdout)["ok"] is True
    assert "ok:" in run("verify", "-w", ws).output


def test_merge_cli(ws, tmp_path):
    other = write_coco(tmp_path / "more", [(0, 1, [1, 1, 3, 3])], names=("z.png",),
                       cats=[(1, "kitty")])
    run("add", other, "-w", ws)
    r = run("merge", "pets", "more", "--name", "all", "-w", ws, code=1)
    assert r.output.strip().count("\n") == 0
    assert "class id 1 is 'cat' in pets and 'kitty' in more" in r.output
    assert "--map more:kitty=cat" in r.output
    r = run("merge", "pets", "more", "--name", "all", "--map", "more:kitty=cat", "-w", ws)
    assert "all: revision 1" in r.output


@pytest.mark.parametrize("args, message", [
    (["version", "show", "nope"], "no version named 'nope'"),
    (["version", "create", "--name", "bad name"], "version name 'bad name' is not valid"),
    (["version", "create", "--name", "x", "--sources", "cars"], "no source named 'cars'"),
    (["version", "create", "--name", "x", "--like", "y", "--recipe", "r.yaml"],
     "--like takes the sources, recipe and seed"),
    (["version", "diff", "a", "pets@9"], "no version named 'a'"),
    (["merge", "pets", "--name", "x"], "merge needs at least two sources"),
    (["add", "no/such/folder"], "no/such/folder: no such file or folder"),
])
def test_errors_are_one_line_and_exit_1(ws, args, message):
    r = run(*args, "-w", ws, code=1)
    assert message in r.output
    assert r.output.strip().count("\n") == 0, r.output


def test_outside_a_workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("version", "list", code=1)
    assert "not inside a visionflow workspace; run 'visionflow init'" in r.output


def test_verify_exits_1_and_names_the_corrupted_blob(ws):
    w = vf.Workspace.open(ws)
    path = w.load("pets@1").images.path[1]
    w.close()
    import os
    os.chmod(path, 0o644)
    with open(path, "ab") as f:
        f.write(b"x")
    r = run("verify", "-w", ws, code=1)
    assert path in r.output.replace("\n", "") and "corrupted" in r.output
