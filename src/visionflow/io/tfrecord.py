"""TFRecord files and tf.train.Example messages without TensorFlow.

A TFRecord file is a sequence of records, each framed as

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) |
    data[length]                  | uint32 masked_crc32c(data)

with masked(crc) = ((crc >> 15) | (crc << 17)) + 0xA282EAD8 (mod 2^32). A tf.train.Example is
the protobuf message

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }       // entries: key = 1, value = 2
    Feature  { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                            Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1; }
    Int64List { repeated int64 value = 1; }

decoded here from the wire format (packed and unpacked repeated fields both accepted) and
encoded deterministically (keys sorted, packed lists), so the same dict gives the same bytes.
Also: the protobuf text format of TF Object Detection label maps (`item { id: 1 name: 'x' }`).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import google_crc32c
import numpy as np

Value = list[bytes] | np.ndarray  # bytes list, float32 array or int64 array
_MASK_DELTA = 0xA282EAD8
_HEADER = struct.Struct("<QI")
_FOOTER = struct.Struct("<I")
_MAX_RECORD = 2 << 30  # a record above 2 GiB is a corrupt length, not an image
_STREAM_ABOVE = 64 << 20  # larger records: data CRC checked streaming before being read


class RecordError(ValueError):
    """A malformed record; `index` is the 0-based record number in its file."""

    def __init__(self, index: int, problem: str):
        super().__init__(problem)
        self.index = index
        self.problem = problem


# --- framing ------------------------------------------------------------------------------

def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(f: BinaryIO, *, verify: bool = True) -> Iterator[bytes]:
    """The records of an open TFRecord file; RecordError on truncation or a CRC mismatch."""
    index = 0
    try:  # a length past the end of the file is refused before reading (it may claim GiBs)
        size: int | None = os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        size = None  # not a real file (BytesIO, a pipe): the reads find the end
    while True:
        header = f.read(12)
        if not header:
            return
        if len(header) < 12:
            raise RecordError(index, f"file ends inside the header of record {index} "
                              "(truncated file)")
        length, length_crc = _HEADER.unpack(header)
        if verify and masked_crc(header[:8]) != length_crc:
            raise RecordError(index, f"record {index}: length CRC mismatch (corrupt file or "
                              "not a TFRecord file)")
        if length > _MAX_RECORD:
            raise RecordError(index, f"record {index}: length {length} is not plausible")
        if size is not None and f.tell() + length + 4 > size:
            raise RecordError(index, f"file ends inside record {index} (truncated file: the "
                              f"record claims {length} bytes)")
        if verify and size is not None and length > _STREAM_ABOVE:
            _verify_streamed(f, index, length)  # a corrupt GiB record is never held whole
        data = f.read(length)
        footer = f.read(4)
        if len(data) < length or len(footer) < 4:
            raise RecordError(index, f"file ends inside record {index} (truncated file)")
        if verify and masked_crc(data) != _FOOTER.unpack(footer)[0]:
            raise RecordError(index, f"record {index}: data CRC mismatch (corrupt record)")
        yield data
        index += 1


def _verify_streamed(f: BinaryIO, index: int, length: int) -> None:
    """Check a large record's data CRC a chunk at a time, then rewind to its start."""
    start = f.tell()
    crc = 0
    left = length
    while left:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            raise RecordError(index, f"file ends inside record {index} (truncated file)")
        crc = google_crc32c.extend(crc, chunk)
        left -= len(chunk)
    footer = f.read(4)
    masked = (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF
    if len(footer) < 4 or masked != _FOOTER.unpack(footer)[0]:
        raise RecordError(index, f"record {index}: data CRC mismatch (corrupt record)")
    f.seek(start)


def looks_like_tfrecord(path: Path) -> bool:
    """Cheap check: the first record header's length CRC is right."""
    try:
        with open(path, "rb") as f:
            header = f.read(12)
    except OSError:
        return False
    if len(header) < 12:
        return False
    length, length_crc = _HEADER.unpack(header)
    return masked_crc(header[:8]) == length_crc and length <= _MAX_RECORD


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return b"".join((length, _FOOTER.pack(masked_crc(length)), data,
                     _FOOTER.pack(masked_crc(data))))


# --- tf.train.Example decoding --------------------------------------------------------------

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) of one message; value is int or a bytes slice."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError("truncated fixed64")
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ValueError("length-delimited field runs past the end of its message")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError("truncated fixed32")
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _feature(buf: bytes) -> Value:
    kind: Value = []
    for number, wire, value in _fields(buf):
        if wire != 2:
            raise ValueError("Feature holds a field that is not a list")
        if number == 1:
            kind = [bytes(v) for n, w, v in _fields(value) if n == 1 and w == 2]
        elif number == 2:
            parts: list[bytes] = []
            for n, w, v in _fields(value):
                if n == 1 and w in (2, 5):
                    if w == 2 and len(v) % 4:
                        raise ValueError("packed float list length is not a multiple of 4")
                    parts.append(v)
            kind = np.frombuffer(b"".join(parts), dtype="<f4").astype(np.float32)
        elif number == 3:
            ints: list[int] = []
            for n, w, v in _fields(value):
                if n != 1:
                    continue
                if w == 0:
                    ints.append(_signed64(v))
                elif w == 2:
                    p = 0
                    while p < len(v):
                        x, p = _varint(v, p)
                        ints.append(_signed64(x))
            kind = np.asarray(ints, dtype=np.int64)
    return kind


