"""Output safety in the library (issue 11, items 1, 2, 4, 5, 31, 35): a destination never
destroys its source or the user's files, outputs share no writable file with the source, a
skipped image is not written, leftovers of killed runs are removed, the old output is replaced
in one step, and filesystem faults are one error line."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.io import atomic, images
from visionflow.io.atomic import MARKER, atomic_dir, guard_destination, guard_file

from ..conftest import make_image, tree_snapshot

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="renameat2, /proc and prctl are Linux")


@pytest.fixture
def coco_src(tmp_path) -> Path:
    """A COCO dataset: annotations/ and images/ side by side, plus a file of the user's."""
    root = tmp_path / "data"
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48},
                      {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 20, 10],
                            "iscrowd": 0, "area": 200},
                           {"id": 2, "image_id": 2, "category_id": 1, "bbox": [8, 8, 20, 10],
                            "iscrowd": 0, "area": 200}],
           "categories": [{"id": 1, "name": "cat"}]}
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    make_image(root / "images" / "a.png")
    make_image(root / "images" / "b.png", color=(10, 200, 30))
    (root / "README").write_text("the user's notes")
    return root


# --- item 1: the destination is never the source, around it or inside it --------------------

@pytest.mark.parametrize("where, message", [
    (lambda src: src / "annotations", "source dataset"),
    (lambda src: src, "source dataset"),
    (lambda src: src.parent, "source dataset"),
    (lambda src: src / "annotations" / "out", "source dataset"),
    (lambda src: src / "images", "source dataset"),      # the image folder
    (lambda src: src / "images" / "out", "source dataset"),
    (lambda src: src / "annotations" / "..", "source dataset"),
])
def test_destination_around_or_inside_the_source_is_refused(coco_src, where, message):
    dest = where(coco_src)
    before = tree_snapshot(coco_src.parent)
    with pytest.raises(vf.OutputError, match=message):
        vf.convert(coco_src / "annotations", dest, "yolo", overwrite=True, force=True)
    ds = vf.load(coco_src / "annotations")
    with pytest.raises(vf.OutputError, match=message):
        vf.write(ds, dest, "yolo", overwrite=True, force=True)
    assert tree_snapshot(coco_src.parent) == before
    assert not [p for p in coco_src.parent.rglob(".*") if p.name != MARKER]  # no hidden leftovers


@pytest.mark.parametrize("dest, message", [
    ("s", "is the source dataset"), (".", "contains the source dataset"),
    ("s/x", "lies inside the source dataset"), ("s/../s", "is the source dataset")])
def test_guard_says_how_the_destination_meets_the_source(tmp_path, dest, message):
    (tmp_path / "s").mkdir()
    with pytest.raises(vf.OutputError, match=message):
        guard_destination(tmp_path / dest, sources=[tmp_path / "s"], overwrite=True, force=True)


def test_the_dataset_folder_around_annotations_and_images_is_a_source(coco_src):
    folders = vf.api.source_folders(vf.load(coco_src / "annotations"))
    assert folders == [coco_src]  # annotations/ and images/ inside it, listed once


def test_current_folder_and_workspace_are_kept(coco_src, tmp_path, monkeypatch):
    ds = vf.load(coco_src / "annotations")
    here = tmp_path / "project" / "here"
    here.mkdir(parents=True)
    (here / "mine.txt").write_text("x")
    monkeypatch.chdir(here)
    with pytest.raises(vf.OutputError, match="the current folder"):
        vf.write(ds, ".", "yolo", overwrite=True, force=True)
    with pytest.raises(vf.OutputError, match="the current folder"):
        vf.write(ds, tmp_path / "project", "yolo", overwrite=True, force=True)
    with pytest.raises(vf.OutputError, match="the workspace"):
        guard_destination(tmp_path / "ws", keep=[tmp_path / "ws" / "sub"])
    assert (here / "mine.txt").read_text() == "x"


