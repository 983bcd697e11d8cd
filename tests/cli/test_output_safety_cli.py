"""Output safety from the command line (issue 11, items 1, 2, 5, 35, 36): every writing command
refuses a destination that is, contains or lies inside its source, replaces only a folder
visionflow wrote unless --force, leaves nothing behind when killed, and a killed `transform`
leaves no worker running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.io.atomic import MARKER

from ..conftest import make_image, tree_snapshot

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and "Traceback" not in result.output, result.output
    flat = " ".join(text.split())
    for f in fragments:
        assert f in flat, text


@pytest.fixture
def rac(tmp_path) -> Path:
    """A dataset folder as users have them: annotations, images, and their own files."""
    root = tmp_path / "rac"
    doc = {"images": [{"id": i, "file_name": f"r{i}.png", "width": 64, "height": 48}
                      for i in (1, 2, 3)],
           "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [4, 4, 20, 10],
                            "iscrowd": 0, "area": 200} for i in (1, 2, 3)],
           "categories": [{"id": 1, "name": "raccoon"}]}
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    for i in (1, 2, 3):
        make_image(root / "images" / "train" / f"r{i}.png", color=(40 * i, 90, 10))
    (root / "README.md").write_text("where this data came from")
    (root / "train.tfrecord").write_bytes(b"\0" * 64)
    return root


RECIPE = "preprocess:\n  - resize: {size: [32, 24]}\n"
COMMANDS = {
    "convert": ["--to", "yolo"],
    "fix": [],
    "transform": ["--recipe", "{recipe}", "--workers", "1"],
    "resize": ["--size", "32x24", "--workers", "1"],
    "tile": ["--grid", "2x1", "--workers", "1"],
    "split": [],
}


def _args(command: str, tmp_path: Path) -> list[str]:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(RECIPE)
    return [a.replace("{recipe}", str(recipe)) for a in COMMANDS[command]]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("dest, message", [
    (lambda rac: rac, "source dataset"),
    (lambda rac: rac / "annotations", "source dataset"),
    (lambda rac: rac / "images", "source dataset"),
    (lambda rac: rac.parent, "source dataset"),
])
def test_no_command_deletes_its_source(rac, tmp_path, command, dest, message):
    before = tree_snapshot(tmp_path)
    result = run(command, rac / "annotations", dest(rac), *_args(command, tmp_path),
                 "--overwrite", "--force")
    one_line_error(result, message)
    after = tree_snapshot(tmp_path)
    after.pop("recipe.yaml", None)
    before.pop("recipe.yaml", None)
    assert after == before
    assert not [p for p in tmp_path.rglob(".*")]  # no hidden partial, work or .old folder


def test_convert_into_the_current_folder(rac, monkeypatch):
    monkeypatch.chdir(rac)
    before = tree_snapshot(rac)
    one_line_error(run("convert", "annotations", ".", "--to", "yolo", "--overwrite", "--force"),
                   "contains the source dataset")
    one_line_error(run("convert", "annotations", "..", "--to", "yolo", "--overwrite", "--force"),
                   "contains the source dataset")
    assert tree_snapshot(rac) == before


def test_overwrite_needs_force_for_a_folder_visionflow_did_not_write(rac, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    one_line_error(run("convert", rac / "annotations", mine, "--to", "yolo", "--overwrite"),
                   "was not written by visionflow", "'notes.txt'", "--force")
    assert (mine / "notes.txt").read_text() == "keep me"

    out = tmp_path / "out"
    assert run("convert", rac / "annotations", out, "--to", "yolo").exit_code == 0
    assert (out / MARKER).is_file()
    result = run("convert", rac / "annotations", out, "--to", "coco", "--overwrite")
    assert result.exit_code == 0, result.output  # visionflow's own output: replaced
    assert (out / "annotations").is_dir() and not (out / "labels").exists()

    result = run("convert", rac / "annotations", mine, "--to", "yolo", "--overwrite", "--force")
    assert result.exit_code == 0, result.output
    assert not (mine / "notes.txt").exists()


def test_version_export_never_deletes_the_workspace(rac, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_AUTHOR", "tester")
    ws = tmp_path / "ws"
    assert run("init", ws).exit_code == 0
    assert run("add", rac / "annotations", "-w", ws).exit_code == 0
    assert run("version", "create", "--name", "v1", "-w", ws).exit_code == 0
    before = tree_snapshot(ws)
    for dest in (ws, tmp_path):
        one_line_error(run("version", "export", "v1", dest, "--to", "yolo", "--overwrite",
                           "--force", "-w", ws), "the workspace")
    assert tree_snapshot(ws) == before
    result = run("version", "export", "v1", tmp_path / "v1", "--to", "yolo", "-w", ws)
    assert result.exit_code == 0, result.output
    exported = next((tmp_path / "v1").rglob("r1.png"))
    assert exported.stat().st_nlink == 1  # a copy: editing it cannot touch the stored blob


def test_help_documents_images_and_force():
    for command in (["convert"], ["fix"], ["split"], ["version", "export"]):
        text = " ".join(run(*command, "--help").output.split()).replace("- ", "-")
        assert "copy-on-write" in text and "editing an output image in place edits the source" \
            in text, command
        assert "--force" in text, command


# --- item 36 (part): check --report, show --out, fix --report-json ---------------------------

def test_report_files_are_not_written_into_the_source(rac, tmp_path):
    before = tree_snapshot(rac)
    one_line_error(run("check", rac / "annotations", "--no-hash", "--report",
                       rac / "health.html"), "lies inside the source dataset", "--into-source")
    one_line_error(run("show", rac / "annotations", "--out", rac / "images" / "grid.png"),
                   "lies inside the source dataset", "--into-source")
    one_line_error(run("show", rac / "annotations", "--out", rac / "images" / "train" / "r1.png",
                       "--into-source"), "would replace a file of the source dataset")
    one_line_error(run("fix", rac / "annotations", tmp_path / "fixed", "--report-json",
                       rac / "changes.json"), "lies inside the source dataset")
    assert tree_snapshot(rac) == before
    assert not (tmp_path / "fixed").exists()

    result = run("check", rac / "annotations", "--no-hash", "--report", rac / "health.html",
                 "--into-source")
    assert result.exit_code == 0, result.output
    assert (rac / "health.html").read_text().lstrip().lower().startswith("<!doctype html")
    result = run("show", rac / "annotations", "--out", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- item 5 and 35: killed runs and faults ---------------------------------------------------

def _session(sid: int) -> list[int]:
    """Live processes of session `sid` (all the children of a command started in one)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == sid:
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_transform_leaves_no_worker_and_no_lasting_partial(tmp_path):
    from ..transforms.synth import dataset
    vf.write(dataset(tmp_path / "gen", 80, size=(320, 240)), tmp_path / "src", "coco")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("preprocess:\n  - resize: {size: [2048, 1536]}\n  - rotate: {limit: 10}\n")
    cmd = [sys.executable, "-m", "visionflow", "transform", str(tmp_path / "src"),
           str(tmp_path / "out"), "--recipe", str(recipe), "--workers", "2"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(_session(proc.pid)) < 3 and proc.poll() is None:  # tracker, server, workers
            assert time.monotonic() < deadline, "workers never started"
            time.sleep(0.05)
        time.sleep(0.5)  # the workers are busy now
        assert proc.poll() is None, "finished before it could be killed; make it slower"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while _session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _session(proc.pid) == [], "workers outlived the killed transform"
    finally:
        for pid in _session(proc.pid):
            os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "out").exists()
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # what SIGKILL left
    result = run("resize", tmp_path / "src", tmp_path / "out", "--size", "32x24",
                 "--workers", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen", "out", "recipe.yaml", "src"]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_file_size_limit_is_one_line_and_leaves_nothing(rac, tmp_path):
    import numpy as np
    from PIL import Image
    noise = np.random.default_rng(1).integers(0, 255, (48, 64, 3), np.uint8)
    Image.fromarray(noise).save(rac / "images" / "train" / "r2.png")  # > 4 KiB to copy

    def limit():
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = subprocess.run([sys.executable, "-m", "visionflow", "convert", str(rac / "annotations"),
                           str(tmp_path / "out"), "--to", "yolo"], preexec_fn=limit,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "File too large" in lines[-1], proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rac"]
