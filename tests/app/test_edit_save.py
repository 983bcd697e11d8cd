"""POST /api/save: edits become the next revision of the workspace source, exactly the edits
(unchanged objects keep every stored value at full precision), versions never change, two
saves from one base conflict, and every invalid object is a 400 naming image and object."""

from __future__ import annotations

import copy
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionflow.versioning.workspace import Workspace

from ..conftest import shared_path
from .write_helpers import AUTH, close, make_workspace, open_app, wait_loaded

pytest.importorskip("fastapi")


@pytest.fixture
def app(tmp_path):
    client, state = open_app(make_workspace(tmp_path))
    yield client
    close(client.app.state.vf)


def _detail(client, i: int) -> dict:
    r = client.get(f"/api/images/{i}")
    assert r.status_code == 200, r.text
    return r.json()


def _save(client, images, *, base=None, classes=(), status=200) -> dict:
    base = base or client.get("/api/meta").json()["revision"]
    r = client.post("/api/save", json={"base_revision": base, "images": images,
                                       "classes": list(classes)}, headers=AUTH)
    assert r.status_code == status, r.text
    return r.json()


def test_save_makes_the_next_revision_with_exactly_the_edit(app):
    state = app.app.state.vf
    before = state.dataset
    d = _detail(app, 0)
    objs = d["objects"]
    objs[0]["box"] = [4.0, 5.0, 10.0, 8.0]                         # moved box
    objs[1]["class_id"] = 1                                        # dog -> cat
    objs.append({"class_id": 2, "polygon": [[1, 1, 30, 2, 20, 25]]})   # new polygon
    out = _save(app, [{"id": 0, "objects": objs, "tags": ["review"]}])
    assert out["revision"] == "pets@2" and not out["unchanged"]
    meta = wait_loaded(app)
    assert meta["revision"] == "pets@2"
    after = state.dataset
    ann = after.annotations
    a0 = ann[ann.image_index == 0]
    np.testing.assert_allclose(a0.xyxy[0], [4, 5, 14, 13])
    assert a0.category_id.tolist() == [1, 1, 2]
    assert a0.polygons.rings(2)[0].tolist() == [[1, 1], [30, 2], [20, 25]]
    np.testing.assert_allclose(a0.xyxy[2], [1, 1, 30, 25])          # the outline's bounds
    assert a0.id.tolist()[:2] == [1, 2] and a0.id[2] not in before.annotations.id
    assert after.images.attr("tags").tolist() == [["review"], None, None]
    # the other images did not change at all
    for i in (1, 2):
        assert not before.select_images([i]).differences(after.select_images([i]))
    # the previous revision is still there, untouched
    ws = state.workspace
    assert not ws.load("pets@1").differences(before)
    assert [r["revision"] for r in ws.sources()[0]["revisions"]] == [1, 2]


def test_versions_are_never_changed_by_a_save(app):
    ws = app.app.state.vf.workspace
    v1 = ws.create_version("v1")
    d = _detail(app, 1)
    d["objects"][0]["box"] = [1.0, 1.0, 5.0, 5.0]
    _save(app, [{"id": 1, "objects": d["objects"]}])
    assert ws.version("v1") == v1
    assert ws.diff("v1", "pets@2").images_reannotated == ["train/b.png"]
    assert ws.diff("v1", "pets@1").is_empty


def test_sending_back_the_detail_unchanged_changes_nothing(app):
    d = _detail(app, 0)
    out = _save(app, [{"id": 0, "objects": d["objects"], "tags": d["tags"]}])
    assert out["unchanged"] and out["revision"] == "pets@1"


def test_deleting_an_object_and_an_image_of_objects(app):
    d = _detail(app, 0)
    out = _save(app, [{"id": 0, "objects": d["objects"][1:]}, {"id": 1, "objects": []}])
    assert out["objects"] == 1
    wait_loaded(app)
    ann = app.app.state.vf.dataset.annotations
    assert ann.image_index.tolist() == [0] and ann.id.tolist() == [2]


