"""MOT Challenge ground truth on Datumaro's and PathTrack's real files, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.errors import MissingImageError, ParseError
from visionflow.formats import registry

from ..conftest import make_image, shared_path, tree_snapshot


@pytest.mark.parametrize("name", ["mot_seq", "mot_seq_with_seqinfo"])
def test_datumaro_fixtures(name):
    ds = vf.load(shared_path("datumaro-assets", "mot_dataset", name))
    assert ds.source_format == "mot"
    assert ds.categories.names[:3] == ["label_0", "label_1", "label_2"]  # gt/labels.txt
    assert ds.images.file_name.tolist() == ["000001.jpg"] and ds.images.id.tolist() == [1]
    assert ds.annotations.xyxy.tolist() == [[0, 4, 4, 12]]
    assert ds.annotations.category_id.tolist() == [3]  # class 3 = label_2
    assert ds.annotations.track_id.tolist() == [-1]
    assert ds.annotations.attr("ignored").tolist() == [False]
    assert ds.annotations.attr("visibility").tolist() == [1]


def test_pathtrack_space_separated_with_info_xml(tmp_path):
    root = shared_path("label-studio-converter-tests", "pathtrack")
    before = tree_snapshot(root)
    ds = vf.load(root)
    assert (len(ds.images), len(ds.annotations)) == (125, 6)  # num_frames from info.xml
    assert (ds.images.width[0], ds.images.height[0]) == (1280, 720)
    assert ds.annotations.track_id.tolist() == [1, 1, 1, 13, 13, 13]
    assert ds.annotations.xyxy[0].tolist() == [893, 90, 893 + 148, 90 + 538]
    assert ds.categories.names[0] == "pedestrian"  # MOT's classes without labels.txt
    assert ds.images.id[ds.annotations.image_index[3]] == 123
    vf.write(ds, tmp_path / "out", "mot", images="none")
    assert (tmp_path / "out" / "gt" / "gt.txt").read_text().splitlines()[0] == \
        "1,1,893,90,148,538,1,1,-1"
    info = (tmp_path / "out" / "seqinfo.ini").read_text()
    assert "seqLength=125" in info and "imWidth=1280" in info and "frameRate=25.0" in info
    back = vf.load(tmp_path / "out")
    assert np.array_equal(back.annotations.track_id, ds.annotations.track_id)
    assert np.array_equal(back.annotations.xyxy, ds.annotations.xyxy)
    assert tree_snapshot(root) == before


def test_tracks_splits_and_renamed_frames(tmp_path):
    for n in ("a.jpg", "b.jpg"):
        make_image(tmp_path / "src" / n, (64, 48))
    ds = vf.Dataset(
        vf.Images.build(["a.jpg", "b.jpg"], [64, 64], [48, 48], split=["train", "val"],
                        path=[str(tmp_path / "src" / "a.jpg"), str(tmp_path / "src" / "b.jpg")]),
        vf.Annotations.build([0, 0, 1], [1, 2, 2], [[1, 2, 10, 20], [0.5, 1, 3.25, 4], [2, 2, 9, 9]],
                             track_id=np.array([7, -1, 7]),
                             attrs={"visibility": np.array([0.25, None, 1], object)}),
        vf.Categories.from_names(["person", "car"]))
    vf.write(ds, tmp_path / "out", "mot")
    assert (tmp_path / "out" / "train" / "img1" / "000001.jpg").is_file()
    assert (tmp_path / "out" / "train" / "gt" / "gt.txt").read_text() == (
        "1,7,1,2,9,18,1,1,0.25\n1,-1,0.5,1,2.75,3,1,2,-1\n")
    assert registry.detect(tmp_path / "out").format == "mot"
    back = vf.load(tmp_path / "out")
    assert back.images.file_name.tolist() == ["a.jpg", "b.jpg"]  # visionflow.json sidecar
    assert back.images.splits() == ["train", "val"]
    assert back.annotations.track_id.tolist() == [7, -1, 7]
    assert back.annotations.attr("visibility").tolist() == [0.25, None, 1]
    assert back.annotations.xyxy.tolist() == ds.annotations.xyxy.tolist()


def test_folder_of_sequences_prefixes_names(tmp_path):
    for seq in ("MOT17-02", "MOT17-04"):
        make_image(tmp_path / "train" / seq / "img1" / "000001.jpg", (32, 32))
        (tmp_path / "train" / seq / "gt").mkdir(parents=True)
        (tmp_path / "train" / seq / "gt" / "gt.txt").write_text("1,1,1,1,5,5,1,1,1\n")
    ds = vf.load(tmp_path)
    assert ds.images.file_name.tolist() == ["MOT17-02/000001.jpg", "MOT17-04/000001.jpg"]
    assert ds.images.splits() == ["train"]


@pytest.mark.parametrize("text, error, match", [
    ("1,1,2,3\n", ParseError, r"gt\.txt:1: expected at least 6 fields"),
    ("1,1,2,3,4,5,1,1,1\n1,x,2,3,4,5,1,1,1\n", ParseError, r"gt\.txt:2: expected numbers, got 'x'"),
    ("0,1,2,3,4,5,1,1,1\n", ParseError, r"gt\.txt:1: frame must be an integer >= 1"),
    ("1.5,1,2,3,4,5,1,1,1\n", ParseError, r"gt\.txt:1: frame must be an integer"),
    ("1,1,2,3,nan,5,1,1,1\n", ParseError, r"gt\.txt:1: expected finite numbers"),
    ("1,1,2,3,-4,5,1,1,1\n", vf.ValidationError, r"gt\.txt:1: box has negative size"),
    ("2,1,2,3,4,5,1,1,1\n", MissingImageError, r"gt\.txt:1: frame 2: image '000002.jpg' not found"),
])
def test_bad_rows(tmp_path, text, error, match):
    make_image(tmp_path / "img1" / "000001.jpg", (64, 48))
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text(text)
    with pytest.raises(error, match=match):
        vf.load(tmp_path, "mot")


def test_bad_seqinfo(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("1,1,2,3,4,5,1,1,1\n")
    (tmp_path / "seqinfo.ini").write_text("[Sequence]\nseqLength=ten\n")
    with pytest.raises(ParseError, match=r"seqinfo\.ini: seqLength = 'ten' is not an integer"):
        vf.load(tmp_path, "mot")


def test_unsafe_sidecar_name(tmp_path):
    make_image(tmp_path / "img1" / "000001.jpg", (64, 48))
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt.txt").write_text("1,1,2,3,4,5,1,1,1\n")
    (tmp_path / "visionflow.json").write_text('{"file_names": {"1": "../../x.jpg"}}')
    with pytest.raises(vf.UnsafeInputError, match="visionflow.json: .*outside the dataset"):
        vf.load(tmp_path, "mot")
