"""Versions, the version wizard and export through the API: a version made by the API equals
the CLI's for the same recipe and seed, the preview's count is the version's, diffs name the
changed images by id, exports are zips of what the library writes, cleaned up after."""

from __future__ import annotations

import base64
import io
import json
import shlex
import subprocess
import sys
import tempfile
import zipfile

import pytest
from PIL import Image

from ..versioning.helpers import cli
from .write_helpers import AUTH, close, make_workspace, open_app, wait_loaded

pytest.importorskip("fastapi")

RECIPE = """\
split: {ratios: [0.67, 0.33, 0]}
preprocess:
  - resize: {size: 32x24, mode: stretch}
augment:
  copies: 2
  keep_original: true
  splits: [train]
  ops:
    - flip: {p: 0.5}
    - brightness: {limit: 0.3}
"""


@pytest.fixture
def app(tmp_path):
    client, state = open_app(make_workspace(tmp_path))
    yield client
    close(client.app.state.vf)


def _post(client, path, body, status=200):
    r = client.post(path, json=body, headers=AUTH)
    assert r.status_code == status, r.text
    return r


def test_a_version_from_the_api_equals_the_cli_one(app, tmp_path):
    ws_path = app.app.state.vf.path
    recipe = tmp_path / "aug.yaml"
    recipe.write_text(RECIPE)
    r = cli("version", "create", "--name", "v-cli", "--recipe", recipe, "--seed", "5",
            "--workspace", ws_path)
    assert r.returncode == 0, r.stderr
    made = _post(app, "/api/versions", {"name": "v-api", "recipe": RECIPE, "seed": 5,
                                        "recipe_name": "aug.yaml"}).json()
    assert made["name"] == "v-api"
    ws = app.app.state.vf.workspace
    a, b = ws.version("v-api"), ws.version("v-cli")
    assert a["lineage"]["fingerprint"] == b["lineage"]["fingerprint"]
    assert a["lineage"]["recipe"] == b["lineage"]["recipe"]
    assert a["lineage"]["sources"] == b["lineage"]["sources"]
    assert ws.diff("v-api", "v-cli").is_empty
    assert not ws.load("v-api").differences(ws.load("v-cli"))
    assert a["images"] == b["images"] > 3                              # augmented copies


def test_the_preview_count_is_the_versions_and_samples_are_jpegs(app):
    body = {"recipe": RECIPE, "seed": 5, "n": 3}
    p = _post(app, "/api/versions/preview", body).json()
    assert p["exact"] and p["input_images"] == 3
    assert len(p["samples"]) == len(p["sample_info"]) <= 3 and p["samples"]
    for uri, info in zip(p["samples"], p["sample_info"]):
        assert uri.startswith("data:image/jpeg;base64,")
        im = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert im.format == "JPEG" and im.size == (32, 24)         # resized by the recipe
        assert info["split"] == "train" and "_aug" in info["file"] or info["file"] in (
            "a.png", "b.png", "c.png")
    made = _post(app, "/api/versions", {"name": "v1", "recipe": RECIPE, "seed": 5}).json()
    assert p["output_images"] == made["images"]
    again = _post(app, "/api/versions/preview", body).json()
    assert again["samples"] == p["samples"]                        # the seed decides


def test_a_count_changing_recipe_is_an_estimate_from_the_samples(app):
    recipe = {"preprocess": [{"filter_empty": {}}]}
    p = _post(app, "/api/versions/preview", {"recipe": recipe, "seed": 1, "n": 24}).json()
    assert not p["exact"]
    made = _post(app, "/api/versions", {"name": "v-nonempty", "recipe": recipe}).json()
    assert p["output_images"] == made["images"] == 2       # every image sampled: exact value


@pytest.mark.parametrize("body,message", [
    ({"recipe": "augment: [", "seed": 1}, "recipe: not valid YAML"),
    ({"recipe": {"preprocess": [{"resise": {}}]}}, "unknown operation 'resise'"),
    ({"recipe": 7}, "recipe: give the recipe as YAML text or as an object"),
    ({"recipe": {}, "seed": -1}, "seed: a whole number >= 0"),
    ({"recipe": {}, "n": 0}, "n: must be 1..24"),
    ({"recipe": {}, "n": 1000}, "n: must be 1..24"),
])
def test_bad_preview_requests(app, body, message):
    r = _post(app, "/api/versions/preview", body, status=400)
    assert message in r.json()["error"]


