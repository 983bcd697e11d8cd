"""vf.torch.DetectionDataset against real torch: targets exact vs the dataset columns (real data
from ../shared and generated data), DataLoader workers (fork and spawn), the recipe on the fly
equal to `visionflow transform`'s copies, and one clear line without torch."""

from __future__ import annotations

import pickle
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import mask_to_rle
from visionflow.formats.masks import object_mask

pytestmark = pytest.mark.interop
torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402


def _by_image(ds):
    """image id -> (xyxy, class index) of its objects (image-level labels left out)."""
    out = {}
    for view in ds:
        keep = ~np.isnan(view.xyxy).all(axis=1)
        out[view.id] = (view.xyxy[keep], view.class_index[keep])
    return out


def _generated(tmp_path, suffix=".png"):
    """Two images: polygon, RLE, a bare box, an image-level label, non-contiguous ids."""
    names = [f"a{suffix}", f"sub/b{suffix}"]
    paths = [str(make_image(tmp_path / "imgs" / n, (40, 30), color=c))
             for n, c in zip(names, [(10, 200, 30), (90, 20, 160)])]
    m = np.zeros((30, 40), bool)
    m[3:9, 5:20] = True
    m[20:25, 30:33] = True
    rle = np.empty(5, object)
    rle[:] = [None, mask_to_rle(m), None, None, None]
    rings = [[np.array([[2, 2], [12, 2], [12, 10], [2, 10]], float)], [], [], [], []]
    ann = vf.Annotations.from_objects(
        [0, 0, 0, 1, 0], [9, 7, 9, 7, 7],
        [[2, 2, 12, 10], [5, 3, 33, 25], [20.25, 1.5, 39, 29.75], [np.nan] * 4, [1, 1, 4, 4]],
        rings=rings, rle=list(rle))
    ann = ann.replace(id=np.array([11, 12, 13, 14, 15]), iscrowd=np.array([0, 1, 0, 0, 0], bool))
    ds = vf.Dataset(vf.Images.build(names, [40, 40], [30, 30], path=paths, split="train"), ann,
                    vf.Categories([vf.Category(9, "b"), vf.Category(7, "a")]))
    return ds, m


def test_generated_targets_are_the_columns(tmp_path):
    ds, m = _generated(tmp_path)
    tds = vf.torch.DetectionDataset(ds, masks=True)
    assert isinstance(tds, torch.utils.data.Dataset) and len(tds) == 2
    assert tds.class_names == ["__background__", "b", "a"] and tds.num_classes == 3
    image, t = tds[0]
    assert image.dtype == torch.float32 and image.shape == (3, 30, 40)
    assert torch.equal(image, torch.from_numpy(ds.image(0).copy()).permute(2, 0, 1).float() / 255)
    assert float(image.min()) >= 0 and float(image.max()) <= 1
    assert t["boxes"].dtype == torch.float32
    assert t["boxes"].tolist() == [[2, 2, 12, 10], [5, 3, 33, 25], [20.25, 1.5, 39, 29.75],
                                   [1, 1, 4, 4]]
    assert t["labels"].dtype == torch.int64 and t["labels"].tolist() == [1, 2, 1, 2]
    assert t["iscrowd"].tolist() == [0, 1, 0, 0]
    assert t["area"].tolist() == [80, 28 * 22, 18.75 * 28.25, 9]
    assert int(t["image_id"]) == int(ds.images.id[0])
    masks = t["masks"].numpy()
    assert masks.dtype == np.uint8 and masks.shape == (4, 30, 40)
    assert np.array_equal(masks[1], m)  # the RLE, pixel for pixel
    poly = object_mask(ds.annotations, 0, 40, 30, False, True, "a.png")
    assert np.array_equal(masks[0], poly) and poly.sum() > 0
    assert not masks[2].any() and not masks[3].any()  # bare boxes: empty masks
    assert "keypoints" not in t
    image, t = tds[1]  # only an image-level label: no objects, shapes still right
    assert t["boxes"].shape == (0, 4) and t["labels"].shape == (0,) and t["masks"].shape == (0, 30, 40)
    u8, _ = vf.torch.DetectionDataset(ds, image_dtype="uint8")[0]
    assert u8.dtype == torch.uint8 and torch.equal(u8, torch.from_numpy(ds.image(0).copy()).permute(2, 0, 1))
    images, targets = vf.torch.collate_fn([tds[0], tds[1]])
    assert len(images) == 2 and [len(x["boxes"]) for x in targets] == [4, 0]
    again = pickle.loads(pickle.dumps(tds))  # what a spawned worker gets: no open handle
    assert torch.equal(again[0][1]["masks"], tds[0][1]["masks"])


def test_transform_gets_image_and_target_last(tmp_path):
    ds, _ = _generated(tmp_path)
    seen = []

    def hflip(image, target):  # a user's torchvision-v2-style transform
        seen.append((image.shape, target["boxes"].clone()))
        boxes = target["boxes"].clone()
        boxes[:, [0, 2]] = image.shape[-1] - target["boxes"][:, [2, 0]]
        return image.flip(-1), {**target, "boxes": boxes}

    plain = vf.torch.DetectionDataset(ds)
    flipped = vf.torch.DetectionDataset(ds, transform=hflip)
    image, t = flipped[0]
    assert torch.equal(image, plain[0][0].flip(-1))
    assert t["boxes"][:, 0].tolist() == [28, 7, 1, 36] and len(seen) == 1
    assert torch.equal(seen[0][1], plain[0][1]["boxes"])


