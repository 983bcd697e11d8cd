"""The web app's read-only routes (routes_browse) over a folder and over a workspace: meta,
grid, facets, detail, thumbnails, files, health, bad ids and filters, path traversal,
reloading a new revision, prediction outcomes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf

from ..conftest import tree_snapshot

pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from visionflow.app.index import Index  # noqa: E402
from visionflow.app.routes_browse import router  # noqa: E402
from visionflow.app.state import AppState, _index_from_db  # noqa: E402

FILES = ["a.jpg", "b.png", "c.jpg", "d.jpg", "e.jpg"]
SIZES = [(64, 48), (32, 32), (80, 40), (40, 80), (50, 50)]
SPLITS = ["train", "train", "val", "val", "train"]
TAGS = [["review"], None, ["night", "review"], None, None]


def make_dataset(root: Path) -> Path:
    """A native visionflow dataset of 5 images: classes cat/dog/bird, a polygon, tags, one
    image without objects, one box outside its image (d.jpg)."""
    pics = root / "pics"
    pics.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, (f, (w, h)) in enumerate(zip(FILES, SIZES)):   # noise: no two look alike
        noise = np.random.default_rng(k).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(noise).save(pics / f)
        paths.append(str(pics / f))
    images = vf.Images.build(FILES, [w for w, _ in SIZES], [h for _, h in SIZES], split=SPLITS,
                             path=paths, attrs={"tags": TAGS})
    square = np.array([[2, 2], [20, 2], [20, 20], [2, 20]], float)
    ann = vf.Annotations.from_objects(
        [0, 0, 1, 2, 2, 2, 3], [1, 2, 1, 2, 2, 3, 1],
        [[2, 2, 20, 20], [30, 10, 60, 40], [0, 0, 32, 32], [1, 1, 5, 5], [10, 10, 70, 30],
         [0, 0, 80, 40], [30, 70, 60, 90]],
        rings=[[square], [], [], [], [], [], []])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat", "dog", "bird"]))
    out = root / "data"
    ds.export(out, "visionflow", images="copy")
    return out


def client_for(path: Path, **kwargs) -> tuple[TestClient, AppState]:
    app = FastAPI()
    app.include_router(router)
    state = AppState.open(path, **kwargs)
    app.state.vf = state
    return TestClient(app), state


@pytest.fixture
def folder(tmp_path) -> Path:
    return make_dataset(tmp_path)


@pytest.fixture
def workspace(tmp_path) -> Path:
    src = make_dataset(tmp_path)
    ws = vf.Workspace.init(tmp_path / "ws")
    ws.add(src, name="shapes", errors="keep")
    ws.close()
    return tmp_path / "ws"


def test_meta_grid_and_facets_of_a_folder(folder) -> None:
    before = tree_snapshot(folder)
    client, state = client_for(folder, findings=False)
    meta = client.get("/api/meta").json()
    assert meta["kind"] == "folder" and meta["read_only"] is True
    assert meta["revision"].startswith("folder:") and meta["images"] == 5
    assert meta["objects"] == 7 and meta["splits"] == ["train", "val"]
    assert [c["name"] for c in meta["classes"]] == ["cat", "dog", "bird"]
    assert all(c["color"].startswith("#") and len(c["color"]) == 7 for c in meta["classes"])

    page = client.get("/api/images?limit=2&offset=1").json()
    assert page["total"] == 5 and [i["id"] for i in page["items"]] == [1, 2]
    c = page["items"][1]
    assert (c["file"], c["split"], c["width"], c["height"], c["objects"]) == \
        ("c.jpg", "val", 80, 40, 3)
    assert c["boxes"][1] == [2, 10.0, 10.0, 60.0, 20.0]        # [class id, x, y, w, h]

    got = client.get("/api/images?class=dog&split=train").json()
    assert [i["id"] for i in got["items"]] == [0]
    assert client.get("/api/images?empty=1").json()["items"][0]["file"] == "e.jpg"
    assert [i["id"] for i in client.get("/api/images?tag=review").json()["items"]] == [0, 2]
    assert [i["id"] for i in client.get("/api/images?count=dog:2:").json()["items"]] == [2]
    assert [i["id"] for i in client.get("/api/images?q=.PNG").json()["items"]] == [1]
    assert client.get("/api/images?class=cat&class=dog").json()["total"] == 1   # AND
    assert client.get("/api/images?class=cat,dog").json()["total"] == 4         # OR

    f = client.get("/api/facets?split=val").json()
    assert f["total"] == 2
    assert f["split"] == {"train": 3, "val": 2}          # the split facet ignores split=
    assert f["class"] == {"cat": 1, "dog": 1, "bird": 1}
    assert f["tag"] == {"night": 1, "review": 1}
    assert sum(f["width"]["counts"]) == 2 and f["empty"] == {"empty": 0, "with_objects": 2}
    assert tree_snapshot(folder) == before


def test_image_detail_with_neighbours_in_the_filter(folder) -> None:
    client, _ = client_for(folder, findings=False)
    d = client.get("/api/images/0").json()
    assert d["file"] == "a.jpg" and d["tags"] == ["review"]
    assert [o["class_id"] for o in d["objects"]] == [1, 2]
    assert d["objects"][0]["polygon"] == [[2.0, 2.0, 20.0, 2.0, 20.0, 20.0, 2.0, 20.0]]
    assert d["objects"][1]["polygon"] is None and d["objects"][1]["box"] == [30, 10, 30, 30]
    assert (d["prev"], d["next"]) == (None, 1)
    d = client.get("/api/images/2?class=cat").json()
    assert (d["prev"], d["next"]) == (1, 3)                # 2 itself has no cat
    d = client.get("/api/images/3?class=cat").json()
    assert (d["prev"], d["next"]) == (1, None)


def test_thumbnails_are_made_once_cached_outside_the_source_and_revalidated(folder) -> None:
    before = tree_snapshot(folder)
    client, state = client_for(folder, findings=False)
    r = client.get("/api/images/2/thumb?size=32")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    im = Image.open(io.BytesIO(r.content))
    assert im.format == "JPEG" and max(im.size) == 64 and im.size == (64, 32)  # snapped to 64
    cached = list((state.cache_dir / "thumbs").rglob("*.jpg"))
    assert len(cached) == 1 and cached[0].read_bytes() == r.content
    assert not str(state.cache_dir).startswith(str(folder))
    assert r.headers["cache-control"] == "no-cache"
    again = client.get("/api/images/2/thumb?size=32", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    forever = client.get(f"/api/images/2/thumb?size=32&rev={state.revision}")
    assert "immutable" in forever.headers["cache-control"]
    assert client.get("/api/images/2/thumb?size=4").status_code == 400
    assert client.get("/api/images/2/thumb?size=big").json()["error"].startswith("size=")
    f = client.get("/api/images/1/file")
    assert f.status_code == 200 and f.headers["content-type"] == "image/png"
    assert state.image_path(1).is_relative_to(folder)
    assert f.content == state.image_path(1).read_bytes()
    assert f.content == (folder.parent / "pics" / "b.png").read_bytes()
    assert tree_snapshot(folder) == before


@pytest.mark.parametrize("bad", ["-1", "5", "99999999999999999999999", "abc", "1.0", "+1",
                                 "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2fdata",
                                 "%2Fetc%2Fpasswd", "0x1", "1%00"])
@pytest.mark.parametrize("route", ["", "/thumb", "/file"])
def test_bad_ids_and_traversal_are_404_never_a_file(folder, bad, route) -> None:
    client, _ = client_for(folder, findings=False)
    r = client.get(f"/api/images/{bad}{route}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= {"error", "detail"} and "\n" not in str(body)


@pytest.mark.parametrize("query, fragment", [
    ("split=trian", "did you mean 'train'"), ("class=cow", "no class named 'cow'"),
    ("area=1:0", "lower bound is above"), ("limit=0", "limit=0: must be 1..1000"),
    ("offset=-3", "offset=-3"), ("limit=x", "not an integer"), ("colour=red", "unknown filter"),
    ("pred=x", "no prediction set"), ("similar=1", "no embeddings")])
def test_bad_filters_are_400_with_one_line(folder, query, fragment) -> None:
    client, _ = client_for(folder, findings=False)
    for route in ("/api/images", "/api/facets", "/api/images/0"):
        if route != "/api/images" and query.startswith(("limit", "offset")):
            continue
        r = client.get(f"{route}?{query}")
        assert r.status_code == 400, (route, query, r.text)
        assert fragment in r.json()["error"] and "\n" not in r.json()["error"]


def test_health_findings_and_the_finding_filter(folder) -> None:
    client, state = client_for(folder, findings=False)
    r = client.get("/api/images?finding=box.out_of_bounds")
    assert r.status_code == 409 and "still being computed" in r.json()["error"]
    assert client.get("/api/health").json() == {"ready": False, "revision": state.revision,
                                                "error": None}
    client, state = client_for(folder, background=False)
    assert client.get("/api/meta").json()["findings_ready"] is True
    h = client.get("/api/health").json()
    codes = {c["code"]: c for c in h["codes"]}
    assert codes["box.out_of_bounds"]["images"] == 1
    assert any(f["code"] == "box.out_of_bounds" and f["image_id"] == 3 for f in h["findings"])
    assert [i["id"] for i in client.get("/api/images?finding=box.out_of_bounds").json()["items"]] \
        == [3]
    assert client.get("/api/facets").json()["finding"]["box.out_of_bounds"] == 1
    d = client.get("/api/images/3").json()
    assert any(f["code"] == "box.out_of_bounds" for f in d["findings"])
    assert client.get("/api/health?limit=1").json()["findings"].__len__() == 1


def test_workspace_index_is_cached_and_follows_new_revisions(workspace, tmp_path) -> None:
    client, state = client_for(workspace, findings=False)
    meta = client.get("/api/meta").json()
    assert (meta["kind"], meta["read_only"], meta["source"], meta["revision"]) == \
        ("workspace", False, "shapes", "shapes@1")
    assert state.timings["index_cached"] is False
    assert state.wait_loaded(60) and state.loaded
    assert str(state.cache_dir).startswith(str(workspace / ".visionflow"))
    # the index built from the database rows equals the one built from the full dataset
    from_db = _index_from_db(state.workspace, state._ds_id, state.revision)
    from_ds = Index.from_dataset(state.dataset, state.revision)
    from .test_index_filters import assert_same_index
    assert_same_index(from_db, from_ds)
    thumb = client.get("/api/images/0/thumb")
    assert thumb.status_code == 200
    # a second start reads the index back from the cache
    client2, state2 = client_for(workspace, findings=False)
    assert state2.timings["index_cached"] is True
    assert client2.get("/api/images?class=dog").json() == client.get(
        "/api/images?class=dog").json()
    # a new revision: the reload shows it
    ws = state.workspace
    ds = state.dataset
    keep = np.ones(len(ds.images), bool)
    keep[1] = False
    ws.add_revision("shapes", ds[keep], {"edit": "test"})
    state.reload()
    meta = client.get("/api/meta").json()
    assert meta["revision"] == "shapes@2" and meta["images"] == 4
    assert [i["file"] for i in client.get("/api/images").json()["items"]] == \
        ["a.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert state.wait_loaded(60) and len(state.dataset.images) == 4


def test_prediction_outcomes_filter_and_facets(workspace, tmp_path) -> None:
    import orjson
    ws = vf.Workspace.open(workspace)
    ws.create_version("v1")
    gt = ws.load("v1")
    # a.jpg: one hit on its cat (TP) and one box on nothing (FP); its dog is missed (FN)
    preds = [{"image_id": int(gt.images.id[0]), "category_id": 1, "bbox": [2, 2, 18, 18],
              "score": 0.9},
             {"image_id": int(gt.images.id[4]), "category_id": 2, "bbox": [1, 1, 10, 10],
              "score": 0.4}]
    pred_file = tmp_path / "preds.json"
    pred_file.write_bytes(orjson.dumps(preds))
    from visionflow.evaluation.stored import import_predictions
    import_predictions(ws, "v1", pred_file, "model-a")
    ws.close()
    client, state = client_for(workspace, findings=False, background=False)
    assert client.get("/api/meta").json()["predictions"] == ["model-a"]
    ids = lambda q: [i["id"] for i in client.get(f"/api/images?{q}").json()["items"]]  # noqa
    assert ids("pred=model-a&outcome=tp") == [0]
    assert ids("pred=model-a&outcome=fp") == [4]
    assert 0 in ids("outcome=fn")
    assert ids("pred=model-a&outcome=tp,fp&conf=0.5:") == [0]
    f = client.get("/api/facets?pred=model-a").json()
    assert f["outcome"]["tp"] == 1 and f["outcome"]["fp"] == 1 and f["outcome"]["fn"] >= 1
    d = client.get("/api/images/0").json()
    assert [(p["class_id"], p["outcome"]) for p in d["predictions"]["model-a"]] == [(1, "tp")]
    assert d["objects"][1].get("missed_by") == ["model-a"]
    assert client.get("/api/images?pred=model-b").json()["error"].startswith("pred='model-b'")


def test_workspace_loads_and_checks_in_the_background_and_caches_findings(workspace) -> None:
    client, state = client_for(workspace)                 # the loader process does both
    assert client.get("/api/images?limit=1").json()["total"] == 5   # before the model
    assert state.wait_findings(120), state.error
    first = client.get("/api/health").json()
    assert first["ready"] and any(c["code"] == "box.out_of_bounds" for c in first["codes"])
    assert [i["id"] for i in client.get("/api/images?finding=box.out_of_bounds").json()
            ["items"]] == [3]
    assert list((state.cache_dir / "findings").glob("*.json"))
    again_client, again = client_for(workspace)           # read back, not computed again
    assert again.wait_findings(60)
    assert again_client.get("/api/health").json() == first


def test_a_broken_model_blob_is_one_line_not_a_hang(workspace) -> None:
    import sqlite3
    con = sqlite3.connect(workspace / ".visionflow" / "workspace.db")
    (sha,) = con.execute("SELECT model_sha256 FROM datasets").fetchone()
    con.close()
    blob = workspace / ".visionflow" / "blobs" / "sha256" / sha[:2] / sha[2:]
    blob.chmod(0o644)
    blob.write_bytes(b"not zlib")
    client, state = client_for(workspace)
    assert client.get("/api/images").json()["total"] == 5        # the grid does not need it
    state.wait_loaded(60)
    r = client.get("/api/images/0")
    assert r.status_code == 400 and "\n" not in r.json()["error"]
    assert "is corrupted" in r.json()["error"] and "visionflow verify" in r.json()["error"]
    assert client.get("/api/meta").json()["error"] == r.json()["error"]


def test_only_the_latest_index_caches_are_kept(workspace) -> None:
    from visionflow.app.state import KEEP_INDEXES, index_cache_folder
    ws = vf.Workspace.open(workspace)
    ds = ws.load("shapes@1")
    for k in range(KEEP_INDEXES + 2):                     # one revision per edit
        keep = np.ones(len(ds.images), bool)
        keep[k % len(ds.images)] = False
        ws.add_revision("shapes", ds[keep], {"edit": k})
        client, state = client_for(workspace, findings=False)
        assert state.wait_loaded(60)
        state.close()
    ws.close()
    cached = [p for p in index_cache_folder(workspace).iterdir() if p.is_dir()]
    assert len(cached) == KEEP_INDEXES


def test_requests_during_reloads_see_one_revision_each(workspace) -> None:
    import threading
    client, state = client_for(workspace, findings=False)
    assert state.wait_loaded(60)
    ds = state.dataset
    keep = np.ones(len(ds.images), bool)
    keep[0] = False
    state.workspace.add_revision("shapes", ds[keep], {"edit": "drop a.jpg"})
    files = {"shapes@1": FILES, "shapes@2": FILES[1:]}
    seen, problems = [], []

    def browse() -> None:
        for _ in range(15):
            page = client.get("/api/images?limit=10").json()
            got = [i["file"] for i in page["items"]]
            if got != files.get(page["revision"]):
                problems.append((page["revision"], got))
            seen.append(page["revision"])
            d = client.get("/api/images/0")
            if d.status_code == 200 and d.json()["file"] != files[d.json()["revision"]][0]:
                problems.append(d.json()["revision"])
            elif d.status_code not in (200, 409):
                problems.append(d.text)

    threads = [threading.Thread(target=browse) for _ in range(3)]
    for t in threads:
        t.start()
    state.reload()
    for t in threads:
        t.join()
    assert not problems
    assert seen[-1] == "shapes@2" or state.revision == "shapes@2"


def test_folder_reader_options_and_a_bad_path(folder, tmp_path) -> None:
    from visionflow.core.errors import Error
    client, state = client_for(folder, format="visionflow", findings=False)
    assert client.get("/api/meta").json()["images"] == 5
    with pytest.raises(Error, match="no such file or folder"):
        AppState.open(tmp_path / "nowhere")
    with pytest.raises(Error, match="unknown format 'yolov99'"):
        AppState.open(folder, format="yolov99")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Error, match="no known dataset format"):
        AppState.open(empty)


def test_workspace_sources(workspace, tmp_path) -> None:
    from visionflow.core.errors import Error
    vf.Workspace.init(tmp_path / "bare").close()
    with pytest.raises(Error, match="no sources yet; add one with 'visionflow add"):
        AppState.open(tmp_path / "bare")
    with pytest.raises(Error, match="no source named 'nope' \\(sources: shapes\\)"):
        AppState.open(workspace, source="nope")
    with pytest.raises(Error, match="a workspace is read as stored"):
        AppState.open(workspace, format="coco")
    ws = vf.Workspace.open(workspace)
    ws.add(make_dataset(tmp_path / "second"), name="other", errors="keep")
    ws.close()
    _, state = client_for(workspace, source="other", findings=False)
    assert state.revision == "other@1" and state.source == "other"


def test_reload_with_the_saved_dataset_decodes_nothing(workspace) -> None:
    client, state = client_for(workspace, findings=False)
    assert state.wait_loaded(60)
    ds = state.dataset
    keep = np.ones(len(ds.images), bool)
    keep[2] = False
    new = ds[keep]
    state.workspace.add_revision("shapes", new, {"edit": "drop c.jpg"})
    state.reload(dataset=new)
    assert state.loaded and state.dataset is new and state.revision == "shapes@2"
    assert [i["file"] for i in client.get("/api/images").json()["items"]] == \
        ["a.jpg", "b.png", "d.jpg", "e.jpg"]
    assert client.get("/api/images/2").json()["file"] == "d.jpg"
    from visionflow.app.state import _index_from_db
    from .test_index_filters import assert_same_index
    assert_same_index(state.index, _index_from_db(state.workspace, state._ds_id, state.revision))
    # a dataset that is not the new revision's is not trusted: the revision is decoded
    state.workspace.add_revision("shapes", ds, {"edit": "back"})
    state.reload(dataset=new)
    assert state.revision == "shapes@3" and state.wait_loaded(60)
    assert len(state.dataset.images) == 5


def test_closing_stops_the_loader_process(workspace) -> None:
    import multiprocessing
    import time
    client, state = client_for(workspace)                 # loads and checks in a process
    deadline = time.monotonic() + 20
    while not state._children and not state.findings_ready and time.monotonic() < deadline:
        time.sleep(0.01)
    state.close()
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in multiprocessing.active_children() if p.name ==
                "visionflow-app-loader"]
