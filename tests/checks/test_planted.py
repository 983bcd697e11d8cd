"""Planted defects of every kind: each is found exactly once, alone and all together."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import visionflow as vf
from visionflow.checks import CheckConfig, check_path

from . import planted


def _counts(findings) -> Counter:
    return Counter((f.severity, f.code) for f in findings)


def test_clean_dataset_has_no_finding(tmp_path):
    result = check_path(planted.build(tmp_path / "clean", []))
    assert result.findings == []
    assert result.counts() == {"error": 0, "warning": 0, "info": 0}
    assert len(result.dataset.images) == sum(planted.SPLITS.values())


@pytest.mark.parametrize("kind", list(planted.KINDS))
def test_each_planted_defect_is_found_exactly_once(tmp_path, kind):
    _, expected, side_effects = planted.KINDS[kind]
    result = check_path(planted.build(tmp_path / kind, [kind]))
    got = _counts(result.findings)
    assert got[expected] == 1, got
    others = {k: n for k, n in got.items() if k != expected and k[1] not in side_effects}
    assert not others, others
    finding = next(f for f in result.findings if (f.severity, f.code) == expected)
    assert finding.message and "\n" not in finding.message


def test_all_planted_defects_together_each_once(tmp_path):
    result = check_path(planted.build(tmp_path / "all", list(planted.KINDS)))
    got = _counts(result.findings)
    for kind, (_, expected, _) in planted.KINDS.items():
        assert got[expected] == 1, (kind, got[expected])
    allowed = {exp for _, exp, _ in planted.KINDS.values()}
    assert set(got) <= allowed, set(got) - allowed


FINDING_DETAILS = [
    # kind, image the finding names, does it name an annotation
    ("out_of_bounds", "img_005.jpg", True),
    ("exif_rotation", "rotated.jpg", False),
    ("exact_leak", "leaked.jpg", False),
    ("duplicate_box", "img_011.jpg", True),
    ("missing", "missing.jpg", False),
]


@pytest.mark.parametrize("kind, image, names_annotation", FINDING_DETAILS)
def test_findings_name_the_image_and_annotation(tmp_path, kind, image, names_annotation):
    _, (severity, code), _ = planted.KINDS[kind]
    result = check_path(planted.build(tmp_path / kind, [kind]))
    f = next(f for f in result.findings if f.code == code)
    assert f.image == image
    assert f.image_row is not None and result.dataset.images.file_name[f.image_row] == image
    assert (f.annotation_id is not None) == names_annotation
    if names_annotation:
        assert result.dataset.annotations.id[f.annotation_row] == f.annotation_id
        assert f"annotation {f.annotation_id}" in f.where
    d = f.to_dict()
    assert d["severity"] == severity and d["code"] == code and d["image"] == image


def test_leakage_names_both_images_and_splits(tmp_path):
    result = check_path(planted.build(tmp_path / "leak", ["exact_leak", "near_leak"]))
    leaks = [f for f in result.findings if f.code == "split.leakage"]
    assert {(f.severity, f.split, f.details["other_split"]) for f in leaks} == {
        ("error", "val", "train"), ("warning", "val", "train")}
    exact = next(f for f in leaks if f.severity == "error")
    assert exact.details["exact"] and exact.details["other_image"] == "img_003.jpg"


def test_header_only_scan_still_finds_truncated_and_unreadable(tmp_path):
    root = planted.build(tmp_path / "t", ["truncated", "unreadable", "exact_duplicate"])
    result = check_path(root, hash_images=False)
    codes = _counts(result.findings)
    assert codes[("error", "image.truncated")] == 1
    assert codes[("error", "image.unreadable")] == 1
    assert ("warning", "image.exact_duplicate") not in codes  # no hashes, no duplicates


def test_annotation_only_mode_reads_no_image(tmp_path):
    root = planted.build(tmp_path / "a", ["truncated", "out_of_bounds", "missing"])
    result = check_path(root, read_images=False)
    codes = {f.code for f in result.findings}
    assert codes == {"box.out_of_bounds"}
    assert result.scan is None


def test_nan_box_in_memory():
    images = vf.Images.build(["a.jpg", "b.jpg"], [100, 100], [50, 50])
    ann = vf.Annotations.build([0, 1], [1, 1], [[np.nan, 0, 10, 10], [10, 10, 30, 30]],
                               id=[7, 8])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    findings = vf.check(ds, read_images=False).findings  # a CheckResult, as for a folder
    assert [(f.code, f.annotation_id, f.image) for f in findings] == [("box.nan", 7, "a.jpg")]
    assert ds.check(read_images=False) == findings  # the Dataset method delegates


def test_image_level_labels_are_not_boxes():
    images = vf.Images.build(["a.jpg"], [100], [50])
    ann = vf.Annotations.build([0], [1], [[np.nan] * 4])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    assert vf.check(ds, read_images=False).findings == []


def test_thresholds_change_what_is_found(tmp_path):
    root = planted.build(tmp_path / "t", ["tiny", "imbalance"])
    assert {f.code for f in check_path(root).findings} == {"box.tiny", "class.imbalance"}
    relaxed = check_path(root, min_size=1, imbalance_ratio=20)
    assert relaxed.findings == []
    strict = check_path(root, input_size=16)  # at 16 px every box is under 4 px
    assert sum(f.code == "box.tiny" for f in strict.findings) == len(strict.dataset.annotations)


@pytest.mark.parametrize("options, message", [
    ({"iou": 0}, "iou must be in (0, 1]"),
    ({"input_size": 0}, "input_size must be a positive number"),
    ({"near_dup_distance": 40}, "near_dup_distance must be between -1"),
    ({"imbalance_ratio": 0.5}, "imbalance_ratio must be at least 1"),
])
def test_bad_thresholds_are_user_errors(options, message):
    with pytest.raises(vf.Error, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        CheckConfig(**options)


def test_unknown_option_is_a_user_error():
    with pytest.raises(vf.Error, match="unknown check option.*bogus"):
        CheckConfig().replace(bogus=1)


def test_lenient_load_keeps_invalid_rows_and_default_load_refuses(tmp_path):
    root = planted.build(tmp_path / "o", ["out_of_bounds", "unknown_class"])
    with pytest.raises(vf.ValidationError):
        vf.load(root)
    report = vf.Report()
    ds = vf.load(root, errors="keep", report=report)
    assert len(ds.annotations) == 28 + 2
    assert sorted(f.code for f in report.findings) == ["invalid", "invalid"]
    skipped = vf.load(root, errors="skip")
    assert len(skipped.annotations) == 28
