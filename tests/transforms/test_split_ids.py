"""Ids when splits are re-cut or combined (ids numbered per split, as Roboflow does), what
`split` reports (renamed splits, ratios it could not reach) and augmenting a dataset without
splits (issue 11, items 3, 12 and 24)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.transforms import Recipe, rebalance, run, split
from visionflow.versioning.combine import combine

from ..conftest import make_image, shared_path
from .synth import photo

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def roboflow_coco(root: Path, per_split: int = 6, splits=("train", "valid", "test")) -> Path:
    """A Roboflow COCO export: every split's file numbers images and annotations from 0."""
    rng = np.random.default_rng(3)
    for s in splits:
        images, anns = [], []
        for i in range(per_split):
            name = f"{s}_{i}.jpg"
            Image.fromarray(photo(rng, 64, 48)).save(_mk(root / s / name))
            images.append({"id": i, "file_name": name, "width": 64, "height": 48})
            for k in range(2):
                anns.append({"id": 2 * i + k, "image_id": i, "category_id": 1,
                             "bbox": [4 + k, 4, 20, 10], "area": 200, "iscrowd": 0})
        doc = {"images": images, "annotations": anns,
               "categories": [{"id": 0, "name": "objects"}, {"id": 1, "name": "thing"}]}
        (root / s / "_annotations.coco.json").write_text(json.dumps(doc))
    return root


def _mk(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _ids_unique_per_split(ds: vf.Dataset) -> None:
    for s in ds.images.splits():
        rows = np.flatnonzero(ds.images.split == s)
        assert len(set(ds.images.id[rows].tolist())) == len(rows), s
        ann = ds.annotations.id[np.isin(ds.annotations.image_index, rows)]
        assert len(set(ann.tolist())) == len(ann), s


# --- item 3: renumber when splits are re-cut or combined ---------------------------------------

@pytest.mark.parametrize("extra", [[], ["--rebalance", "--ratios", "50,25,25"]],
                         ids=["split", "rebalance"])
def test_split_of_per_split_ids_reads_back_and_checks_clean(tmp_path, extra):
    src = roboflow_coco(tmp_path / "src")
    r = cli("split", src, tmp_path / "out", "--seed", "1", "--no-near-duplicates", *extra)
    assert r.exit_code == 0, r.output
    assert "renumbered" in r.output
    back = vf.load(tmp_path / "out")  # used to fail: duplicate image id
    assert len(back.images) == 18 and len(back.annotations) == 36
    _ids_unique_per_split(back)
    dup = [f for f in vf.checks.check(back) if "duplicate" in f.code]
    assert not dup, dup
    # every box is still on its own image
    src_ds = vf.load(src)
    name_box = lambda ds: sorted(  # noqa: E731
        (ds.images.file_name[r], tuple(b)) for r, b in zip(ds.annotations.image_index,
                                                          ds.annotations.xyxy.tolist()))
    assert name_box(back) == name_box(src_ds)


def test_split_keeps_ids_that_are_already_unique(tmp_path):
    images = vf.Images.build([f"{i}.jpg" for i in range(10)], [8] * 10, [8] * 10,
                             id=list(range(100, 110)), split=["train"] * 5 + ["val"] * 5)
    ann = vf.Annotations.build(list(range(10)), [1] * 10, [[0, 0, 4, 4]] * 10,
                               id=list(range(500, 510)))
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["a"]))
    report = vf.Report()
    out = split(ds, (0.5, 0.5), seed=3, near_duplicates=False, report=report)
    assert out.images.id.tolist() == list(range(100, 110))
    assert out.annotations.id.tolist() == list(range(500, 510))
    assert "ids.renumbered" not in report.codes()


def test_unique_ids_renumbers_only_the_table_that_repeats():
    from visionflow.core.ids import unique_ids

    images = vf.Images.build(["a", "b", "c"], [8] * 3, [8] * 3, id=[0, 1, 0],
                             split=["train", "train", "val"])
    ann = vf.Annotations.build([0, 1, 2], [1] * 3, [[0, 0, 4, 4]] * 3, id=[7, 8, 9])
    out, notes = unique_ids(vf.Dataset(images, ann, vf.Categories.from_names(["a"])))
    assert out.images.id.tolist() == [1, 2, 3]
    assert out.annotations.id.tolist() == [7, 8, 9]
    assert len(notes) == 1 and "image ids" in notes[0]


