"""The one hardened XML parser (io/xml.py, issue 12): every XML-reading format refuses entity
bombs and external entities in any encoding with one clear visionflow error, in bounded time
and memory. Each hostile file is written where its format reads XML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from PIL import Image

import visionflow as vf
from visionflow.io import xml as xmlio

_LOL = "".join(f'<!ENTITY lol{i} "{("&lol%d;" % (i - 1)) * 10}">' for i in range(1, 10))
_BOMBS = {
    "billion_laughs": ('<!DOCTYPE {root} [<!ENTITY lol0 "lol">' + _LOL + "]>", "&lol9;"),
    "external_entity": ('<!DOCTYPE {root} [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                        "&xxe;"),
    "quadratic_blowup": ('<!DOCTYPE {root} [<!ENTITY a "' + "a" * 50_000 + '">]>',
                         "&a;" * 50_000),
}
_ENCODINGS = {  # name -> (declared encoding, codec, BOM)
    "utf-8": ("utf-8", "utf-8", b""),
    "utf-8-bom": ("utf-8", "utf-8", b"\xef\xbb\xbf"),
    "utf-16le-bom": ("UTF-16", "utf-16-le", b"\xff\xfe"),
    "utf-16be-bom": ("UTF-16", "utf-16-be", b"\xfe\xff"),
    "utf-16le": ("UTF-16", "utf-16-le", b""),
    "utf-32le-bom": ("UTF-32", "utf-32-le", b"\xff\xfe\x00\x00"),
    "utf-32be-bom": ("UTF-32", "utf-32-be", b"\x00\x00\xfe\xff"),
    "utf-32be": ("UTF-32", "utf-32-be", b""),
}


def _document(root: str, body: str, bomb: str, encoding: str) -> bytes:
    """A document with `bomb`'s DOCTYPE, its reference in `body` (where the format reads)."""
    declared, codec, bom = _ENCODINGS[encoding]
    doctype, ref = _BOMBS[bomb]
    text = (f'<?xml version="1.0" encoding="{declared}"?>\n' + doctype.format(root=root)
            + "\n" + body.replace("REF", ref))
    return bom + text.encode(codec)


def _voc(tmp: Path, bomb: str, encoding: str) -> tuple[Path, Path]:
    f = tmp / "Annotations" / "a.xml"
    f.parent.mkdir()
    f.write_bytes(_document("annotation", "<annotation><filename>REF</filename><size><width>4"
                            "</width><height>4</height></size></annotation>", bomb, encoding))
    return tmp, f


def _cvat(tmp: Path, bomb: str, encoding: str) -> tuple[Path, Path]:
    f = tmp / "annotations.xml"
    f.write_bytes(_document("annotations", "<annotations><version>REF</version></annotations>",
                            bomb, encoding))
    return f, f


def _label_studio(tmp: Path, bomb: str, encoding: str) -> tuple[Path, Path]:
    (tmp / "tasks.json").write_text(json.dumps(
        [{"id": 1, "data": {"image": "a.jpg"}, "annotations": []}]))
    Image.new("RGB", (4, 4)).save(tmp / "a.jpg")
    f = tmp / "label_config.xml"
    f.write_bytes(_document("View", '<View><Label value="REF"/></View>', bomb, encoding))
    return tmp, f


def _mot(tmp: Path, bomb: str, encoding: str) -> tuple[Path, Path]:
    (tmp / "gt").mkdir()
    (tmp / "gt" / "gt.txt").write_text("1,1,0,0,4,4,1,1,1\n")
    f = tmp / "info.xml"  # PathTrack's sequence info, read when there is no seqinfo.ini
    f.write_bytes(_document("info", "<info><imw>REF</imw><imh>4</imh></info>", bomb, encoding))
    return tmp, f


FORMATS = {"voc": _voc, "cvat": _cvat, "label-studio": _label_studio, "mot": _mot}


@pytest.mark.parametrize("encoding", list(_ENCODINGS))
@pytest.mark.parametrize("bomb", list(_BOMBS))
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_every_xml_format_refuses_entities(tmp_path, fmt, bomb, encoding):
    path, hostile = FORMATS[fmt](tmp_path, bomb, encoding)
    t0 = time.perf_counter()
    with pytest.raises((vf.UnsafeInputError, vf.ParseError)) as e:
        vf.load(path, format=fmt)
    assert time.perf_counter() - t0 < 5
    message = str(e.value)
    assert str(hostile) in message and "\n" not in message
    assert "entities" in message or "not a text file" in message  # no BOM, NUL bytes: binary
    assert "passwd" not in message and "root:" not in message


_BOUNDED = """
import itertools, pathlib, tempfile
sys.path.insert(0, {tests!r})
from io_xml_cases import FORMATS, _BOMBS, _ENCODINGS
outcomes = []
for fmt, bomb, enc in itertools.product(FORMATS, _BOMBS, _ENCODINGS):
    tmp = pathlib.Path(tempfile.mkdtemp())
    path, _ = FORMATS[fmt](tmp, bomb, enc)
    try:
        vf.load(path, format=fmt)
        outcomes.append("no error")
    except vf.Error as e:
        outcomes.append(type(e).__name__)
result = sorted(set(outcomes))
"""