def test_mistakes_are_one_clear_error(tmp_path):
    ds, _ = _generated(tmp_path)
    with pytest.raises(vf.Error, match=r"no split 'val'; the dataset has \['train'\]"):
        vf.torch.DetectionDataset(ds, split="val")
    with pytest.raises(vf.Error, match="image_dtype must be one of float32, uint8"):
        vf.torch.DetectionDataset(ds, image_dtype="float16")
    boxes_only = ds.replace(annotations=ds.annotations.replace(polygons=None, rle=None))
    with pytest.raises(vf.Error, match="masks=True, but the dataset has no polygons or RLE"):
        vf.torch.DetectionDataset(boxes_only, masks=True)
    undeclared = ds.replace(categories=vf.Categories([vf.Category(9, "b")]))
    with pytest.raises(vf.ValidationError, match="annotation 12 has category id 7"):
        vf.torch.DetectionDataset(undeclared)[0]
    with pytest.raises(vf.Error, match="tile turns one image into another number"):
        vf.torch.DetectionDataset(ds, recipe={"preprocess": [{"tile": {"tile_size": [20, 20]}}]})
    with pytest.raises(IndexError):
        vf.torch.DetectionDataset(ds)[2]


def test_without_torch_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    monkeypatch.delitem(sys.modules, "visionflow.bridges.torch", raising=False)
    with pytest.raises(vf.Error) as e:
        vf.torch  # noqa: B018
    assert str(e.value) == "the PyTorch bridge needs torch: pip install 'visionflow[torch]'"
    assert e.value.__cause__ is None and e.value.__suppress_context__


@pytest.mark.shared
def test_raccoon_through_a_dataloader_with_two_workers():
    ds = vf.load(shared_path("raccoon"), "voc", coords="one-based")
    tds = vf.torch.DetectionDataset(ds)  # no splits: "train" is every image
    assert len(tds) == len(ds) == 200 and tds.class_names == ["__background__", "raccoon"]
    expected = _by_image(ds)
    seen = set()
    loader = DataLoader(tds, batch_size=8, num_workers=2, collate_fn=vf.torch.collate_fn)
    for images, targets in loader:
        for image, t in zip(images, targets):
            iid = int(t["image_id"])
            xyxy, cls = expected[iid]
            row = int(np.flatnonzero(ds.images.id == iid)[0])
            assert image.shape == (3, ds.images.height[row], ds.images.width[row])
            assert np.array_equal(t["boxes"].numpy(), xyxy.astype(np.float32))
            assert t["labels"].tolist() == (cls + 1).tolist()
            seen.add(iid)
    assert seen == set(expected)
    assert sum(len(b) for b, _ in expected.values()) == 217


@pytest.mark.shared
def test_polygon_masks_exact_on_coco8_seg():
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8-seg"))
    tds = vf.torch.DetectionDataset(ds, split="val", masks=True)
    val = np.flatnonzero(ds.images.split == "val")
    assert len(tds) == len(val) > 0
    assert tds.class_names[1:] == ds.classes
    for k, row in enumerate(val):
        view = ds[int(row)]
        _, t = tds[k]
        assert np.array_equal(t["boxes"].numpy(), view.xyxy.astype(np.float32))
        assert t["labels"].tolist() == (view.class_index + 1).tolist()
        assert tuple(t["masks"].shape) == (len(view), view.height, view.width)
        for j, r in enumerate(view.annotation_rows):
            want = object_mask(ds.annotations, r, view.width, view.height, False, True, "x")
            assert want.any() and np.array_equal(t["masks"][j].numpy().astype(bool), want)


@pytest.mark.shared
def test_keypoints_on_coco8_pose():
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8-pose"))
    tds = vf.torch.DetectionDataset(ds, split=None)
    for k in range(len(tds)):
        _, t = tds[k]
        view = ds[k]
        kp = t["keypoints"]
        assert kp.dtype == torch.float32 and tuple(kp.shape) == (len(view), 17, 3)
        want = np.nan_to_num(view.annotations.keypoints, nan=0.0).astype(np.float32)
        assert np.array_equal(kp.numpy(), want)
    assert any(len(tds[k][1]["keypoints"]) for k in range(len(tds)))


RECIPE = {"preprocess": [{"resize": {"size": [32, 24], "mode": "stretch"}}],
          "augment": {"copies": 3, "ops": [{"rotate": {"angle_range": 25}},
                                            {"flip": {"direction": "horizontal", "p": 0.5}},
                                            {"brightness": {"amount_range": 0.3}}]}}


