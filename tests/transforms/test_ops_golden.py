"""Byte-identical output across the ops consolidation: every operation, run with fixed
parameters and seed on the same synthetic dataset, must give the files and annotations it gave
before (hashes recorded from the code as it was, git a410486). Old parameter names (`limit`,
shear `x`/`y`) must still give the same bytes as the new `*_range` names."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from visionflow.transforms import OPS, Recipe, run

from .synth import dataset, tree_bytes

# Parameters as recipes spelled them before the consolidation (old names where renamed).
OLD_PARAMS = {
    "auto_contrast": {"method": "clahe"},
    "auto_orient": {},
    "blur": {"limit": 2.0},
    "brightness": {"limit": 0.3},
    "camera_gain": {},
    "contrast": {"limit": 0.4},
    "crop": {"scale_range": [0.5, 0.9]},
    "cutout": {"count": 2, "size": 0.2, "color": "gray"},
    "drop_small": {"area": 300},
    "exposure": {"limit": 0.5},
    "filter_empty": {},
    "filter_images": {"attribute": "x", "exclude": True},
    "flip": {"direction": "vertical"},
    "grayscale": {},
    "hue": {"limit": 40},
    "isolate_objects": {"padding": 0.1},
    "modify_classes": {"rename": {"cat": "feline"}, "drop": ["dog"]},
    "mosaic": {},
    "motion_blur": {"kernel_range": [3, 7]},
    "noise": {"limit": 0.1},
    "resize": {"size": [64, 50], "mode": "letterbox", "color": "white"},
    "rotate": {"limit": 30, "color": [10, 20, 30]},
    "rotate90": {},
    "saturation": {"limit": 0.5},
    "shear": {"x": 10, "y": [-5, 8]},
    "static_crop": {"xyxy_norm": [0.1, 0.2, 0.8, 0.9]},
    "tile": {"grid": [2, 2], "overlap": 6},
    "zoom": {"scale_range": [0.7, 1.4]},
}

GOLDEN = {
    "auto_contrast": "f9a1fcf81fe782d5",
    "auto_orient": "1743d533766f34ef",
    "blur": "76eec2f6e6b1d711",
    "brightness": "1ddf2321e2d356ee",
    "camera_gain": "f1457ff87deda48c",
    "contrast": "ca6e1e0008b8bd0d",
    "crop": "f31876cc1c0c6513",
    "cutout": "6b14dc6e7ad000a4",
    "drop_small": "8b46811c8e7e796d",
    "exposure": "e47f0e4bf9039531",
    "filter_empty": "1743d533766f34ef",
    "filter_images": "1743d533766f34ef",
    "flip": "41bd4ca6af6a0f8b",
    "grayscale": "5960c5728e81fe6d",
    "hue": "b23298274b23034d",
    "isolate_objects": "c4a4f569bdfdc57a",
    "modify_classes": "0933a18047531529",
    "mosaic": "245ff0efb4450753",
    "motion_blur": "43b5b10064627c6d",
    "noise": "820c5bef42b10098",
    "resize": "48fe0a0795b3ec68",
    "rotate": "a65c10d6a95328b2",
    "rotate90": "e2f83b273f461e41",
    "saturation": "e3e2391df6ded836",
    "shear": "17edf898961eb99a",
    "static_crop": "8dfb406fd74171d6",
    "tile": "3eb1e363d10b3c38",
    "zoom": "0402621ef00af7d3",
    "*": "9e26fd6d0caf70e2",
}


def output_hash(tmp_path, steps: list, name: str) -> str:
    ds = dataset(tmp_path / "data", 4, size=(96, 72))
    out = run(ds, Recipe.load({"augment": {"copies": 2, "ops": steps}}), tmp_path / name,
              seed=11, workers=1)
    h = hashlib.sha256()
    for rel, data in tree_bytes(tmp_path / name).items():
        h.update(rel.encode() + b"\0" + data)
    a = out.annotations
    for arr in (out.images.width, out.images.height, a.image_index, a.category_id, a.xyxy,
                np.nan_to_num(a.keypoints) if a.keypoints is not None else np.zeros(0)):
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update("|".join(map(str, out.images.file_name)).encode())
    h.update("|".join(out.categories.names).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(OLD_PARAMS))
def test_every_op_gives_the_bytes_it_gave_before(name, tmp_path):
    assert output_hash(tmp_path, [{name: OLD_PARAMS[name]}], name) == GOLDEN[name]


def test_whole_recipe_gives_the_bytes_it_gave_before(tmp_path):
    steps = [{k: v} for k, v in OLD_PARAMS.items()
             if k not in ("tile", "isolate_objects", "filter_empty", "filter_images",
                          "modify_classes", "drop_small", "static_crop", "auto_orient")]
    for s in steps:
        next(iter(s.values()))["p"] = 0.6
    assert output_hash(tmp_path, steps, "all") == GOLDEN["*"]


def test_registry_is_covered():
    assert sorted(OLD_PARAMS) == sorted(OPS)