def test_real_roboflow_export_split_and_rebalance_read_back(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    for name, extra in (("split", ["--ratios", "70,20,10"]), ("rebal", ["--rebalance"])):
        r = cli("split", src, tmp_path / name, "--seed", "1", *extra)
        assert r.exit_code == 0, r.output
        back = vf.load(tmp_path / name)
        assert len(back.images) == 868 and len(back.annotations) == 4100
        _ids_unique_per_split(back)
        assert not [f for f in vf.checks.check(back) if f.code.endswith("duplicate_id")]


def test_recipe_split_recut_gives_unique_ids(tmp_path):
    src = roboflow_coco(tmp_path / "src", per_split=4)
    ds = vf.load(src)
    report = vf.Report()
    recipe = Recipe.load({"split": {"ratios": [0.5, 0.5]}, "preprocess": ["grayscale"]})
    out = run(ds, recipe, tmp_path / "work", workers=1, report=report)
    _ids_unique_per_split(out)
    vf.write(out, tmp_path / "o", "coco")
    _ids_unique_per_split(vf.load(tmp_path / "o"))
    assert "ids.renumbered" in report.codes()


def test_combining_sources_numbered_per_split_reads_back(tmp_path):
    a = vf.load(roboflow_coco(tmp_path / "a", per_split=3))
    b = vf.load(roboflow_coco(tmp_path / "b", per_split=3))
    b = b.replace(images=b.images.replace(
        file_name=np.array([f"b_{n}" for n in b.images.file_name], dtype=object)))
    ds, notes = combine([("a", a), ("b", b)])
    assert notes
    vf.write(ds, tmp_path / "o", "coco")
    back = vf.load(tmp_path / "o")
    assert len(back.images) == 18
    _ids_unique_per_split(back)


# --- item 12: report renamed splits and ratios not reached --------------------------------------

def test_valid_read_as_val_is_reported(tmp_path):
    src = roboflow_coco(tmp_path / "src", per_split=2, splits=("train", "valid"))
    report = vf.Report()
    ds = vf.load(src, report=report)
    assert set(ds.images.splits()) == {"train", "val"}
    [f] = [f for f in report if f.code == "split.renamed"]
    assert "'valid'" in f.message and "'val'" in f.message
    r = cli("convert", src, tmp_path / "out", "--to", "yolo")
    assert r.exit_code == 0, r.output
    assert "split 'valid' is read as 'val'" in r.output


def test_split_names_already_canonical_are_not_reported(tmp_path):
    src = roboflow_coco(tmp_path / "src", per_split=2, splits=("train", "val"))
    report = vf.Report()
    vf.load(src, report=report)
    assert "split.renamed" not in report.codes()


def _near_duplicates(root: Path, n_same: int, n_other: int) -> vf.Dataset:
    rng = np.random.default_rng(0)
    base = photo(rng, 64, 48)
    paths = []
    for i in range(n_same):
        paths.append(root / f"same_{i}.png")
        Image.fromarray(base).save(paths[-1])
    for i in range(n_other):
        paths.append(root / f"other_{i}.png")
        Image.fromarray(photo(rng, 64, 48)).save(paths[-1])
    n = len(paths)
    images = vf.Images.build([p.name for p in paths], [64] * n, [48] * n,
                             path=[str(p) for p in paths])
    return vf.Dataset(images, vf.Annotations.empty(), vf.Categories.from_names(["a"]))


def test_ratios_not_reached_are_reported_with_the_reason(tmp_path):
    ds = _near_duplicates(tmp_path, 16, 4)  # one group larger than train's 14
    report = vf.Report()
    out = split(ds, "70,20,10", seed=1, report=report)
    counts = Counter(out.images.split.tolist())
    assert max(counts.values()) >= 16  # the group stayed together
    [f] = [f for f in report if f.code == "split.ratios"]
    assert f.severity == "warning"
    assert "requested train/val/test = 70/20/10 %" in f.message
    reached = "/".join(f"{100 * counts[s] / 20:.0f}" for s in ("train", "val", "test"))
    assert f"reached {reached} %" in f.message
    assert "near-duplicate" in f.message and "largest 16" in f.message
    # exact when grouping is off: nothing to report
    report = vf.Report()
    split(ds, "70,20,10", seed=1, near_duplicates=False, report=report)
    assert "split.ratios" not in report.codes()


def test_cli_split_prints_the_ratio_warning(tmp_path):
    ds = _near_duplicates(_mk(tmp_path / "src" / "x").parent, 16, 4)
    vf.write(ds, tmp_path / "coco", "coco", images="copy")
    r = cli("split", tmp_path / "coco", tmp_path / "out", "--seed", "1")
    assert r.exit_code == 0, r.output
    assert "warning: requested train/val/test = 70/20/10 %" in r.output


# --- item 24: a dataset without splits is all training data -------------------------------------

def _unsplit(root: Path, n: int = 3) -> vf.Dataset:
    names = [f"img_{i}.png" for i in range(n)]
    paths = [str(make_image(root / name)) for name in names]
    images = vf.Images.build(names, [64] * n, [48] * n, path=paths)
    ann = vf.Annotations.build(list(range(n)), [1] * n, [[4, 4, 30, 20]] * n)
    return vf.Dataset(images, ann, vf.Categories.from_names(["a"]))


def test_augment_applies_to_a_dataset_without_splits(tmp_path):
    ds = _unsplit(tmp_path / "src")
    report = vf.Report()
    recipe = Recipe.load({"augment": {"copies": 2, "ops": [{"flip": {"direction": "horizontal"}}]}})
    out = run(ds, recipe, tmp_path / "o", workers=1, report=report)
    assert len(out.images) == 6  # 3 images x 2 copies (keep_original: false)
    assert set(out.images.split.tolist()) == {""}
    assert len(out.annotations) == 6
    assert "augment.no_split" not in report.codes()
    assert "augment.unsplit" in report.codes()
    # flipped: the box moved to the right edge
    assert np.allclose(out.annotations.xyxy[:, [0, 2]], [[34, 60]] * 6)


def test_augment_of_train_only_leaves_other_splits_alone(tmp_path):
    ds = _unsplit(tmp_path / "src", 4)
    ds = ds.replace(images=ds.images.replace(split=np.array(["train", "val", "val", ""],
                                                            dtype=object)))
    recipe = Recipe.load({"augment": {"copies": 2, "ops": ["flip"]}})
    out = run(ds, recipe, tmp_path / "o", workers=1)
    assert Counter(out.images.split.tolist()) == {"train": 2, "val": 2, "": 1}
