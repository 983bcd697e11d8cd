"""A corpus of malformed inputs for every registered reader: a valid small dataset written in
each format, then its annotation files truncated, emptied, filled with binary garbage, given
NaN, huge or negative numbers, wrong types, '../' and absolute paths, plus a bounded number of
Hypothesis byte mutations.

Whatever the damage: only visionflow errors (core.errors.Error) escape api.load, and the CLI's
`convert` exits 0 or 1 without a traceback, leaves no partial or temporary folder beside its
destination, and never changes the source.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.formats import registry
from visionflow.io.images import is_image_file

from ..conftest import make_image

READABLE = [f for f in registry.all_formats() if f.read and f.write]
CLASSIFICATION = {"yolo-cls", "cls-csv"}  # hold image-level labels only
# A few formats through the CLI (a convert per case is slower than a load)
CLI_FORMATS = ("coco", "yolo", "voc", "labelme", "kitti", "tfrecord", "open-images", "cvat")


def _dataset(image_dir: Path, fmt: str) -> vf.Dataset:
    paths = [str(make_image(image_dir / n, (64, 48))) for n in ("a.jpg", "b.jpg")]
    images = vf.Images.build(["a.jpg", "b.jpg"], [64, 64], [48, 48], path=paths)
    cats = vf.Categories.from_names(["cat", "dog"])
    if fmt in CLASSIFICATION:
        return vf.Dataset(images, vf.Annotations.build([0, 1], [1, 2], np.full((2, 4), np.nan)),
                          cats)
    square = np.array([[4, 4], [30, 4], [30, 20], [4, 20]], float)
    tri = np.array([[10, 12], [50, 12], [30, 40]], float)
    ann = vf.Annotations.from_objects(
        [0, 0, 1], [1, 2, 1], [[4, 4, 30, 20], [10, 12, 50, 40], [0, 0, 20, 30]],
        rings=[[square], [tri], []])
    return vf.Dataset(images, ann, cats)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """One valid dataset per format (written by its own writer, read back fine)."""
    base = tmp_path_factory.mktemp("fuzz-sources")
    out: dict[str, Path] = {}
    for fmt in READABLE:
        dest = base / fmt.name
        vf.write(_dataset(base / f"img-{fmt.name}", fmt.name), dest, fmt.name, images="copy")
        vf.load(dest, fmt.name)  # the unmutated dataset is valid
        out[fmt.name] = dest
    return out


def _annotation_files(root: Path) -> list[Path]:
    """The files a reader parses: annotation files (at most 3, largest first: the others
    are usually small class lists of the same kind), else (yolo-cls: folders only) the images."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    annotations = [p for p in files if not is_image_file(p)]
    return sorted(annotations or files, key=lambda p: (-p.stat().st_size, str(p)))[:3]


_NUMBER = re.compile(rb"(?<![\w.])-?\d+(\.\d+)?(?![\w.])")


def _mutations(data: bytes, name: str) -> list[tuple[str, bytes]]:
    """Deterministic damage to one annotation file's bytes."""
    def numbers(repl: bytes, limit: int = 3) -> bytes:
        return _NUMBER.sub(lambda m: repl, data, count=limit)

    return [
        ("empty", b""),
        ("truncated", data[: len(data) // 2]),
        ("garbage", bytes(range(256)) * 4),
        ("zeros", b"\x00" * 4096),
        ("nan", numbers(b"NaN", 8)),
        ("huge", numbers(b"1e308", 8)),
        ("inf", numbers(b"1e999", 8)),
        ("negative", numbers(b"-99999", 8)),
        ("wrong-type", numbers(b'"x"', 8)),
        ("parent-path", data.replace(b"a.jpg", b"../../../etc/passwd")),
        ("absolute-path", data.replace(b"a.jpg", b"/etc/passwd")),
        ("nested", data.replace(b"[", b"[" * 2000, 1) if b"[" in data else data + b"[" * 5000),
        ("long-line", data + b"0 " * 200_000 + b"\n"),
    ]


def _load_only_visionflow_errors(root: Path, fmt: str, what: str) -> None:
    try:
        vf.load(root, fmt, errors="raise")
    except vf.Error:
        pass
    except Exception as e:  # noqa: BLE001 - exactly what this test is about
        raise AssertionError(f"{fmt} / {what}: {type(e).__name__} escaped: {e}"[:600]) from e
    try:
        vf.load(root, fmt, errors="skip")
    except vf.Error:
        pass
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"{fmt} / {what} (--skip-errors): {type(e).__name__} escaped: "
                             f"{e}"[:600]) from e


def _copy(src: Path, dst: Path) -> Path:
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, symlinks=True)
    return dst


