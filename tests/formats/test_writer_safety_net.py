"""Safety net under every writer: its output is read back and compared, for every registered
writable format, on hand-made datasets of the shapes that broke real conversions (issue 11,
item 3 and 6):

- per-split ids: train and val each numbered from 0, images and annotations (Roboflow COCO);
- images without annotations beside annotated ones;
- classification only: one image-level label per image, columns as readers hand them over
  (strided numpy views, which orjson refuses).

"Compare" is the contract test's (tests/formats/test_contract.py): the dataset reduced to what
the format holds (`canonical`). Beyond that only documented losses are allowed: a kind of
annotation the format cannot hold is reported as a `loss.*` finding; images left without
anything a label-only format can hold are reported (`loss.unlabelled_images`) and dropped;
fields a format always carries (KITTI `truncated`, CVAT `occluded`, ...) come back with their
default where the source had none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.formats import registry
from visionflow.formats.base import BOXES, LABELS, MASKS, OBB, POLYGONS

from ..strategies import canonical
from .test_contract import TOLERANCE_PX, WRITABLE

SHAPES = ("per_split_ids", "images_without_annotations", "classification")
SIZES = [(64, 48), (80, 60), (50, 40), (64, 48), (70, 50), (60, 60)]


def _dataset(shape: str, fmt, root: Path) -> vf.Dataset:
    if shape == "per_split_ids":
        splits, ids = ["train"] * 3 + ["val"] * 3, [0, 1, 2, 0, 1, 2]
    elif shape == "images_without_annotations":
        splits, ids = [""] * 4, [1, 2, 3, 4]
    else:
        splits, ids = ["train", "train", "val", "val"], [1, 2, 3, 4]
    n = len(splits)
    sizes = np.array(SIZES[:n], np.int64)
    if fmt.name == "mot":  # MOT knows a frame by its number in its sequence (split) only
        names = [f"{splits[:i + 1].count(s):06d}.png" for i, s in enumerate(splits)]
    else:
        names = [f"img_{i}.png" for i in range(n)]
    paths = []
    for i, (name, (w, h)) in enumerate(zip(names, sizes.tolist())):
        p = root / f"{i}_{name}"
        Image.new("RGB", (w, h), (90, 120, 150)).save(p)
        paths.append(str(p))
    # Width and height as strided views of one (n, 2) array, as the yolo-cls reader builds them.
    images = vf.Images.build(names, sizes[:, 0], sizes[:, 1], id=ids, split=splits, path=paths)
    cats = vf.Categories([vf.Category(1, "cat"), vf.Category(2, "dog")])
    if shape == "per_split_ids":
        ann = vf.Annotations.build(
            [0, 0, 1, 3, 3, 4], [1, 2, 1, 2, 1, 1],
            [[2, 3, 20, 30], [5, 5, 40, 25], [1, 1, 10, 10], [3, 3, 30, 30], [10, 10, 40, 40],
             [4, 5, 20, 25]], id=[0, 1, 2, 0, 1, 2])
    elif shape == "images_without_annotations":
        ann = vf.Annotations.build([1, 1], [1, 2], [[2, 3, 20, 30], [5, 5, 40, 25]])
    else:
        boxes = np.full((4, 5), np.nan)[:, 1:]  # strided, all NaN: image-level labels
        ann = vf.Annotations.build([0, 1, 2, 3], [1, 2, 2, 1], boxes)
    return vf.Dataset(images, ann, cats)


def _holds_any(fmt, ds: vf.Dataset) -> bool:
    """Whether the format can hold some annotation of `ds` (else the loss is expected)."""
    a = ds.annotations
    if a.is_label.any() and LABELS in fmt.supports:
        return True
    objects = ~a.is_label
    kinds = {BOXES, POLYGONS, MASKS, OBB} & fmt.supports
    return bool(objects.any()) and bool(kinds)


def _defaults_dropped(back: vf.Dataset, source: vf.Dataset) -> vf.Dataset:
    """Attributes the source did not have and that came back with one value on every row: the
    format's own field filled with its default (KITTI truncated=0, CVAT occluded=False)."""
    ann = back.annotations
    extra = {k: v for k, v in ann.attrs.items() if k not in source.annotations.attrs}
    keep = {k: v for k, v in ann.attrs.items() if k not in extra or len(set(map(repr, v))) > 1}
    return back.replace(annotations=ann.replace(attrs=keep))


