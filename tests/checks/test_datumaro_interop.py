"""Datumaro's DetectionValidator and `visionflow check` on the same COCO files flag the same
invalid boxes and the same class imbalance.

Datumaro's NegativeLength covers zero and negative widths/heights (below 1 px) and its
ImbalancedLabels compares most/fewest annotations per class with the same ratio threshold;
the inputs avoid sub-pixel boxes and unused classes, where the two definitions differ on
purpose (visionflow reports unused classes separately and tiny boxes as box.tiny).
"""

from __future__ import annotations

import re

import pytest

import visionflow as vf
from visionflow.checks import check_path

from . import planted

dm = pytest.importorskip("datumaro")
pytestmark = pytest.mark.interop

RATIO = 10


def _datumaro(path):
    from datumaro.plugins.validators import DetectionValidator
    dataset = dm.Dataset.import_from(str(path), "coco_instances")
    return DetectionValidator(imbalance_ratio_thr=RATIO).validate(dataset)["validation_reports"]


def _same_input(tmp_path, kinds):
    """Planted defects written by visionflow's COCO writer: one input for both tools."""
    src = planted.build(tmp_path / "src", kinds)
    out = tmp_path / "coco"
    vf.write(vf.load(src, errors="keep"), out, "coco")
    return out


@pytest.mark.parametrize("kinds, imbalanced", [
    (["negative_size", "zero_size", "imbalance", "out_of_bounds"], True),
    (["negative_size", "zero_size"], False),
])
def test_same_invalid_boxes_and_imbalance(tmp_path, kinds, imbalanced):
    path = _same_input(tmp_path, kinds)
    theirs = _datumaro(path)
    ours = check_path(path, imbalance_ratio=RATIO).findings

    their_bad = {(r["subset"], r["item_id"], int(re.search(r"Annotation '(-?\d+)'",
                                                          r["description"]).group(1)))
                 for r in theirs if r["anomaly_type"] in ("NegativeLength", "InvalidValue")}
    our_bad = {(f.split, f.image.rsplit(".", 1)[0], f.annotation_id) for f in ours
               if f.code in ("box.zero_size", "box.negative_size", "box.nan")}
    assert our_bad == their_bad and len(our_bad) == 2

    their_imbalance = any(r["anomaly_type"] == "ImbalancedLabels" for r in theirs)
    our_imbalance = any(f.code == "class.imbalance" for f in ours)
    assert their_imbalance == our_imbalance == imbalanced