def test_two_saves_from_one_base_conflict_and_the_first_survives(app):
    base = app.get("/api/meta").json()["revision"]
    first = _detail(app, 0)
    first["objects"][0]["box"] = [6.0, 6.0, 10.0, 10.0]
    second = copy.deepcopy(_detail(app, 0))
    second["objects"][0]["box"] = [7.0, 7.0, 11.0, 11.0]
    _save(app, [{"id": 0, "objects": first["objects"]}], base=base)
    r = _save(app, [{"id": 0, "objects": second["objects"]}], base=base, status=409)
    assert r["current_revision"] == "pets@2"
    assert "moved on to pets@2 since pets@1" in r["error"]
    wait_loaded(app)
    assert _detail(app, 0)["objects"][0]["box"] == [6.0, 6.0, 10.0, 10.0]
    ws = app.app.state.vf.workspace
    assert [r["revision"] for r in ws.sources()[0]["revisions"]] == [1, 2]


def test_concurrent_saves_one_wins_one_conflicts(app):
    base = app.get("/api/meta").json()["revision"]
    results = []

    def go(x):
        d = _detail(app, 1)
        d["objects"][0]["box"] = [x, x, 10.0, 10.0]
        r = app.post("/api/save", json={"base_revision": base, "images": [
            {"id": 1, "objects": d["objects"]}]}, headers=AUTH)
        results.append(r.status_code)

    threads = [threading.Thread(target=go, args=(float(x),)) for x in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]


def test_a_save_by_another_process_is_a_conflict(app):
    """The workspace moved on outside this app (e.g. `visionflow add` again)."""
    state = app.app.state.vf
    base = state.revision
    with Workspace.open(state.path) as other:
        ds = other.load("pets@1")
        other.add_revision("pets", ds.replace(annotations=ds.annotations[:1]), {"test": 1})
    d = _detail(app, 0)
    r = _save(app, [{"id": 0, "objects": d["objects"]}], base=base, status=409)
    assert r["current_revision"] == "pets@2"
    assert wait_loaded(app)["revision"] == "pets@2"          # the app followed


def test_new_classes_and_objects_naming_them(app):
    out = _save(app, [{"id": 2, "objects": [
        {"class_name": "bird", "box": [1, 1, 10, 10]},
        {"class_id": 1, "box": [0, 0, 64, 48], "attrs": {"tags": ["whole"]}}]}],
        classes=["bird"])
    assert out["classes"][-1] == {"id": 3, "name": "bird"}
    wait_loaded(app)
    ann = app.app.state.vf.dataset.annotations
    a2 = ann[ann.image_index == 2]
    assert a2.category_id.tolist() == [3, 1]
    assert a2.attr("tags").tolist() == [None, ["whole"]]
    classes = app.get("/api/classes").json()["classes"]
    assert [(c["name"], c["objects"]) for c in classes] == [("cat", 2), ("dog", 2), ("bird", 1)]


BAD = [
    ({"class_id": 9, "box": [1, 1, 5, 5]}, "object 2: class id 9 does not exist"),
    ({"class_id": True, "box": [1, 1, 5, 5]}, "object 2: class id true does not exist"),
    ({"box": [1, 1, 5, 5]}, "object 2: a new object needs class_id"),
    ({"class_id": 1, "box": [1, 1, "x", 5]}, "object 2: box must be [x, y, width, height]"),
    ({"class_id": 1, "box": [1, 1, 5]}, "object 2: box must be [x, y, width, height]"),
    ({"class_id": 1, "box": [1, 1, 0, 5]}, "object 2: box [1,1,0,5] has no area"),
    ({"class_id": 1, "box": [60, 1, 10, 5]}, "object 2: box [60,1,10,5] is outside the 64x48"),
    ({"class_id": 1, "box": [-3, 1, 10, 5]}, "is outside the 64x48 image"),
    ({"class_id": 1, "polygon": [[1, 1, 5, 5]]}, "object 2: polygon ring 0 must be >= 3 points"),
    ({"class_id": 1, "polygon": [[1, 1, 5, 5, 9]]}, "polygon ring 0 must be >= 3 points"),
    ({"class_id": 1, "polygon": [[1, 1, 5, 5, 9, 99]]}, "polygon ring 0 leaves the 64x48 image"),
    ({"class_id": 1, "polygon": "1,2,3"}, "polygon must be a list of rings"),
    ({"class_id": 1, "obb": [1, 2, 3]}, "obb must be 4 corners"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "keypoints": [[1, 2]]}, "keypoints must be a list of"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "keypoints": [[1, 2, 7]]}, "keypoint 0 [1,2,7]"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "rle": {"counts": "x", "size": [48, 64]}},
     "masks (rle) cannot be drawn here"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "score": "high"}, "score 'high' is not a number"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "attrs": []}, "object 2: attrs: expected an object"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "attrs": {"iscrowd": 1}}, "attrs.iscrowd must be"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "ann_id": 3}, "ann_id 3 is not an object of this image"),
    ({"class_id": 1, "box": [1, 1, 5, 5], "ann_id": 1}, "ann_id 1 is listed twice"),
    ({"class_name": "nope", "box": [1, 1, 5, 5]}, "object 2: no class named 'nope'"),
    ("box", "object 2: expected an object"),
]