def _only_labelled(ds: vf.Dataset) -> vf.Dataset:
    rows = np.unique(ds.annotations.image_index)
    return ds.select_images(rows)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_every_writer_reads_back(fmt, shape, tmp_path):
    (tmp_path / "src").mkdir()
    ds = _dataset(shape, fmt, tmp_path / "src")
    back = _write_read_compare(fmt, ds, tmp_path / "out")

    # And what came back is a dataset this format writes again unchanged.
    vf.write(back, tmp_path / "again", fmt.name, images="link")
    again = vf.load(tmp_path / "again", fmt.name)
    assert not canonical(back, fmt).differences(canonical(again, fmt),
                                                atol=TOLERANCE_PX.get(fmt.name, 1e-9))


def _write_read_compare(fmt, ds: vf.Dataset, out: Path) -> vf.Dataset:
    report = vf.write(ds, out, fmt.name, images="link")
    losses = {f.code for f in report if f.code.startswith("loss.")}
    back = vf.load(out, fmt.name)

    expected, got = canonical(ds, fmt), canonical(_defaults_dropped(back, ds), fmt)
    if len(ds.annotations) and not _holds_any(fmt, ds):
        assert losses, f"{fmt.name} dropped every annotation without a loss finding"
    if "loss.unlabelled_images" in losses:
        expected = _only_labelled(expected)
    else:
        assert len(got.images) == len(ds.images), f"{fmt.name} dropped images silently"
    diff = expected.differences(got, atol=TOLERANCE_PX.get(fmt.name, 1e-9))
    assert not diff, f"{fmt.name} changed {diff} (losses reported: {sorted(losses)})"
    return back


@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_every_writer_reads_back_re_cut_splits(fmt, tmp_path):
    """Per-split ids re-cut into new splits (what `split` does) still read back."""
    from visionflow.transforms import split

    (tmp_path / "src").mkdir()
    ds = _dataset("per_split_ids", fmt, tmp_path / "src")
    if fmt.name == "mot":  # frame names must stay numbered per sequence
        pytest.skip("MOT frame names are their number within the split")
    ds = split(ds, (0.5, 0.5), seed=2, near_duplicates=False)
    _write_read_compare(fmt, ds, tmp_path / "out")


def test_the_net_covers_every_writable_format():
    names = {f.name for f in registry.all_formats() if f.read and f.write}
    assert names == {f.name for f in WRITABLE} and len(names) >= 25


def test_model_columns_are_contiguous_whatever_the_reader_passes():
    sizes = np.array([[4, 3], [5, 6]], np.int64)
    boxes = np.arange(10.0).reshape(2, 5)[:, :4]
    images = vf.Images.build(["a", "b"], sizes[:, 0], sizes[:, 1])
    ann = vf.Annotations.build([0, 1], [1, 1], boxes)
    assert images.width.flags.c_contiguous and images.height.flags.c_contiguous
    assert ann.xyxy.flags.c_contiguous and ann.xyxy.tolist() == boxes.tolist()
    poly = vf.Polygons(np.arange(12.0).reshape(3, 4)[:, :2], np.array([0, 3]), np.array([0, 1]))
    assert poly.coords.flags.c_contiguous


def test_native_writes_array_attributes_of_any_layout(tmp_path):
    ann = vf.Annotations.build([0], [1], [[1, 1, 5, 5]])
    col = np.empty(1, object)
    col[0] = np.arange(6.0).reshape(2, 3)[:, :2]  # a strided array as an attribute value
    ds = vf.Dataset(vf.Images.build(["a.png"], [8], [8]), ann.replace(attrs={"pts": col}),
                    vf.Categories.from_names(["a"]))
    vf.write(ds, tmp_path / "out", "visionflow", images="none")
    back = vf.load(tmp_path / "out")
    assert back.annotations.attrs["pts"][0] == [[0.0, 1.0], [3.0, 4.0]]
