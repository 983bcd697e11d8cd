"""Real exports other tools write, read without --from (issue 11, items 9, 16 and 17):
YOLO segmentation objects bridged into one ring, Open Images CSVs with their quirks,
Ultralytics data.yaml naming image files and list files with CVAT's `data/` prefix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import polygon_area
from visionflow.formats import registry

HUB = ("ultralytics-hub-datasets",)


# --- 9. YOLO segmentation: several rings bridged into one ---------------------------------

def _ultralytics_merge(segments: list[np.ndarray]) -> np.ndarray:
    """ultralytics/data/converter.py merge_multi_segment, as written there (the reference for
    how Ultralytics' COCO converter writes an object made of several polygons)."""
    def min_index(a, b):
        dis = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.unravel_index(np.argmin(dis, axis=None), dis.shape)

    s = []
    segments = [np.array(i).reshape(-1, 2) for i in segments]
    idx_list = [[] for _ in range(len(segments))]
    for i in range(1, len(segments)):
        idx1, idx2 = min_index(segments[i - 1], segments[i])
        idx_list[i - 1].append(idx1)
        idx_list[i].append(idx2)
    for k in range(2):
        if k == 0:
            for i, idx in enumerate(idx_list):
                if len(idx) == 2 and idx[0] > idx[1]:
                    idx = idx[::-1]
                    segments[i] = segments[i][::-1, :]
                segments[i] = np.roll(segments[i], -idx[0], axis=0)
                segments[i] = np.concatenate([segments[i], segments[i][:1]])
                if i in {0, len(idx_list) - 1}:
                    s.append(segments[i])
                else:
                    idx = [0, idx[1] - idx[0]]
                    s.append(segments[i][idx[0]: idx[1] + 1])
        else:
            for i in range(len(idx_list) - 1, -1, -1):
                if i not in {0, len(idx_list) - 1}:
                    idx = idx_list[i]
                    nidx = abs(idx[1] - idx[0])
                    s.append(segments[i][nidx:])
    return np.concatenate(s, axis=0)


def _seg_dataset(tmp_path, rings_px: list[np.ndarray], size=(100, 100)):
    root = tmp_path / "seg"
    make_image(root / "images" / "train" / "a.jpg", size)
    ring = _ultralytics_merge(rings_px) / np.array(size, float)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text(
        "0 " + " ".join(f"{v:g}" for v in ring.reshape(-1)) + "\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: {0: x}\n")
    return root


def _coco_areas(ds, tmp_path) -> list[float]:
    vf.write(ds, tmp_path / "coco", "coco", images="none")
    doc = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    return [a["area"] for a in doc["annotations"]]


def test_two_squares_facing_opposite_ways_have_the_area_of_both(tmp_path):
    clockwise = np.array([[10, 10], [10, 30], [30, 30], [30, 10]], float)
    counter = np.array([[60, 60], [80, 60], [80, 80], [60, 80]], float)
    root = _seg_dataset(tmp_path, [clockwise, counter])
    assert registry.detect(root).format == "yolo"
    ds = vf.load(root)
    ann = ds.annotations
    assert ann.polygons.counts().tolist() == [2]
    for got, want in zip(ann.polygons.rings(0), (clockwise, counter)):
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))
    assert ann.xyxy.tolist() == [[10, 10, 80, 80]]
    assert _coco_areas(ds, tmp_path) == [800]  # the bridged ring's shoelace area is 0


def test_three_parts_of_ultralytics_two_pass_merge(tmp_path):
    squares = [np.array([[x, 10], [x + 10, 10], [x + 10, 20], [x, 20]], float)
               for x in (10, 40, 70)]
    ds = vf.load(_seg_dataset(tmp_path, squares))
    assert ds.annotations.polygons.counts().tolist() == [3]
    assert sorted(polygon_area(r) for r in ds.annotations.polygons.rings(0)) == [100] * 3
    assert _coco_areas(ds, tmp_path) == [300]


