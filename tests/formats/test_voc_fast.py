"""Pascal VOC fast paths give what the general (lxml) paths give: the regex reader of usual
files (formats/_voc_parse.py), the text writer (formats/_voc_emit.py) and the listings that
replace a stat or realpath per file (formats/_voc_layout.py)."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.conftest import make_image
from visionflow.core.errors import ParseError, UnsafeInputError
from visionflow.formats import _voc_emit as emit
from visionflow.formats import _voc_parse as parse
from visionflow.formats.base import ReadContext
from visionflow.io import xml as xmlio

# --- reading: parse_fast against lxml ---------------------------------------------------------

USUAL_OBJECT = ("<object>\n\t\t<name>dog</name>\n\t\t<pose>Left</pose>\n\t\t<truncated>1"
                "</truncated>\n\t\t<difficult>0</difficult>\n\t\t<bndbox>\n\t\t\t<xmin>48</xmin>\n\t\t\t"
                "<ymin>240</ymin>\n\t\t\t<xmax>195</xmax>\n\t\t\t<ymax>371</ymax>\n\t\t</bndbox>"
                "\n\t</object>")
USUAL_HEAD = ("<folder>VOC2007</folder>\n\t<filename>000001.jpg</filename>\n\t<size>\n\t\t"
              "<width>353</width>\n\t\t<height>500</height>\n\t\t<depth>3</depth>\n\t</size>\n\t"
              "<segmented>0</segmented>")


def doc(head: str = USUAL_HEAD, objects: str = USUAL_OBJECT, prolog: str = "",
        nl: str = "\n") -> bytes:
    text = f"{prolog}<annotation>\n\t{head}\n\t{objects}\n</annotation>\n"
    return text.replace("\n", nl).encode("utf-8")


VOC2012_OBJECT = ("<object><name>person</name><actions><jumping>0</jumping></actions>"
                  "<bndbox><xmax>300</xmax><xmin>10</xmin><ymax>200</ymax><ymin>5</ymin>"
                  "</bndbox><difficult>0</difficult><occluded>1</occluded><pose>Frontal</pose>"
                  "<truncated>0</truncated></object>")

# Files the fast path must read (and read as lxml does).
USUAL = [
    ("devkit", doc()),
    ("declaration", doc(prolog='<?xml version="1.0" encoding="utf-8"?>\n')),
    ("declaration single quotes", doc(prolog="<?xml version='1.0' encoding='UTF-8' "
                                             "standalone='yes'?>")),
    ("crlf", doc(nl="\r\n")),
    ("lone carriage returns", doc(nl="\r")),  # libxml2 counts no line there either
    ("no objects", doc(objects="")),
    ("several objects", doc(objects=USUAL_OBJECT * 3 + USUAL_OBJECT.replace("dog", "cat"))),
    ("labelimg header", doc(head="<folder>images</folder><filename>a.jpg</filename>"
                                 "<path>/home/me/a.jpg</path><source><database>Unknown"
                                 "</database></source><size><width>64</width><height>48"
                                 "</height><depth>3</depth></size><segmented>0</segmented>")),
    ("voc2007 header", doc(head="<folder>VOC2007</folder><filename>1.jpg</filename><source>"
                                "<database>The VOC2007 Database</database><annotation>PASCAL "
                                "VOC2007</annotation><image>flickr</image></source><owner>"
                                "<flickrid>Fried</flickrid><name>Jinky</name></owner><size>"
                                "<width>353</width><height>500</height><depth>3</depth></size>"
                                "<segmented>0</segmented>")),
    ("header item after the usual header", doc(head=USUAL_HEAD + "<extra>x</extra>")),
    ("header items in another order", doc(head="<filename>a.jpg</filename><size><depth>1"
                                               "</depth><height>4</height><width>5</width>"
                                               "</size><folder>f</folder>")),
    ("no size, no folder", doc(head="<filename>a.jpg</filename>")),
    ("whitespace around values", doc(head="<filename> a.jpg </filename><size><width> 5 "
                                          "</width><height>\n4\n</height></size>",
                                     objects="<object><name> cat </name><bndbox><xmin> 1 "
                                             "</xmin><ymin>2</ymin><xmax>\t3</xmax><ymax>4"
                                             "</ymax></bndbox></object>")),
    ("voc2012 child order without actions",
     doc(objects=VOC2012_OBJECT.replace("<actions><jumping>0</jumping></actions>", ""))),
    ("self-closing and empty elements", doc(head=USUAL_HEAD + "<segmented/><note></note>",
                                            objects=USUAL_OBJECT.replace(
                                                "<pose>Left</pose>", "<pose/>"))),
    ("other simple children and flags", doc(objects=USUAL_OBJECT.replace(
        "<pose>Left</pose>", "<occluded>true</occluded><score>0.9</score><name>2nd</name>"))),
    ("float and odd numbers", doc(objects=USUAL_OBJECT.replace("48", "4.5").replace(
        "240", "nan").replace("195", "1e3").replace("371", "1_0"))),
    ("zero-based and floats", doc(objects=USUAL_OBJECT.replace(">48<", ">0<"))),
    ("non-ascii text", doc(head="<filename>é.jpg</filename>",
                           objects=USUAL_OBJECT.replace("dog", "chien\u00a0é\u3000"))),
    ("markup-free odd characters", doc(objects=USUAL_OBJECT.replace("Left", "a]]b\x7f\x85"))),
]

# Files the fast path must leave to lxml, unchanged table included.
UNUSUAL = [
    ("comment", doc(objects="<!-- x -->" + USUAL_OBJECT)),
    ("entity reference", doc(objects=USUAL_OBJECT.replace("dog", "a&amp;b"))),
    ("character reference", doc(objects=USUAL_OBJECT.replace("dog", "&#100;og"))),
    ("cdata", doc(objects=USUAL_OBJECT.replace("dog", "<![CDATA[dog]]>"))),
    ("doctype", doc(prolog="<!DOCTYPE annotation>\n")),
    ("processing instruction", doc(objects="<?pi x?>" + USUAL_OBJECT)),
    ("root attribute", doc().replace(b"<annotation>", b'<annotation verified="yes">')),
    ("element attribute", doc(objects=USUAL_OBJECT.replace("<name>", '<name a="1">'))),
    ("namespaced tag", doc(objects=USUAL_OBJECT.replace("<pose>Left</pose>", "<x:y>1</x:y>"))),
    ("byte order mark", b"\xef\xbb\xbf" + doc()),
    ("latin-1 declaration", doc(prolog='<?xml version="1.0" encoding="ISO-8859-1"?>')),
    ("not utf-8", doc().replace(b"dog", b"d\xe9g")),
    ("carriage return in text", doc(objects=USUAL_OBJECT.replace("dog", "d\r\nog"))),
    ("greater-than in text", doc(objects=USUAL_OBJECT.replace("dog", "a>b"))),
    ("control character", doc(objects=USUAL_OBJECT.replace("dog", "d\x01g"))),
    ("noncharacter", doc(objects=USUAL_OBJECT.replace("dog", "d\ufffeg"))),
    ("cvat attributes", doc(objects=USUAL_OBJECT.replace(
        "<pose>Left</pose>", "<attributes><attribute><name>c</name><value>red</value>"
                             "</attribute></attributes>"))),
    ("actions", doc(objects=VOC2012_OBJECT)),
    ("part", doc(objects=USUAL_OBJECT.replace(
        "</object>", "<part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2"
                     "</xmax><ymax>2</ymax></bndbox></part></object>"))),
    ("empty part", doc(objects=USUAL_OBJECT.replace("<pose>Left</pose>", "<part/>"))),
    ("nested unknown element", doc(objects=USUAL_OBJECT.replace(
        "<pose>Left</pose>", "<extra><a>1</a></extra>"))),
    ("nested header element", doc(head=USUAL_HEAD + "<source><a><b>1</b></a></source>")),
    ("second bndbox", doc(objects=USUAL_OBJECT.replace(
        "</object>", "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax>"
                     "</bndbox></object>"))),
    ("empty bndbox first", doc(objects=USUAL_OBJECT.replace("<pose>Left</pose>",
                                                            "<bndbox/>"))),
    ("missing bndbox", doc(objects="<object><name>cat</name></object>")),
    ("missing name", doc(objects=USUAL_OBJECT.replace("<name>dog</name>", ""))),
    ("empty name", doc(objects=USUAL_OBJECT.replace("dog", " "))),
    ("missing ymax", doc(objects=USUAL_OBJECT.replace("<ymax>371</ymax>", ""))),
    ("empty coordinate", doc(objects=USUAL_OBJECT.replace(">48<", ">  <"))),
    ("non-numeric coordinate", doc(objects=USUAL_OBJECT.replace(">48<", ">abc<"))),
    ("fractional width", doc(head=USUAL_HEAD.replace("353", "35.5"))),
    ("non-numeric height", doc(head=USUAL_HEAD.replace("500", "tall"))),
    ("size without children", doc(head="<filename>a.jpg</filename><size>64</size>")),
    ("filename with children", doc(head="<filename><a>x</a></filename>")),
    ("self-closing object", doc(objects="<object/>")),
    ("wrong root", b"<annotations><meta/></annotations>"),
    ("unclosed", doc()[:-20]),
    ("text after the root", doc() + b"x"),
    ("huge", doc(objects=USUAL_OBJECT * 5000)),  # over 1 MiB: lxml and its limits
]


def via_fast(data: bytes):
    table = parse.Objects()
    table.names.append("earlier")  # a file read before: must stay as it is
    table.coords.extend((1.0, 2.0, 3.0, 4.0))
    table.attrs.append({})
    table.lines.append(7)
    table.numbers.append(1)
    header = parse.parse_fast(data, table)
    if header is None:
        assert (table.names, list(table.coords), list(table.lines), list(table.numbers)) \
            == (["earlier"], [1, 2, 3, 4], [7], [1])
        return None
    return _values(header, table, skip=1)


def via_lxml(data: bytes):
    """What the lxml path reads, or None where it fails, warns or complains."""
    ctx = ReadContext(report=vf.Report(), options={}, progress_factory=None, errors="skip")
    try:
        root = xmlio.parse(data, "x.xml")
    except (ParseError, UnsafeInputError):
        return None
    if root.tag != "annotation":
        return None
    header = parse.header_of(root, "x.xml")
    rec = parse.Record("", 0, 0, None, "x.xml")
    table = parse.Objects()
    parse.read_objects(root, "x.xml", rec, table, ctx)
    if ctx.report.findings or rec.parts or rec.ignored or header.ignored \
            or isinstance(header.size, ParseError):
        return None
    return _values(header, table, skip=0)


def _values(header: parse.Header, table: parse.Objects, skip: int) -> tuple:
    """Everything read, order and types included (dicts compare without order)."""
    typed = lambda d: [(k, type(v).__name__, v) for k, v in d.items()]  # noqa: E731
    return (header.filename, header.folder, header.size, typed(header.attrs), header.line,
            table.names[skip:], [repr(c) for c in table.coords[4 * skip:]],
            [typed(a) for a in table.attrs[skip:]], list(table.lines[skip:]),
            list(table.numbers[skip:]))


@pytest.mark.parametrize("name,data", USUAL, ids=[u[0] for u in USUAL])
def test_fast_path_reads_usual_files_as_lxml_does(name, data):
    fast = via_fast(data)
    assert fast is not None, "the fast path should read this file"
    assert fast == via_lxml(data)


@pytest.mark.parametrize("name,data", UNUSUAL, ids=[u[0] for u in UNUSUAL])
def test_fast_path_leaves_unusual_files_to_lxml(name, data):
    assert via_fast(data) is None


WS = ["", "\n", "\n\t", " ", "\r\n", "\t\t"]
TEXTS = ["cat", " person ", "0", "1", "true", "2.5", "", " ", "\n x \n", "é", "\xa0y", "&amp;",
         "a>b", "\x01", "nan", "1_0", "\u3000z", "x\r\ny", "<![CDATA[c]]>", "Unspecified"]


def random_doc(r: random.Random) -> bytes:
    """A VOC file, usually of a usual shape, with random perturbations."""
    scale = r.choice([0.0, 0.05, 0.2, 1.0])

    def chance(p: float) -> bool:
        return r.random() < p * scale

    ws = lambda: r.choice(WS)  # noqa: E731
    text = lambda: r.choice(TEXTS) if chance(0.2) else r.choice(["cat", "dog", "0", "3"])  # noqa: E731

    def el(tag, value=None):
        value = text() if value is None else value
        if chance(0.1):
            return r.choice([f"<{tag}/>", f"<{tag} a='1'/>", f"<{tag}>{value}<!--c--></{tag}>"])
        return f"<{tag}>{value}</{tag}>"

    def group(tag, children):
        if chance(0.1):
            r.shuffle(children)
        return f"<{tag}>{ws()}{ws().join(children)}{ws()}</{tag}>"

    head = [el("folder", r.choice(["JPEGImages", "VOC2007", ""])),
            el("filename", r.choice(["a.jpg", "sub/b.jpg", "", "../x.jpg"]) if chance(0.3)
               else "a.jpg")]
    if r.random() < 0.3:
        head.append(group("source", [el("database")] + [el("image")] * r.randint(0, 1)))
    if r.random() < 0.9:
        head.append(group("size", [el("width", r.choice(["64", "6.5", "x", " 8 "])
                                      if chance(0.2) else "64"),
                                   el("height", "48"), el("depth", r.choice(["3", "1"]))]))
    head.append(el("segmented", r.choice(["0", "1"])))
    if chance(0.1):
        head.append(group("deep", [group("er", [el("x")])]))
    if chance(0.1):
        r.shuffle(head)
    objects = []
    for _ in range(r.randint(0, 4)):
        children = [el("name", r.choice(["cat", "dog", "", " x "]) if chance(0.2) else "cat")]
        children += [el(t) for t in ("pose", "truncated", "occluded", "difficult")
                     if r.random() < 0.6]
        box = [el(t, r.choice(["1", "2.5", "", "x", "10"]) if chance(0.1) else "10")
               for t in ("xmin", "ymin", "xmax", "ymax")]
        if chance(0.1):
            box.pop(r.randrange(4))
        children.append(group("bndbox", box))
        if chance(0.05):
            children.append(group("part", [el("name"), group("bndbox", box)]))
        if chance(0.05):
            children.append(el("score"))
        if chance(0.1):
            r.shuffle(children)
        objects.append(group("object", children))
    body = head + objects
    if chance(0.05):
        body.insert(r.randrange(len(body) + 1), "<!-- note -->")
    prolog = r.choice(['<?xml version="1.0"?>\n', "<?xml version='1.0' encoding='utf-8'?>",
                       "\ufeff", "<!DOCTYPE a>"]) if chance(0.3) else ""
    end = r.choice(["", "\n", " x"]) if chance(0.2) else "\n"
    return (prolog + group("annotation", body) + end).encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(seed=st.integers(0, sys.maxsize))
def test_fast_path_agrees_with_lxml_on_random_files(seed):
    data = random_doc(random.Random(seed))
    fast = via_fast(data)
    if fast is not None:
        assert fast == via_lxml(data)


def test_random_files_take_both_paths():
    """The random files above exercise both paths, not just one."""
    results = [via_fast(random_doc(random.Random(seed))) for seed in range(300)]
    assert 60 < sum(r is not None for r in results) < 280


# --- reading a dataset: both paths in one read, listings instead of stat ---------------------

SIZED = "<filename>{}</filename><size><width>400</width><height>500</height></size>"


def test_fast_and_lxml_files_read_alike(tmp_path):
    usual = doc(head="<filename>a.jpg</filename><size><width>400</width><height>500"
                     "</height></size>")
    files = {"a.xml": usual,  # the fast path
             "b.xml": usual.replace(b"a.jpg", b"b.jpg").replace(b"<object>",
                                                                b"<!-- x --><object>")}
    for name, data in files.items():
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / name).write_bytes(data)
    report = vf.Report()
    ds = vf.load(tmp_path, "voc", report=report)
    ann = ds.annotations
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg"]
    np.testing.assert_array_equal(ann.xyxy, [[48, 240, 195, 371]] * 2)
    assert ann.image_index.tolist() == [0, 1]
    for key in ("voc.pose", "truncated", "difficult"):
        assert ann.attr(key)[0] == ann.attr(key)[1]
    assert report.codes() == ["voc.coordinates"]


def test_a_file_failing_after_the_fast_parse_leaves_no_objects(tmp_path):
    """Its objects were parsed before its image was refused: none may reach the dataset, and
    the objects of the next file keep their own places."""
    bad = doc(head="<filename>../x.jpg</filename><size><width>400</width><height>500</height>"
                   "</size>")
    good = doc(head="<filename>b.jpg</filename><size><width>400</width><height>500</height>"
                    "</size>", objects=USUAL_OBJECT.replace("<ymax>371", "<ymax>900"))
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_bytes(bad)
    (tmp_path / "Annotations" / "b.xml").write_bytes(good)
    report = vf.Report()
    ds = vf.load(tmp_path, "voc", errors="keep", report=report)
    assert ds.images.file_name.tolist() == ["b.jpg"]
    assert len(ds.annotations) == 1
    [invalid] = [f for f in report if f.code not in ("skipped", "voc.coordinates")]
    assert invalid.where.endswith("b.xml:3: object 1 ('dog')")  # box below the image


def test_listed_annotation_symlinks(tmp_path):
    """Split lists are resolved through one listing; a symlinked entry takes the careful
    path: inside the folder it is read, leading outside it is refused."""
    root = tmp_path / "ds"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_bytes(doc(head="<filename>a.jpg</filename><size>"
                                                          "<width>400</width><height>500"
                                                          "</height></size>"))
    (root / "Annotations" / "b.xml").symlink_to(root / "Annotations" / "a.xml")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("b\n")
    ds = vf.load(root, "voc")
    assert ds.images.split.tolist() == ["train", ""] and len(ds.annotations) == 2
    (tmp_path / "outside.xml").write_bytes(doc())
    (root / "Annotations" / "c.xml").symlink_to(tmp_path / "outside.xml")
    (root / "ImageSets" / "Main" / "train.txt").write_text("b\nc\n")
    with pytest.raises(vf.UnsafeInputError, match=r"train\.txt:2: file 'c\.xml' is a link "
                       "that leads outside the dataset folder"):
        vf.load(root, "voc")


def test_images_found_through_symlinked_folder(tmp_path):
    """An image folder that is a symlink inside the dataset is not in the listing of regular
    files: found through the careful path, with the same absolute path as before."""
    root = tmp_path / "ds"
    make_image(root / "pics" / "a.jpg", (400, 500))  # the size a.xml declares
    (root / "JPEGImages").symlink_to(root / "pics")
    (root / "Annotations").mkdir()
    (root / "Annotations" / "a.xml").write_bytes(doc(head=SIZED.format("a.jpg")))
    ds = vf.load(root, "voc")
    assert ds.images.path.tolist() == [str((root / "JPEGImages" / "a.jpg").absolute())]


def test_relative_dataset_path_gives_absolute_image_paths(tmp_path, monkeypatch):
    make_image(tmp_path / "ds" / "JPEGImages" / "a.jpg", (400, 500))  # the size a.xml declares
    (tmp_path / "ds" / "Annotations").mkdir(parents=True)
    (tmp_path / "ds" / "Annotations" / "a.xml").write_bytes(doc(head=SIZED.format("a.jpg")))
    monkeypatch.chdir(tmp_path)
    ds = vf.load("ds", "voc")
    assert ds.images.path.tolist() == [str(tmp_path / "ds" / "JPEGImages" / "a.jpg")]


# --- writing: the text path writes what lxml writes -------------------------------------------

VALUES = ["Left", "", "a&b", "<x>", "é", 0, 1, np.int64(2), True, np.bool_(False), 2.5,
          float("nan"), float("inf"), np.float32(1.5), " sp ", None, None]
KEYS = ["voc.pose", "truncated", "occluded", "difficult", "color", "voc.score",
        "voc.action.jumping", "coco.area", "Z"]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, sys.maxsize))
def test_text_writer_writes_what_lxml_writes(seed):
    r = random.Random(seed)
    names = ["a.jpg", "sub/b.png", "c&d.jpg", "e"][:r.randint(1, 4)]
    iattrs = {"voc.source.database": [r.choice(["x", None, None]) for _ in names]}
    images = vf.Images.build(names, [64] * len(names), [48] * len(names), attrs=iattrs)
    n = r.randint(0, 8)
    xyxy = [[r.choice([0.0, -0.5, 1 / 3, 10.0, float("nan"), 1e16, -0.0]), 2.0,
             r.choice([30.0, 30.5]), 40.0] for _ in range(n)]
    attrs = {k: np.array([r.choice(VALUES) for _ in range(n)] + [None], dtype=object)[:n]
             for k in r.sample(KEYS, r.randint(0, 4))}
    classes = r.choice([["cat", "dog"], ["a&b", "dog"], ["cat", "é"]])
    ann = vf.Annotations.build([r.randrange(len(names)) for _ in range(n)],
                               [r.randint(1, 2) for _ in range(n)],
                               np.array(xyxy).reshape(-1, 4), attrs=attrs)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(classes))
    names_of = {c.id: c.name for c in ds.categories}
    texts = emit.object_texts(ann, np.arange(n), names_of)
    for i in range(len(names)):
        rows = np.flatnonzero(ann.image_index == i)
        head = None if iattrs["voc.source.database"][i] is not None else \
            emit.header_text(names[i], 64, 48)
        objects = [texts[r] for r in rows]
        if head is None or None in objects:
            continue
        text = "".join((head, *objects, emit.FOOTER)).encode("utf-8")
        assert text == emit.annotation_xml(ds, i, ann, rows, names_of)


def test_text_writer_takes_usual_data():
    images = vf.Images.build(["a.jpg"], [64], [48])
    ann = vf.Annotations.build([0], [1], [[1.5, 2, 30, 40]], attrs={
        "voc.pose": np.array(["Left"], object), "difficult": np.array([True], object),
        "coco.area": np.array([2.5], object)})
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat"]))
    [text] = emit.object_texts(ann, np.arange(1), {1: "cat"})
    assert text is not None and emit.header_text("a.jpg", 64, 48) is not None
    data = "".join((emit.header_text("a.jpg", 64, 48), text, emit.FOOTER)).encode()
    assert data == emit.annotation_xml(ds, 0, ann, np.array([0]), {1: "cat"})
    assert b"<xmin>1.5</xmin>" in data and b"<difficult>1</difficult>" in data


def test_annotation_listing_is_what_glob_finds(tmp_path):
    """One os.scandir a folder lists what rglob("*.xml") + is_file() listed before."""
    from visionflow.formats import _voc_layout

    ann = tmp_path / "Annotations"
    for rel in ("a.xml", "B.XML", ".hidden.xml", "c.txt", "sub/d.xml", "sub/deeper/e.xml",
                ".git/f.xml", "dir.xml/g.xml"):
        (ann / rel).parent.mkdir(parents=True, exist_ok=True)
        (ann / rel).write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "h.xml").write_text("x")
    (ann / "linked").symlink_to(tmp_path / "elsewhere")     # a folder link: not entered
    (ann / "link.xml").symlink_to(ann / "a.xml")           # a file link: listed
    (ann / "broken.xml").symlink_to(tmp_path / "missing")  # not a file
    for recursive, found in ((True, ann.rglob("*.xml")), (False, ann.glob("*.xml"))):
        expected = sorted(f.relative_to(ann).as_posix() for f in found
                          if not f.name.startswith(".") and f.is_file())
        assert sorted(_voc_layout._xml_names(ann, recursive=recursive, links=set())) == expected


def test_writer_chunks_give_the_same_files(tmp_path, monkeypatch):
    """Object texts are built a chunk of images at a time; chunk edges change nothing."""
    from visionflow.formats import voc

    names = [f"{c}.jpg" for c in "abcdefg"]
    images = vf.Images.build(names, [64] * 7, [48] * 7, split=["train", "", "val"] * 2 + [""],
                             attrs={"voc.path": [None, "/x/b.jpg"] + [None] * 5})
    ann = vf.Annotations.build([0, 0, 1, 3, 3, 3, 6], [1, 2, 1, 2, 1, 1, 2],
                               [[1, 2, 30, 40]] * 7, attrs={
                                   "voc.pose": np.array(["Left", None, "a&b", None, "x", None,
                                                         "y"], object)})
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat", "dog"]))
    vf.write(ds, tmp_path / "one", "voc", images="none")
    monkeypatch.setattr(voc, "_CHUNK", 2)
    vf.write(ds, tmp_path / "two", "voc", images="none")
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*"))
    assert one == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*"))
    for rel in one:
        if (tmp_path / "one" / rel).is_file():
            assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert b"a&amp;b" in (tmp_path / "one" / "Annotations" / "b.xml").read_bytes()


def test_scanned_annotation_symlink_leading_outside_is_refused(tmp_path):
    """Annotation files found by listing the folder (no split list) get the same guard as
    listed ones: a link inside the dataset is read, one leading outside is refused."""
    root = tmp_path / "ds"
    (root / "Annotations").mkdir(parents=True)
    head = ("<filename>a.jpg</filename><size><width>400</width><height>500</height></size>")
    (root / "Annotations" / "a.xml").write_bytes(doc(head=head))
    (root / "kept").mkdir()
    (root / "kept" / "b.xml").write_bytes(doc(head=head.replace("a.jpg", "b.jpg")))
    (root / "Annotations" / "b.xml").symlink_to(root / "kept" / "b.xml")
    assert vf.load(root, "voc").images.file_name.tolist() == ["a.jpg", "b.jpg"]
    (tmp_path / "outside.xml").write_bytes(doc(head=head.replace("a.jpg", "c.jpg")))
    (root / "Annotations" / "c.xml").symlink_to(tmp_path / "outside.xml")
    with pytest.raises(vf.UnsafeInputError, match=r"c\.xml: annotation file is a link that "
                       "leads outside the dataset folder"):
        vf.load(root, "voc")
    assert vf.load(root, "voc", errors="skip").images.file_name.tolist() == ["a.jpg", "b.jpg"]
