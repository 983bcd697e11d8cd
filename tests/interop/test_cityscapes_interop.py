"""Cityscapes against Datumaro, both ways: the same items, subsets and class masks.

Datumaro's importer takes every instanceIds value as a label index, so it only understands
class regions (stuff classes and crowd groups), not `class * 1000 + n` instances; the test
from ours to Datumaro uses those, as Datumaro's own exporter writes them.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image
from visionflow.core.geometry import mask_to_rle, rle_to_mask

dm = pytest.importorskip("datumaro")
from datumaro.components.annotation import AnnotationType, Mask

pytestmark = pytest.mark.interop


def _ours_by_class(ds: vf.Dataset) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """(split, file stem) -> class name -> union mask."""
    names = {c.id: c.name for c in ds.categories}
    out: dict = {}
    for r, name in enumerate(ds.images.file_name):
        out[(str(ds.images.split[r]) or "default", str(name).rsplit(".", 1)[0])] = {}
    ann = ds.annotations
    for r, c, rle in zip(ann.image_index, ann.category_id, ann.rle):
        key = (str(ds.images.split[r]) or "default",
               str(ds.images.file_name[r]).rsplit(".", 1)[0])
        masks = out[key]
        name = names[int(c)]
        masks[name] = masks.get(name, False) | rle_to_mask(rle)
    return out


def _theirs_by_class(dataset) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    labels = dataset.categories()[AnnotationType.label]
    out: dict = {}
    for item in dataset:
        masks: dict = {}
        for a in item.annotations:
            if isinstance(a, Mask):
                name = labels[a.label].name
                masks[name] = masks.get(name, False) | a.image.astype(bool)
        out[(item.subset, item.id)] = masks
    return out


def _same(ours, theirs, rename=lambda n: n) -> None:
    assert ours.keys() == theirs.keys()
    for key, masks in ours.items():
        assert {rename(n) for n in masks} == set(theirs[key]), key
        for name, mask in masks.items():
            assert np.array_equal(mask, theirs[key][rename(name)]), (key, name)


def test_datumaro_imports_our_export(tmp_path):
    img = make_image(tmp_path / "src" / "x.png", (6, 4))
    neg = make_image(tmp_path / "src" / "n.png", (3, 3))
    masks = [np.zeros((4, 6), bool) for _ in range(3)]
    masks[0][:2] = True           # road
    masks[1][2:, :3] = True       # sky
    masks[2][2:, 3:] = True       # a car group (crowd): one class region
    rle = np.empty(3, object)
    rle[:] = [mask_to_rle(m) for m in masks]
    cats = vf.Categories(vf.Category(i, n) for i, n in [(7, "road"), (23, "sky"), (26, "car")])
    ann = vf.Annotations.build([0, 0, 0], [7, 23, 26], [[0, 0, 6, 2], [0, 2, 3, 4], [3, 2, 6, 4]],
                               rle=rle, iscrowd=np.array([0, 0, 1], bool))
    images = vf.Images.build(["zurich/x.png", "zurich/n.png"], [6, 3], [4, 3],
                             split=["val", "train"], path=[str(img), str(neg)])
    ds = vf.Dataset(images, ann, cats)
    vf.write(ds, tmp_path / "out", "cityscapes")

    assert dm.Environment().detect_dataset(str(tmp_path / "out")) == ["cityscapes"]
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "cityscapes")
    # Datumaro names classes without spaces ("trafficlight"); these three have none.
    _same(_ours_by_class(vf.load(tmp_path / "out")), _theirs_by_class(theirs))
    assert {(i.subset, i.id) for i in theirs} == {("val", "zurich/x"), ("train", "zurich/n")}


def test_we_import_datumaro_export_with_its_label_map(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.ERROR)
    from datumaro.components.annotation import LabelCategories
    from datumaro.plugins.data_formats.cityscapes import CityscapesExporter

    # Datumaro 1.13 saves instanceIds as int32, which Pillow (without OpenCV) cannot write as
    # PNG; save them as 16-bit like Cityscapes does. Everything else is Datumaro's own export.
    save_mask = CityscapesExporter.save_mask

    def save_16_bit(self, path, mask, colormap=None, apply_colormap=True, dtype=np.uint8):
        dtype = np.uint16 if dtype == np.int32 else dtype
        return save_mask(self, path, mask, colormap, apply_colormap, dtype)

    monkeypatch.setattr(CityscapesExporter, "save_mask", save_16_bit)
    from datumaro.components.dataset_base import DatasetItem
    from datumaro.components.media import Image as DmImage

    a = np.zeros((3, 5), np.uint8)
    a[:, :2] = 1
    b = np.zeros((3, 5), np.uint8)
    b[1:, 3:] = 1
    items = [
        DatasetItem(id="city/img1", subset="train",
                    media=DmImage.from_numpy(np.full((3, 5, 3), 90, np.uint8)),
                    annotations=[Mask(image=a, label=0), Mask(image=b, label=1)]),
        DatasetItem(id="city/img2", subset="val",
                    media=DmImage.from_numpy(np.full((3, 5, 3), 90, np.uint8)),
                    annotations=[Mask(image=b, label=1)]),
    ]
    src = dm.Dataset.from_iterable(items, categories={
        AnnotationType.label: LabelCategories.from_iterable(["cat", "dog"])})
    src.export(str(tmp_path / "dm"), "cityscapes", save_media=True)
    assert (tmp_path / "dm" / "label_colors.txt").is_file()

    ours = vf.load(tmp_path / "dm")
    assert ours.source_format == "cityscapes"
    assert ours.categories.names == ["cat", "dog"]
    assert ours.images.file_name.tolist() == ["city/img1.png", "city/img2.png"]
    theirs = dm.Dataset.import_from(str(tmp_path / "dm"), "cityscapes")
    _same(_ours_by_class(ours), _theirs_by_class(theirs))
