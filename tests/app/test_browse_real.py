"""The browse routes on real datasets from ../shared (skipped when absent): a VOC folder
opened read-only, a Roboflow COCO export with a class name used by two ids imported into a
workspace, and YOLO segmentation polygons in the image view."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

import visionflow as vf

from ..conftest import shared_path, tree_snapshot

pytest.importorskip("fastapi")
from fastapi import FastAPI  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from visionflow.app.routes_browse import router  # noqa: E402
from visionflow.app.state import AppState  # noqa: E402


def client_for(path, **kwargs) -> tuple[TestClient, AppState]:
    app = FastAPI()
    app.include_router(router)
    app.state.vf = AppState.open(path, **kwargs)
    return TestClient(app), app.state.vf


def test_raccoon_voc_folder(tmp_path) -> None:
    src = shared_path("raccoon", "annotations")
    before = tree_snapshot(src.parent / "images")
    client, state = client_for(src, background=False)
    ref = vf.load(src, errors="keep")
    meta = client.get("/api/meta").json()
    assert meta["images"] == len(ref.images) == 200 and meta["read_only"]
    assert meta["objects"] == len(ref.annotations)
    # images with two or more raccoons, computed straight from the dataset
    counts = np.bincount(ref.annotations.image_index, minlength=len(ref.images))
    page = client.get("/api/images?count=raccoon:2:&limit=1000").json()
    assert [i["id"] for i in page["items"]] == np.flatnonzero(counts >= 2).tolist()
    wide = client.get("/api/images?aspect=1.5:&limit=1000").json()["total"]
    assert wide == int((ref.images.width / ref.images.height >= 1.5).sum())
    thumb = client.get("/api/images/7/thumb?size=128")
    im = Image.open(io.BytesIO(thumb.content))
    assert max(im.size) == 128 and im.format == "JPEG"
    health = client.get("/api/health").json()
    assert health["ready"] and health["total"] >= 1
    for code in {c["code"] for c in health["codes"] if c["images"]}:
        got = client.get(f"/api/images?finding={code}&limit=1000").json()["total"]
        assert got == next(c["images"] for c in health["codes"] if c["code"] == code)
    assert tree_snapshot(src.parent / "images") == before


def test_roboflow_export_with_a_repeated_class_name_in_a_workspace(tmp_path) -> None:
    src = shared_path("roboflow-facemask-coco")
    ws = vf.Workspace.init(tmp_path / "ws")
    ws.add(src, name="masks")
    ref = ws.load("masks@latest")
    ws.close()
    client, state = client_for(tmp_path / "ws", findings=False)
    names = [c["name"] for c in client.get("/api/meta").json()["classes"]]
    assert names.count("Mask") == 2                       # the export's quirk, kept
    facets = client.get("/api/facets").json()
    mask_ids = [c.id for c in ref.categories if c.name == "Mask"]
    has = np.zeros(len(ref.images), bool)
    has[ref.annotations.image_index[np.isin(ref.annotations.category_id, mask_ids)]] = True
    assert facets["class"]["Mask"] == int(has.sum())      # one facet for the name
    got = client.get("/api/images?class=Mask&limit=1000").json()
    assert [i["id"] for i in got["items"]] == np.flatnonzero(has).tolist()
    assert set(facets["split"]) == set(ref.splits)
    for split in ref.splits:
        assert facets["split"][split] == int((ref.images.split == split).sum())


def test_yolo_polygons_in_the_image_view() -> None:
    src = shared_path("ultralytics-hub-datasets", "coco8-seg")
    client, state = client_for(src, findings=False)
    ds = state.dataset
    row = int(ds.annotations.image_index[0])
    d = client.get(f"/api/images/{row}").json()
    rings = ds.annotations[ds.annotations.image_index == row].polygons
    assert [o["polygon"] is not None for o in d["objects"]] == (rings.counts() > 0).tolist()
    first = rings.rings(0)[0]
    np.testing.assert_allclose(np.asarray(d["objects"][0]["polygon"][0]).reshape(-1, 2), first,
                               atol=1e-3)