def decode_example(data: bytes) -> dict[str, Value]:
    """feature name -> list of bytes, float32 array or int64 array; ValueError if malformed."""
    out: dict[str, Value] = {}
    for number, wire, features in _fields(data):
        if number != 1 or wire != 2:
            continue
        for n, w, entry in _fields(features):
            if n != 1 or w != 2:
                continue
            key, value = None, b""
            for en, ew, ev in _fields(entry):
                if en == 1 and ew == 2:
                    key = bytes(ev).decode("utf-8")
                elif en == 2 and ew == 2:
                    value = ev
            if key is None:
                raise ValueError("feature map entry without a key")
            out[key] = _feature(value)
    return out


# --- tf.train.Example encoding --------------------------------------------------------------

def _enc_varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _enc_varint((number << 3) | 2) + _enc_varint(len(payload)) + payload


def _enc_feature(value: Value) -> bytes:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        packed = np.asarray(value, dtype="<f4").tobytes()
        body = _delimited(1, packed) if len(packed) else b""
        return _delimited(2, body)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iub":
        packed = b"".join(_enc_varint(int(v)) for v in value)
        body = _delimited(1, packed) if packed else b""
        return _delimited(3, body)
    body = b"".join(_delimited(1, bytes(v)) for v in value)
    return _delimited(1, body)


def encode_example(features: dict[str, Value]) -> bytes:
    """A tf.train.Example from feature name -> list of bytes, float or int64 numpy array."""
    entries = b"".join(
        _delimited(1, _delimited(1, key.encode("utf-8")) + _delimited(2, _enc_feature(value)))
        for key, value in sorted(features.items()))
    return _delimited(1, entries)


# --- protobuf text format (label maps) -------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "'": "'", '"': '"', "\\": "\\", "a": "\a",
            "b": "\b", "f": "\f", "v": "\v"}


def _tokens(text: str) -> Iterator[tuple[str, str, int]]:
    """(kind, text, line) with kind in name, string, number, punct."""
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace() or c in ",;":
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{}:<>[]":
            yield "punct", c, line
            i += 1
        elif c in "'\"":
            j, chars = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\n":
                    raise ValueError(f"line {line}: string not closed")
                if text[j] == "\\" and j + 1 < n:
                    chars.append(_ESCAPES.get(text[j + 1], "\\" + text[j + 1]))
                    j += 2
                else:
                    chars.append(text[j])
                    j += 1
            if j >= n:
                raise ValueError(f"line {line}: string not closed")
            yield "string", "".join(chars), line
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "{}:<>[],;#'\"":
                j += 1
            word = text[i:j]
            kind = "number" if word[:1].isdigit() or word[:1] in "-+." else "name"
            yield kind, word, line
            i = j


def parse_text_proto(text: str) -> list[tuple[str, object, int]]:
    """A protobuf text-format message as [(field, value, line)]; a message value is such a
    list, scalars are str (strings and enum names) or int/float. ValueError 'line N: ...'."""
    toks = list(_tokens(text))
    pos = 0

    def message(close: str | None) -> list[tuple[str, object, int]]:
        nonlocal pos
        out: list[tuple[str, object, int]] = []
        while pos < len(toks):
            kind, word, line = toks[pos]
            if kind == "punct" and word == close:
                pos += 1
                return out
            if kind != "name":
                raise ValueError(f"line {line}: expected a field name, got {word!r}")
            pos += 1
            if pos < len(toks) and toks[pos][1] == ":" and toks[pos][0] == "punct":
                pos += 1
            if pos >= len(toks):
                raise ValueError(f"line {line}: field {word!r} has no value")
            vkind, vword, vline = toks[pos]
            if vkind == "punct" and vword in "{<":
                pos += 1
                out.append((word, message("}" if vword == "{" else ">"), line))
            elif vkind == "punct" and vword == "[":
                pos += 1
                while pos < len(toks) and toks[pos][1] != "]":
                    out.append((word, _scalar(*toks[pos]), line))
                    pos += 1
                pos += 1
            elif vkind == "punct":
                raise ValueError(f"line {vline}: unexpected {vword!r} after {word!r}")
            else:
                out.append((word, _scalar(vkind, vword, vline), line))
                pos += 1
        if close is not None:
            raise ValueError(f"line {toks[-1][2] if toks else 1}: '{close}' missing at the end")
        return out

    return message(None)


def _scalar(kind: str, word: str, line: int) -> object:
    if kind == "string":
        return word
    if kind == "number":
        try:
            return int(word, 0)
        except ValueError:
            try:
                return float(word.rstrip("fF"))
            except ValueError:
                raise ValueError(f"line {line}: {word!r} is not a number") from None
    if kind == "punct":
        raise ValueError(f"line {line}: unexpected {word!r}")
    return word


def quote_text(value: str) -> str:
    """A string literal of the protobuf text format."""
    out = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    return "'" + out.replace("\r", "\\r").replace("\t", "\\t") + "'"
