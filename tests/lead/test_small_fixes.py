"""Small fixes found while integrating the hardening work."""

from __future__ import annotations

import os
import stat

import orjson

import visionflow as vf
from visionflow.io.atomic import write_bytes_atomic


def test_written_file_has_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "report.html", b"<html></html>")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


def test_coco_whose_images_list_fills_the_head_is_detected(tmp_path):
    """A COCO file not named instances_* with a long `images` list first: the other keys are
    past the first 64 KiB, and detection must still find them."""
    images = [{"id": i, "file_name": f"img_{i:06d}.jpg", "width": 640, "height": 480}
              for i in range(1, 3001)]
    doc = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    path = tmp_path / "gt.json"
    path.write_bytes(orjson.dumps(doc))
    assert path.stat().st_size > 1 << 16
    found = vf.detect(path)
    assert found and found[0].format == "coco"


def test_strict_refuses_a_renamed_split(tmp_path):
    """Roboflow's `valid` is written as `val`: said without --strict, refused with it."""
    from visionflow.core.errors import LossError
    import pytest
    src = tmp_path / "src"
    images = [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}]
    doc = {"images": images, "annotations": [], "categories": [{"id": 1, "name": "cat"}]}
    from PIL import Image
    for split in ("train", "valid"):
        (src / split).mkdir(parents=True)
        Image.new("RGB", (10, 10)).save(src / split / "a.jpg")
        (src / split / "_annotations.coco.json").write_bytes(orjson.dumps(doc))
    report = vf.Report()
    ds = vf.load(src, report=report)
    assert "split.renamed" in [f.code for f in report.findings]
    with pytest.raises(LossError, match="'valid' is written as 'val'"):
        vf.write(ds, tmp_path / "strict", "yolo", strict=True)
    vf.write(ds, tmp_path / "lenient", "yolo")
    assert (tmp_path / "lenient" / "val").is_dir() or (tmp_path / "lenient" / "images" / "val").is_dir()


def test_cli_runs_without_click_installed(tmp_path):
    """Typer >= 0.2x no longer depends on Click: the CLI must not import it (the demo's install
    set has no Click, the test set gets it from other packages)."""
    import subprocess
    import sys
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'click' or name.startswith('click.'):\n"
            "            raise ImportError('click blocked for this test')\n"
            "sys.meta_path.insert(0, Block())\n"
            "sys.argv = ['visionflow', 'formats', '--json']\n"
            "from visionflow.cli.main import main\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    import typer
    if "click" in getattr(typer, "__requires__", "") or _typer_needs_click():
        import pytest
        pytest.skip("this Typer release is built on Click")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '"name": "coco"' in proc.stdout


def _typer_needs_click() -> bool:
    from importlib.metadata import requires
    return any(r.split()[0].lower().startswith("click") for r in (requires("typer") or []))


def test_voc_annotation_link_leading_outside_is_followed_only_when_asked(tmp_path):
    """--follow-links is one rule for annotation files and images alike (VOC ignored it)."""
    import pytest
    from tests.conftest import make_image
    root = tmp_path / "ds"
    (root / "Annotations").mkdir(parents=True)
    make_image(root / "JPEGImages" / "c.jpg", (40, 30))
    outside = tmp_path / "elsewhere" / "c.xml"
    outside.parent.mkdir()
    outside.write_text("<annotation><filename>c.jpg</filename><size><width>40</width>"
                       "<height>30</height><depth>3</depth></size><object><name>cat</name>"
                       "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>12</ymax>"
                       "</bndbox></object></annotation>")
    (root / "Annotations" / "c.xml").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match="leads outside"):
        vf.load(root, "voc")
    ds = vf.load(root, "voc", follow_links=True)
    assert ds.annotations.xyxy.tolist() == [[1.0, 2.0, 10.0, 12.0]]
