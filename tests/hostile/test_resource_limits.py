"""Hostile input must cost bounded time and memory (issue 11, items 30 and 33): a YAML alias
bomb, 10,000 identical boxes or a 10,000-vertex polygon in `check`, 2 GB files of zeros named
like annotation files, a TFRecord claiming a 1 GiB record.

Each case runs in a subprocess with an address-space limit (so that a regression fails with
MemoryError instead of taking the machine's memory) and reports its peak RSS
(VmHWM of /proc/self/status: getrusage's ru_maxrss would include the RSS of the pytest
worker the subprocess was forked from). Files of zeros are sparse (truncate): nothing big is written to disk.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from visionflow.io.tfrecord import masked_crc

from ..conftest import make_image

LIMIT_BYTES = 3 << 30   # address space of the subprocess: numpy and friends map ~1 GiB
PEAK_MIB = 600          # what a bounded case may use (imports alone: ~150 MiB)


def _run(code: str, timeout: float = 120) -> dict:
    """Run `code` (which sets `result`) in a fresh interpreter; its result and peak RSS."""
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT_BYTES}, {LIMIT_BYTES}))
        import visionflow as vf
        t0 = time.perf_counter()
        result = None
    """) + textwrap.dedent(code) + textwrap.dedent("""
        peak = next(int(line.split()[1]) for line in open('/proc/self/status')
                    if line.startswith('VmHWM:')) / 1024
        print(json.dumps({"result": result, "peak_mib": peak,
                          "seconds": time.perf_counter() - t0}))
    """)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _error_of(call: str) -> str:
    return f"""
try:
    {call}
    result = "no error"
except vf.Error as e:
    result = type(e).__name__ + ": " + str(e)[:300]
"""


# ---- item 30: YAML alias bomb -----------------------------------------------------------

def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    make_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 8):  # 9 aliases a level, 7 levels: 9^8 = 43 million strings
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines += ["names: *h", "train: images", "val: images"]
    (tmp_path / "data.yaml").write_text("\n".join(lines) + "\n")
    out = _run(_error_of(f"vf.load({str(tmp_path)!r})"), timeout=60)
    assert "alias bomb" in out["result"], out
    assert out["seconds"] < 20 and out["peak_mib"] < PEAK_MIB, out


def test_safe_yaml_keeps_ordinary_anchors_and_refuses_bombs_everywhere():
    """The same loader reads recipes and workspace lineage (parse_yaml) and data.yaml."""
    import time

    import visionflow as vf
    from visionflow.io.safe_load import load_yaml, parse_yaml
    data = load_yaml("x.yaml", "base: &b {lr: 0.1}\ntrain: *b\nval: *b\n")
    assert data == {"base": {"lr": 0.1}, "train": {"lr": 0.1}, "val": {"lr": 0.1}}
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n"
        for i in range(6))
    t0 = time.perf_counter()
    with pytest.raises(vf.UnsafeInputError, match="alias bomb"):
        parse_yaml(bomb, "recipe.yaml")
    assert time.perf_counter() - t0 < 10


# ---- items 30 and 33: quadratic memory in check -----------------------------------------

def _coco_one_image(root: Path, annotations: list[dict]) -> Path:
    root.mkdir(parents=True)
    make_image(root / "a.jpg", (640, 480))
    (root / "annotations.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 640, "height": 480}],
        "annotations": annotations, "categories": [{"id": 1, "name": "cat"}]}))
    return root