@pytest.mark.shared
def test_coco8_seg_bridged_objects_are_read_as_their_parts(tmp_path):
    src = shared_path(*HUB, "coco8-seg")
    ds = vf.load(src)
    ann, imgs = ds.annotations, ds.images
    counts = ann.polygons.counts()
    assert int((counts > 1).sum()) == 3 and counts.max() == 2
    # 000000000049.txt line 8 (a person in two pieces, facing opposite ways): the bridged
    # ring's area is 54.6 px^2 at 640 px; the parts' 69.7 + 124.2.
    row = imgs.file_name.tolist().index("000000000049.jpg")
    text = (src / "labels" / "val" / "000000000049.txt").read_text().splitlines()[7].split()
    wh = np.array([imgs.width[row], imgs.height[row]], float)
    bridged = polygon_area(np.array(text[1:], float).reshape(-1, 2) * wh)
    mine = np.flatnonzero(ann.image_index == row)[7]
    parts = ann.polygons.rings(int(mine))
    assert len(parts) == 2 and len(parts[0]) + len(parts[1]) == len(text[1:]) // 2 - 2
    total = sum(polygon_area(r) for r in parts)
    assert total > 3 * bridged
    areas = _coco_areas(ds.select_images(imgs.file_name == "000000000049.jpg"), tmp_path)
    assert areas[7] == pytest.approx(total)
    # A ring whose vertices merely repeat (line 5: 54 points, one part) is kept as written.
    line5 = np.flatnonzero(ann.image_index == row)[4]
    assert counts[line5] == 1 and len(ann.polygons.rings(int(line5))[0]) == 54


# --- 16. Open Images CSV quirks ----------------------------------------------------------

BOX_HEADER = ("ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,"
              "IsTruncated,IsGroupOf,IsDepiction,IsInside")


def test_open_images_csv_under_any_name_with_every_quirk(tmp_path):
    root = tmp_path / "export"
    make_image(root / "images" / "a.jpg", (100, 50))
    make_image(root / "images" / "b.jpg", (200, 100))
    (root / "labels-2024.csv").write_text(
        BOX_HEADER + "\n"
        'a.jpg,xclick,Cat,,"0,1","0,5","0,2","0,6",0,0,0,0,0\n'
        "b.jpg,xclick,Dog,0.7,0.25,0.75,0.1,0.9,1,0,0,0,0\n"
        'a.jpg,,Dog,,"0,5",1,0,"0,5",,,,,\n')
    for target in (root, root / "labels-2024.csv"):
        found = registry.detect(target)
        assert found.format == "open-images", target
    report = vf.Report()
    ds = vf.load(root, report=report)
    assert ds.categories.names == ["Cat", "Dog"]  # no description file: names as they are
    assert "open-images.no_class_descriptions" in report.codes()
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg"]
    assert ds.images.path[0] == str((root / "images" / "a.jpg").absolute())
    assert ds.images.width.tolist() == [100, 200]
    ann = ds.annotations
    np.testing.assert_allclose(ann.xyxy, [[10, 10, 50, 30], [50, 0, 100, 25],
                                          [50, 10, 150, 90]])
    assert np.isnan(ann.score[0]) and np.isnan(ann.score[1]) and ann.score[2] == 0.7
    assert ann.category_id.tolist() == [1, 2, 2]
    # and it converts back to Open Images (names are their own MIDs)
    vf.write(ds, tmp_path / "out", "open-images", images="none")
    back = vf.load(tmp_path / "out", images_dir=root / "images")
    np.testing.assert_allclose(back.annotations.xyxy, ann.xyxy, atol=1e-9)
    assert back.categories.names == ["Cat", "Dog"]


@pytest.mark.shared
def test_real_open_images_rows_rewritten_with_the_quirks_read_the_same(tmp_path):
    """Datumaro's V6 fixture's test boxes, rewritten as some exports write them: any file
    name, `.jpg` in ImageID, empty Confidence, quoted decimal commas, no class file."""
    src = shared_path("datumaro-assets", "open_images_dataset", "v6")
    rows = (src / "annotations" / "test-annotations-bbox.csv").read_text().splitlines()
    header, body = rows[0].split(","), [r.split(",") for r in rows[1:] if r.strip()]
    col = {c: header.index(c) for c in header}
    out = []
    for r in body:
        r = list(r)
        r[col["ImageID"]] += ".jpg"
        r[col["Confidence"]] = ""
        for c in ("XMin", "XMax", "YMin", "YMax"):
            r[col[c]] = '"' + r[col[c]].replace(".", ",") + '"'
        out.append(",".join(r))
    root = tmp_path / "quirky"
    shutil.copytree(src / "images", root / "images")
    (root / "boxes.csv").write_text("\n".join([rows[0], *out]) + "\n")
    assert registry.detect(root).format == "open-images"
    ds = vf.load(root)
    ref = vf.load(src / "annotations" / "test-annotations-bbox.csv")
    boxes = ~ref.annotations.is_label
    np.testing.assert_allclose(ds.annotations.xyxy, ref.annotations.xyxy[boxes])
    mids = ref.meta["open-images"]["label_names"]
    assert ds.categories.names == list(dict.fromkeys(
        mids[str(c)] for c in ref.annotations.category_id[boxes]))
    assert ds.images.file_name.tolist() == ref.images.file_name.tolist()
    assert all(p is not None for p in ds.images.path)