@pytest.mark.parametrize("obj,message", BAD)
def test_an_invalid_object_is_a_400_naming_image_and_object(app, obj, message):
    d = _detail(app, 0)
    r = _save(app, [{"id": 0, "objects": [*d["objects"], obj]}], status=400)
    assert r["error"].startswith("image 0 (a.png), object 2: ") or "object" not in message
    assert message in r["error"], r["error"]
    assert "\n" not in r["error"]
    assert app.app.state.vf.revision == "pets@1"                  # nothing saved


BAD_BODIES = [
    ([], 400, "the request body: expected a JSON object"),
    ({"images": []}, 400, "base_revision: give the revision"),
    ({"base_revision": "pets@1", "images": {}}, 400, "images: expected a list"),
    ({"base_revision": "pets@1", "images": [{"id": 0, "objects": {}}]}, 400,
     "image 0 (a.png): objects: expected a list"),
    ({"base_revision": "pets@1", "images": [{"id": 0, "tags": "x"}]}, 400,
     "tags: expected a list of text tags"),
    ({"base_revision": "pets@1", "images": [{"id": 0, "tags": [""]}]}, 400, "tag '' is not text"),
    ({"base_revision": "pets@1", "images": [{"id": 0, "tags": []}, {"id": 0, "tags": []}]}, 400,
     "image 0 (a.png): listed twice in one save"),
    ({"base_revision": "pets@1", "images": [{"id": 3, "objects": []}]}, 404,
     "image id '3': no such"),
    ({"base_revision": "pets@1", "images": [{"id": -1, "objects": []}]}, 404, "no such image"),
    ({"base_revision": "pets@1", "images": [{"id": "../../etc/passwd", "objects": []}]}, 404,
     "not an image id"),
    ({"base_revision": "pets@1", "images": [], "classes": [""]}, 400, "classes[0]: a class name"),
    ({"base_revision": "pets@1", "images": []}, 400, "nothing to save"),
]


@pytest.mark.parametrize("body,status,message", BAD_BODIES)
def test_invalid_save_bodies(app, body, status, message):
    r = app.post("/api/save", json=body, headers=AUTH)
    assert r.status_code == status, r.text
    assert message in r.json()["error"]


def test_a_body_that_is_not_json(app):
    r = app.post("/api/save", content=b"{nope", headers=AUTH)
    assert r.status_code == 400
    assert r.json()["error"].startswith("/api/save: the request body is not valid JSON")


def test_a_folder_is_read_only_until_a_workspace_is_made(tmp_path):
    from ..conftest import tree_snapshot
    from ..versioning.helpers import write_coco
    from .write_helpers import BOXES
    src = write_coco(tmp_path / "data", BOXES)
    before = tree_snapshot(src)
    client, state = open_app(src)
    meta = client.get("/api/meta").json()
    assert meta["kind"] == "folder" and meta["read_only"]
    d = _detail(client, 0)
    r = _save(client, [{"id": 0, "objects": d["objects"][:1]}], status=409)
    assert "opened read-only: create a workspace first" in r["error"]
    # a workspace inside the dataset folder is refused: the source is never modified
    for path, message in ((str(src / "ws"), "lies inside the dataset folder"),
                          (str(src), "lies inside the dataset folder"),
                          ("relative/ws", "give an absolute path"), ("", "path: give the folder")):
        r = client.post("/api/workspace", json={"path": path}, headers=AUTH)
        assert r.status_code == 400 and message in r.json()["error"], r.text
    r = client.post("/api/workspace", json={"path": str(tmp_path / "ws"), "source": "a b"},
                    headers=AUTH)
    assert r.status_code == 400 and "source name 'a b' is not valid" in r.json()["error"]
    assert not (tmp_path / "ws").exists()                     # nothing left behind
    r = client.post("/api/workspace", json={"path": str(tmp_path / "ws"), "source": "data"},
                    headers=AUTH)
    assert r.status_code == 200, r.text
    meta = r.json()
    assert meta["kind"] == "workspace" and meta["revision"] == "data@1"
    assert not meta["read_only"]
    client.app.state.vf.wait_loaded(60)
    d = _detail(client, 0)
    out = _save(client, [{"id": 0, "objects": d["objects"][:1]}])
    assert out["revision"] == "data@2"
    r = client.post("/api/workspace", json={"path": str(tmp_path / "ws2")}, headers=AUTH)
    assert r.status_code == 409 and "already a workspace" in r.json()["error"]
    assert tree_snapshot(src) == before
    close(client.app.state.vf)
    close(state)


