"""The header fast path (io.headers) answers exactly what the PIL path answers, and is taken.

`ref` is the PIL-based reference (images._pil_image_size, the code image_size had before the
fast path); `fast` is io.headers.header_size alone (None = "ask PIL").
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

import visionflow as vf
from visionflow.io import headers, images
from visionflow.io.images import MAX_PIXELS, _pil_image_size, image_size, image_sizes

from ..conftest import make_image

# The PIL reference path warns about the corrupt EXIF blocks these tests make on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def fast(path: Path):
    return headers.header_size(path, MAX_PIXELS)


def ref(path: Path):
    return _pil_image_size(Path(path))


def outcome(fn, path: Path):
    """A result or (error class, message), to compare two paths' behaviour."""
    try:
        return fn(path)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, str(e)


# ---- builders -------------------------------------------------------------------------

def tiff(e: str, entries, tail: bytes = b"") -> bytes:
    """A TIFF block (EXIF payload): IFD0 holding [(tag, type, count, payload bytes)], the
    payloads over 4 bytes after it, then `tail` (a thumbnail stand-in)."""
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd, blob = struct.pack(e + "H", len(entries)), b""
    for tag, typ, count, payload in entries:
        if len(payload) <= 4:
            ifd += struct.pack(e + "HHI", tag, typ, count) + payload.ljust(4, b"\0")
        else:
            ifd += struct.pack(e + "HHII", tag, typ, count, data_at + len(blob))
            blob += payload
    head = (b"MM\0*" if e == ">" else b"II*\0") + struct.pack(e + "I", 8)
    return head + ifd + struct.pack(e + "I", 0) + blob + tail


def exif_block(e: str, orientation: int | None, tail: bytes = b"", typ: int = 3) -> bytes:
    """A camera-like IFD0: Make (out of line), orientation, resolution, ExifIFD pointer."""
    entries = [(0x010F, 2, 6, b"Canon\0")]
    if orientation is not None:
        fmt = {3: "H", 4: "I"}.get(typ, "H")
        entries.append((0x0112, typ, 1, struct.pack(e + fmt, orientation)))
    entries += [(0x011A, 5, 1, struct.pack(e + "II", 72, 1)),
                (0x011B, 5, 1, struct.pack(e + "II", 72, 1)),
                (0x0128, 3, 1, struct.pack(e + "H", 2)),
                (0x8769, 4, 1, struct.pack(e + "I", 0))]
    return tiff(e, entries, tail)


def seg(code: int, payload: bytes) -> bytes:
    assert len(payload) <= 65533
    return bytes([0xFF, code]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(size=(40, 20), mode="RGB", segments=(), **save) -> bytes:
    """A PIL-encoded JPEG with extra marker segments spliced in right after SOI."""
    out = io.BytesIO()
    im = Image.new(mode, size, {"L": 90, "CMYK": (10, 20, 30, 40)}.get(mode, (200, 100, 50)))
    im.save(out, "JPEG", **save)
    data = out.getvalue()
    return data[:2] + b"".join(segments) + data[2:]


def png(size=(40, 20), mode="RGB", exif: bytes | None = None, **save) -> bytes:
    out = io.BytesIO()
    im = Image.new(mode, size)
    if exif is not None:
        save["exif"] = exif
    im.save(out, "PNG", **save)
    return out.getvalue()


def bmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (9, 7)).save(out, "BMP")
    return out.getvalue()