def test_recipe_on_the_fly_is_transforms_copy_of_each_epoch(tmp_path):
    ds, _ = _generated(tmp_path)
    ds = ds.replace(annotations=ds.annotations.replace(rle=None))  # boxes + one polygon
    out = vf.transforms.run(ds, vf.transforms.Recipe.load(RECIPE), tmp_path / "out", seed=5,
                            workers=1)
    tds = vf.torch.DetectionDataset(ds, recipe=RECIPE, seed=5, image_dtype="uint8")
    seen = []
    for epoch in range(3):
        tds.set_epoch(epoch)
        image, t = tds[0]
        row = [i for i, f in enumerate(out.images.file_name) if f == f"a_aug{epoch}.png"][0]
        assert torch.equal(image, torch.from_numpy(out.image(row).copy()).permute(2, 0, 1))
        view = out[row]
        assert np.array_equal(t["boxes"].numpy(), view.xyxy.astype(np.float32))
        assert t["labels"].tolist() == (view.class_index + 1).tolist()
        same = vf.torch.DetectionDataset(ds, recipe=RECIPE, seed=5, image_dtype="uint8")
        same.set_epoch(epoch)
        again = pickle.loads(pickle.dumps(same))[0]  # another instance, another process's copy
        assert torch.equal(again[0], image) and torch.equal(again[1]["boxes"], t["boxes"])
        seen.append((image, t["boxes"]))
    assert not torch.equal(seen[0][0], seen[1][0]) or not torch.equal(seen[0][1], seen[1][1])
    assert not torch.equal(seen[1][1], seen[2][1])
    other = vf.torch.DetectionDataset(ds, recipe=RECIPE, seed=6, image_dtype="uint8")
    assert not torch.equal(other[0][1]["boxes"], seen[0][1])


def test_recipe_masks_follow_the_pixels_and_spawned_workers_agree(tmp_path):
    ds, _ = _generated(tmp_path)
    recipe = {"augment": {"ops": [{"flip": {"direction": "horizontal"}}]}}
    tds = vf.torch.DetectionDataset(ds, recipe=recipe, masks=True)
    plain = vf.torch.DetectionDataset(ds, masks=True)
    _, t = tds[0]
    _, p = plain[0]
    boxes = p["boxes"].clone()
    boxes[:, [0, 2]] = 40 - p["boxes"][:, [2, 0]]
    assert torch.equal(t["boxes"], boxes)  # a mirror moves boxes and masks with the pixels
    assert torch.equal(t["masks"][1], p["masks"][1].flip(-1))  # the RLE, exactly
    ring = np.array([[2, 2], [12, 2], [12, 10], [2, 10]], float)
    ring[:, 0] = 40 - ring[:, 0]
    mirrored = vf.Annotations.from_objects([0], [9], [[28, 2, 38, 10]], rings=[[ring]])
    want = object_mask(mirrored, 0, 40, 30, False, True, "a.png")  # Pillow, as the formats do
    assert np.array_equal(t["masks"][0].numpy().astype(bool), want)
    loader = DataLoader(tds, batch_size=2, num_workers=2, collate_fn=vf.torch.collate_fn,
                        multiprocessing_context="spawn")
    (images, targets), = list(loader)
    assert torch.equal(targets[0]["masks"], t["masks"]) and torch.equal(images[0], tds[0][0])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_targets_are_the_columns_for_any_dataset(data):
    """Property: for any dataset COCO can hold (boxes, polygons, RLE, keypoints, crowd flags,
    image-level labels, any class ids), every target is that image's columns, exactly."""
    from visionflow.formats.registry import get
    from tests.strategies import datasets
    with tempfile.TemporaryDirectory() as tmp:
        ds = data.draw(datasets(get("coco"), image_dir=Path(tmp)))
        ann = ds.annotations
        any_mask = bool((ann.has_polygon() | ann.has_rle()).any())
        tds = vf.torch.DetectionDataset(ds, split=None, masks=any_mask, image_dtype="uint8")
        assert tds.class_names == ["__background__", *ds.classes]
        for k, view in enumerate(ds):
            image, t = tds[k]
            assert tuple(image.shape) == (3, view.height, view.width)
            rows = view.annotation_rows[~np.isnan(view.xyxy).all(axis=1)]
            assert np.array_equal(t["boxes"].numpy(), ann.xyxy[rows].astype(np.float32))
            assert t["labels"].tolist() == (ds.class_index(ann.category_id[rows]) + 1).tolist()
            crowd = np.zeros(len(rows)) if ann.iscrowd is None else ann.iscrowd[rows]
            assert t["iscrowd"].tolist() == crowd.astype(int).tolist()
            assert int(t["image_id"]) == view.id
            if ann.keypoints is not None:
                want = np.nan_to_num(ann.keypoints[rows], nan=0.0).astype(np.float32)
                assert np.array_equal(t["keypoints"].numpy(), want)
            if any_mask:
                has_rle, has_poly = ann.has_rle(), ann.has_polygon()
                for j, r in enumerate(rows):
                    m = object_mask(ann, r, view.width, view.height, has_rle[r], has_poly[r], "x")
                    m = np.zeros((view.height, view.width), bool) if m is None else m
                    assert np.array_equal(t["masks"][j].numpy().astype(bool), m)