def test_entity_bombs_cost_bounded_memory(tmp_path):
    """All of the above in one interpreter under a 3 GiB address-space limit: peak RSS stays
    near what the imports cost (a bomb that expanded would take gigabytes or fail)."""
    (tmp_path / "io_xml_cases.py").write_text(Path(__file__).read_text())
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, ({3 << 30}, {3 << 30}))
        import visionflow as vf
        t0 = time.perf_counter()
    """) + textwrap.dedent(_BOUNDED.format(tests=str(tmp_path))) + textwrap.dedent("""
        peak = next(int(line.split()[1]) for line in open('/proc/self/status')
                    if line.startswith('VmHWM:')) / 1024
        print(json.dumps({"result": result, "peak_mib": peak,
                          "seconds": time.perf_counter() - t0}))
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["result"] == ["ParseError", "UnsafeInputError"]
    assert out["peak_mib"] < 600 and out["seconds"] < 60


# --- the parser itself ------------------------------------------------------------------------

def test_entities_in_an_encoding_named_by_the_declaration(tmp_path):
    """EBCDIC (cp037), where `<!ENTITY` has none of the UTF bytes: decoded as declared."""
    text = ('<?xml version="1.0" encoding="IBM037"?>\n<!DOCTYPE r [<!ENTITY a "b">]>\n'
            "<r>&a;</r>")
    with pytest.raises(vf.UnsafeInputError, match="declares entities"):
        xmlio.parse(text.encode("cp037"), tmp_path / "e.xml")


def test_unknown_declared_encoding_is_a_parse_error(tmp_path):
    data = b'<?xml version="1.0" encoding="no-such-codec"?><r/>'
    with pytest.raises(vf.ParseError, match=r"e\.xml.*unknown encoding"):
        xmlio.parse(data, tmp_path / "e.xml")


def test_size_cap_refuses_before_reading(tmp_path, monkeypatch):
    f = tmp_path / "big.xml"
    f.write_bytes(b"<r>" + b"x" * 5000 + b"</r>")
    monkeypatch.setattr(xmlio, "MAX_XML_BYTES", 4096)
    with pytest.raises(vf.UnsafeInputError, match=r"big\.xml.*larger than"):
        xmlio.load(f)
    with pytest.raises(vf.UnsafeInputError, match="larger than"):
        xmlio.parse(f.read_bytes(), f)


def test_malformed_xml_names_file_and_line(tmp_path):
    f = tmp_path / "m.xml"
    f.write_bytes(b"<r>\n<a>\n</b>\n</r>")
    with pytest.raises(vf.ParseError, match=r"m\.xml:3.*malformed XML"):
        xmlio.load(f)


def test_plain_documents_and_entity_free_doctype_are_read(tmp_path):
    """A DOCTYPE naming an external DTD is read without fetching it; UTF-16 text stays text."""
    root = xmlio.parse(b'<?xml version="1.0"?>\n<!DOCTYPE r SYSTEM "http://example.invalid/x.dtd">'
                       b"\n<r><a>1</a><!-- c --></r>", tmp_path / "p.xml")
    assert root.tag == "r" and root.findtext("a") == "1" and len(root) == 1
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><r><a>é</a></r>'.encode("utf-16")
    assert xmlio.parse(utf16, tmp_path / "u.xml").findtext("a") == "é"
    assert xmlio.root_tag(b'<?xml version="1.0"?><!-- x --><annotations>') == "annotations"


@pytest.mark.parametrize("fmt", ["voc", "cvat"])
def test_xml_linked_out_of_the_dataset_is_refused(tmp_path, fmt):
    """Annotation XML is read under safe_load's rule, like every JSON and text file: a link
    leading out of the dataset folder is refused (CVAT, Label Studio and MOT read theirs
    through io/xml.load; VOC's layout checks its folders)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "ds"
    if fmt == "voc":
        (outside / "a.xml").write_text(
            "<annotation><filename>a.jpg</filename><size><width>4</width><height>4</height>"
            "<depth>3</depth></size><object><name>x</name><bndbox><xmin>0</xmin><ymin>0</ymin>"
            "<xmax>2</xmax><ymax>2</ymax></bndbox></object></annotation>")
        (root / "Annotations").mkdir(parents=True)
        link = root / "Annotations" / "a.xml"
    else:
        (outside / "a.xml").write_text(
            '<annotations><image id="0" name="a.jpg" width="4" height="4">'
            '<box label="x" xtl="0" ytl="0" xbr="2" ybr="2"/></image></annotations>')
        root.mkdir()
        link = root / "annotations.xml"
    link.symlink_to(outside / "a.xml")
    with pytest.raises(vf.UnsafeInputError, match="link (leading|that leads) outside"):
        vf.load(root, fmt)
    if fmt == "cvat":  # (VOC's layout refuses such a link even with follow_links)
        assert len(vf.load(root, fmt, follow_links=True).annotations) == 1
