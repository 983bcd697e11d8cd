import os
from pathlib import Path

import pytest

import visionflow as vf
from visionflow.io.atomic import atomic_dir
from visionflow.io.images import image_size
from visionflow.io.paths import clean_relative, resolve_inside

from ..conftest import make_image


@pytest.mark.parametrize("name, expected", [
    ("a.jpg", "a.jpg"), ("sub/./a.jpg", "sub/a.jpg"), ("sub\\a.jpg", "sub/a.jpg"),
])
def test_clean_relative(name, expected):
    assert clean_relative(name, where="x") == expected


@pytest.mark.parametrize("name, problem", [
    ("../a.jpg", "points outside the dataset folder"),
    ("sub/../../a.jpg", "points outside the dataset folder"),
    ("/etc/passwd", "is an absolute path"),
    ("C:\\x.jpg", "is an absolute path"),
    ("", "empty or invalid file name"),
])
def test_unsafe_names(name, problem):
    with pytest.raises(vf.UnsafeInputError, match=problem):
        clean_relative(name, where="ann.json")


def test_symlink_leaving_the_folder(tmp_path):
    outside = make_image(tmp_path / "outside.png")
    root = tmp_path / "ds"
    root.mkdir()
    (root / "link.png").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match="link that leads outside the dataset folder"):
        resolve_inside(root, "link.png", where="ann.json")
    inside = make_image(root / "real.png")
    (root / "ok.png").symlink_to(inside)
    assert resolve_inside(root, "ok.png", where="x") == root / "ok.png"


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with atomic_dir(dest) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert not dest.exists()
    assert os.listdir(tmp_path) == []


def test_atomic_dir_refuses_non_empty_destination(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("precious")
    with pytest.raises(vf.OutputError, match="already exists and is not empty"):
        with atomic_dir(tmp_path / "out"):
            pass
    with pytest.raises(vf.OutputError, match="was not written by visionflow"):
        with atomic_dir(tmp_path / "out", overwrite=True):
            pass
    with atomic_dir(tmp_path / "out", overwrite=True, force=True) as tmp:
        (tmp / "new.txt").write_text("x")
    assert sorted(os.listdir(tmp_path / "out")) == [".visionflow-output", "new.txt"]


def test_image_size_reads_header_and_exif(tmp_path):
    from PIL import Image
    p = tmp_path / "rot.jpg"
    im = Image.new("RGB", (40, 20))
    exif = im.getexif()
    exif[0x0112] = 6  # rotated 90 degrees: displayed 20 x 40
    im.save(p, exif=exif)
    assert image_size(p) == (20, 40)
    assert image_size(make_image(tmp_path / "a.png", (33, 17))) == (33, 17)


def test_unreadable_and_bomb_images(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(vf.ValidationError, match="bad.jpg: cannot read image"):
        image_size(bad)
    with pytest.raises(vf.MissingImageError, match="image file not found"):
        image_size(tmp_path / "nope.jpg")
    # A PNG header declaring 100000 x 100000 pixels: refused before any decoding.
    import struct, zlib
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    with pytest.raises(vf.UnsafeInputError, match="decompression bomb"):
        image_size(bomb)