def png_chunk(cid: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + cid + data + struct.pack(">I", zlib.crc32(cid + data))


def png_insert(data: bytes, chunk: bytes, before: bytes) -> bytes:
    """`chunk` inserted before the first chunk of type `before` (b"IDAT" or b"IEND")."""
    at = data.index(before) - 4
    return data[:at] + chunk + data[at:]


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def icc_segments(total: int, parts: int) -> list[bytes]:
    body = bytes(range(256)) * (total // 256 // parts + 1)
    return [seg(0xE2, b"ICC_PROFILE\0" + bytes([i + 1, parts]) + body[: total // parts])
            for i in range(parts)]


def xmp(orientation: int) -> bytes:
    return (b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta><rdf:Description "
            b'tiff:Orientation="%d"/></x:xmpmeta>' % orientation)


# ---- the tables mirrored from PIL -------------------------------------------------------

def test_tables_match_pil():
    dispatch = TiffImagePlugin.ImageFileDirectory_v2._load_dispatch
    assert headers._TIFF_UNIT == {typ: unit for typ, (unit, _) in dispatch.items()}
    assert headers._PNG_MODES == {k: v[0] for k, v in PngImagePlugin._MODES.items()}
    handled = {n[6:].encode() for n in dir(PngImagePlugin.PngStream) if n.startswith("chunk_")}
    assert headers._PNG_HANDLED == handled
    by_handler = {}
    for code, (_, _, handler) in JpegImagePlugin.MARKER.items():
        by_handler.setdefault(handler, set()).add(code & 0xFF)
    assert by_handler[JpegImagePlugin.SOF] == headers._SOF
    assert by_handler[JpegImagePlugin.Skip] == headers._SKIP
    assert by_handler[None] == headers._STANDALONE
    assert by_handler[JpegImagePlugin.DQT] == {headers._DQT}
    assert by_handler[JpegImagePlugin.COM] == {headers._COM}
    assert by_handler[JpegImagePlugin.APP] == set(range(0xE0, 0xF0))


# ---- generated images: the fast path answers, and answers what PIL does ---------------

def _cases():
    big_tail = bytes(range(256)) * 230  # ~58 KiB "thumbnail"
    for e in "<>":
        for o in range(1, 9):
            yield f"exif-{o}-{e}", jpeg(segments=[seg(0xE1, b"Exif\0\0" + exif_block(e, o))])
        yield f"exif-long-{e}", jpeg(segments=[seg(0xE1, b"Exif\0\0" + exif_block(e, 6, typ=4))])
        yield f"exif-none-{e}", jpeg(segments=[seg(0xE1, b"Exif\0\0" + exif_block(e, None))])
        yield f"thumbnail-{e}", jpeg(segments=[seg(0xE1, b"Exif\0\0" + exif_block(e, 8, big_tail))])
        yield f"png-exif-{e}", png(exif=exif_block(e, 6))
        yield f"png-exif-none-{e}", png(exif=exif_block(e, None))
    yield "baseline", jpeg((123, 45))
    yield "progressive", jpeg((123, 45), progressive=True)
    yield "progressive-rotated", jpeg((64, 33), progressive=True,
                                      segments=[seg(0xE1, b"Exif\0\0" + exif_block("<", 5))])
    yield "grayscale", jpeg((31, 17), "L")
    yield "cmyk", jpeg((31, 17), "CMYK")
    yield "cmyk-rotated", jpeg((31, 17), "CMYK", segments=[seg(0xE1, b"Exif\0\0" + exif_block(">", 7))])
    yield "no-jfif", jpeg((50, 10))[:2] + jpeg((50, 10))[20:]
    yield "optimized", jpeg((300, 200), optimize=True, quality=95, subsampling=0)
    yield "restart-interval", jpeg((80, 60), restart_marker_blocks=1)
    # SOF far beyond the first read: EXIF thumbnail + ICC profile in 3 parts + a comment
    yield "sof-beyond-64k", jpeg((77, 55), segments=[
        seg(0xE1, b"Exif\0\0" + exif_block("<", 6, big_tail)), *icc_segments(150_000, 3),
        seg(0xFE, b"c" * 60_000)])
    yield "icc-only", jpeg((20, 30), segments=icc_segments(3000, 1))
    yield "comment", jpeg((20, 30), comment=b"hello")
    yield "photoshop", jpeg((20, 30), segments=[seg(0xED, b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0"
                                                   + struct.pack(">I", 5) + b"iptc!\0" + b"8BIM\x03\xed"
                                                   + b"\x03abc" + struct.pack(">I", 16) + bytes(16))])
    yield "xmp-rotated", jpeg((20, 30), segments=[seg(0xE1, xmp(6))])
    yield "xmp-ignored-with-exif", jpeg((20, 30), segments=[
        seg(0xE1, b"Exif\0\0" + exif_block("<", 1)), seg(0xE1, xmp(6))])
    yield "xmp-after-exif-without-orientation", jpeg((20, 30), segments=[
        seg(0xE1, b"Exif\0\0" + exif_block("<", None)), seg(0xE1, xmp(8))])
    # EXIF split over two APP1 segments: PIL concatenates them
    block = b"Exif\0\0" + exif_block(">", 6, b"t" * 100)
    yield "exif-two-segments", jpeg((20, 30), segments=[
        seg(0xE1, block[:40]), seg(0xE1, b"Exif\0\0" + block[40:])])
    yield "empty-exif", jpeg((20, 30), segments=[seg(0xE1, b"Exif\0\0")])
    # padding PIL tolerates: fill bytes before a marker, junk between segments
    base = jpeg((20, 30))
    yield "fill-bytes", base[:2] + b"\xff\xff\xff" + base[3:]
    yield "junk-between-segments", base[:20] + b"\0\0junk" + base[20:]
    yield "standalone-markers", base[:2] + b"\xff\xd0\xff\x00" + base[2:]
    for mode in ("1", "L", "P", "RGB", "RGBA", "LA", "I;16"):
        yield f"png-{mode}", png((33, 17), mode)
    yield "png-interlaced", png((33, 17), optimize=False)
    yield "png-transparency", png((33, 17), "P", transparency=0)
    yield "png-rgb-transparency", png((33, 17), "RGB", transparency=(1, 2, 3))
    yield "png-dpi", png((33, 17), dpi=(300, 300))
    yield "png-private-chunk", png_insert(png((33, 17)), png_chunk(b"vpAg", b"\0" * 9), b"IDAT")
    yield "png-bkgd-after-idat", png_insert(png((33, 17)), png_chunk(b"tIME", b"\0" * 7), b"IEND")


CASES = dict(_cases())


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_matches_pil(tmp_path, name):
    p = write(tmp_path, name + (".png" if name.startswith("png") else ".jpg"), CASES[name])
    assert fast(p) is not None, "the fast path should answer for this ordinary file"
    assert fast(p) == ref(p) == image_size(p)


def test_rotations_swap(tmp_path):
    for o in range(1, 9):
        p = write(tmp_path, f"{o}.jpg", jpeg((40, 20), segments=[seg(0xE1, b"Exif\0\0" + exif_block("<", o))]))
        assert fast(p) == ((20, 40) if o >= 5 else (40, 20))


@pytest.mark.parametrize("name, data", [
    # what PIL handles its own way: the fast path steps aside, image_size still agrees
    ("mpo.jpg", jpeg(segments=[seg(0xE2, b"MPF\0" + b"\0" * 20)])),
    ("photoshop-cut.jpg", jpeg(segments=[seg(0xED, b"Photoshop 3.0\x008BIM\x04\x04")])),
    ("rational-orientation.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0" + tiff("<", [
        (0x0112, 5, 1, struct.pack("<II", 12, 2))]))])),
    ("float-orientation.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0" + tiff("<", [
        (0x0112, 11, 1, struct.pack("<f", 6.0))]))])),
    ("byte-orientation.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0" + tiff("<", [
        (0x0112, 1, 1, b"\x06")]))])),
    ("two-orientations.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0" + tiff(">", [
        (0x0112, 3, 2, struct.pack(">HH", 6, 1))]))])),
    ("bad-tiff-header.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0XX*\0\0\0\0\x08")])),
    ("ifd-outside.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0II*\0\xff\0\0\0")])),
    ("entry-data-outside.jpg", jpeg(segments=[seg(0xE1, b"Exif\0\0" + tiff("<", [
        (0x010F, 2, 600, b"x" * 600), (0x0112, 3, 1, struct.pack("<H", 6))])[:-500])])),
    ("twelve-bit.jpg", jpeg()[:2] + jpeg()[2:].replace(b"\xff\xc0\x00\x11\x08", b"\xff\xc0\x00\x11\x0c")),
    ("png-text.png", png_insert(png(), png_chunk(b"tEXt", b"Comment\0hello"), b"IDAT")),
    ("png-xmp.png", png_insert(png(), png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0"
                                               b'tiff:Orientation="6"'), b"IDAT")),
    ("png-exif-after-idat.png", png_insert(png(), png_chunk(b"eXIf", exif_block("<", 6)), b"IEND")),
    ("png-icc.png", png(icc_profile=b"\0" * 200)),
    ("apng.png", png_insert(png(), png_chunk(b"acTL", struct.pack(">II", 1, 0)), b"IDAT")),
    ("bmp.bmp", bmp()),
])
def test_fallback_cases_agree(tmp_path, name, data):
    p = write(tmp_path, name, data)
    assert fast(p) is None
    assert outcome(image_size, p) == outcome(ref, p)


