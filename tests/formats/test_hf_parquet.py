"""Hugging Face datasets on Parquet (data/<split>-00000-of-00001.parquet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _dataset(tmp: Path) -> vf.Dataset:
    a = make_image(tmp / "src" / "a.png", (40, 30))
    b = make_image(tmp / "src" / "b.jpg", (64, 48))
    c = make_image(tmp / "src" / "c.jpg", (20, 20))
    return vf.Dataset(
        vf.Images.build(["a.png", "b.jpg", "c.jpg"], [40, 64, 20], [30, 48, 20],
                        split=["train", "val", "val"], path=[str(a), str(b), str(c)],
                        id=[7, 9, 3]),
        vf.Annotations.build([0, 0, 1], [5, 2, 5], [[1, 2, 10.5, 20], [0, 0, 40, 30],
                                                    [3, 3, 9, 9.25]], id=[11, 12, 13]),
        vf.Categories([vf.Category(5, "cat"), vf.Category(2, "dog")]))


def test_round_trip_embeds_images_and_keeps_ids(tmp_path):
    ds = _dataset(tmp_path)
    report = vf.write(ds, tmp_path / "out", "hf-parquet")
    assert not report.findings
    files = sorted(p.name for p in (tmp_path / "out" / "data").iterdir())
    assert files == ["train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    table = pq.read_table(tmp_path / "out" / "data" / "train-00000-of-00001.parquet")
    row = table.to_pylist()[0]
    assert row["image"]["path"] == "a.png"
    assert row["image"]["bytes"] == (tmp_path / "src" / "a.png").read_bytes()
    assert row["objects"]["bbox"] == [[1.0, 2.0, 9.5, 18.0], [0.0, 0.0, 40.0, 30.0]]
    assert row["objects"]["category"] == [0, 1]  # ClassLabel index
    assert vf.detect(tmp_path / "out")[0].format == "hf-parquet"
    back = vf.load(tmp_path / "out", image_dir=str(tmp_path / "cache"))
    assert not back.differences(ds)
    assert back.categories.ids == [5, 2]
    assert Path(back.images.path[1]).read_bytes() == (tmp_path / "src" / "b.jpg").read_bytes()
    # One split file named directly.
    one = vf.load(tmp_path / "out" / "data" / "validation-00000-of-00001.parquet",
                  image_dir=str(tmp_path / "cache"))
    assert one.images.split.tolist() == ["val", "val"] and len(one.annotations) == 1


def test_unsplit_and_images_none(tmp_path):
    ds = _dataset(tmp_path)
    ds = ds.replace(images=ds.images.replace(split=np.array(["", "", ""], object)))
    vf.write(ds, tmp_path / "out", "hf-parquet", images="none")
    table = pq.read_table(tmp_path / "out" / "data" / "train-00000-of-00001.parquet")
    assert table.column("image").to_pylist()[0] == {"bytes": None, "path": "a.png"}
    back = vf.load(tmp_path / "out")
    assert back.images.split.tolist() == ["", "", ""]
    assert list(back.images.path) == [None, None, None]  # no bytes, no file beside


def _write_table(path: Path, rows: dict, metadata: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pydict(rows)
    if metadata:
        table = table.replace_schema_metadata(metadata)
    pq.write_table(table, path)
    return path


def test_class_names_as_strings_and_xyxy_option(tmp_path):
    make_image(tmp_path / "ds" / "images" / "x.jpg", (50, 40))
    _write_table(tmp_path / "ds" / "data" / "test-00000-of-00001.parquet", {
        "image": [{"bytes": None, "path": "images/x.jpg"}],
        "objects": [{"bbox": [[1.0, 2.0, 11.0, 12.0]], "category": ["zebra"]}]})
    ds = vf.load(tmp_path / "ds", bbox_format="xyxy")
    assert ds.images.split.tolist() == ["test"] and ds.images.width.tolist() == [50]
    assert ds.categories.names == ["zebra"]
    np.testing.assert_array_equal(ds.annotations.xyxy, [[1, 2, 11, 12]])
    assert ds.images.path[0] == str((tmp_path / "ds" / "images" / "x.jpg").absolute())


@pytest.mark.parametrize("objects, problem", [
    ({"bbox": [[1.0, 2.0, 3.0]], "category": [0]}, "record 0 object 0: bbox must be 4 numbers"),
    ({"bbox": [[1.0, 2.0, 3.0, 4.0]], "category": [0, 1]},
     "record 0: objects.bbox has 1 entries but objects.category 2"),
    ({"bbox": [[1.0, 2.0, 3.0, 4.0]], "category": [3]},
     "record 0 object 0: category 3 is not a class index 0..0"),
])
def test_bad_objects(tmp_path, objects, problem):
    features = (b'{"info": {"features": {"objects": {"feature": {"category": {"names": ["a"], '
                b'"_type": "ClassLabel"}}, "_type": "Sequence"}}}}')
    file = _write_table(tmp_path / "ds" / "data" / "train-00000-of-00001.parquet", {
        "image": [{"bytes": None, "path": "x.jpg"}], "width": [50], "height": [40],
        "objects": [objects]}, {b"huggingface": features})
    with pytest.raises(vf.ParseError) as e:
        vf.load(tmp_path / "ds", "hf-parquet")
    assert str(file) in str(e.value) and problem in str(e.value)


@pytest.mark.parametrize("path, error, problem", [
    ("../secret.jpg", vf.UnsafeInputError, "points outside the dataset folder"),
    ("/etc/passwd", vf.UnsafeInputError, "is an absolute path"),
])
def test_image_paths_stay_inside(tmp_path, path, error, problem):
    _write_table(tmp_path / "ds" / "train.parquet", {
        "image": [{"bytes": None, "path": path}], "width": [5], "height": [5],
        "objects": [{"bbox": [], "category": []}]})
    with pytest.raises(error, match=problem) as e:
        vf.load(tmp_path / "ds", "hf-parquet")
    assert "train.parquet: record 0" in str(e.value)


def test_not_parquet(tmp_path):
    (tmp_path / "ds" / "data").mkdir(parents=True)
    (tmp_path / "ds" / "data" / "train-00000-of-00001.parquet").write_text("not parquet")
    assert all(d.format != "hf-parquet" for d in vf.detect(tmp_path / "ds"))
    with pytest.raises(vf.ParseError, match=r"train-00000-of-00001.parquet: cannot read Parquet"):
        vf.load(tmp_path / "ds", "hf-parquet")


def test_no_size_and_no_image(tmp_path):
    _write_table(tmp_path / "ds" / "train.parquet", {
        "image": [{"bytes": None, "path": "gone.jpg"}],
        "objects": [{"bbox": [], "category": []}]})
    with pytest.raises(vf.MissingImageError, match=r"train.parquet: record 0: no width/height"):
        vf.load(tmp_path / "ds", "hf-parquet")