@pytest.mark.parametrize("body,status,message", [
    ({"recipe": RECIPE}, 400, "name: give the new version's name"),
    ({"name": "bad name"}, 400, "version name 'bad name' is not valid"),
    ({"name": "v9", "recipe": RECIPE, "recipe_name": "../x.yaml"}, 400, "recipe_name: a file"),
    ({"name": "v9", "recipe": {"preprocess": []}, "recipe_name": "x.yaml"}, 400, "stored as .json"),
    ({"name": "v9", "sources": "pets"}, 400, "sources: expected a list"),
    ({"name": "v9", "sources": ["nope"]}, 400, "no source named 'nope'"),
])
def test_bad_version_requests(app, body, status, message):
    r = _post(app, "/api/versions", body, status=status)
    assert message in r.json()["error"]
    assert app.app.state.vf.workspace.versions() == []


def test_versions_are_immutable_through_the_api(app):
    _post(app, "/api/versions", {"name": "v1"})
    r = _post(app, "/api/versions", {"name": "v1"}, status=400)
    assert "already exists; versions are immutable" in r.json()["error"]


def test_list_and_diff_with_the_changed_image_ids(app):
    assert app.get("/api/versions").json()["versions"] == []
    _post(app, "/api/versions", {"name": "v1"})
    d = app.get("/api/images/1").json()
    d["objects"][0]["box"] = [1.0, 2.0, 3.0, 4.0]
    _post(app, "/api/save", {"base_revision": "pets@1", "images": [
        {"id": 1, "objects": d["objects"]}]})
    wait_loaded(app)
    _post(app, "/api/versions", {"name": "v2", "recipe": {"preprocess": [
        {"resize": {"size": "32x24", "mode": "stretch"}}]}})
    listed = app.get("/api/versions").json()
    assert [v["name"] for v in listed["versions"]] == ["v1", "v2"]
    v2 = listed["versions"][1]
    assert v2["sources"] == ["pets@2"] and v2["lineage"]["recipe"]["file"] == "recipe.json"
    assert [r["revision"] for r in listed["sources"][0]["revisions"]] == [1, 2]
    assert listed["sources"][0]["revisions"][1]["origin"]["app"] == "save"
    diff = app.get("/api/versions/diff", params={"a": "v1", "b": "pets@2"}).json()
    assert diff["images"]["reannotated"] == 1
    assert diff["images_reannotated"] == [{"image": "train/b.png", "id": 1}]
    assert diff["changed_ids"] == [1]
    diff = app.get("/api/versions/diff", params={"a": "v1", "b": "v2"}).json()
    assert diff["images"]["changed"] == 3 and diff["changed_ids"] == [0, 1, 2]


@pytest.mark.parametrize("params,status,message", [
    ({"a": "v1"}, 400, "give a= and b="),
    ({"a": "v1", "b": "nope"}, 404, "no version named 'nope'"),
    ({"a": "v1", "b": "pets@7"}, 404, "source 'pets' has no revision 7"),
    ({"a": "v1", "b": "cats@1"}, 404, "no source named 'cats'"),
    ({"a": "v1", "b": "../../etc"}, 404, "no version named '../../etc'"),
    ({"a": "v1", "b": "v1", "limit": 0}, 400, "limit=0"),
])
def test_bad_diffs(app, params, status, message):
    _post(app, "/api/versions", {"name": "v1"})
    r = app.get("/api/versions/diff", params=params)
    assert r.status_code == status and message in r.json()["error"], r.text