def test_pil_reads_xmp_orientation_in_png(tmp_path):
    # why the fast path leaves text chunks to PIL: they can turn the image
    p = write(tmp_path, "x.png", png_insert(png(), png_chunk(
        b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" b'tiff:Orientation="6"'), b"IDAT"))
    assert image_size(p) == (20, 40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=st.integers(1, 90), h=st.integers(1, 90), orientation=st.integers(0, 8),
       endian=st.sampled_from("<>"), kind=st.sampled_from(["jpeg", "progressive", "png"]),
       mode=st.sampled_from(["RGB", "L", "CMYK", "P", "RGBA"]), tail=st.integers(0, 65_000),
       icc=st.integers(0, 3))
def test_fast_path_matches_pil_hypothesis(tmp_path, w, h, orientation, endian, kind, mode, tail,
                                          icc):
    block = exif_block(endian, orientation or None, b"t" * tail)
    if kind == "png":
        data = png((w, h), mode if mode != "CMYK" else "RGB", exif=block if orientation else None)
    else:
        segments = [seg(0xE1, b"Exif\0\0" + block[:65_000])] if orientation else []
        segments += icc_segments(icc * 30_000, icc) if icc else []
        data = jpeg((w, h), mode if mode in ("RGB", "L", "CMYK") else "RGB", segments,
                    progressive=kind == "progressive")
    p = write(tmp_path, "h.img", data)
    assert fast(p) is not None
    assert fast(p) == ref(p)


# ---- broken files: same errors, same messages -----------------------------------------

def _mutations(data: bytes, rng: random.Random, n: int):
    for _ in range(n):
        d = bytearray(data)
        kind = rng.randrange(6)
        at = rng.randrange(len(d))
        if kind == 0:
            yield bytes(d[:at])  # truncated
        elif kind == 1:
            d[at] = rng.randrange(256)
            yield bytes(d)
        elif kind == 2:
            d[at] = 0xFF
            yield bytes(d)
        elif kind == 3:
            yield bytes(d[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
                        + d[at:])
        elif kind == 4:
            del d[at:at + rng.randrange(1, 8)]
            yield bytes(d)
        else:  # a byte inside the first segments or EXIF block, where the parser looks
            at = rng.randrange(min(len(d), 300))
            d[at] = rng.choice([0, 1, 2, 5, 6, 8, 0x12, 0x2A, 0xC0, 0xDA, 0xE1, 0xFF])
            yield bytes(d)


@pytest.mark.parametrize("name", ["exif-6-<", "exif-3->", "cmyk-rotated", "xmp-rotated",
                                  "exif-two-segments", "photoshop", "png-exif-<", "png-RGBA",
                                  "png-P"])
def test_mutated_files_agree_with_pil(tmp_path, name):
    """Random truncations and byte changes: whatever PIL answers (a size, or an error with its
    message), image_size answers the same, whether the fast path took the file or not."""
    rng = random.Random(name)
    data = CASES[name]
    taken = 0
    for i, mutated in enumerate(_mutations(data, rng, 300)):
        p = write(tmp_path, f"m{i}.bin", mutated)
        taken += fast(p) is not None
        assert outcome(image_size, p) == outcome(ref, p), (i, mutated[:64])
    assert taken > 30  # the mutations do reach the fast path's own answers


def test_truncated_and_garbage_give_pil_errors(tmp_path):
    data = CASES["thumbnail-<"]
    sof = data.index(b"\xff\xc0")
    sos = data.index(b"\xff\xda")
    for cut in (1, 2, 3, 10, 3000, 5000, sof + 3, sof + 10, sos, sos + 3, sos + 9):
        p = write(tmp_path, f"cut{cut}.jpg", data[:cut])
        assert fast(p) is None, cut
        got = outcome(image_size, p)
        assert got == outcome(ref, p)
        assert got[0] == "ValidationError" and f"cut{cut}.jpg: cannot read image" in got[1]
    for name, garbage in [("garbage.jpg", b"\xff\xd8\xff" + b"\x13" * 50),
                          ("zero.jpg", b""), ("text.png", b"\x89PNG\r\n\x1a\nnot really"),
                          ("bad-crc.png", CASES["png-RGB"][:29] + b"\0" + CASES["png-RGB"][30:])]:
        p = write(tmp_path, name, garbage)
        assert fast(p) is None
        got = outcome(image_size, p)
        assert got == outcome(ref, p)
        assert got[0] == "ValidationError" and f"{name}: cannot read image" in got[1]


def test_missing_and_folder(tmp_path):
    with pytest.raises(vf.MissingImageError, match=r"nope\.jpg: image file not found"):
        image_size(tmp_path / "nope.jpg")
    with pytest.raises(vf.MissingImageError, match="image file not found"):
        image_size(str(tmp_path / "sub" / "nope.jpg"))
    (tmp_path / "dir.jpg").mkdir()
    assert outcome(image_size, tmp_path / "dir.jpg") == outcome(ref, tmp_path / "dir.jpg")
    with pytest.raises(vf.ValidationError, match="IsADirectoryError"):
        image_size(tmp_path / "dir.jpg")
    real = make_image(tmp_path / "a.jpg", (12, 8))
    assert image_size(str(real) + "/") == ref(Path(str(real) + "/")) == (12, 8)


def _jpeg_bomb(w: int, h: int) -> bytes:
    data = jpeg((16, 16))
    at = data.index(b"\xff\xc0") + 5
    return data[:at] + struct.pack(">HH", h, w) + data[at + 4:]


@pytest.mark.parametrize("name, data", [
    ("bomb.jpg", _jpeg_bomb(40_000, 40_000)),                 # > 2x: PIL's DecompressionBombError
    ("bomb-warning.jpg", _jpeg_bomb(33_000, 33_000)),         # > 1x: PIL's warning, an error here
    ("bomb.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(
        ">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)) + png_chunk(b"IDAT", b"")),
])
def test_bombs_refused_on_the_fast_path(tmp_path, monkeypatch, name, data):
    p = write(tmp_path, name, data)
    expected = outcome(ref, p)
    assert expected[0] == "UnsafeInputError" and "decompression bomb" in expected[1]
    assert fast(p) is not None  # the size is known without PIL...
    monkeypatch.setattr(images.Image, "open", _no_pil)
    assert outcome(image_size, p) == expected  # ...and refused the same way


def test_largest_allowed_image_passes(tmp_path):
    p = write(tmp_path, "edge.jpg", _jpeg_bomb(32_768, 32_768))  # exactly MAX_PIXELS
    assert image_size(p) == ref(p) == (32_768, 32_768)


# ---- the fast path is taken ------------------------------------------------------------

def _no_pil(*args, **kwargs):
    raise AssertionError("PIL.Image.open called on the fast path")


def test_ordinary_files_never_reach_pil(tmp_path, monkeypatch):
    paths = [write(tmp_path, f"{i}.img", data) for i, data in enumerate(CASES.values())]
    expected = [ref(p) for p in paths]
    monkeypatch.setattr(images.Image, "open", _no_pil)
    assert [image_size(p) for p in paths] == expected
    errors = []
    out = image_sizes([str(p) for p in paths], on_error=lambda i, e: errors.append(i))
    assert out.tolist() == [list(s) for s in expected] and errors == []


def test_image_sizes_errors_and_progress(tmp_path):
    ok = make_image(tmp_path / "a.jpg", (30, 20))
    bad = write(tmp_path, "bad.jpg", b"nothing")
    paths = [ok, tmp_path / "missing.png", bad] + [ok] * 600
    errors, advanced = [], []
    out = image_sizes(paths, on_error=lambda i, e: errors.append((i, type(e).__name__)),
                      progress=advanced.append)
    assert errors == [(1, "MissingImageError"), (2, "ValidationError")]
    assert out.shape == (603, 2) and out.dtype.name == "int64"
    assert out[:3].tolist() == [[30, 20], [-1, -1], [-1, -1]] and (out[3:] == [30, 20]).all()
    assert sum(advanced) == 603
    assert image_sizes([], on_error=lambda i, e: None).shape == (0, 2)


# ---- real files ------------------------------------------------------------------------

@pytest.mark.shared
def test_real_images_match_pil(shared):
    files = sorted(p for p in shared.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
                   and p.is_file())
    assert len(files) > 100
    taken = 0
    for p in files:
        size = fast(p)
        taken += size is not None
        expected = outcome(ref, p)
        if size is not None:
            assert size == expected, p
        assert outcome(image_size, p) == expected, p
    assert taken >= 0.9 * len(files)
