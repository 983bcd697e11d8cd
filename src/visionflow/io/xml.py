"""The one XML parser every format uses (VOC, CVAT, Label Studio, MOT/PathTrack).

Annotation XML comes from strangers, so the rules are those of a hostile input:
- no entities: a DOCTYPE declaring any (`<!ENTITY`) is refused before lxml sees the file,
  whatever its encoding (UTF-8, UTF-16 and UTF-32, with or without BOM, or any other encoding
  its declaration names), and again after parsing from the DTD lxml read. That one rule stops
  billion laughs, quadratic blowup and external entities (XXE: file:///etc/passwd);
- lxml with resolve_entities=False, no_network=True, load_dtd=False and huge_tree=False
  (libxml2's own limits on depth and text size stay on), one parser per call (lxml parsers
  are not thread-safe);
- a size cap (MAX_XML_BYTES) and safe_load's rules (no binary file; in `load`, no link out
  of the dataset folder), checked before a file is read;
- every error is a visionflow error naming the file and, where lxml knows it, the line.
"""

from __future__ import annotations

import codecs
import os
import re
from typing import Any

from ..core.errors import ParseError, UnsafeInputError
from .safe_load import _SCOPE, sniff_text

MAX_XML_BYTES = 512 << 20  # a bigger annotation file is refused (lxml's tree is ~5-10x it)

_ENTITY = "<!ENTITY"
# `<!ENTITY` as it appears in the encodings told apart by their first bytes (XML 1.0, App. F).
_ENTITY_BYTES = tuple(_ENTITY.encode(enc) for enc in
                      ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"))
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)""")
_EBCDIC_START = b"\x4c\x6f\xa7\x94"  # "<?xm" in EBCDIC
# Encodings whose bytes for "<!ENTITY" are the ASCII ones (so the byte search above finds them).
_ASCII_COMPATIBLE = {"utf_8", "utf_8_sig", "ascii", "iso8859_1", "iso8859_15", "cp1252"}
_PROLOG = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.S)
_ROOT_TAG = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")


def root_tag(head: bytes) -> str | None:
    """The root element's name from a file's first bytes (format detection), or None."""
    text = _PROLOG.sub("", head.decode("utf-8", "replace").lstrip("\ufeff"))
    m = _ROOT_TAG.match(text)
    return m.group(1) if m else None


def read_bytes(path: str | os.PathLike) -> bytes:
    """A whole XML file, with os.read (a third of what open().read() costs per small file);
    ParseError for a binary file, UnsafeInputError above MAX_XML_BYTES, both before reading
    it whole. OSError is the caller's to word."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, 1 << 16)]
        sniff_text(path, chunks[0])  # a 2 GB file of zeros: refused before reading it whole
        size = os.fstat(fd).st_size
        if size > MAX_XML_BYTES:
            raise UnsafeInputError(path, f"XML file of {size >> 20} MiB is larger than "
                                   f"{MAX_XML_BYTES >> 20} MiB; refused")
        while chunks[-1]:
            chunks.append(os.read(fd, 1 << 20))
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(path: str | os.PathLike) -> Any:
    """The root element of the XML file at `path`, read and parsed by the rules above; inside
    safe_load.read_scope a link leading out of the dataset is refused, as for JSON and text
    (VOC's many files are checked once per folder by its layout instead, then read_bytes)."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.check(path)
    try:
        data = read_bytes(path)
    except OSError as e:
        raise ParseError(path, f"cannot read file ({e.strerror or e.__class__.__name__})") \
            from None
    return parse(data, path)


def parse(data: bytes, where: str | os.PathLike) -> Any:
    """The root element of `data` (comments and processing instructions dropped);
    UnsafeInputError when it declares entities or is above the cap, ParseError 'file:line'
    when malformed."""
    from lxml import etree  # loaded only when a file needs it (~30 ms)

    if len(data) > MAX_XML_BYTES:
        raise UnsafeInputError(where, f"XML larger than {MAX_XML_BYTES >> 20} MiB; refused")
    if _declares_entities(data, where):
        raise UnsafeInputError(where, "XML declares entities in a DOCTYPE (possible entity "
                               "expansion bomb or external entity); refused")
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_comments=True, remove_pis=True)
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as e:
        raise ParseError(f"{where}:{e.lineno}" if e.lineno else where,
                         f"malformed XML: {e.msg}") from None
    except (ValueError, LookupError) as e:  # an encoding lxml does not know, and the like
        raise ParseError(where, f"malformed XML: {e}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise UnsafeInputError(where, "XML declares entities in a DOCTYPE; refused")
    return root


def _declares_entities(data: bytes, where: str | os.PathLike) -> bool:
    """`<!ENTITY` anywhere in the document, in whatever encoding it is written."""
    if any(pattern in data for pattern in _ENTITY_BYTES):
        return True
    declared = _DECLARED.match(data[:256])
    if declared is None and not data.startswith(_EBCDIC_START):
        return False  # UTF-8/16/32 by BOM or first bytes: searched above
    name = declared.group(1).decode("ascii") if declared else "cp037"
    try:
        codec = codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        raise ParseError(where, f"XML in an unknown encoding {name!r}") from None
    if codec in _ASCII_COMPATIBLE or codec.startswith(("utf_16", "utf_32")):
        return False
    return _ENTITY in data.decode(codec, "replace")  # any other encoding: read as written
