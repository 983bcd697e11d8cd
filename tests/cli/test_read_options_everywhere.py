"""`-I KEY=VALUE` on every command that reads a dataset with a format reader (issue 12): the
read option reaches the reader and changes what is read (VOC `coords=one-based` moves every
box one pixel left and up, and the read reports the convention it used); a misspelt key is one
line with a "did you mean" and exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from ..conftest import make_image

runner = CliRunner()
ONE_BASED = "boxes read as the VOC devkit's 1-based indices"  # the VOC reader's report
BOXES = [(5, 6, 25, 30), (9, 8, 41, 40), (12, 3, 50, 20)]


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _voc(root: Path) -> Path:
    """Three images (different colours, so the embedding commands tell them apart), one box
    each, in VOC."""
    for i, (x1, y1, x2, y2) in enumerate(BOXES):
        make_image(root / "JPEGImages" / f"im{i}.png", color=(40 * i, 200 - 50 * i, 90))
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"im{i}.xml").write_text(
            f"<annotation><filename>im{i}.png</filename><size><width>64</width>"
            f"<height>48</height><depth>3</depth></size><object><name>cat</name><bndbox>"
            f"<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox>"
            f"</object></annotation>")
    return root


def _xmins(folder: Path) -> dict[str, int]:
    """file name -> the first <xmin> of every VOC file written under folder."""
    out = {}
    for xml in sorted(folder.rglob("*.xml")):
        doc = etree.parse(str(xml))
        out[doc.findtext("filename")] = int(float(doc.findtext(".//xmin")))
    return out


@pytest.fixture
def src(tmp_path):
    return _voc(tmp_path / "voc")


def _commands(tmp_path: Path, src: Path) -> dict[str, list]:
    """Each reading command's arguments; `{out}` stands for a fresh output path per run."""
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"preprocess": ["grayscale"]}))
    like = make_image(tmp_path / "like.png", color=(0, 200, 90))
    return {
        "show": ["show", src, "-o", "{out}.png"],
        "transform": ["transform", src, "{out}", "-r", recipe],
        "resize": ["resize", src, "{out}", "--size", "64x48"],
        "tile": ["tile", src, "{out}", "--grid", "1x1"],
        "split": ["split", src, "{out}", "--ratios", "100,0,0"],
        "check": ["check", src, "--json", "--no-images"],
        "fix": ["fix", src, "{out}"],
        "evaluate": ["evaluate", src, "{pred}", "--iou", "0.95", "--json"],
        "mistakes": ["mistakes", src, "{pred}", "--iou", "0.95", "--json"],
        "search": ["search", src, "--like", like, "--model", "phash", "--top", "3", "-o",
                   "{out}"],
        "sample": ["sample", src, "{out}", "--n", "3", "--strategy", "random"],
        "map": ["map", src, "-o", "{out}.html", "--model", "phash"],
        "add": ["add", src, "-w", "{out}", "--json"],
    }


def _predictions(tmp_path: Path) -> Path:
    """Predictions equal to the boxes as read with the default (zero-based) convention."""
    doc = {"images": [{"id": i + 1, "file_name": f"im{i}.png", "width": 64, "height": 48}
                      for i in range(len(BOXES))],
           "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "score": 0.9,
                            "bbox": [x1, y1, x2 - x1, y2 - y1]}
                           for i, (x1, y1, x2, y2) in enumerate(BOXES)],
           "categories": [{"id": 1, "name": "cat"}]}
    path = tmp_path / "pred.json"
    path.write_text(json.dumps(doc))
    return path


def _run(tmp_path: Path, src: Path, name: str, tag: str, *extra: str):
    out = tmp_path / f"{name}-{tag}"
    if name == "add":
        assert run("init", out).exit_code == 0
    args = [str(a).replace("{out}", str(out)).replace("{pred}", str(_predictions(tmp_path)))
            for a in _commands(tmp_path, src)[name]]
    return run(*args, *extra), out


def _what_was_read(name: str, result, out: Path):
    """What each command shows of the boxes it read: the output it writes or prints."""
    if name == "show":
        return (out.parent / (out.name + ".png")).read_bytes()
    if name == "check":
        return json.loads(result.stdout)["statistics"]
    if name == "evaluate":
        return json.loads(result.stdout)["AP"]
    if name == "mistakes":
        return json.loads(result.stdout)
    if name == "map":
        return None  # only the images are drawn: the report says what was read
    if name == "add":
        with vf.Workspace.open(out) as ws:
            return ws.load("voc@1").annotations.xyxy.tolist()
    return _xmins(out)


@pytest.mark.parametrize("name", list(_commands(Path("/"), Path("/"))))
def test_read_option_changes_what_is_read(tmp_path, src, name):
    plain, out_plain = _run(tmp_path, src, name, "plain")
    assert plain.exit_code == 0, plain.output
    moved, out_moved = _run(tmp_path, src, name, "moved", "-I", "coords=one-based")
    assert moved.exit_code == 0, moved.output
    if name not in ("check", "evaluate", "mistakes", "add", "fix"):  # JSON, or fixes only
        said, said_plain = " ".join(moved.stderr.split()), " ".join(plain.stderr.split())
        assert ONE_BASED in said and ONE_BASED not in said_plain, said
    before = _what_was_read(name, plain, out_plain)
    after = _what_was_read(name, moved, out_moved)
    if name != "map":
        assert before != after
    if isinstance(before, dict) and before and all(isinstance(v, int) for v in before.values()):
        # a dataset written back in VOC (zero-based): every xmin one pixel lower
        assert after == {k: v - 1 for k, v in before.items()}
    if name == "evaluate":   # predictions equal the zero-based boxes: perfect, then not
        assert before == pytest.approx(1.0) and after < 0.5
    if name == "add":
        assert [b[0] for b in before] == [b[0] for b in BOXES]
        assert [b[0] for b in after] == [b[0] - 1 for b in BOXES]


@pytest.mark.parametrize("name", list(_commands(Path("/"), Path("/"))))
def test_misspelt_read_option_is_one_line(tmp_path, src, name):
    r, out = _run(tmp_path, src, name, "typo", "-I", "cords=one-based")
    assert r.exit_code == 1, r.output
    text = r.stderr.strip()
    assert text.startswith("error: ") and "Traceback" not in r.output
    assert len(text.splitlines()) == 1, text
    assert "unknown reader option 'cords'" in text and "did you mean 'coords'?" in text
    assert not out.exists() or name == "add" and not list(out.glob("*.png")), \
        "nothing written for a refused option"


def test_read_option_with_a_workspace_version_is_refused(tmp_path, src):
    ws = tmp_path / "ws"
    assert run("init", ws).exit_code == 0
    assert run("add", src, "-w", ws).exit_code == 0
    made = run("version", "create", "--name", "v1", "-w", ws)
    assert made.exit_code == 0, made.output
    r = run("sample", "v1", tmp_path / "picked", "--n", "1", "--strategy", "random",
            "-w", ws, "-I", "coords=one-based")
    assert r.exit_code == 1 and "read_options apply to a dataset read from disk" in r.stderr
