"""Near-duplicate groups (dup=, from check's duplicate pairs) and similarity order
(similar=, from embeddings stored in the workspace) in the browse routes."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import visionflow as vf

from .test_browse_routes import client_for, make_dataset

pytest.importorskip("fastapi")


def test_duplicate_groups_from_check(tmp_path) -> None:
    src = make_dataset(tmp_path)
    # two more files with a.jpg's bytes: one group of three images
    ds = vf.load(src, errors="keep", report=vf.Report())
    first = ds.images.path[0]
    for name in ("f.jpg", "g.jpg"):
        shutil.copyfile(first, tmp_path / name)
    extra = vf.Images.build(["f.jpg", "g.jpg"], [64, 64], [48, 48], split="val",
                            path=[str(tmp_path / "f.jpg"), str(tmp_path / "g.jpg")],
                            attrs={"tags": [None, None]})
    both = vf.Dataset(vf.Images.concat([ds.images, extra]), ds.annotations, ds.categories)
    out = tmp_path / "with-dups"
    both.export(out, "visionflow", images="copy")
    client, state = client_for(out, background=False)
    ids = [i["id"] for i in client.get("/api/images?dup=1").json()["items"]]
    names = [state.index.file_name[i] for i in ids]
    assert sorted(names) == ["a.jpg", "f.jpg", "g.jpg"]
    assert client.get("/api/images?dup=0").json()["total"] == 4
    assert client.get("/api/facets").json()["dup"] == {"images": 3, "groups": 1}
    d = client.get(f"/api/images/{ids[0]}").json()
    assert sorted(d["duplicates"]) == sorted(ids[1:])
    assert client.get("/api/meta").json()["duplicates"] is True


def test_similar_orders_by_stored_embeddings(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    src = make_dataset(tmp_path)
    ws = vf.Workspace.init(tmp_path / "ws")
    ws.add(src, name="shapes", errors="keep")
    ds = ws.load("shapes@1")
    emb = vf.embed(ds, "phash", workers=1)            # stored in the workspace ('auto')
    ws.close()
    assert (tmp_path / "ws" / ".visionflow" / "embeddings").is_dir()
    client, state = client_for(tmp_path / "ws", findings=False, background=False)
    assert client.get("/api/meta").json()["embeddings"] is True
    # reference: Hamming distance of the packed hashes embed() returned, ties by id
    emb = emb.images_only()
    rows = np.asarray(emb.image_rows)
    bits = np.unpackbits(emb.vectors, axis=1).astype(int)
    anchor = bits[list(rows).index(2)]
    dist = np.full(len(ds.images), 10**9)
    dist[rows] = np.abs(bits - anchor).sum(axis=1)
    want = sorted(range(len(ds.images)), key=lambda i: (dist[i], i))
    got = client.get("/api/images?similar=2").json()
    assert [i["id"] for i in got["items"]] == want and want[0] == 2
    got = client.get("/api/images?similar=2&split=val").json()
    assert [i["id"] for i in got["items"]] == [i for i in want if ds.images.split[i] == "val"]
    d = client.get("/api/images/2?similar=2").json()
    assert d["prev"] is None and d["next"] == want[1]
    assert client.get("/api/images?similar=77").status_code == 400