def test_making_a_workspace_where_one_exists_is_refused_and_leaves_it(tmp_path):
    from ..versioning.helpers import write_coco
    from .write_helpers import BOXES
    src = write_coco(tmp_path / "data", BOXES)
    existing = make_workspace(tmp_path / "other")
    client, state = open_app(src)
    r = client.post("/api/workspace", json={"path": str(existing)}, headers=AUTH)
    assert r.status_code == 400 and "already a visionflow workspace" in r.json()["error"]
    with Workspace.open(existing) as ws:
        assert [s["name"] for s in ws.sources()] == ["pets"]
    close(state)


# -- classes ------------------------------------------------------------------------------------

def test_classes_rename_and_merge_make_a_new_revision(app):
    r = app.get("/api/classes").json()
    assert [(c["id"], c["name"], c["per_split"]) for c in r["classes"]] == [
        (1, "cat", {"train": 1}), (2, "dog", {"train": 2})]
    r = app.post("/api/classes", json={"base_revision": "pets@1", "rename": {"cat": "kitty"}},
                 headers=AUTH)
    assert r.status_code == 200 and r.json()["revision"] == "pets@2"
    wait_loaded(app)
    r = app.post("/api/classes", json={"base_revision": "pets@2", "merge": {"kitty": "dog"}},
                 headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["classes"] == [{"id": 2, "name": "dog"}]     # dog keeps its id
    wait_loaded(app)
    ds = app.app.state.vf.dataset
    assert ds.annotations.category_id.tolist() == [2, 2, 2]
    assert ds.annotations.xyxy.tolist() == app.app.state.vf.workspace.load(
        "pets@1").annotations.xyxy.tolist()


@pytest.mark.parametrize("body,message", [
    ({"rename": {"cow": "x"}}, "rename: no class named 'cow'"),
    ({"rename": {"cat": "dog"}}, "class 'dog' exists; merge into it"),
    ({"rename": {"cat": ""}}, "the new name must be 1..200"),
    ({"rename": {"cat": "x", "dog": "x"}}, "two classes would get the same name"),
    ({"merge": {"cat": "cow"}}, "no class named 'cow'; rename 'cat' instead"),
    ({"merge": {"cow": "cat"}}, "merge: no class named 'cow'"),
    ({"merge": {"cat": "cat"}}, "cannot be merged into itself"),
    ({"merge": {"cat": "dog", "dog": "cat"}}, "into a merged class"),
    ({}, "give rename: {old: new} and/or merge"),
    ({"rename": ["cat"]}, "rename: expected an object"),
])
def test_bad_class_changes(app, body, message):
    r = app.post("/api/classes", json={"base_revision": "pets@1", **body}, headers=AUTH)
    assert r.status_code == 400 and message in r.json()["error"], r.text


def test_class_change_from_an_old_base_conflicts(app):
    _save(app, [{"id": 2, "objects": [{"class_id": 1, "box": [1, 1, 4, 4]}]}])
    r = app.post("/api/classes", json={"base_revision": "pets@1", "rename": {"cat": "x"}},
                 headers=AUTH)
    assert r.status_code == 409 and r.json()["current_revision"] == "pets@2"


# -- the invariant: what the detail shows, sent back, is what is stored ---------------------------

coords = st.floats(0, 40, allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(boxes=st.lists(st.tuples(coords, coords, st.floats(0.001, 20), st.floats(0.001, 7)),
                      min_size=1, max_size=5),
       drop=st.integers(0, 4), move=st.floats(-0.4, 0.4))
def test_round_trip_through_the_detail_keeps_every_untouched_value(boxes, drop, move):
    """apply_edits with the detail's (rounded) objects leaves untouched objects bit-equal;
    the one edited box is exactly the client's."""
    import visionflow as vf
    from visionflow.app.routes_browse import _object
    from visionflow.app.routes_edit import apply_edits
    ann = vf.Annotations.build([0] * len(boxes), [1] * len(boxes),
                               [[x, y, x + w, y + h] for x, y, w, h in boxes],
                               score=np.linspace(0.1, 0.9, len(boxes)))
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [64], [48]), ann,
                    vf.Categories.from_names(["a", "b"]))
    objs = [json.loads(json.dumps(_object(ann, k))) for k in range(len(ann))]
    same = apply_edits(ds, [{"id": 0, "objects": objs}], [])
    assert not same.differences(ds)
    k = drop % len(objs)
    x, y, w, h = objs[k]["box"]
    new_box = [min(max(x + move, 0), 40.0), y, w, h]
    objs[k]["box"] = new_box
    if new_box == _object(ann, k)["box"]:
        return
    edited = apply_edits(ds, [{"id": 0, "objects": objs}], [])
    keep = np.arange(len(ann)) != k
    assert edited.annotations.xyxy[keep].tolist() == ds.annotations.xyxy[keep].tolist()
    assert edited.annotations.xyxy[k].tolist() == [new_box[0], y, new_box[0] + w, y + h]
    assert edited.annotations.score.tolist() == ds.annotations.score.tolist()


