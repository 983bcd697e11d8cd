"""Upright image sizes straight from JPEG and PNG headers, without PIL.

Why: reading the size of every image is the costliest step of loading a YOLO or VOC dataset,
and PIL.Image.open spends ~100 us a file on plugin probing, buffered file objects and EXIF
objects. These parsers read the first bytes with plain os.read and walk the same structures
PIL walks (JPEG markers up to the start of scan, PNG chunks up to the first IDAT), applying the
same checks, so they answer exactly what PIL-based `images.image_size` answers. Whenever a file
is anything else, or PIL could answer differently (truncated, malformed, unusual metadata, an
MPO or APNG, text chunks that may hold EXIF...), they return None and the caller asks PIL:
results and error messages never depend on which path ran.
"""

from __future__ import annotations

import os
import re
import struct
import zlib

# First read. Ordinary headers (JFIF, DQT, SOF, DHT: ~600 bytes) fit in it; segments reaching
# beyond it (EXIF thumbnails, ICC profiles, big comments) make the parser read on. Measured on
# 12 KiB JPEGs: 4 KiB reads cost 0.5 us less per file than 16-64 KiB ones.
CHUNK = 4096
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)

_ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height
_ABSENT = -1             # no orientation tag (PIL then looks in XMP)

# ---- JPEG: PIL.JpegImagePlugin.MARKER, by what its handler does ----
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                  0xCF, 0xDE})  # DHP goes through PIL's SOF handler too
_SKIP = frozenset({0xC4, 0xCC, 0xDA, 0xDC, 0xDD, 0xDF})  # DHT DAC SOS DNL DRI EXP
_STANDALONE = frozenset({0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)})  # no length field
_DQT, _COM, _SOS = 0xDB, 0xFE, 0xDA
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # as Image.getexif

# ---- EXIF (TIFF IFD0): bytes per value of each type PIL loads (TiffImagePlugin._load_dispatch)
_TIFF_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8,
              13: 4, 16: 8}
# Tags PIL reads while opening (orientation; resolution for the JPEG dpi): with more than one
# value PIL warns, so such files go to PIL.
_WATCHED_TAGS = (0x0112, 0x0128, 0x011A)

# ---- PNG ----
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_MODES = {  # (bit depth, colour type) -> PIL mode, as PngImagePlugin._MODES
    (1, 0): "1", (2, 0): "L", (4, 0): "L", (8, 0): "L", (16, 0): "I;16",
    (8, 2): "RGB", (16, 2): "RGB",
    (1, 3): "P", (2, 3): "P", (4, 3): "P", (8, 3): "P",
    (8, 4): "LA", (16, 4): "RGBA", (8, 6): "RGBA", (16, 6): "RGBA",
}
# Chunk types PngImagePlugin has a handler for; any other is skipped by PIL (after its CRC).
_PNG_HANDLED = frozenset({b"iCCP", b"IHDR", b"IDAT", b"IEND", b"PLTE", b"tRNS", b"gAMA",
                          b"cHRM", b"sRGB", b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"eXIf",
                          b"acTL", b"fcTL", b"fdAT"})
# Chunks that may carry EXIF for PIL (eXIf; "Raw profile type exif"/XMP/"exif" text).
_PNG_EXIF_CARRIERS = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from


class TruncatedImage(Exception):
    """A JPEG without its end marker or a PNG without IEND near its end: the body was cut."""


# How far before the end the end marker may sit (cameras and editors append a few bytes);
# the same window `check` uses (checks/scan.py).
TAIL_BYTES = 4096
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND"