def _zip_json(content: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {n: (json.loads(zf.read(n)) if n.endswith(".json") else len(zf.read(n)))
                for n in zf.namelist()}


def test_export_is_a_zip_of_the_librarys_export_and_is_cleaned_up(app, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _post(app, "/api/versions", {"name": "v1"})
    r = _post(app, "/api/export", {"ref": "v1", "format": "coco"})
    assert r.headers["content-type"] == "application/zip"
    assert 'filename="ws-v1-coco.zip"' in r.headers["content-disposition"]
    got = _zip_json(r.content)
    assert list(scratch.iterdir()) == []                     # the temporary folder is gone
    ws = app.app.state.vf.workspace
    ws.export("v1", tmp_path / "lib", "coco")
    want = {p.relative_to(tmp_path / "lib").as_posix():
            (json.loads(p.read_text()) if p.suffix == ".json" else p.stat().st_size)
            for p in (tmp_path / "lib").rglob("*") if p.is_file()
            and not p.name.startswith(".visionflow")}
    assert got == want
    assert "images/train/a.png" in got


def test_export_command_writes_the_same_export(app, tmp_path):
    r = app.get("/api/export/command", params={"ref": "pets@1", "format": "yolo"}).json()
    command = r["command"]
    assert command.startswith("visionflow version export pets@1 pets-1-yolo --to yolo ")
    args = shlex.split(command)[1:]
    args[3] = str(tmp_path / "cli-out")
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    zipped = _zip_json(_post(app, "/api/export", {"ref": "pets@1", "format": "yolo"}).content)
    cli_files = {p.relative_to(tmp_path / "cli-out").as_posix()
                 for p in (tmp_path / "cli-out").rglob("*") if p.is_file()
                 and not p.name.startswith(".visionflow")}
    assert set(zipped) == cli_files
    for name in cli_files:
        if name.endswith(".txt"):
            with zipfile.ZipFile(io.BytesIO(_post(app, "/api/export", {
                    "ref": "pets@1", "format": "yolo"}).content)) as zf:
                assert zf.read(name) == (tmp_path / "cli-out" / name).read_bytes()


def test_export_of_the_filtered_grid(app):
    got = _zip_json(_post(app, "/api/export", {"format": "coco", "filter": "class=cat",
                                               "images": "none"}).content)
    (doc,) = [v for k, v in got.items() if k.endswith(".json")]
    assert [im["file_name"] for im in doc["images"]] == ["a.png"]
    assert not any(k.startswith("images/") for k in got)
    got = _zip_json(_post(app, "/api/export", {"format": "coco", "filter": {"empty": "1"}}
                          ).content)
    (doc,) = [v for k, v in got.items() if k.endswith(".json")]
    assert [im["file_name"] for im in doc["images"]] == ["c.png"]


@pytest.mark.parametrize("body,status,message", [
    ({"format": "nope"}, 400, "unknown format 'nope'"),
    ({}, 400, "format: give the format"),
    ({"format": "coco", "ref": "v7"}, 404, "no version named 'v7'"),
    ({"format": "coco", "ref": "v1", "filter": "class=cat"}, 400, "applies to the open revision"),
    ({"format": "coco", "filter": "klass=cat"}, 400, "unknown filter parameter 'klass'"),
    ({"format": "coco", "filter": "class=cow"}, 400, "cow"),
    ({"format": "coco", "images": "link"}, 400, "images: 'copy' (default) or 'none'"),
    ({"format": "coco", "options": ["x"]}, 400, "options: expected an object"),
    ({"format": "coco", "options": {"nonsense": 1}}, 400, "nonsense"),
])
def test_bad_exports(app, body, status, message, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    _post(app, "/api/versions", {"name": "v1"})
    r = _post(app, "/api/export", body, status=status)
    assert message in r.json()["error"], r.text
    assert list(scratch.iterdir()) == []


def test_export_command_and_versions_of_a_folder(tmp_path):
    from ..versioning.helpers import write_coco
    from .write_helpers import BOXES
    src = write_coco(tmp_path / "data", BOXES)
    client, state = open_app(src)
    try:
        cmd = client.get("/api/export/command", params={"format": "voc"}).json()["command"]
        assert cmd == f"visionflow convert {src} data-voc --to voc"
        assert client.get("/api/versions").json()["versions"] == []
        r = client.post("/api/versions", json={"name": "v1"}, headers=AUTH)
        assert r.status_code == 409 and "versions need a workspace" in r.json()["error"]
        got = _zip_json(_post(client, "/api/export", {"format": "yolo"}).content)
        assert "images/train/a.png" in got or any(k.endswith("a.png") for k in got)
        r = client.get("/api/export/command", params={"format": "nope"})
        assert r.status_code == 400
    finally:
        close(state)


def test_module_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", "import visionflow.app.routes_versions, "
                          "visionflow.app.routes_edit, visionflow.app.server, sys; "
                          "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                          "('torch', 'transformers', 'onnxruntime', 'tensorflow')))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