# -- a real dataset: the COCO export holds exactly the edit ---------------------------------------

def _coco(folder: Path) -> dict:
    """file name -> Counter of (class, bbox, segmentation) as the COCO files hold them
    (rounded to 2 decimals), plus "_categories"."""
    from collections import Counter
    out: dict = {}
    for f in sorted((folder / "annotations").glob("*.json")):
        doc = json.loads(f.read_text())
        names = {im["id"]: im["file_name"] for im in doc["images"]}
        cats = {c["id"]: c["name"] for c in doc["categories"]}
        out["_categories"] = sorted(cats.values())
        for im in doc["images"]:
            out.setdefault(im["file_name"], Counter())
        for a in doc["annotations"]:
            seg = a.get("segmentation") or []
            out[names[a["image_id"]]][(cats[a["category_id"]], _r(a["bbox"]),
                                       tuple(_r(ring) for ring in seg))] += 1
    return out


def _r(values) -> tuple:
    return tuple(round(float(v), 2) for v in values)


def test_real_dataset_save_exports_to_coco_with_exactly_the_edit(tmp_path):
    src = shared_path("ultralytics-hub-datasets", "coco8")
    with Workspace.init(tmp_path / "ws") as ws:
        ws.add(src, name="coco8")
    client, state = open_app(tmp_path / "ws")
    meta = client.get("/api/meta").json()
    names = {c["id"]: c["name"] for c in meta["classes"]}
    ids = {n: i for i, n in names.items()}
    row = next(i for i in range(meta["images"]) if len(_detail(client, i)["objects"]) >= 2)
    d = _detail(client, row)
    w, h = d["width"], d["height"]
    objs = d["objects"]
    stored = state.dataset.annotations
    xyxy = stored.xyxy[stored.image_index == row]
    old0 = (names[objs[0]["class_id"]], _r([*xyxy[0][:2], *(xyxy[0][2:] - xyxy[0][:2])]), ())
    old1 = (names[objs[1]["class_id"]], _r([*xyxy[1][:2], *(xyxy[1][2:] - xyxy[1][:2])]), ())
    new_class = ids["dog"] if objs[1]["class_id"] != ids["dog"] else ids["cat"]
    ring = [5, 5, w / 2, 5, w / 2, h / 3, 5, h / 4]
    objs[0]["box"] = [10.0, 20.0, 100.0, 50.0]                     # changed box
    objs[1]["class_id"] = new_class                                # class changed
    objs.append({"class_id": ids["person"], "polygon": [ring]})    # added polygon
    _save(client, [{"id": row, "objects": objs}], base=meta["revision"])
    ws = state.workspace
    ws.export("coco8@1", tmp_path / "before", "coco")
    ws.export("coco8@2", tmp_path / "after", "coco")
    before, after = _coco(tmp_path / "before"), _coco(tmp_path / "after")
    assert set(before) == set(after) and before["_categories"] == after["_categories"]
    for key in before:
        if key != d["file"]:
            assert before[key] == after[key], key                  # nothing else changed
    a, b = before[d["file"]], after[d["file"]]
    assert a - b == {old0: 1, old1: 1} if old0 != old1 else {old0: 2}
    assert b - a == {
        (old0[0], (10.0, 20.0, 100.0, 50.0), ()): 1,
        (names[new_class], old1[1], ()): 1,
        ("person", _r([5, 5, w / 2 - 5, h / 3 - 5]), (_r(ring),)): 1}
    close(state)