def header_size(path: str | os.PathLike, max_pixels: int,
                check_tail: bool = False) -> tuple[int, int] | None:
    """(width, height) as displayed (EXIF orientation applied), or None: ask PIL.

    Above max_pixels the stored size comes back as soon as it is known (the caller refuses
    it): the product is all that matters then. check_tail: raise TruncatedImage for a JPEG
    or PNG whose end marker is missing (one 12-byte read at the end of an intact file).
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError:
        return None  # missing, not a file, no permission...: PIL's path says which
    try:
        buf = os.read(fd, CHUNK)
        if buf.startswith(b"\xff\xd8\xff"):
            if check_tail:
                _check_tail(fd, buf, _JPEG_END, "JPEG end marker")
            return _jpeg(fd, buf, max_pixels)
        if buf.startswith(_PNG_MAGIC):
            if check_tail:
                _check_tail(fd, buf, _PNG_END, "PNG IEND chunk")
            return _png(fd, buf, max_pixels)
        return None
    except (OSError, IndexError, ValueError, struct.error):
        return None  # a directory, a read error, or a bug here: PIL decides
    finally:
        os.close(fd)


def _check_tail(fd: int, buf: bytes, marker: bytes, what: str) -> None:
    """TruncatedImage unless `marker` lies in the last TAIL_BYTES of the file."""
    size = os.fstat(fd).st_size
    if size <= len(buf):
        tail = buf[-TAIL_BYTES:]
    else:
        end = os.pread(fd, 12, size - 12)  # JPEG: ...FFD9; PNG: IEND + CRC
        if end.endswith(marker) or end[:8].endswith(marker):
            return
        tail = os.pread(fd, TAIL_BYTES, max(0, size - TAIL_BYTES))
    if marker not in tail:
        raise TruncatedImage(f"image file is truncated ({size} bytes, no {what} at its end)")


def _read_to(fd: int, buf: bytes, end: int) -> bytes | None:
    """buf (the file from offset 0) extended to at least `end` bytes, and a CHUNK more for
    the segments after it where the file has them; None when the file ends before `end`."""
    want = end + CHUNK
    while len(buf) < end:
        more = os.read(fd, want - len(buf))
        if not more:
            return None
        buf += more
    return buf


# ---------------------------------------------------------------- JPEG

def _jpeg(fd: int, buf: bytes, max_pixels: int) -> tuple[int, int] | None:
    """Walk the markers from SOI to SOS as JpegImageFile._open does; None where it would
    fail or where its result needs more than this parser knows."""
    p = 2  # PIL reads SOI's 3 bytes, then treats the third (0xFF) as a marker's first byte
    n = len(buf)
    size = None
    exif = xmp = None
    icc: list[bytes] = []
    while True:
        if p + 2 > n:
            buf = _read_to(fd, buf, p + 2)
            if buf is None:
                return None
            n = len(buf)
        if buf[p] != 0xFF:  # junk between segments: PIL skips it byte by byte
            q = buf.find(b"\xff", p)
            p = q if q >= 0 else n
            continue
        code = buf[p + 1]
        if code in _STANDALONE:
            p += 2
            continue
        if code == 0xFF:  # fill byte: the second 0xFF starts the marker
            p += 1
            continue
        if code == 0x00:  # escaped 0xFF outside a scan: PIL skips it
            p += 2
            continue
        if code < 0xC0:  # 0xFF01..0xFFBF: "no marker found" in PIL
            return None
        if p + 4 > n:
            buf = _read_to(fd, buf, p + 4)
            if buf is None:
                return None
            n = len(buf)
        start = p + 4
        end = start + max(((buf[p + 2] << 8) | buf[p + 3]) - 2, 0)  # PIL reads nothing for < 2
        if end > n:
            buf = _read_to(fd, buf, end)
            if buf is None:
                return None  # PIL: "Truncated File Read"
            n = len(buf)
        p = end
        if code in _SKIP:
            if code == _SOS:
                break
        elif 0xE0 <= code <= 0xEF:  # APPn: PIL's APP handler, branch by branch
            if code == 0xE1:
                if buf.startswith(b"Exif\0\0", start):
                    exif = buf[start:end] if exif is None else exif + buf[start + 6:end]
                elif buf.startswith(_XMP, start):
                    xmp = buf[start + len(_XMP):end]
            elif code == 0xE2:
                if buf.startswith(b"ICC_PROFILE\0", start):
                    icc.append(buf[start:end])
                elif buf.startswith(b"MPF\0", start):
                    return None  # maybe an MPO: PIL adopts it as such
            elif code == 0xE0 or code == 0xEE:
                if end - start < 7 and buf.startswith(b"JFIF" if code == 0xE0 else b"Adobe", start):
                    return None  # PIL: struct.error reading the JFIF / Adobe version
            elif code == 0xED and buf.startswith(b"Photoshop 3.0\0", start) \
                    and not _photoshop_ok(buf[start:end]):
                return None
        elif code in _SOF:
            if end - start < 6 or buf[start] != 8 or buf[start + 5] not in (1, 3, 4) \
                    or (end - start - 6) % 3:
                return None  # PIL: "cannot handle ..." or IndexError on the components
            if icc:
                if len(min(icc)) < 14:
                    return None  # PIL: IndexError reading the ICC sequence count
                icc = []
            size = ((buf[start + 3] << 8) | buf[start + 4], (buf[start + 1] << 8) | buf[start + 2])
        elif code == _DQT:
            q = start
            while q < end:
                q += 65 if buf[q] < 16 else 129
            if q != end:
                return None  # PIL: "bad quantization table marker"
        elif code != _COM:
            return None  # no other marker exists in PIL's table
    if size is None or not size[0] or not size[1]:
        return None
    if size[0] * size[1] > max_pixels:
        return size
    orientation = _exif_orientation(exif) if exif is not None else _ABSENT
    if orientation is None:
        return None
    if orientation == _ABSENT and xmp:
        m = _XMP_ORIENTATION.search(xmp)
        if m:
            orientation = int(m[2])
    return (size[1], size[0]) if orientation in _ROTATED else size


def _photoshop_ok(s: bytes) -> bool:
    """False where PIL's parsing of Photoshop resource blocks (APP13) fails: an IndexError
    on a name length past the end. Short data merely ends its loop (struct.error caught)."""
    off, n = 14, len(s)
    while s[off:off + 4] == b"8BIM":
        off += 4
        if off + 2 > n:
            return True
        code = (s[off] << 8) | s[off + 1]
        off += 2
        if off >= n:
            return False
        off += 1 + s[off]
        off += off & 1
        if off + 4 > n:
            return True
        size = _u32(s, off)[0]
        off += 4
        if code == 0x03ED and min(size, n - off) < 14:
            return True  # ResolutionInfo too short to unpack
        off += size
        off += off & 1
    return True


def _exif_orientation(data: bytes) -> int | None:
    """IFD0's orientation as PIL's Image.getexif() reads it, _ABSENT without one; None where
    PIL would fail, warn, or convert an unusual value type (it then decides itself)."""
    while data.startswith(b"Exif\0\0"):
        data = data[6:]
    if not data:
        return _ABSENT
    if data.startswith(b"MM\0*"):
        e = ">"
    elif data.startswith(b"II*\0"):
        e = "<"
    else:
        return None  # invalid or BigTIFF header: PIL's own handling
    if len(data) < 8:
        return None
    ifd = struct.unpack_from(e + "I", data, 4)[0]
    if ifd + 2 > len(data):
        return None
    count = struct.unpack_from(e + "H", data, ifd)[0]
    pos = ifd + 2
    if pos + 12 * count + 4 > len(data):
        return None  # PIL stops with a "Corrupt EXIF data" warning
    entry = struct.Struct(e + "HHI").unpack_from
    orientation = _ABSENT
    for k in range(pos, pos + 12 * count, 12):
        tag, typ, cnt = entry(data, k)
        unit = _TIFF_UNIT.get(typ)
        if unit is None:
            continue
        size = cnt * unit
        if size > 4:
            if struct.unpack_from(e + "I", data, k + 8)[0] + size > len(data):
                return None  # PIL stops reading the IFD with a warning
        elif size == 0:
            continue
        if tag in _WATCHED_TAGS:
            if cnt != 1:
                return None
            if tag == 0x0112:
                if typ == 3:
                    orientation = struct.unpack_from(e + "H", data, k + 8)[0]
                elif typ == 4:
                    orientation = struct.unpack_from(e + "I", data, k + 8)[0]
                else:
                    return None
    return orientation


# ---------------------------------------------------------------- PNG

def _png(fd: int, buf: bytes, max_pixels: int) -> tuple[int, int] | None:
    """Chunks up to the first IDAT as PngImageFile._open reads them (CRCs included); the
    orientation as PIL's getexif finds it, which may be in an eXIf chunk after the pixels."""
    p = 8
    n = len(buf)
    size = mode = exif = None
    while True:
        if p + 8 > n:
            buf = _read_to(fd, buf, p + 8)
            if buf is None:
                return None
            n = len(buf)
        length = _u32(buf, p)[0]
        cid = buf[p + 4:p + 8]
        if cid == b"IDAT":
            break
        if length > 0x7FFFFFFF or not cid.isalpha():
            return None
        start = p + 8
        end = start + length
        if end + 4 > n:
            buf = _read_to(fd, buf, end + 4)
            if buf is None:
                return None
            n = len(buf)
        if zlib.crc32(buf[start:end], zlib.crc32(cid)) != _u32(buf, end)[0]:
            return None  # PIL: "broken PNG file (bad header checksum ...)"
        p = end + 4
        if cid == b"IHDR":
            if start != 16 or length < 13 or buf[start + 11]:
                return None
            size = (_u32(buf, start)[0], _u32(buf, start + 4)[0])
            mode = _PNG_MODES.get((buf[start + 8], buf[start + 9]))
            if mode is None:
                return None
        elif size is None:
            return None  # IHDR must come first
        elif cid not in _PNG_HANDLED or cid == b"PLTE":
            pass
        elif cid == b"eXIf":
            exif = b"Exif\0\0" + buf[start:end]
        elif cid == b"tRNS":
            if length < {"1": 2, "L": 2, "I;16": 2, "RGB": 6}.get(mode, 0):
                return None
        elif cid == b"gAMA":
            if length < 4:
                return None
        elif cid == b"cHRM":
            if length % 4:
                return None
        elif cid == b"sRGB":
            if length < 1:
                return None
        elif cid == b"pHYs":
            if length < 9:
                return None
        else:  # iCCP, text, APNG, IEND before the pixels: PIL's own handling
            return None
    if size is None or not size[0] or not size[1]:
        return None
    if size[0] * size[1] > max_pixels:
        return size
    if exif is None:
        # PIL's getexif decodes the pixels, then reads the chunks after them: only an eXIf or
        # text chunk there could hold an orientation; with one (or any irregularity) ask PIL.
        q = p
        while True:
            head = buf[q:q + 8] if q + 8 <= n else os.pread(fd, 8, q)
            if len(head) < 8:
                return None
            cid = head[4:]
            if cid == b"IEND":
                return size
            if cid in _PNG_EXIF_CARRIERS or not cid.isalpha():
                return None
            q += 12 + _u32(head)[0]
    orientation = _exif_orientation(exif)
    if orientation is None:
        return None
    return (size[1], size[0]) if orientation in _ROTATED else size
