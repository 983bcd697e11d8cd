"""Pascal VOC XML, one annotation file at a time: parsing into plain values (see voc.py for
the format and what is kept).

Two parsers give the same values. `parse_fast` recognises, with a few regular expressions,
the shapes nearly every VOC file has (the devkit's, LabelImg's, CVAT's, our writer's): UTF-8;
no DOCTYPE, comment, processing instruction, CDATA, entity or character reference or XML
attribute; children of <annotation> that hold text or text-only children; <object>s of
text-only children around one <bndbox>. The usual header and object (_HEAD, _USUAL_OBJECT)
take one match each. It returns None for anything else, and for any value the reader would
complain about; such a file goes through io/xml.py's hardened lxml parser, then `header_of`
and `read_objects`, which read every well-formed file and word the errors. The fast path exists
because walking lxml elements from Python costs ~20 us an object, most of what a VOC read
cost. Whatever it accepts is well-formed XML without a DTD, so it needs no entity guard.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import ParseError

FLAGS = ("truncated", "occluded", "difficult")   # annotation attrs held as ints
DEFAULT_FOLDER = "JPEGImages"
DEFAULT_DEPTH = "3"
DEFAULT_SEGMENTED = "0"


@dataclass(slots=True)
class Header:
    """The image part of one annotation file."""
    filename: str | None
    folder: str | None
    size: tuple[int, int] | ParseError   # (width, height), 0 when absent; or what is wrong
    attrs: dict[str, Any]
    line: int = 1                        # of the root element
    ignored: Counter | None = None       # nested elements not kept, by "<a>/<b>"


@dataclass(slots=True)
class Record:
    """One image: what the reader found for one annotation file (or split list entry)."""
    file_name: str
    width: int
    height: int
    path: str | None
    where: str
    attrs: dict[str, Any] = field(default_factory=dict)
    first: int = 0      # its objects are rows first..last-1 of the Objects table
    last: int = 0
    parts: int = 0
    ignored: Counter | None = None


class Objects:
    """Every object read, as flat columns shared by all files: no Python object per box.

    coords holds xmin, ymin, xmax, ymax per object as written (unshifted, unclamped), as
    doubles; the reader converts them with numpy once. numbers is the object's 1-based
    position in its file and lines the line of its <object>, for error messages. Objects
    with the same name share one string, and with the same attrs text one attrs dict
    (read only): `shared`.
    """

    __slots__ = ("attrs", "coords", "lines", "names", "numbers", "shared")

    def __init__(self) -> None:
        self.names: list[str] = []
        self.coords = array("d")
        self.attrs: list[dict[str, Any]] = []
        self.lines = array("q")
        self.numbers = array("q")
        self.shared: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.names)

    def truncate(self, n: int) -> None:
        """Forget the objects after the first n (those of a file that failed)."""
        for column in (self.names, self.attrs, self.lines, self.numbers):
            del column[n:]
        del self.coords[4 * n:]


# --- fast path --------------------------------------------------------------------------------

_S = r"[ \t\r\n]*"
_NAME = r"[A-Za-z_][A-Za-z0-9_.-]*"
# Character data without markup, references or characters lxml would refuse or rewrite
# (\r: line ends are normalised).
_T = r"[^<>&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*"
_START = re.compile(r"""(?:<\?xml version=(["'])1\.0\1(?: encoding=(["'])(?i:utf-8)\2)?"""
                    r"""(?: standalone=(["'])(?:yes|no)\3)?\?>)?""" + _S + "<annotation>" + _S)


def _el(tag: str) -> str:
    return rf"<{tag}>({_T})</{tag}>{_S}"


# The usual header and object, each in one match (their parts in this order, no others):
_HEAD = re.compile(rf"{_el('folder')}{_el('filename')}(?:{_el('path')})?"
                   rf"(?:<source>{_S}{_el('database')}</source>{_S})?"
                   rf"<size>{_S}{_el('width')}{_el('height')}{_el('depth')}</size>{_S}"
                   rf"{_el('segmented')}")
_USUAL_OBJECT = re.compile(
    rf"<object>{_S}{_el('name')}(?:{_el('pose')})?(?:{_el('truncated')})?"
    rf"(?:{_el('occluded')})?(?:{_el('difficult')})?<bndbox>{_S}{_el('xmin')}{_el('ymin')}"
    rf"{_el('xmax')}{_el('ymax')}</bndbox>{_S}</object>{_S}")
# Otherwise: any child of <annotation> that is <t/>, <t>text</t> (group 2) or <t> of such
# children </t> (group 3), and <object>s of such children with one <bndbox> (group 3).
_CHILDREN = rf"((?:<({_NAME})(?:/>|>{_T}</\{{n}}>){_S})*)"
_ITEM = re.compile(rf"<({_NAME})(?:/>|>({_T})</\1>|>{_S}{_CHILDREN.format(n=4)}</\1>){_S}")
_OBJECT = re.compile(rf"<object>{_S}{_CHILDREN.format(n=2)}<bndbox>{_S}{_CHILDREN.format(n=4)}"
                     rf"</bndbox>{_S}{_CHILDREN.format(n=6)}</object>{_S}")
_CHILD = re.compile(rf"<({_NAME})(?:/>|>({_T})</\1>)")
_END = re.compile(rf"</annotation>{_S}")
_FAST_MAX = 1 << 20             # bigger files (lxml's own limits apply) take the lxml path
_OBJECT_ONLY = frozenset(("bndbox", "attributes", "actions", "part"))
_FLAG_TAGS = frozenset(FLAGS)
_BOX = ("xmin", "ymin", "xmax", "ymax")


def parse_fast(data: bytes, table: Objects) -> Header | None:
    """The header of a common-shaped file, its objects appended to `table`; else None and
    `table` as it was."""
    if len(data) > _FAST_MAX:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    m = _START.match(text)
    if m is None:
        return None
    first = len(table)
    header = _scan(text, m.end(), table)
    if header is None:
        table.truncate(first)
        return None
    header.line = text.count("\n", 0, text.index("<annotation>")) + 1
    return header


def _scan(text: str, pos: int, table: Objects) -> Header | None:
    names, attrs_of, lines, numbers = table.names, table.attrs, table.lines, table.numbers
    coords, shared = table.coords, table.shared
    usual_object = _USUAL_OBJECT.match
    usual = _HEAD.match(text, pos)
    if usual is not None:
        pos = usual.end()
    items: list[tuple[str, str | None, str | None]] = []
    line, last, k = 1, 0, 0
    while True:
        if text.startswith("<object>", pos):
            line += text.count("\n", last, pos)
            last = pos
            o = usual_object(text, pos)
            if o is not None:
                name, pose, truncated, occluded, difficult, x1, y1, x2, y2 = o.groups()
                name = name.strip()
                if not name:
                    return None
                name = shared.setdefault(name, name)  # one string a class name
                key = (pose, truncated, occluded, difficult)
                attrs = shared.get(key)
                if attrs is None:
                    attrs = _usual_attrs(key)
                    if len(shared) < 4096:
                        shared[key] = attrs
                try:  # float() ignores the whitespace strip() removes; "" or " " fail
                    coords.extend((float(x1), float(y1), float(x2), float(y2)))
                except ValueError:
                    return None
            else:
                o = _OBJECT.match(text, pos)
                obj = None if o is None else _fast_object(o)
                if obj is None:
                    return None
                name, box, attrs = obj
                coords.extend(box)
            k += 1
            names.append(name)
            attrs_of.append(attrs)
            lines.append(line)
            numbers.append(k)
            pos = o.end()
        elif text.startswith("</annotation>", pos):
            break
        else:
            if usual is not None:  # more after the usual header: read it all as items
                items, usual = _usual_items(usual.groups()), None
            it = _ITEM.match(text, pos)
            if it is None:
                return None
            items.append(it.group(1, 2, 3))
            pos = it.end()
    if _END.fullmatch(text, pos) is None:
        return None
    return _usual_header(usual.groups()) if usual is not None else _fast_header(items)


def _usual_attrs(key: tuple[str | None, ...]) -> dict[str, Any]:
    pose, truncated, occluded, difficult = key
    attrs: dict[str, Any] = {}
    if pose is not None:
        attrs["voc.pose"] = pose.strip()
    if truncated is not None:
        attrs["truncated"] = _flag(truncated.strip())
    if occluded is not None:
        attrs["occluded"] = _flag(occluded.strip())
    if difficult is not None:
        attrs["difficult"] = _flag(difficult.strip())
    return attrs


def _fast_object(o: re.Match) -> tuple[str, list[float], dict[str, Any]] | None:
    pre, bndbox, post = o.group(1, 3, 5)
    children = _CHILD.findall(pre)
    if post:
        children += _CHILD.findall(post)
    name = None
    attrs: dict[str, Any] = {}
    for tag, value in children:
        if tag == "name":
            if name is None:
                name = value.strip()
        elif tag in _FLAG_TAGS:
            attrs[tag] = _flag(value.strip())
        elif tag in _OBJECT_ONLY:
            return None  # nested in the lxml reading, or a second <bndbox>
        else:
            attrs["voc." + tag] = value.strip()
    if not name:
        return None
    found: dict[str, str] = {}
    for tag, value in _CHILD.findall(bndbox):
        found.setdefault(tag, value)
    box: list[float] = []
    for tag in _BOX:
        value = found.get(tag, "").strip()
        if not value:
            return None
        try:
            box.append(float(value))
        except ValueError:
            return None
    return name, box, attrs


def _usual_items(groups: tuple[str | None, ...]) -> list[tuple[str, str | None, str | None]]:
    """The _ITEM groups of the children that _HEAD matched."""
    folder, filename, path, database, width, height, depth, segmented = groups
    items = [("folder", folder, None), ("filename", filename, None)]
    if path is not None:
        items.append(("path", path, None))
    if database is not None:
        items.append(("source", None, f"<database>{database}</database>"))
    items.append(("size", None, f"<width>{width}</width><height>{height}</height>"
                                f"<depth>{depth}</depth>"))
    items.append(("segmented", segmented, None))
    return items


def _whole(text: str | None) -> int | None:
    """A size as the fast path accepts it: a whole number (0 when empty), else None."""
    try:
        number = float(text) if text else 0.0
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def _usual_header(groups: tuple[str | None, ...]) -> Header | None:
    folder, filename, path, database, width, height, depth, segmented = groups
    dims = [_whole(text.strip()) for text in (width, height)]
    if None in dims:
        return None
    folder, depth, segmented = folder.strip(), depth.strip(), segmented.strip()
    attrs: dict[str, Any] = {}
    if folder != DEFAULT_FOLDER:
        attrs["voc.folder"] = folder
    if depth != DEFAULT_DEPTH:
        attrs["voc.depth"] = depth
    if path is not None:
        attrs["voc.path"] = path.strip()
    if database is not None:
        attrs["voc.source.database"] = database.strip()
    if segmented != DEFAULT_SEGMENTED:
        attrs["voc.segmented"] = segmented
    return Header(filename.strip(), folder, (dims[0], dims[1]), attrs)


def _fast_header(items: list[tuple[str, str | None, str | None]]) -> Header | None:
    """What `header_of` makes of the same children; None where it would complain."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for tag, value, body in items:
        if tag in ("filename", "folder", "size") and tag not in found:
            found[tag] = (value, body)
        elif tag == "object":
            return None
    filename = folder = depth = None
    if "filename" in found:
        value, body = found["filename"]
        if body is not None:
            return None
        filename = (value or "").strip()
    if "folder" in found:
        value, body = found["folder"]
        if body is not None:
            return None
        folder = (value or "").strip()
    dims = [0, 0]
    if "size" in found:
        value, body = found["size"]
        if body is None:
            return None
        size: dict[str, str] = {}
        for tag, value in _CHILD.findall(body):
            size.setdefault(tag, value.strip())
        for k, tag in enumerate(("width", "height")):
            number = _whole(size.get(tag))
            if number is None:
                return None
            dims[k] = number
        depth = size.get("depth")
    attrs: dict[str, Any] = {}
    if folder is not None and folder != DEFAULT_FOLDER:
        attrs["voc.folder"] = folder
    if depth not in (None, DEFAULT_DEPTH):
        attrs["voc.depth"] = depth
    for tag, value, body in items:
        if tag in ("folder", "filename", "size"):
            continue
        if body is None:
            value = (value or "").strip()
            if not (tag == "segmented" and value == DEFAULT_SEGMENTED):
                attrs[f"voc.{tag}"] = value
        else:
            for sub, value in _CHILD.findall(body):
                attrs[f"voc.{tag}.{sub}"] = value.strip()
    return Header(filename, folder, (dims[0], dims[1]), attrs)


# --- lxml path --------------------------------------------------------------------------------

def _text(el: Any, tag: str) -> str | None:
    child = el.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()


def header_of(root: Any, xml: str) -> Header:
    filename = _text(root, "filename")
    folder = _text(root, "folder")
    size = root.find("size")
    dims: list[int] = []
    problem: ParseError | None = None
    for tag in ("width", "height"):
        text = _text(size, tag) if size is not None else None
        try:
            value = float(text) if text else 0.0
            if not value.is_integer():
                raise ValueError
        except ValueError:
            el = size.find(tag)
            problem = ParseError(f"{xml}:{el.sourceline}",
                                 f"<size>/<{tag}> is not a whole number: {text!r}")
            break
        dims.append(int(value))
    depth = _text(size, "depth") if size is not None else None
    attrs: dict[str, Any] = {}
    ignored: Counter | None = None
    for k, v in root.attrib.items():
        attrs[f"voc.@{k}"] = v
    if folder is not None and folder != DEFAULT_FOLDER:
        attrs["voc.folder"] = folder
    if depth not in (None, DEFAULT_DEPTH):
        attrs["voc.depth"] = depth
    for child in root:
        tag = child.tag
        if tag in ("folder", "filename", "size", "object"):
            continue
        if len(child) == 0:
            value = (child.text or "").strip()
            if not (tag == "segmented" and value == DEFAULT_SEGMENTED):
                attrs[f"voc.{tag}"] = value
            continue
        for sub in child:
            if len(sub) == 0:
                attrs[f"voc.{tag}.{sub.tag}"] = (sub.text or "").strip()
            else:
                ignored = ignored if ignored is not None else Counter()
                ignored[f"<{tag}>/<{sub.tag}>"] += 1
    return Header(filename, folder, problem or (dims[0], dims[1]), attrs, root.sourceline,
                  ignored)


def read_objects(root: Any, xml: str, rec: Record, table: Objects, ctx: Any) -> None:
    """Append the <object>s of `root` to `table`; a bad one goes through ctx.fail."""
    for k, obj in enumerate(root.iterfind("object"), 1):
        _read_object(obj, k, xml, rec, table, ctx)


def _read_object(obj: Any, k: int, xml: str, rec: Record, table: Objects, ctx: Any) -> None:
    where = f"{xml}:{obj.sourceline}"
    name = _text(obj, "name")
    if not name:
        ctx.fail(ParseError(where, f"object {k}: missing <name>"))
        return
    what = f"object {k} ({name!r})"
    bb = obj.find("bndbox")
    if bb is None:
        ctx.fail(ParseError(where, f"{what}: missing <bndbox>"))
        return
    values: list[float] = []
    for tag in ("xmin", "ymin", "xmax", "ymax"):
        el = bb.find(tag)
        text = (el.text or "").strip() if el is not None else ""
        if el is None or not text:
            ctx.fail(ParseError(f"{xml}:{bb.sourceline}", f"{what}: <bndbox> has no <{tag}>"))
            return
        try:
            values.append(float(text))
        except ValueError:
            ctx.fail(ParseError(f"{xml}:{el.sourceline}",
                                f"{what}: <bndbox>/<{tag}> is not a number: {text!r}"))
            return
    attrs: dict[str, Any] = {}
    for child in obj:
        tag = child.tag
        if tag in ("name", "bndbox"):
            continue
        if tag in FLAGS:
            attrs[tag] = _flag((child.text or "").strip())
        elif tag == "attributes":
            for a in child.iterfind("attribute"):
                key = _text(a, "name")
                if key:
                    attrs[key] = typed(_text(a, "value") or "")
        elif tag == "actions":
            for a in child:
                attrs[f"voc.action.{a.tag}"] = (a.text or "").strip()
        elif tag == "part":
            rec.parts += 1
        elif len(child) == 0:
            attrs[f"voc.{tag}"] = (child.text or "").strip()
        else:
            rec.ignored = rec.ignored if rec.ignored is not None else Counter()
            rec.ignored[f"<object>/<{tag}>"] += 1
    table.names.append(name)
    table.coords.extend(values)
    table.attrs.append(attrs)
    table.lines.append(obj.sourceline)
    table.numbers.append(k)


_FLAG_CACHE: dict[str, int | str] = {}


def _flag(text: str) -> int | str:
    """VOC's 0/1 flags as ints; anything else is kept as written."""
    value = _FLAG_CACHE.get(text)
    if value is None:
        value = _flag_value(text)
        if len(_FLAG_CACHE) < 256:  # "0", "1", a few spellings: remembered
            _FLAG_CACHE[text] = value
    return value


def _flag_value(text: str) -> int | str:
    low = text.lower()
    if low in ("true", "yes"):
        return 1
    if low in ("false", "no"):
        return 0
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else text


_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")


def typed(text: str) -> Any:
    """An <attributes> value: ints, floats and true/false as such when the text is exactly
    what the writer makes of that value (so "007" or "1e3" stay strings)."""
    if text in ("true", "false"):
        return text == "true"
    if _INT_TEXT.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) and repr(value) == text else text
