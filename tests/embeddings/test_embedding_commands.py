"""The embedding commands are thin shells too (issue 12's rule, for issue 14's commands):
`embed`, `dedup`, `search --out`, `sample` and `map` each parse their arguments, call one
library function (vf.embed_path, vf.dedup_path, vf.find_images, vf.pick, vf.write_map) and
render what it returns; the function alone gives the same output (files byte for byte, JSON
equal). Perceptual hashes only: no model weights."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from ..conftest import REPO, tree_snapshot

runner = CliRunner()
MODULES = ("embed", "dedup", "search")  # cli/<module>.py


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def data(tmp_path) -> Path:
    """COCO: six distinct coarse images (two classes, a box each, one unlabelled) plus copy.jpg,
    a half-size re-encoded copy of img1.jpg with a box of its own: one near-duplicate pair."""
    root = tmp_path / "src"
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(11)
    images, anns = [], []
    for i in range(1, 7):
        blobs = rng.integers(0, 255, (3, 4, 3), dtype=np.uint8)
        Image.fromarray(blobs).resize((96, 72), Image.Resampling.BICUBIC).save(
            root / "images" / f"img{i}.jpg", quality=95)
        images.append({"id": i, "file_name": f"img{i}.jpg", "width": 96, "height": 72})
        if i != 6:
            anns.append({"id": i, "image_id": i, "category_id": 1 + i % 2,
                         "bbox": [4.0 + i, 6.0, 30.0, 20.0], "area": 600.0, "iscrowd": 0})
    Image.open(root / "images" / "img1.jpg").resize((48, 36)).save(root / "images" / "copy.jpg",
                                                                   quality=80)
    images.append({"id": 7, "file_name": "copy.jpg", "width": 48, "height": 36})
    anns.append({"id": 7, "image_id": 7, "category_id": 1, "bbox": [20.0, 10.0, 12.0, 10.0],
                 "area": 120.0, "iscrowd": 0})
    (root / "annotations").mkdir()
    (root / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": images, "annotations": anns,
         "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _cli(*args):
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_embed_equals_embed_path(tmp_path, data):
    out = json.loads(_cli("embed", data, "--json", "--patches", "--store", tmp_path / "a").stdout)
    report = vf.Report()
    emb = vf.embed_path(data, "phash", patches=True, store=tmp_path / "b", report=report)
    objects = int((emb.object_rows >= 0).sum())
    assert out == {"model": emb.info.name, "key": emb.info.key, "kind": emb.info.kind,
                   "dim": emb.info.dim, "images": len(emb) - objects, "objects": objects,
                   "computed": emb.computed, "reused": emb.reused, "skipped": 0,
                   "store": str(tmp_path / "a" / Path(emb.location).name),
                   "problems": report.to_list()}
    assert (out["images"], out["objects"], out["reused"]) == (7, 6, 0)
    again = vf.embed_path(data, "phash", patches=True, store=tmp_path / "a")  # the CLI's rows
    assert (again.computed, again.reused) == (0, len(emb))
    assert np.array_equal(again.vectors, emb.vectors)
    assert np.array_equal(again.image_rows, emb.image_rows)


def test_embed_path_reads_workspace_versions(tmp_path, data):
    with vf.Workspace.init(tmp_path / "ws") as ws:
        ws.add(data, "photos")
        ws.create_version("v1")
    out = json.loads(_cli("embed", "v1", "-w", tmp_path / "ws", "--json").stdout)
    emb = vf.embed_path("v1", workspace=tmp_path / "ws")
    assert out["images"] == len(emb) == 7 and emb.reused == 7  # kept in the workspace
    assert out["store"] == emb.location and str(tmp_path / "ws") in emb.location


def test_embed_path_refuses_a_dataset_none_of_whose_images_reads(tmp_path, data):
    ann = data / "annotations" / "instances_default.json"
    ann.write_text(ann.read_text().replace(".jpg", ".png"))
    for p in list((data / "images").iterdir()):  # a whole PNG header and end, a broken body
        png = p.with_suffix(".png")
        Image.open(p).save(png)
        p.unlink()
        raw = png.read_bytes()
        png.write_bytes(raw[:60] + bytes(200) + raw[-12:])
    report = vf.Report()
    with pytest.raises(vf.Error, match="no image could be embedded"):
        vf.embed_path(data, report=report, store=None)
    assert len([f for f in report.findings if f.code == "skipped"]) == 7


def test_dedup_equals_dedup_path(tmp_path, data):
    out = _cli("dedup", data, tmp_path / "by-cli", "--json", "--keep", "most-labelled",
               "--merge-labels", "--report", tmp_path / "cli.html")
    report = vf.Report()
    result = vf.dedup_path(data, tmp_path / "by-lib", keep="most-labelled", merge_labels=True,
                           html=tmp_path / "lib.html", report=report)
    assert json.loads(out.stdout) == result.to_json()
    assert result.to_json()["groups"] == [["img1.jpg", "copy.jpg"]]  # a tie: the larger stays
    assert result.notes and report.written["images"] == 6
    cli, lib = _tree(tmp_path / "by-cli"), _tree(tmp_path / "by-lib")
    assert len(cli) >= 7 and cli == lib
    assert (tmp_path / "cli.html").read_bytes() == (tmp_path / "lib.html").read_bytes()
    assert len(vf.load(tmp_path / "by-lib").annotations) == 6  # copy.jpg's box merged


def test_dedup_path_checks_every_output_before_reading(tmp_path, data, monkeypatch):
    before = tree_snapshot(data)

    def no_read(*a, **k):
        raise AssertionError("the dataset was read before the outputs were checked")
    monkeypatch.setattr("visionflow.api.load", no_read)
    with pytest.raises(vf.OutputError):
        vf.dedup_path(data, data / "out")
    with pytest.raises(vf.OutputError):
        vf.dedup_path(data, tmp_path / "o", html=data / "dups.html")
    with pytest.raises(vf.Error, match=r"`html` must end in \.html"):
        vf.dedup_path(data, tmp_path / "o", html=tmp_path / "dups.txt")
    with pytest.raises(vf.Error, match="--method hash takes --model phash"):
        vf.dedup_path(data, tmp_path / "o", model="openai/clip-vit-base-patch32")
    assert tree_snapshot(data) == before and not (tmp_path / "o").exists()


def test_search_out_equals_find_images(tmp_path, data):
    like = data / "images" / "img1.jpg"
    out = _cli("search", data, "--like", like, "--model", "phash", "--top", "3", "--json",
               "--out", tmp_path / "by-cli")
    hits = vf.find_images(data, like=like, model="phash", top=3, out=tmp_path / "by-lib")
    assert json.loads(out.stdout) == [h.to_json() for h in hits]
    assert [h["file_name"] for h in json.loads(out.stdout)][:2] == ["img1.jpg", "copy.jpg"]
    cli, lib = _tree(tmp_path / "by-cli"), _tree(tmp_path / "by-lib")
    assert len(cli) >= 4 and cli == lib
    assert len(vf.load(tmp_path / "by-lib").images) == 3


def test_sample_equals_pick(tmp_path, data):
    out = _cli("sample", data, tmp_path / "by-cli", "--n", "3", "--seed", "4", "--json")
    ds, rows = vf.pick(data, tmp_path / "by-lib", 3, seed=4)
    picked = json.loads(out.stdout)["picked"]
    assert [p["file_name"] for p in picked] == [str(ds.images.file_name[r]) for r in rows]
    assert len(set(p["file_name"] for p in picked) & {"img1.jpg", "copy.jpg"}) <= 1  # diverse
    cli, lib = _tree(tmp_path / "by-cli"), _tree(tmp_path / "by-lib")
    assert len(cli) >= 4 and cli == lib


def test_map_equals_write_map(tmp_path, data):
    _cli("map", data, "--out", tmp_path / "cli.html", "--color", "split")
    rows, coords = vf.write_map(data, tmp_path / "lib.html", color="split")
    assert coords.shape == (7, 2) and len(rows) == 7
    assert (tmp_path / "cli.html").read_bytes() == (tmp_path / "lib.html").read_bytes()


def test_the_embedding_commands_hold_no_library_logic():
    """No destination checks, loads, writes or file writing in the commands' modules: the
    library function does them (the same rule as tests/test_api_functions.py)."""
    pattern = re.compile(r"guard_destination|guard_file|api\.load|api\.write|[^.]\bload\(|"
                         r"write_bytes_atomic|make_temp_dir|registry\.detect|Workspace\.open")
    for mod in MODULES:
        path = REPO / "src" / "visionflow" / "cli" / f"{mod}.py"
        found = [f"{mod}.py:{i}: {line.strip()}"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
        assert not found, found


def test_the_embedding_commands_pass_their_read_options_on():
    """Each command that reads (takes --from) declares --images-dir, --follow-links, --errors
    and --skip-errors and hands them to the one library function it calls."""
    for mod in MODULES:
        tree = ast.parse((REPO / "src" / "visionflow" / "cli" / f"{mod}.py").read_text())
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            args = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            if "from_" not in args:
                continue
            assert {"images_dir", "follow_links", "errors", "skip_errors"} <= args, fn.name
            passed = {k.arg for call in ast.walk(fn) if isinstance(call, ast.Call)
                      for k in call.keywords}
            assert {"images_dir", "follow_links", "errors", "format"} <= passed, fn.name


def test_the_functions_are_exported_and_documented():
    for name in ("embed_path", "dedup_path", "find_images", "pick", "write_map"):
        fn = getattr(vf, name)
        assert name in vf.__all__ and callable(fn)
        doc = fn.__doc__ or ""
        assert len(doc) > 120 and "visionflow " in doc and "Returns" in doc, name
