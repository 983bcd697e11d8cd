"""`embed(..., engine='ray')` on a real local Ray instance gives the rows the local engine
gives, reuses the store, and reports unreadable images the same way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.report import Report
from visionflow.embeddings import embed, load_embedder

from .embed_fixtures import CountingEmbedder, photo, write_photos

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'visionflow[ray]')")
pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'visionflow[embed]')")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def same(a, b) -> None:
    assert a.image_rows.tolist() == b.image_rows.tolist()
    assert a.object_rows.tolist() == b.object_rows.tolist()
    assert a.shas.tolist() == b.shas.tolist()
    assert np.array_equal(a.vectors, b.vectors)


def test_ray_rows_equal_local_rows_and_reuse_the_store(tmp_path, local_ray):
    boxes = {0: [[10, 8, 40, 30], [50, 20, 30, 30]], 3: []}
    ds = vf.load(write_photos(tmp_path / "data", 7, boxes=boxes))
    Path(ds.images.path[5]).write_bytes(b"not an image")
    local_report, ray_report = Report(), Report()
    local = embed(ds, CountingEmbedder(), patches=True, store=None, report=local_report)
    remote = embed(ds, CountingEmbedder(), patches=True, engine="ray", workers=2, batch=3,
                   store=tmp_path / "s", report=ray_report)
    same(local, remote)
    assert remote.computed == len(remote) == 6 + 6  # 6 readable images, their 6 boxes
    assert [(f.code, Path(f.where).name) for f in ray_report.findings] == \
        [(f.code, Path(f.where).name) for f in local_report.findings] == [("skipped", "img5.png")]
    photo("rocket", (90, 70)).save(ds.images.path[1])  # one image changes
    again = embed(ds, CountingEmbedder(), patches=True, engine="ray", workers=2,
                  store=tmp_path / "s", report=Report())
    assert (again.computed, again.reused) == (2, len(again) - 2)  # image 1 and its box
    same(again, embed(ds, CountingEmbedder(), patches=True, store=None, report=Report()))


def test_ray_runs_a_model_embedder_like_local(tmp_path, local_ray, monkeypatch):
    from .tiny_models import save_tiny
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_embedder(save_tiny("clip", tmp_path / "clip"))
    ds = vf.load(write_photos(tmp_path / "data", 4))
    local = embed(ds, model, store=None)
    remote = embed(ds, model, engine="ray", store=None)  # the model is rebuilt in an actor
    assert remote.image_rows.tolist() == local.image_rows.tolist()
    np.testing.assert_allclose(remote.vectors, local.vectors, atol=1e-5)
