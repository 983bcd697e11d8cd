"""The Workspace API: add/revisions, versions, diff, export, tag/delete, gc, verify, merge,
lineage and reproducibility."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.versioning import CorruptBlobError, MergeConflict, Workspace

from ..conftest import make_image, tree_snapshot
from .helpers import write_coco

BOXES = [(0, 1, [1, 1, 10, 10]), (0, 2, [20, 20, 10, 10]), (1, 1, [5, 5, 5, 5])]


@pytest.fixture(autouse=True)
def _author(monkeypatch):
    monkeypatch.setenv("VISIONFLOW_AUTHOR", "tester")


@pytest.fixture
def ws(tmp_path):
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


@pytest.fixture
def src(tmp_path):
    return write_coco(tmp_path / "pets", BOXES)


def _blob_count(ws):
    return sum(1 for _ in ws.store.all())


# -- workspace ----------------------------------------------------------------------------------

def test_init_open_and_discovery(tmp_path, monkeypatch):
    Workspace.init(tmp_path / "p").close()
    assert (tmp_path / "p" / ".visionflow" / "workspace.db").is_file()
    assert not [p for p in (tmp_path / "p").iterdir() if p.name != ".visionflow"]
    (tmp_path / "p" / "sub" / "deeper").mkdir(parents=True)
    with Workspace.open(tmp_path / "p" / "sub" / "deeper") as w:
        assert w.root == tmp_path / "p"
    monkeypatch.chdir(tmp_path / "p" / "sub")
    with Workspace.open() as w:
        assert w.root == tmp_path / "p"
    with pytest.raises(vf.Error, match="already a visionflow workspace"):
        Workspace.init(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(vf.Error, match=r"elsewhere: not inside a visionflow workspace; run "
                                       r"'visionflow init'"):
        Workspace.open(tmp_path / "elsewhere")


def test_add_stores_each_image_once_and_never_touches_the_source(ws, tmp_path):
    same = (10, 200, 30)
    src = write_coco(tmp_path / "d", BOXES, names=("a.png", "b.png", "c.png"),
                     colors=[same, same, (1, 2, 3)])
    before = tree_snapshot(src)
    r = ws.add(src, name="d")
    assert (r.revision, r.images, r.annotations, r.new_blobs) == (1, 3, 3, 2)
    assert tree_snapshot(src) == before
    # the same images under another source: nothing new stored but the annotations
    other = write_coco(tmp_path / "e", BOXES[:1], names=("x.png", "y.png", "z.png"),
                       colors=[same, same, (1, 2, 3)])
    r2 = ws.add(other)
    assert (r2.source, r2.new_blobs) == ("e", 0)
    assert _blob_count(ws) == 2 + 2  # two images + two model blobs
    # stored blobs are read-only and named by their content hash
    blob = ws.store.path(ws.store.sha_of_path(ws.load("d@1").images.path[0]))
    assert not os.access(blob, os.W_OK) or os.geteuid() == 0
    assert oct(blob.stat().st_mode & 0o777) == "0o444"


def test_readd_unchanged_records_nothing(ws, src):
    ws.add(src, name="pets")
    again = ws.add(src, name="pets")
    assert again.unchanged and again.revision == 1
    assert len(ws.sources()[0]["revisions"]) == 1


def test_readd_after_edits_records_what_changed(ws, src):
    ws.add(src, name="pets")
    # the labeling tool moved the cat, deleted the dog, labeled a new image, repainted b.png
    write_coco(src, [(0, 1, [3, 2, 10, 10]), (1, 1, [5, 5, 5, 5]), (3, 2, [30, 30, 5, 5]),
                     (3, 2, [1, 1, 4, 4])],
               names=("a.png", "b.png", "c.png", "d.png"))
    make_image(src / "images" / "train" / "b.png", color=(200, 0, 0))
    r = ws.add(src, name="pets")
    assert r.revision == 2 and not r.unchanged
    d = r.changes.to_dict()
    assert d["images"] == {"added": 1, "removed": 0, "changed": 1, "reannotated": 1}
    assert d["per_class"] == {"cat": {"added": 0, "removed": 0, "moved": 1},
                              "dog": {"added": 2, "removed": 1, "moved": 0}}
    assert d["images_added"] == ["train/d.png"] and d["images_changed"] == ["train/b.png"]
    stored = ws.sources()[0]["revisions"][1]["changes"]
    assert stored["per_class"] == d["per_class"]


# -- versions -----------------------------------------------------------------------------------

def test_create_list_show_and_immutability(ws, src):
    ws.add(src, name="pets")
    info = ws.create_version("v1", seed=5)
    assert (info["images"], info["annotations"]) == (3, 3)
    lin = info["lineage"]
    assert [s["name"] for s in lin["sources"]] == ["pets"] and lin["sources"][0]["revision"] == 1
    assert lin["seed"] == 5 and lin["recipe"] is None and lin["author"] == "tester"
    assert lin["visionflow_version"] == vf.__version__ and lin["created_at"]
    assert info["summary"]["annotations_per_class"]["train"] == {"cat": 2, "dog": 1}
    rows = ws.versions()
    assert [(r["name"], r["images"], r["annotations"], r["sources"]) for r in rows] == [
        ("v1", 3, 3, ["pets@1"])]
    with pytest.raises(vf.Error, match="version 'v1' already exists; versions are immutable"):
        ws.create_version("v1")
    with pytest.raises(vf.Error, match="no version named 'nope'"):
        ws.version("nope")


@pytest.mark.parametrize("name, message", [
    ("", "version name '' is not valid"),
    ("a b", "version name 'a b' is not valid"),
    ("../x", "version name '../x' is not valid"),
    ("-v", "version name '-v' is not valid"),
])
def test_bad_version_names(ws, src, name, message):
    ws.add(src, name="pets")
    with pytest.raises(vf.Error, match=message.replace("(", r"\(")):
        ws.create_version(name)


def test_create_needs_a_source(ws):
    with pytest.raises(vf.Error, match="no sources yet; add one with 'visionflow add"):
        ws.create_version("v1")


def test_pinned_revisions_and_diff(ws, src):
    ws.add(src, name="pets")
    write_coco(src, [(0, 1, [1, 1, 10, 10]), (1, 1, [5, 5, 5, 5]), (1, 2, [40, 1, 5, 5])],
               names=("a.png", "b.png"), cats=[(1, "cat"), (2, "dog")])
    ws.add(src, name="pets")
    old = ws.create_version("old", sources=["pets@1"])
    new = ws.create_version("new")
    assert old["lineage"]["sources"][0]["revision"] == 1 and old["images"] == 3
    assert new["lineage"]["sources"][0]["revision"] == 2 and new["images"] == 2
    d = ws.diff("old", "new").to_dict()
    assert d["images"]["removed"] == 1 and d["images_removed"] == ["train/c.png"]
    assert d["per_class"] == {"dog": {"added": 1, "removed": 1, "moved": 0}}
    assert ws.diff("new", "new").is_empty
    # source revisions can be compared too
    assert ws.diff("pets@1", "pets@latest").to_dict()["per_class"] == d["per_class"]
    with pytest.raises(vf.Error, match=r"source 'pets' has no revision 7 \(revisions 1..2\)"):
        ws.create_version("x", sources=["pets@7"])
    with pytest.raises(vf.Error, match=r"no source named 'cars' \(sources: pets\)"):
        ws.create_version("x", sources=["cars"])


def test_diff_classes_added_and_renumbered_ids_are_not_changes(ws, tmp_path):
    a = write_coco(tmp_path / "a", [(0, 1, [1, 1, 10, 10])], names=("a.png",))
    ws.add(a, name="s")
    ws.create_version("v1")
    write_coco(a, [(0, 7, [1, 1, 10, 10]), (0, 9, [2, 2, 3, 3])], names=("a.png",),
               cats=[(7, "cat"), (9, "bird")])
    ws.add(a, name="s")
    ws.create_version("v2")
    d = ws.diff("v1", "v2").to_dict()
    assert d["categories"] == {"added": ["bird"], "removed": ["dog"]}
    assert d["per_class"] == {"bird": {"added": 1, "removed": 0, "moved": 0}}


def test_polygon_edit_counts_as_moved(ws, tmp_path):
    poly = [1, 1, 11, 1, 11, 11]
    a = write_coco(tmp_path / "a", [(0, 1, [1, 1, 10, 10])], names=("a.png",),
                   segmentation={0: poly})
    ws.add(a, name="s")
    write_coco(a, [(0, 1, [1, 1, 10, 10])], names=("a.png",),
               segmentation={0: [1, 1, 11, 1, 1, 11]})
    r = ws.add(a, name="s")
    assert r.changes.to_dict()["per_class"] == {"cat": {"added": 0, "removed": 0, "moved": 1}}


def test_exported_old_version_gives_back_exactly_its_boxes(ws, src, tmp_path):
    original = vf.load(src)
    ws.add(src, name="pets")
    ws.create_version("v1")
    write_coco(src, [(0, 1, [7, 7, 3, 3])], names=("a.png", "b.png", "c.png"))
    ws.add(src, name="pets")
    ws.create_version("v2")
    for fmt in ("coco", "visionflow"):
        out = tmp_path / f"v1-{fmt}"
        ws.export("v1", out, fmt)
        back = vf.load(out)
        assert back.differences(original) == [], fmt
        np.testing.assert_array_equal(back.annotations.xyxy, original.annotations.xyxy)
        for p, q in zip(back.images.path, original.images.path):
            assert Path(p).read_bytes() == Path(q).read_bytes()
    ws.export("v2", tmp_path / "v2-yolo", "yolo")
    back = vf.load(tmp_path / "v2-yolo")
    np.testing.assert_allclose(back.annotations.xyxy, [[7, 7, 10, 10]], atol=1e-3)
    with pytest.raises(vf.OutputError, match="inside the workspace's own storage"):
        ws.export("v1", ws.dir / "x", "coco")


def test_tag_delete_and_gc(ws, src):
    ws.add(src, name="pets")
    ws.create_version("v1")
    ws.tag("v1", "trained yolov8n run 42")
    assert ws.version("v1")["tags"][0]["note"] == "trained yolov8n run 42"
    assert ws.versions()[0]["tags"] == 1
    with pytest.raises(vf.Error, match=r"version 'v1' has 1 tag\(s\) .*pass --force"):
        ws.delete_version("v1")
    # an orphan blob and a temporary file, as a killed process leaves them
    orphan = ws.store.put_bytes(b"left by a killed process")
    ws.delete_version("v1", force=True)
    assert ws.versions() == []
    (ws.store.tmp_dir / "abc.blob").write_bytes(b"partial")
    result = ws.verify()
    assert result.ok and any("1 blob(s) used by nothing" in n for n in result.notes)
    assert any("1 temporary file(s)" in n for n in result.notes)
    g = ws.gc()
    assert g.blobs_removed == 1 and g.temporary_removed == 1 and g.snapshots_removed == 0
    assert not ws.store.has(orphan)
    assert ws.verify().notes == [] and ws.verify().ok
    ws.load("pets@1")  # the revision's blobs survive gc


def test_gc_frees_images_of_a_deleted_recipe_version(ws, src, tmp_path):
    pytest.importorskip("visionflow.transforms")
    ws.add(src, name="pets")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("preprocess:\n  - resize: {size: [16, 16], mode: stretch}\n")
    ws.create_version("small", recipe=recipe)
    n = _blob_count(ws)
    ws.delete_version("small")
    g = ws.gc()
    assert g.blobs_removed == 3 + 1 and g.snapshots_removed == 0  # images + annotations
    assert _blob_count(ws) == n - 4
    assert ws.verify().ok


def test_verify_names_corrupted_and_missing_blobs(ws, src, tmp_path):
    ws.add(src, name="pets")
    ws.create_version("v1")
    ds = ws.load("v1")
    blob = ds.images.path[0]
    os.chmod(blob, 0o644)
    with open(blob, "r+b") as f:
        f.seek(10)
        f.write(b"\x00garbage")
    result = ws.verify()
    assert not result.ok
    assert len(result.problems) == 1
    msg = result.problems[0]
    assert blob in msg and "corrupted" in msg and "version v1 (train/a.png)" in msg
    assert "source pets@1 (train/a.png)" in msg
    with pytest.raises(CorruptBlobError, match="image blob corrupted .* used by .*train/a.png"):
        ws.export("v1", tmp_path / "out", "coco")
    assert not (tmp_path / "out").exists()
    os.unlink(ws.store.path(_model_hash(ws, "v1")))
    result = ws.verify()
    assert any("missing; used by the annotations of" in p for p in result.problems)
    with pytest.raises(CorruptBlobError, match="is missing; run 'visionflow verify'"):
        ws.load("v1")


def test_add_refuses_missing_images(ws, tmp_path):
    src = write_coco(tmp_path / "d", BOXES)
    (src / "images" / "train" / "b.png").unlink()
    with pytest.raises(vf.MissingImageError, match=r"1 of 3 image\(s\) have no file "
                                                   r"\(first: 'b.png'\)"):
        ws.add(src)
    assert ws.sources() == []


# -- several sources ----------------------------------------------------------------------------

def _two_sources(ws, tmp_path, cats_b=((1, "cat"), (2, "dog")), names_b=("x.png", "y.png")):
    a = write_coco(tmp_path / "a", [(0, 1, [1, 1, 5, 5]), (1, 2, [2, 2, 5, 5])],
                   names=("a.png", "b.png"))
    b = write_coco(tmp_path / "b", [(0, cats_b[0][0], [3, 3, 5, 5]),
                                    (1, cats_b[1][0], [4, 4, 5, 5])],
                   names=names_b, cats=list(cats_b), colors=[(9, 9, 9), (8, 8, 8)])
    ws.add(a, name="a")
    ws.add(b, name="b")


def test_merge_with_mapping(ws, tmp_path):
    _two_sources(ws, tmp_path, cats_b=((5, "kitty"), (2, "dog")))
    r = ws.merge(["a", "b"], "ab", ["b:kitty=cat"])
    assert (r.source, r.revision, r.images, r.annotations, r.new_blobs) == ("ab", 1, 4, 4, 0)
    ds = ws.load("ab@1")
    assert [(c.id, c.name) for c in ds.categories] == [(1, "cat"), (2, "dog")]
    assert ds.annotations.category_id.tolist() == [1, 2, 1, 2]
    origin = ws.sources()[2]["revisions"][0]["origin"]
    assert origin["merge"] == ["a@1", "b@1"] and origin["map"] == {"b": {"kitty": "cat"}}
    assert "image ids collide across sources: renumbered 1..N" in r.notes
    ws.create_version("merged", sources=["ab"])
    assert ws.verify().ok


@pytest.mark.parametrize("cats_b, names_b, args, error, message", [
    (((5, "cat"), (2, "dog")), ("x.png", "y.png"), {},
     MergeConflict, ("class 'cat' has id 1 in a and id 5 in b; pass --renumber to number the "
                     "merged classes 1..N, or keep them apart with --map b:cat=NEW_NAME")),
    (((1, "kitty"), (2, "dog")), ("x.png", "y.png"), {},
     MergeConflict, ("class id 1 is 'cat' in a and 'kitty' in b; if they are the same class "
                     "map one onto the other (--map b:kitty=cat), else pass --renumber")),
    (((1, "cat"), (2, "dog")), ("a.png", "y.png"), {},
     MergeConflict, "image 'train/a.png' is in both a and b; pass --prefix"),
    (((1, "cat"), (2, "dog")), ("x.png", "y.png"), {"mapping": ["c:cat=dog"]},
     vf.Error, "--map names source 'c', which is not being merged (merging: a, b)"),
    (((1, "cat"), (2, "dog")), ("x.png", "y.png"), {"mapping": ["b:cow=dog"]},
     vf.Error, "--map: source 'b' has no class 'cow' (its classes: cat, dog)"),
    (((1, "cat"), (2, "dog")), ("x.png", "y.png"), {"mapping": ["b-cow=dog"]},
     vf.Error, "--map expects SOURCE:OLD=NEW (e.g. 'b:kitty=cat'), got 'b-cow=dog'"),
])
def test_merge_conflicts_are_errors_that_say_what_to_map(ws, tmp_path, cats_b, names_b, args,
                                                         error, message):
    _two_sources(ws, tmp_path, cats_b=cats_b, names_b=names_b)
    with pytest.raises(error) as e:
        ws.merge(["a", "b"], "ab", **args)
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert [s["name"] for s in ws.sources()] == ["a", "b"]


def test_merge_conflicts_resolved_by_renumber_and_prefix(ws, tmp_path):
    _two_sources(ws, tmp_path, cats_b=((5, "cat"), (7, "bird")), names_b=("a.png", "y.png"))
    r = ws.merge(["a", "b"], "ab", renumber=True, prefix=True)
    ds = ws.load("ab@1")
    assert [(c.id, c.name) for c in ds.categories] == [(1, "cat"), (2, "dog"), (3, "bird")]
    assert ds.images.file_name.tolist() == ["a/a.png", "a/b.png", "b/a.png", "b/y.png"]
    assert ds.annotations.category_id.tolist() == [1, 2, 1, 3]
    assert r.images == 4


def test_version_of_several_sources_refuses_conflicts(ws, tmp_path):
    _two_sources(ws, tmp_path, cats_b=((1, "kitty"), (2, "dog")))
    with pytest.raises(MergeConflict, match="class id 1 is 'cat' in a and 'kitty' in b"):
        ws.create_version("both")
    ws.create_version("only-a", sources=["a"])
    assert [v["name"] for v in ws.versions()] == ["only-a"]


def test_version_of_several_sources(ws, tmp_path):
    _two_sources(ws, tmp_path)
    info = ws.create_version("both")
    assert info["images"] == 4 and info["annotations"] == 4
    assert [f"{s['name']}@{s['revision']}" for s in info["lineage"]["sources"]] == ["a@1", "b@1"]


# -- lineage and reproducibility ----------------------------------------------------------------

def _image_hashes(ws, name):
    ds_id = ws._snapshot_id(name)
    return [s for (s,) in ws._con.execute(
        "SELECT sha256 FROM images WHERE dataset_id = ? ORDER BY row", (ds_id,))]


def _model_hash(ws, name):
    return ws._con.execute("SELECT model_sha256 FROM datasets WHERE id = ?",
                           (ws._snapshot_id(name),)).fetchone()[0]


def test_recreating_from_lineage_gives_identical_bytes(ws, src, tmp_path):
    pytest.importorskip("visionflow.transforms")
    ws.add(src, name="pets")
    recipe = tmp_path / "aug.yaml"
    recipe.write_text("preprocess:\n  - resize: {size: [32, 32], mode: stretch}\n"
                      "augment:\n  ops: [{flip: {p: 0.5}}, {brightness: {limit: 0.3}}]\n"
                      "  copies: 2\n")
    v1 = ws.create_version("aug", recipe=recipe, seed=3)
    assert v1["images"] == 6
    assert v1["lineage"]["recipe"]["text"] == recipe.read_text()
    assert v1["lineage"]["recipe"]["recipe"]["augment"]["copies"] == 2
    # a newer revision and an edited recipe file do not change what --like rebuilds
    write_coco(src, [(0, 1, [9, 9, 3, 3])])
    ws.add(src, name="pets")
    recipe.write_text("preprocess: [grayscale]\n")
    again = ws.create_version("aug-again", like="aug")
    assert again["lineage"]["sources"] == v1["lineage"]["sources"]
    assert again["lineage"]["fingerprint"] == v1["lineage"]["fingerprint"]
    assert _model_hash(ws, "aug-again") == _model_hash(ws, "aug")
    assert _image_hashes(ws, "aug-again") == _image_hashes(ws, "aug")
    other_seed = ws.create_version("aug-seed4", sources=["pets@1"],
                                   recipe=tmp_path / "aug.yaml", seed=4)
    assert other_seed["lineage"]["fingerprint"] != v1["lineage"]["fingerprint"]
    assert ws.verify().ok


def test_recipe_errors_point_at_the_users_file(ws, src, tmp_path):
    pytest.importorskip("visionflow.transforms")
    ws.add(src, name="pets")
    bad = tmp_path / "bad.yaml"
    bad.write_text("preprocess:\n  - resise: {}\n")
    with pytest.raises(vf.Error, match=f"{bad}: preprocess step 1: unknown operation 'resise'"):
        ws.create_version("v", recipe=bad)
    with pytest.raises(vf.Error, match="nope.yaml: cannot read the recipe"):
        ws.create_version("v", recipe=tmp_path / "nope.yaml")
    assert ws.versions() == []


def test_recipe_without_transforms_module_is_a_clear_error(ws, src, tmp_path, monkeypatch):
    ws.add(src, name="pets")
    monkeypatch.setitem(sys.modules, "visionflow.transforms", None)
    r = tmp_path / "r.yaml"
    r.write_text("preprocess: []\n")
    with pytest.raises(vf.Error, match="--recipe needs visionflow.transforms"):
        ws.create_version("v", recipe=r)
    ws.create_version("plain")  # the no-recipe path does not need it


def test_diff_pairs_duplicates_and_several_boxes_per_class(ws, tmp_path):
    a = write_coco(tmp_path / "a", [(0, 1, [1, 1, 10, 10]), (0, 1, [1, 1, 10, 10]),
                                    (0, 1, [30, 30, 5, 5]), (0, 2, [20, 20, 5, 5])],
                   names=("a.png",))
    ws.add(a, name="s")
    write_coco(a, [(0, 1, [1, 1, 10, 10]), (0, 1, [31, 30, 5, 5]), (0, 1, [50, 2, 5, 5]),
                   (0, 2, [20, 20, 5, 5]), (0, 2, [0, 40, 3, 3])], names=("a.png",))
    d = ws.add(a, name="s").changes.to_dict()
    assert d["per_class"] == {"cat": {"added": 1, "removed": 1, "moved": 1},
                              "dog": {"added": 1, "removed": 0, "moved": 0}}
    assert d["images"]["reannotated"] == 1


def test_damaged_database_is_a_clear_error(tmp_path):
    Workspace.init(tmp_path / "w").close()
    db = tmp_path / "w" / ".visionflow" / "workspace.db"
    for extra in db.parent.glob("workspace.db-*"):
        extra.unlink()
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(vf.Error, match="not a readable visionflow workspace database"):
        Workspace.open(tmp_path / "w")