def test_open_images_csv_named_after_its_split(tmp_path):
    root = tmp_path / "export"
    make_image(root / "images" / "train" / "a.jpg", (100, 50))
    (root / "train.csv").write_text(BOX_HEADER + "\n" + "a,,Cat,,0.1,0.5,0.2,0.6,0,0,0,0,0\n")
    assert registry.detect(root).format == "open-images"
    ds = vf.load(root)
    assert ds.images.split.tolist() == ["train"]
    assert ds.images.path[0] == str((root / "images" / "train" / "a.jpg").absolute())


def test_open_images_comma_decimal_that_is_not_a_number_is_one_line(tmp_path):
    root = tmp_path / "export"
    make_image(root / "images" / "a.jpg", (100, 50))
    (root / "mine.csv").write_text(BOX_HEADER + "\n"
                                   'a,xclick,Cat,,"0,1,2",0.5,0.2,0.6,0,0,0,0,0\n')
    with pytest.raises(vf.ParseError, match=r"mine\.csv:2: column XMin: expected a number, "
                                            r"got '0,1,2'"):
        vf.load(root)


# --- 17. Ultralytics lists --------------------------------------------------------------

def _coco8_copy(tmp_path):
    src = shared_path(*HUB, "coco8")
    root = tmp_path / "coco8"
    shutil.copytree(src, root)
    (root / "coco8.yaml").unlink()
    names = yaml.safe_load((src / "coco8.yaml").read_text())["names"]
    return src, root, names


def _same(a, b):
    assert sorted(a.images.file_name.tolist()) == sorted(b.images.file_name.tolist())
    assert len(a.annotations) == len(b.annotations)
    assert sorted(a.annotations.xyxy.round(6).tolist()) == \
        sorted(b.annotations.xyxy.round(6).tolist())
    assert a.images.splits() == b.images.splits()


@pytest.mark.shared
def test_data_yaml_whose_splits_list_image_files(tmp_path):
    src, root, names = _coco8_copy(tmp_path)
    doc = {split: sorted(f"images/{split}/{p.name}" for p in (root / "images" / split).iterdir())
           for split in ("train", "val")}
    (root / "data.yaml").write_text(yaml.safe_dump({**doc, "names": names}))
    assert registry.detect(root).format == "yolo"
    ds = vf.load(root)
    _same(ds, vf.load(src))
    assert all(p is not None for p in ds.images.path)


@pytest.mark.shared
def test_list_files_with_cvat_data_prefix(tmp_path):
    src, root, names = _coco8_copy(tmp_path)
    for split in ("train", "val"):
        lines = [f"data/images/{split}/{p.name}" for p in sorted((root / "images" / split)
                                                                 .iterdir())]
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(yaml.safe_dump(
        {"path": ".", "train": "train.txt", "val": "val.txt", "names": names}))
    assert registry.detect(root).format == "yolo"
    ds = vf.load(root)
    _same(ds, vf.load(src))
    assert ds.images.file_name.tolist()[0] == "000000000009.jpg"


def test_list_line_with_data_prefix_leading_outside_is_refused(tmp_path):
    root = tmp_path / "d"
    make_image(root / "images" / "a.jpg")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "train.txt").write_text("data/../../x.jpg\n")
    (root / "data.yaml").write_text("train: train.txt\nval: train.txt\nnames: [x]\n")
    with pytest.raises(vf.UnsafeInputError, match=r"train\.txt:1: .*outside"):
        vf.load(root)