@pytest.mark.parametrize("fmt", [f.name for f in READABLE])
def test_malformed_annotation_files_give_visionflow_errors(fmt, sources, tmp_path):
    files = _annotation_files(sources[fmt])
    assert files, f"{fmt} wrote no annotation file"
    for file in files:
        rel = file.relative_to(sources[fmt])
        for what, data in _mutations(file.read_bytes(), file.name):
            work = _copy(sources[fmt], tmp_path / "work")
            (work / rel).write_bytes(data)
            _load_only_visionflow_errors(work, fmt, f"{rel}: {what}")


@pytest.mark.parametrize("fmt", [f.name for f in READABLE])
@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_byte_changes_give_visionflow_errors(fmt, sources, tmp_path, data):
    files = _annotation_files(sources[fmt])
    file = data.draw(st.sampled_from(files), label="file")
    original = bytearray(file.read_bytes())
    for _ in range(data.draw(st.integers(1, 8), label="changes")):
        if not original:
            break
        at = data.draw(st.integers(0, len(original) - 1), label="at")
        kind = data.draw(st.sampled_from(["set", "delete", "insert"]), label="kind")
        value = data.draw(st.sampled_from(list(b"\x00\xff{}[],:\"'0129-.eE\n\\/ aN")))
        if kind == "set":
            original[at] = value
        elif kind == "delete":
            del original[at:at + data.draw(st.integers(1, 16))]
        else:
            original[at:at] = bytes([value]) * data.draw(st.integers(1, 16))
    work = _copy(sources[fmt], tmp_path / f"rnd-{fmt}")
    (work / file.relative_to(sources[fmt])).write_bytes(bytes(original))
    _load_only_visionflow_errors(work, fmt, f"{file.name}: random bytes")


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("fmt", CLI_FORMATS)
def test_convert_cli_on_malformed_input(fmt, sources, tmp_path):
    """Through the CLI: exit 0 or 1, no traceback, no partial output, the source unchanged."""
    runner = CliRunner()
    files = _annotation_files(sources[fmt])
    for file in files[:2]:
        rel = file.relative_to(sources[fmt])
        for what, data in _mutations(file.read_bytes(), file.name)[:9]:
            box = tmp_path / f"{what}"
            shutil.rmtree(box, ignore_errors=True)
            src = _copy(sources[fmt], box / "src")
            (src / rel).write_bytes(data)
            before = _tree_hash(src)
            dest = box / "out"
            result = runner.invoke(app, ["convert", str(src), str(dest), "--from", fmt,
                                         "--to", "coco"])
            where = f"{fmt} / {rel}: {what}"
            assert result.exit_code in (0, 1), (where, result.exit_code, result.output[-800:])
            assert result.exception is None or isinstance(result.exception, SystemExit), \
                (where, repr(result.exception))
            assert "Traceback" not in result.output, (where, result.output[-800:])
            assert _tree_hash(src) == before, where
            leftovers = sorted(p.name for p in box.iterdir() if p.name not in ("src", "out"))
            assert leftovers == [], (where, leftovers)  # no .out.*.partial, no temporary folder
            if result.exit_code == 1:
                assert not dest.exists(), where  # a failed convert leaves no output at all
