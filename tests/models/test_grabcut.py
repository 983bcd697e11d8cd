"""GrabCut: box and click prompts on synthetic photos-like images (noise, texture), large
images downscaled and the mask scaled back, determinism, prompt errors; and on COCO8-seg's real
photos the box-prompted masks match the human polygons (median IoU above a measured floor)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("cv2")

from visionflow.core.errors import UsageError  # noqa: E402
from visionflow.models.base import Segmenter  # noqa: E402
from visionflow.models.grabcut import GrabCut, check_prompt  # noqa: E402
from visionflow.models.masks import mask_iou, polygons_to_mask  # noqa: E402

from ..conftest import shared_path  # noqa: E402

# Measured once on the 30 objects of COCO8-seg (8 real photos; GrabCut defaults: 320 px,
# 5 iterations, margin 1.0): box prompt median IoU 0.523 (mean 0.501; plain full-resolution
# cv2.grabCut with the box: median 0.31, 4x slower: small objects in a pile of the same colour
# come out empty, which the centre-seeded retry fixes); one click at the object's innermost
# pixel: mean 0.294. MODELS.md's 0.71 / 0.43 were not reproduced on all 30 objects.
BOX_MEDIAN_FLOOR = 0.45
CLICK_MEAN_FLOOR = 0.22


def scene(w=320, h=240, seed=0):
    """A textured green-brown background with a red-ish ellipse (the object) and a second,
    blue one; noise on everything, as in a photo. Returns the image and both objects' masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.float64)
    img[..., 0] = 90 + 30 * np.sin(xx / 9.0)
    img[..., 1] = 120 + 25 * np.cos(yy / 7.0)
    img[..., 2] = 60
    obj = ((xx - 0.4 * w) / (0.18 * w)) ** 2 + ((yy - 0.5 * h) / (0.28 * h)) ** 2 <= 1
    other = ((xx - 0.8 * w) / (0.08 * w)) ** 2 + ((yy - 0.3 * h) / (0.1 * h)) ** 2 <= 1
    img[obj] = (210, 50, 40)
    img[other] = (40, 60, 200)
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), obj, other


def bounds(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def test_box_prompt_cuts_the_object_and_nothing_outside_the_box():
    img, obj, other = scene()
    g = GrabCut()
    assert isinstance(g, Segmenter) and g.info.task == "segment"
    box = bounds(obj) + [-6, -6, 6, 6]
    mask = g.segment(img, box=box)
    assert mask.shape == obj.shape and mask.dtype == bool
    assert mask_iou(mask, obj) > 0.9
    x1, y1, x2, y2 = box.astype(int)
    outside = np.ones_like(mask)
    outside[y1:y2, x1:x2] = False
    assert not (mask & outside).any()


def test_one_click_finds_the_object_and_a_negative_click_removes_a_part():
    img, obj, other = scene()
    g = GrabCut()
    cx, cy = 0.4 * img.shape[1], 0.5 * img.shape[0]
    mask = g.segment(img, points=[[cx, cy]])
    assert mask_iou(mask, obj) > 0.8
    assert not (mask & other).any()
    # A box over both objects takes both; a background click on the blue one drops it.
    both = np.maximum(bounds(obj), 0)
    both[2:] = np.maximum(bounds(obj)[2:], bounds(other)[2:]) + 4
    both[:2] -= 4
    with_blue = g.segment(img, box=both)
    assert (with_blue & other).sum() > 0.5 * other.sum()
    ox, oy = 0.8 * img.shape[1], 0.3 * img.shape[0]
    without = g.segment(img, box=both, points=[[ox, oy], [cx, cy]], labels=[0, 1])
    assert (without & other).sum() < 0.1 * other.sum()
    assert mask_iou(without, obj) > 0.85


def test_large_images_are_downscaled_and_the_mask_scaled_back():
    img, obj, _ = scene(2400, 1800, seed=1)
    g = GrabCut()
    t0 = time.perf_counter()
    mask = g.segment(img, box=bounds(obj) + [-30, -30, 30, 30])
    seconds = time.perf_counter() - t0
    assert mask.shape == (1800, 2400)
    assert mask_iou(mask, obj) > 0.9
    assert seconds < 5, f"{seconds:.1f} s: the image was not downscaled"  # ~0.5 s here


def test_the_same_prompt_gives_the_same_mask():
    img, obj, _ = scene(seed=3)
    g = GrabCut()
    box = bounds(obj) + [-10, -10, 10, 10]
    a, b = g.segment(img, box=box), GrabCut().segment(img, box=box)
    np.testing.assert_array_equal(a, b)


def test_a_whole_image_box_still_cuts():
    img, obj, _ = scene(seed=4)
    h, w = obj.shape
    mask = GrabCut().segment(img, box=[0, 0, w, h])
    assert mask.any() and not mask.all()


@pytest.mark.parametrize("kwargs, message", [
    ({}, "no prompt"),
    ({"points": [[400, 10]]}, r"click \(400, 10\) is outside the 320x240 image"),
    ({"points": [[-1, 10]]}, "outside"),
    ({"box": [10, 10, 10, 50]}, "has no area"),
    ({"box": [400, 10, 500, 50]}, "lies outside the 320x240 image"),
    ({"box": [1, 2, 3]}, "x1,y1,x2,y2"),
    ({"points": [[10, 10]], "labels": [0]}, "only background clicks"),
    ({"points": [[10, 10]], "labels": [1, 0]}, "1 clicks but 2 labels"),
    ({"points": [[10, 10]], "labels": [2]}, "1 .on the object. or 0"),
])
def test_bad_prompts_are_one_line_usage_errors(kwargs, message):
    img, _, _ = scene()
    with pytest.raises(UsageError, match=message) as e:
        GrabCut().segment(img, **kwargs)
    assert "\n" not in str(e.value)


def test_check_prompt_clips_a_box_that_sticks_out():
    b, pts, lab = check_prompt(100, 50, [-10, -5, 120, 40])
    assert b.tolist() == [0, 0, 100, 40] and pts.shape == (0, 2) and lab.shape == (0,)


def test_registry_loads_grabcut_without_weights():
    from visionflow.models.registry import load
    g = load("grabcut")
    assert isinstance(g, GrabCut) and g.info.name == "grabcut"


def _coco8_seg():
    import visionflow as vf
    return vf.load(shared_path("ultralytics-hub-datasets", "coco8-seg"))


@pytest.mark.shared
def test_box_prompted_masks_match_coco8_seg_polygons():
    import cv2
    ds = _coco8_seg()
    a = ds.annotations
    g = GrabCut()
    box_ious, click_ious = [], []
    for i in range(len(ds)):
        img = ds.image(i)
        h, w = img.shape[:2]
        for r in np.flatnonzero(a.image_index == i):
            truth = polygons_to_mask(a.polygons.rings(r), w, h)
            box_ious.append(mask_iou(g.segment(img, box=a.xyxy[r]), truth))
            # one click at the object's innermost pixel (as a person would click)
            depth = cv2.distanceTransform(np.pad(truth.astype(np.uint8), 1), cv2.DIST_L2, 5)
            y, x = np.unravel_index(depth[1:-1, 1:-1].argmax(), truth.shape)
            click_ious.append(mask_iou(g.segment(img, points=[[x, y]]), truth))
    assert len(box_ious) == 30
    assert np.median(box_ious) >= BOX_MEDIAN_FLOOR, np.round(box_ious, 2)
    assert np.mean(click_ious) >= CLICK_MEAN_FLOOR, np.round(click_ious, 2)
