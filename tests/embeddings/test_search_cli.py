"""`visionflow search`, `sample` and `map` end to end: planted results, datasets written
atomically from the source's images, same seed same output, and bad input as one line, exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import tree_snapshot
from tests.embeddings.search_helpers import write_planted
from visionflow.cli.main import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(r, *words):
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, r.output


@pytest.fixture
def data(tmp_path) -> Path:
    write_planted(tmp_path / "data", n_base=6, copies=2)
    return tmp_path / "data"


def _group(name: str) -> str:
    return name.split("_copy")[0].removesuffix(".png")


@pytest.mark.parametrize("model", ["phash", "dhash"])
def test_like_finds_the_planted_copies_as_json(data, model):
    for i in (0, 3, 5):
        r = run("search", data, "--like", data / f"base_{i}.png", "--model", model, "--top", 4,
                "--json")
        assert r.exit_code == 0, r.output
        hits = json.loads(r.stdout)
        assert [set(h) for h in hits] == [{"file_name", "score", "split"}] * 4
        assert {_group(h["file_name"]) for h in hits[:3]} == {f"base_{i}"}
        assert _group(hits[3]["file_name"]) != f"base_{i}"
        assert hits[0]["score"] == 1.0


def test_table_by_default(data):
    r = run("search", data, "--like", data / "base_1.png", "--model", "phash", "--top", 3)
    assert r.exit_code == 0, r.output
    assert "3 closest images" in r.stdout and "base_1_copy0.png" in r.stdout


def test_patches_search_objects_and_name_their_class(data):
    r = run("search", data, "--like", data / "base_4.png", "--model", "phash", "--patches",
            "--top", 5, "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert all({"object_row", "label"} <= set(h) for h in hits)
    ds = vf.load(data / "annotations.json")
    for h in hits:
        j = h["object_row"]
        row = int(ds.annotations.image_index[j])
        assert ds.images.file_name[row] == h["file_name"]
        assert h["label"] == ds.classes[ds.class_index(ds.annotations.category_id[j])]


def test_out_writes_the_matches_as_a_dataset_and_leaves_the_source_alone(data, tmp_path):
    before = tree_snapshot(data)
    out = tmp_path / "review"
    r = run("search", data, "--like", data / "base_2.png", "--model", "dhash", "--top", 3,
            "--out", out, "--json")
    assert r.exit_code == 0, r.output
    names = {h["file_name"] for h in json.loads(r.stdout)}
    got = vf.load(out)
    assert got.source_format == "coco" and set(got.images.file_name) == names
    src = vf.load(data / "annotations.json")
    for name in names:
        assert np.array_equal(got[name].xyxy, src[name].xyxy)
        assert got[name].class_names == src[name].class_names
        assert Path(got[name].path).read_bytes() == (data / name).read_bytes()
    assert (out / ".visionflow-output").exists()
    assert tree_snapshot(data) == before
    r = run("search", data, "--like", data / "base_2.png", "--model", "dhash", "--top", 2,
            "--out", out, "--to", "yolo")
    one_line_error(r, str(out))                                   # not empty: --overwrite
    r = run("search", data, "--like", data / "base_2.png", "--model", "dhash", "--top", 2,
            "--out", out, "--to", "yolo", "--overwrite")
    assert r.exit_code == 0, r.output
    assert len(vf.load(out, "yolo")) == 2
    one_line_error(run("search", data, "--like", data / "base_2.png", "--model", "dhash",
                       "--out", data / "inside"), "source")


def test_bad_searches_are_one_line(data):
    one_line_error(run("search", data, "a raccoon at night", "--model", "phash"),
                   "CLIP or SigLIP", "--model", "--like")
    one_line_error(run("search", data, "--model", "phash"), "--like")
    one_line_error(run("search", data, "words", "--like", data / "base_0.png"), "--like")
    one_line_error(run("search", data, "--like", data / "nope.jpg", "--model", "phash"),
                   "nope.jpg")
    one_line_error(run("search", data, "--like", data / "base_0.png", "--model", "phash",
                       "--top", 0), "--top")


def test_text_search_with_a_tiny_clip_model(data, tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="torch is not installed (pip install 'visionflow[embed]')")
    pytest.importorskip("transformers", reason="transformers is not installed")
    from tests.embeddings.tiny_models import save_tiny
    from visionflow.embeddings import embed, load_embedder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clip = save_tiny("clip", tmp_path / "tiny-clip")
    r = run("search", data, "a raccoon at night", "--model", clip, "--top", 5, "--json")
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)
    assert len(hits) == 5
    # the same ranking as the text row against the stored image rows, computed by hand
    embedder = load_embedder(str(clip))
    ds = vf.load(data / "annotations.json")
    emb = embed(ds, embedder)
    q = embedder.embed_texts(["a raccoon at night"])[0]
    scores = emb.vectors @ q
    order = np.lexsort((np.arange(len(scores)), -scores))[:5]
    assert [h["file_name"] for h in hits] == [ds.images.file_name[emb.image_rows[k]]
                                              for k in order]
    assert [h["score"] for h in hits] == pytest.approx(scores[order].tolist(), abs=1e-5)
    dino = save_tiny("dinov2", tmp_path / "tiny-dino")
    one_line_error(run("search", data, "a cat", "--model", dino), "CLIP or SigLIP")
    r = run("search", data, "--like", data / "base_0.png", "--model", dino, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["file_name"] == "base_0.png"


def _annotation_bytes(folder: Path) -> bytes:
    return (folder / "annotations" / "instances_default.json").read_bytes()


def test_sample_same_seed_same_output_and_one_per_group(data, tmp_path):
    before = tree_snapshot(data)
    r1 = run("sample", data, tmp_path / "a", "--n", 6, "--seed", 3, "--json")
    r2 = run("sample", data, tmp_path / "b", "--n", 6, "--seed", 3)
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    picked = json.loads(r1.stdout)["picked"]
    assert sorted(_group(p["file_name"]) for p in picked) == [f"base_{i}" for i in range(6)]
    assert _annotation_bytes(tmp_path / "a") == _annotation_bytes(tmp_path / "b")
    assert len(vf.load(tmp_path / "a")) == 6
    assert tree_snapshot(data) == before
    r = run("sample", data, tmp_path / "r", "--n", 5, "--strategy", "random", "--seed", 1,
            "--to", "yolo", "--json")
    assert r.exit_code == 0, r.output
    assert len(vf.load(tmp_path / "r", "yolo")) == 5


def test_sample_from_labelled_picks_far_from_the_labelled_images(data, tmp_path):
    coco = orjson.loads((data / "annotations.json").read_bytes())
    unlabelled = {im["id"] for im in coco["images"] if _group(im["file_name"]) in
                  ("base_4", "base_5")}
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in unlabelled]
    (data / "annotations.json").write_bytes(orjson.dumps(coco))
    r = run("sample", data, tmp_path / "next", "--n", 2, "--from-labelled", "--json")
    assert r.exit_code == 0, r.output
    assert sorted(_group(p["file_name"]) for p in json.loads(r.stdout)["picked"]) == \
        ["base_4", "base_5"]
    one_line_error(run("sample", data, tmp_path / "x", "--n", 7, "--from-labelled"),
                   "--n 7", "6 unlabelled images")


def test_sample_uncertain_from_a_results_file(data, tmp_path):
    coco = orjson.loads((data / "annotations.json").read_bytes())
    doubtful = {"base_1_copy0.png", "base_3.png", "base_5_copy1.png"}
    results = []
    for im in coco["images"]:
        for s in ([0.48, 0.55] if im["file_name"] in doubtful else [0.98, 0.03]):
            results.append({"image_id": im["id"], "category_id": 1, "bbox": [2, 2, 10, 10],
                            "score": s})
    (tmp_path / "results.json").write_bytes(orjson.dumps(results))
    r = run("sample", data / "annotations.json", tmp_path / "u", "--n", 3, "--strategy",
            "uncertain", "--predictions", tmp_path / "results.json", "--json")
    assert r.exit_code == 0, r.output
    assert {p["file_name"] for p in json.loads(r.stdout)["picked"]} == doubtful
    one_line_error(run("sample", data, tmp_path / "v", "--n", 3, "--strategy", "uncertain"),
                   "--predictions")
    one_line_error(run("sample", data, tmp_path / "w", "--n", 3, "--predictions",
                       tmp_path / "results.json"), "uncertain")


def test_bad_samples_are_one_line(data, tmp_path):
    one_line_error(run("sample", data, tmp_path / "a", "--n", 60), "--n 60", "18 images")
    one_line_error(run("sample", data, tmp_path / "a", "--n", 0), "--n")
    one_line_error(run("sample", data, tmp_path / "a", "--n", 3, "--strategy", "divers"),
                   "did you mean 'diverse'")
    one_line_error(run("sample", data, data / "sub", "--n", 3), "source")
    assert not (tmp_path / "a").exists()


def test_map_writes_an_offline_page_and_reuses_the_stored_coordinates(data, tmp_path):
    import os
    out = tmp_path / "map.html"
    r = run("map", data, "--out", out)
    assert r.exit_code == 0, r.output
    page = out.read_text()
    assert page.count("<circle ") == 18 and "base_3_copy1.png" in page
    stored = sorted(Path(os.environ["VISIONFLOW_CACHE_DIR"]).glob("embeddings/*/maps/*.npz"))
    assert stored
    r = run("map", data, "--out", tmp_path / "split.html", "--color", "split")
    assert r.exit_code == 0, r.output
    assert sorted(Path(os.environ["VISIONFLOW_CACHE_DIR"]).glob("embeddings/*/maps/*.npz")) \
        == stored                                               # the same map, reused
    one_line_error(run("map", data, "--out", tmp_path / "m.png"), ".html")
    one_line_error(run("map", data, "--out", out, "--method", "umapp"), "--method",
                   "did you mean 'umap'")
    one_line_error(run("map", data, "--out", data / "map.html"), "map.html")


@pytest.mark.parametrize("command", ["search", "sample", "map"])
def test_help_has_examples(command):
    r = run(command, "--help")
    assert r.exit_code == 0 and "Examples:" in r.output and f"visionflow {command}" in r.output


def test_workspace_version_with_a_stored_prediction_set(data, tmp_path):
    coco = orjson.loads((data / "annotations.json").read_bytes())
    doubtful = {"base_0_copy1.png", "base_4.png"}
    results = [{"image_id": im["id"], "category_id": 1, "bbox": [2, 2, 10, 10],
                "score": 0.5 if im["file_name"] in doubtful else 0.99} for im in coco["images"]]
    (tmp_path / "results.json").write_bytes(orjson.dumps(results))
    root = tmp_path / "ws"
    w = vf.Workspace.init(root)
    w.add(data, name="data", format="coco")
    w.create_version("v1")
    w.close()
    r = run("predictions", "import", tmp_path / "results.json", "-v", "v1", "-n", "model-a",
            "-w", root)
    assert r.exit_code == 0, r.output
    r = run("sample", "v1", tmp_path / "u", "--n", 2, "--strategy", "uncertain",
            "--predictions", "model-a", "-w", root, "--json")
    assert r.exit_code == 0, r.output
    assert {p["file_name"] for p in json.loads(r.stdout)["picked"]} == doubtful
    one_line_error(run("sample", "v1", tmp_path / "x", "--n", 2, "--strategy", "uncertain",
                       "--predictions", "model-b", "-w", root), "model-b")
    r = run("search", "v1", "--like", data / "base_5.png", "--model", "phash", "-w", root,
            "--top", 3, "--json")
    assert r.exit_code == 0, r.output
    assert {_group(h["file_name"]) for h in json.loads(r.stdout)} == {"base_5"}
    r = run("map", "v1", "--out", tmp_path / "ws-map.html", "-w", root)
    assert r.exit_code == 0, r.output
    assert list((root / ".visionflow" / "embeddings").glob("*/maps/map-pca-*.npz"))
    assert list((root / ".visionflow" / "embeddings").glob("*/part-*.parquet"))