def test_check_on_10000_identical_boxes_stays_small(tmp_path):
    """Was 4.6 GB: every pair of the 10,000 boxes was kept (50 million pairs)."""
    src = _coco_one_image(tmp_path / "src", [
        {"id": i, "image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50]}
        for i in range(1, 10_001)])
    out = _run(f"""
from visionflow.checks.run import check_path
findings = check_path({str(src)!r}).findings
result = sum(f.code == "box.duplicate" for f in findings)
""")
    assert out["result"] == 9_999, out  # every box but the first, each named once
    assert out["peak_mib"] < PEAK_MIB, out


def test_check_on_a_10000_vertex_polygon_stays_small(tmp_path):
    """Was > 6 GB: every pair of the ring's edges was built at once."""
    import numpy as np
    t = np.linspace(0, 2 * np.pi, 10_000, endpoint=False)
    ring = np.stack([320 + 200 * np.cos(t), 240 + 200 * np.sin(t)], axis=1).round(3)
    bowtie = [100, 100, 200, 200, 200, 100, 100, 200] * 1  # crosses itself
    wavy = ring.copy()
    wavy[5000] = [620, 240]  # a spike from the left side out past the right: crosses the ring
    src = _coco_one_image(tmp_path / "src", [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [120, 40, 400, 400],
         "segmentation": [ring.reshape(-1).tolist()]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [100, 100, 100, 100],
         "segmentation": [bowtie]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [120, 40, 400, 400],
         "segmentation": [wavy.reshape(-1).tolist()]}])
    out = _run(f"""
from visionflow.checks.run import check_path
findings = check_path({str(src)!r}).findings
result = sorted(f.where.split()[-1] for f in findings if f.code == "polygon.self_intersecting")
""")
    assert out["peak_mib"] < PEAK_MIB, out
    assert out["result"] == ["2", "3"], out  # the circle is simple; the spike is found


# ---- item 33: files of zeros --------------------------------------------------------------

def _zeros(path: Path, size: int = 2 << 30) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: no disk space used


@pytest.mark.parametrize("layout", ["yolo", "open-images", "coco", "labelme", "kitti", "voc"])
def test_two_gigabytes_of_zeros_are_refused_without_reading_them(tmp_path, layout):
    root = tmp_path / "ds"
    if layout == "yolo":
        make_image(root / "images" / "a.jpg")
        (root / "data.yaml").write_text("names: [cat]\ntrain: images\nval: images\n")
        _zeros(root / "labels" / "a.txt")
    elif layout == "open-images":
        _zeros(root / "annotations" / "train-annotations-bbox.csv")
    elif layout == "coco":
        _zeros(root / "annotations" / "instances_train.json")
    elif layout == "labelme":
        _zeros(root / "a.json")
    elif layout == "kitti":
        make_image(root / "image_2" / "a.png")
        _zeros(root / "label_2" / "a.txt")
    else:
        make_image(root / "JPEGImages" / "a.jpg")
        _zeros(root / "Annotations" / "a.xml")
    out = _run(_error_of(f"vf.load({str(root)!r}, {layout!r})"))
    assert out["result"].split(":")[0] in ("ParseError", "FormatError"), out
    assert "NUL" in out["result"] or "not" in out["result"], out
    assert out["peak_mib"] < PEAK_MIB, out


# ---- item 33: TFRecord claiming a 1 GiB record ---------------------------------------------

def test_tfrecord_claiming_a_gigabyte_record_is_not_read_whole(tmp_path):
    length = 1 << 30
    header = struct.pack("<Q", length)
    path = tmp_path / "ds" / "train.tfrecord"
    path.parent.mkdir()
    with open(path, "wb") as f:
        f.write(header + struct.pack("<I", masked_crc(header)))
        f.truncate(12 + length + 4)  # the bytes are there (zeros), the data CRC is wrong
    (tmp_path / "ds" / "label_map.pbtxt").write_text("item { id: 1 name: 'cat' }\n")
    out = _run(_error_of(f"vf.load({str(path.parent)!r}, 'tfrecord')"), timeout=120)
    assert "data CRC mismatch" in out["result"], out
    assert out["peak_mib"] < PEAK_MIB, out
    with open(path, "r+b") as f:
        f.truncate(12 + 1000)  # now shorter than claimed: refused before reading at all
    out = _run(_error_of(f"vf.load({str(path.parent)!r}, 'tfrecord')"))
    assert "truncated" in out["result"] and out["peak_mib"] < PEAK_MIB, out