def test_overwrite_replaces_only_what_visionflow_wrote(coco_src, tmp_path):
    ds = vf.load(coco_src / "annotations")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    with pytest.raises(vf.OutputError, match=r"not written by visionflow .*'thesis.tex'.*--force"):
        vf.write(ds, foreign, "yolo", overwrite=True)
    assert (foreign / "thesis.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "foreign"]  # no partial left

    out = tmp_path / "out"
    vf.write(ds, out, "yolo")
    assert (out / MARKER).is_file()
    with pytest.raises(vf.OutputError, match="pass --overwrite"):
        vf.write(ds, out, "coco")
    vf.write(ds, out, "coco", overwrite=True)  # ours: no --force needed
    assert (out / "annotations").is_dir() and not (out / "labels").exists()

    vf.write(ds, foreign, "yolo", overwrite=True, force=True)  # explicitly confirmed
    assert not (foreign / "thesis.tex").exists() and (foreign / MARKER).is_file()


def test_an_empty_existing_folder_needs_no_flag(coco_src, tmp_path):
    (tmp_path / "empty").mkdir()
    vf.convert(coco_src / "annotations", tmp_path / "empty", "yolo")
    assert (tmp_path / "empty" / "data.yaml").is_file()


# --- item 2: the default never shares a writable file with the source ------------------------

def test_default_copy_does_not_share_files_with_the_source(coco_src, tmp_path):
    source_bytes = (coco_src / "images" / "a.png").read_bytes()
    vf.convert(coco_src / "annotations", tmp_path / "out", "yolo")
    out_image = next((tmp_path / "out").rglob("a.png"))
    assert out_image.read_bytes() == source_bytes
    assert out_image.stat().st_ino != (coco_src / "images" / "a.png").stat().st_ino
    with open(out_image, "r+b") as f:  # a script editing its training images in place
        f.write(b"\0" * 16)
    assert (coco_src / "images" / "a.png").read_bytes() == source_bytes

    vf.convert(coco_src / "annotations", tmp_path / "linked", "yolo", images="link")
    linked = next((tmp_path / "linked").rglob("a.png"))
    assert linked.stat().st_ino == (coco_src / "images" / "a.png").stat().st_ino  # asked for


def test_copy_tries_a_copy_on_write_clone_then_falls_back(tmp_path, monkeypatch):
    src = make_image(tmp_path / "a.png")
    calls = []

    def clone(fd, request, src_fd):  # stands in for FICLONE on a copy-on-write filesystem
        calls.append(request)
        os.lseek(src_fd, 0, os.SEEK_SET)
        os.write(fd, os.read(src_fd, 1 << 20))

    monkeypatch.setattr(images, "_NO_CLONE", set())
    monkeypatch.setattr(images.fcntl, "ioctl", clone)
    monkeypatch.setattr(images.shutil, "copyfile", lambda *a: pytest.fail("copied, not cloned"))
    images.place_file(str(src), tmp_path / "out" / "a.png", "copy")
    assert calls == [images._FICLONE]
    assert (tmp_path / "out" / "a.png").read_bytes() == src.read_bytes()

    def unsupported(fd, request, src_fd):
        calls.append(request)
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.undo()
    monkeypatch.setattr(images, "_NO_CLONE", set())
    monkeypatch.setattr(images.fcntl, "ioctl", unsupported)
    calls.clear()
    for name in ("b.png", "c.png"):
        images.place_file(str(src), tmp_path / "out" / name, "copy")
        assert (tmp_path / "out" / name).read_bytes() == src.read_bytes()
    assert len(calls) == 1  # the filesystem's answer is remembered


@pytest.mark.skipif(not os.environ.get("VISIONFLOW_COW_DIR"),
                    reason="set VISIONFLOW_COW_DIR to a folder on a copy-on-write filesystem "
                           "(XFS with reflink, btrfs) to test real clones")
def test_real_clone_on_a_copy_on_write_filesystem():
    root = Path(os.environ["VISIONFLOW_COW_DIR"])
    src = root / "clone-src.bin"
    src.write_bytes(os.urandom(1 << 20))
    dest = root / "clone-dst.bin"
    dest.unlink(missing_ok=True)
    images._NO_CLONE.clear()
    images.place_file(str(src), dest, "copy")
    assert not images._NO_CLONE  # cloned, not copied
    with open(dest, "r+b") as f:
        f.write(b"changed")
    assert src.read_bytes()[:7] != b"changed"


def test_transform_output_shares_no_file_with_the_source(coco_src, tmp_path):
    from visionflow.transforms import Recipe, run
    ds = vf.load(coco_src / "annotations")
    recipe = Recipe.load({"augment": {"copies": 1, "ops": [{"flip": {"p": 0.0}}]}})
    out = run(ds, recipe, tmp_path / "work", workers=1)  # pixels unchanged: files reused
    assert len(out.images) >= 2
    for path in out.images.path:
        assert os.stat(path).st_nlink == 1  # unchanged pixels: a copy, not a hard link


# --- item 4: an image reported as skipped is not written, by any writer ----------------------

def _writers_holding_boxes():
    from visionflow.formats.base import BOXES
    return sorted(f.name for f in vf.formats() if f.write is not None and BOXES in f.supports)


@pytest.mark.parametrize("fmt", _writers_holding_boxes())
def test_skip_errors_leaves_a_missing_image_out_of_every_writer(coco_src, tmp_path, fmt):
    ds = vf.load(coco_src / "annotations")
    paths = ds.images.path.copy()
    paths[1] = str(tmp_path / "gone" / "b.png")  # b.png's file is missing
    ds = ds.replace(images=ds.images.replace(path=paths))
    with pytest.raises(vf.MissingImageError, match="b.png: image file not found"):
        vf.write(ds, tmp_path / "strict", fmt)
    assert not (tmp_path / "strict").exists()

    report = vf.Report()
    vf.write(ds, tmp_path / "out", fmt, errors="skip", report=report)
    skipped = [f for f in report.findings if f.code == "skipped"]
    assert len(skipped) == 1 and "b.png" in skipped[0].where
    written = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert b"b.png" not in written and not list((tmp_path / "out").rglob("b.*")), fmt
    assert report.written["images"] == 1


def test_skip_errors_in_convert_reports_and_leaves_out(coco_src, tmp_path):
    (coco_src / "images" / "b.png").unlink()
    report = vf.convert(coco_src / "annotations", tmp_path / "out", "yolo", errors="skip")
    skipped = [f for f in report.findings if f.code == "skipped"]
    assert len(skipped) == 1 and "b.png" in f"{skipped[0].where} {skipped[0].message}"
    assert sorted(p.name for p in (tmp_path / "out" / "labels").rglob("*.txt")) == ["a.txt"]
    back = vf.load(tmp_path / "out")
    assert list(back.images.file_name) == ["a.png"] and len(back.annotations) == 1


# --- item 5: leftovers of a killed run are removed by the next one ---------------------------

_KILLED = textwrap.dedent("""
    import os, signal, sys
    from visionflow.io.atomic import atomic_dir
    with atomic_dir(sys.argv[1], overwrite=True) as tmp:
        for i in range(50):
            (tmp / f"{i}.txt").write_text("half")
        os.kill(os.getpid(), signal.SIGKILL)
""")


@linux_only
def test_partial_folder_of_a_killed_run_is_removed_next_time(tmp_path):
    dest = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", _KILLED, str(dest)])
    assert proc.returncode == -signal.SIGKILL
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    assert len(left) == 1 and len(list(left[0].iterdir())) == 50  # what SIGKILL leaves
    with atomic_dir(dest) as tmp:
        (tmp / "new.txt").write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@linux_only
def test_only_leftovers_of_dead_processes_of_this_host_are_removed(tmp_path):
    dest = tmp_path / "out"
    me, start = os.getpid(), atomic._start_time(os.getpid())
    host = atomic._host_tag()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    names = {
        "live": f".out.vf-{host}-{me}-{start}.abc123.partial",            # this process
        "dead": f".out.vf-{host}-{dead.pid}-1.abc124.partial",           # gone
        "reused": f".out.vf-{host}-{me}-{start + 1}.abc125.partial",    # PID reused later
        "other_host": f".out.vf-00000000-{dead.pid}-1.abc126.partial",
        "not_ours": ".out.abc127.partial",                               # unknown origin
        "other_dest": f".outer.vf-{host}-{dead.pid}-1.abc128.partial",
        "dead_file": f".out.vf-{host}-{dead.pid}-1.abc129.fix-images.partial",
    }
    for kind, name in names.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text(kind)
    removed = atomic.remove_stale(dest)
    assert sorted(p.name for p in removed) == sorted(
        names[k] for k in ("dead", "reused", "dead_file"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        names[k] for k in ("live", "other_host", "not_ours", "other_dest"))


# --- item 31: the old output is replaced in one step, and checked again first ----------------

def test_old_output_is_never_absent_during_the_swap(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "old.txt").write_text("old")
    seen = []
    real_rename = os.rename

    def rename(a, b):  # a kill between two renames would leave no destination
        seen.append(dest.exists())
        real_rename(a, b)
        seen.append(dest.exists())

    monkeypatch.setattr(atomic.os, "rename", rename)
    with atomic_dir(dest, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert (dest / "new.txt").read_text() == "new" and not (dest / "old.txt").exists()
    assert all(seen), seen  # (Linux: no rename at all, one exchange; elsewhere see below)


@linux_only
def test_swap_uses_one_exchange(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "old.txt").write_text("old")
    flags = []
    real = atomic._renameat2

    def spy(src, dst, flag):
        flags.append(flag)
        return real(src, dst, flag)

    monkeypatch.setattr(atomic, "_renameat2", spy)
    monkeypatch.setattr(atomic.os, "rename", lambda *a: pytest.fail("two-step rename used"))
    with atomic_dir(dest, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert flags == [atomic._RENAME_EXCHANGE]
    assert sorted(p.name for p in dest.iterdir()) == [MARKER, "new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_step_fallback_puts_the_old_output_back_on_failure(tmp_path, monkeypatch):
    dest = tmp_path / "out"
    with atomic_dir(dest) as tmp:
        (tmp / "old.txt").write_text("old")
    monkeypatch.setattr(atomic, "_renameat2", lambda *a: False)  # a platform without it
    real_rename = os.rename
    calls = []

    def rename(a, b):
        calls.append((a, b))
        if len(calls) == 2:  # moving the new output in fails (read-only, full, killed...)
            raise OSError(errno.EROFS, "Read-only file system", str(a))
        real_rename(a, b)

    monkeypatch.setattr(atomic.os, "rename", rename)
    with pytest.raises(vf.OutputError, match="Read-only file system"):
        with atomic_dir(dest, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
    assert (dest / "old.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .old, no .partial


def test_destination_created_meanwhile_is_checked_again(tmp_path):
    dest = tmp_path / "out"
    with pytest.raises(vf.OutputError, match="already exists and is not empty"):
        with atomic_dir(dest) as tmp:
            (tmp / "new.txt").write_text("new")
            dest.mkdir()  # another program (or user) fills it while we write
            (dest / "theirs.txt").write_text("theirs")
    assert sorted(p.name for p in dest.iterdir()) == ["theirs.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    with pytest.raises(vf.OutputError, match="not written by visionflow"):
        with atomic_dir(dest, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            (dest / MARKER).unlink(missing_ok=True)  # still foreign
    assert (dest / "theirs.txt").read_text() == "theirs"


# --- item 35: faults are one line, and leave nothing behind ----------------------------------

@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "No space left on device"),
                                        (errno.EROFS, "Read-only file system"),
                                        (errno.EACCES, "Permission denied"),
                                        (errno.EDQUOT, "Disk quota exceeded")])
def test_filesystem_faults_are_output_errors(coco_src, tmp_path, monkeypatch, code, text):
    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "x"))

    monkeypatch.setattr(images, "place_file", fail)
    with pytest.raises(vf.OutputError, match=text):
        vf.convert(coco_src / "annotations", tmp_path / "out", "yolo")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


_FSIZE = textwrap.dedent("""
    import resource, sys
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    import visionflow as vf
    try:
        vf.convert(sys.argv[1], sys.argv[2], "yolo")
    except vf.OutputError as e:
        print("OutputError:", e)
        sys.exit(1)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_file_size_limit_is_an_output_error(coco_src, tmp_path):
    big = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    from PIL import Image
    Image.fromarray(big).save(coco_src / "images" / "a.png")  # > 4 KiB: EFBIG when copied
    proc = subprocess.run([sys.executable, "-c", _FSIZE, str(coco_src / "annotations"),
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert "OutputError:" in proc.stdout and "File too large" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_parent_of_the_source_leaves_nothing_inside_it(coco_src):
    before = tree_snapshot(coco_src)
    with pytest.raises(vf.OutputError, match="contains the source dataset"):
        vf.convert(coco_src, coco_src / "..", "yolo", overwrite=True, force=True)
    assert tree_snapshot(coco_src) == before
    assert not [p for p in coco_src.parent.iterdir() if p.name.startswith(".")]


# --- item 36 (part): single output files -----------------------------------------------------

def test_single_file_inside_the_source(coco_src, tmp_path):
    with pytest.raises(vf.OutputError, match="lies inside the source dataset.*--into-source"):
        guard_file(coco_src / "report.html", sources=[coco_src])
    assert guard_file(coco_src / "report.html", sources=[coco_src], into_source=True)
    with pytest.raises(vf.OutputError, match="would replace a file of the source"):
        guard_file(coco_src / "README", sources=[coco_src], into_source=True)
    assert guard_file(tmp_path / "report.html", sources=[coco_src]) == tmp_path / "report.html"
