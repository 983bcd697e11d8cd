"""The checks on real datasets from ../shared/datasets: no error on clean ones, and what they
report about the others is true (verified independently)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import visionflow as vf
from visionflow.checks import FixOptions, check_path, fix_path

from ..conftest import shared_path

pytestmark = pytest.mark.shared


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.mark.parametrize("parts, fmt", [
    (("raccoon",), "voc"),  # the raccoon folder also holds its CSV export: name the format
    (("ultralytics-hub-datasets", "coco8"), None),
    (("ultralytics-hub-datasets", "coco8-seg"), None),
    (("ultralytics-hub-datasets", "coco8-pose"), None),
])
def test_no_error_on_clean_real_datasets(parts, fmt):
    result = check_path(shared_path(*parts), format=fmt)
    assert result.counts()["error"] == 0, [str(f) for f in result.findings
                                          if f.severity == "error"]
    assert len(result.dataset.images) > 0 and result.statistics["annotations"] > 0


def test_raccoon_duplicates_are_byte_identical():
    result = check_path(shared_path("raccoon"), format="voc")
    dups = [f for f in result.findings if f.code == "image.exact_duplicate"]
    assert dups  # the raccoon set ships a few images twice under two names
    paths = result.dataset.images.path
    for f in dups:
        assert _sha(paths[f.image_row]) == _sha(paths[f.details["other_row"]])


def test_facemask_real_problems_are_true():
    """The Roboflow face-mask export ships 6 images byte-identical in train and in val/test
    (real leakage), and the class name 'Mask' twice (ids 0 and 1)."""
    result = check_path(shared_path("roboflow-facemask-coco"))
    errors = [f for f in result.findings if f.severity == "error"]
    assert errors and {f.code for f in errors} == {"split.leakage"}
    paths = result.dataset.images.path
    for f in errors:
        assert f.details["exact"] and f.split in ("val", "test")
        assert f.details["other_split"] == "train"
        assert _sha(paths[f.image_row]) == _sha(paths[f.details["other_row"]])
    dup_names = [f for f in result.findings if f.code == "class.duplicate_name"]
    assert len(dup_names) == 1 and dup_names[0].details["ids"] == [0, 1]
    unused = [f for f in result.findings if f.code == "class.unused"]
    assert [f.severity for f in unused] == ["info"]  # Roboflow's empty parent class


def test_facemask_fix_merges_the_two_mask_classes(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    result = fix_path(src, tmp_path / "out", FixOptions(remap={"Mask": "Mask"}))
    out = vf.load(tmp_path / "out")
    assert out.categories.names.count("Mask") == 1
    assert len(out.annotations) == len(vf.load(src).annotations)
    assert result.counts()["fix.remap_class"] == 1
    assert not any(f.code == "class.duplicate_name"
                   for f in check_path(tmp_path / "out", read_images=False).findings)
