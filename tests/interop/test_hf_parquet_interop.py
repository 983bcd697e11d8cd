"""Hugging Face `datasets` loads our Parquet export, and we read what `datasets` writes."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image

pytestmark = pytest.mark.interop
datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


def test_datasets_loads_our_export(tmp_path):
    a = make_image(tmp_path / "src" / "a.png", (40, 30))
    b = make_image(tmp_path / "src" / "b.jpg", (64, 48))
    ds = vf.Dataset(
        vf.Images.build(["a.png", "b.jpg"], [40, 64], [30, 48], split=["train", "val"],
                        path=[str(a), str(b)]),
        vf.Annotations.build([0, 0, 1], [1, 2, 1], [[1, 2, 10.5, 20], [0, 0, 40, 30],
                                                    [3, 3, 9, 9.25]]),
        vf.Categories.from_names(["cat", "dog"]))
    vf.write(ds, tmp_path / "out", "hf-parquet")
    data = tmp_path / "out" / "data"
    loaded = datasets.load_dataset("parquet", data_files={
        "train": str(data / "train-00000-of-00001.parquet"),
        "validation": str(data / "validation-00000-of-00001.parquet")},
        cache_dir=str(tmp_path / "hf-cache"))
    names = loaded["train"].features["objects"]["category"].feature.names
    assert names == ["cat", "dog"]
    train, val = loaded["train"][0], loaded["validation"][0]
    assert train["objects"]["bbox"] == [[1.0, 2.0, 9.5, 18.0], [0.0, 0.0, 40.0, 30.0]]
    assert [names[c] for c in train["objects"]["category"]] == ["cat", "dog"]
    assert val["objects"]["bbox"] == [[3.0, 3.0, 6.0, 6.25]]
    assert train["image"].size == (40, 30) and val["image"].size == (64, 48)


def test_we_read_what_datasets_writes(tmp_path, monkeypatch):
    make_image(tmp_path / "ds" / "images" / "x.jpg", (50, 40))
    feats = datasets.Features({
        "image": datasets.Image(),
        "objects": datasets.Sequence({"bbox": datasets.Sequence(datasets.Value("float32"),
                                                                length=4),
                                      "category": datasets.ClassLabel(names=["car", "bus"])})})
    monkeypatch.chdir(tmp_path / "ds")  # datasets resolves relative paths from here
    embedded = make_image(tmp_path / "elsewhere" / "y.png", (30, 20)).read_bytes()
    d = datasets.Dataset.from_dict({
        "image": [{"bytes": None, "path": "images/x.jpg"}, {"bytes": embedded, "path": "y.png"}],
        "objects": [{"bbox": [[1, 2, 10, 20]], "category": [1]},
                    {"bbox": [[0, 0, 5, 5], [2, 2, 3, 3]], "category": [0, 0]}]},
        features=feats)
    d.to_parquet(str(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet"))
    ds = vf.load(tmp_path / "ds", image_dir=str(tmp_path / "cache"))
    assert ds.categories.names == ["car", "bus"]
    assert ds.images.file_name.tolist() == ["images/x.jpg", "y.png"]
    assert ds.images.width.tolist() == [50, 30] and ds.images.height.tolist() == [40, 20]
    assert ds.annotations.category_id.tolist() == [2, 1, 1]
    np.testing.assert_allclose(ds.annotations.xyxy, [[1, 2, 11, 22], [0, 0, 5, 5], [2, 2, 5, 5]])
