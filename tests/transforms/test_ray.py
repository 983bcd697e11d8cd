"""The Ray Data engine gives the same bytes as the local one (a real local Ray instance)."""

from __future__ import annotations

import pytest

from visionflow.transforms import Recipe, run

from .synth import dataset, tree_bytes

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'visionflow[ray]')")


def test_ray_engine_matches_local_bytes(tmp_path):
    ds = dataset(tmp_path, 4)
    recipe = Recipe.load({
        "preprocess": [{"resize": {"size": [64, 64], "mode": "fill"}}],
        "augment": {"copies": 2, "keep_original": True,
                    "ops": [{"flip": {"p": 0.5}}, {"rotate": {"limit": 10}}, {"noise": {}}, {"mosaic": {"p": 0.5}}]}})
    local = run(ds, recipe, tmp_path / "local", seed=11, workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        remote = run(ds, recipe, tmp_path / "ray", seed=11, engine="ray", workers=2)
    finally:
        ray.shutdown()
    assert tree_bytes(tmp_path / "local") == tree_bytes(tmp_path / "ray")
    assert not local.differences(remote)
    assert len(local.images) == 3 * 3 + 1  # train: 3 images x (original + 2 copies), val: 1
