"""Real processes: SIGKILL at random points of `add` and `version create` leaves the workspace
before or after (verify passes, every revision and version loads whole); two processes on one
workspace take turns, and the one that waits says so or gives up after --lock-timeout."""

import io
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from visionflow.versioning import Workspace

from .helpers import cli, env, spawn, write_coco

N_IMAGES = 300
BOXES_PER_IMAGE = 40


def _noise_png(seed: int) -> bytes:
    """A real 64x48 PNG (~9 KB, the size write_coco declares) of random pixels: distinct
    bytes per seed, and an image readers accept (they check every present image file)."""
    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def _variant(root, k: int, rng: np.random.Generator, stem: str = "img", n: int = N_IMAGES):
    """Source variant k: a third of the images get new bytes, every box moves a little."""
    names = tuple(f"{stem}_{i:04d}.jpg" for i in range(n))
    raw = {}
    for i, name in enumerate(names):
        seed = i if i % 3 else i * 1000 + k  # every third image changes with k
        raw[name] = _noise_png(seed)
    boxes = [(i, int(rng.integers(1, 3)), [float(rng.integers(0, 30)), float(rng.integers(0, 20)),
                                           5.0, 5.0])
             for i in range(n) for _ in range(BOXES_PER_IMAGE)]
    return write_coco(root, boxes, names=names, raw_images=raw)


def _consistent(ws_path, revisions_before, versions_before):
    """Verify passes and every revision and version is whole; returns the counts now."""
    with Workspace.open(ws_path) as ws:
        result = ws.verify()
        assert result.ok, result.problems
        revs = [r["revision"] for s in ws.sources() for r in s["revisions"]]
        versions = [v["name"] for v in ws.versions()]
        assert len(revs) in (revisions_before, revisions_before + 1)
        assert len(versions) in (versions_before, versions_before + 1)
        for ref in [f"src@{r}" for r in revs] + versions:
            ds = ws.load(ref)
            assert len(ds.images) == N_IMAGES
            assert len(ds.annotations) == N_IMAGES * BOXES_PER_IMAGE
            assert all(os.path.isfile(p) for p in ds.images.path[:20])
    return len(revs), len(versions)


def _kill_when(proc, condition, limit):
    start = time.monotonic()
    while proc.poll() is None and time.monotonic() - start < limit:
        if condition():
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_at_random_points_leaves_the_workspace_whole(tmp_path):
    rng = np.random.default_rng(7)
    picker = random.Random(7)
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    src = tmp_path / "src"
    _variant(src, 0, rng)
    t0 = time.monotonic()
    assert cli("add", src, "--name", "src", "-w", ws).returncode == 0
    full = time.monotonic() - t0
    revs, versions = _consistent(ws, 1, 0)
    tmp_dir = ws / ".visionflow" / "tmp"
    wal = ws / ".visionflow" / "workspace.db-wal"
    killed_mid_write = 0
    deadline = time.monotonic() + 60  # a safety net for a very busy machine
    for k in range(1, 7):
        if time.monotonic() > deadline:
            break
        _variant(src, k, rng)
        args = (("add", src, "--name", "src") if k % 2 else
                ("version", "create", "--name", f"v{k}"))
        proc = spawn(*args, "-w", ws)
        strategy = k % 3
        stamp = lambda: (wal.stat().st_size, wal.stat().st_mtime_ns) if wal.exists() else None
        before = stamp()
        if strategy == 0:  # anywhere, start-up included
            _kill_when(proc, lambda: False, picker.uniform(0.2, full * 1.1))
        elif strategy == 1:  # while blobs are being written
            _kill_when(proc, lambda: any(tmp_dir.iterdir()), full * 3)
        else:  # while the database is being written
            _kill_when(proc, lambda stamp=stamp, before=before: stamp() != before, full * 3)
        if proc.returncode == -signal.SIGKILL:
            killed_mid_write += strategy != 0
        revs, versions = _consistent(ws, revs, versions)
    assert killed_mid_write >= 2
    # the lock died with the killed processes: the next writes go through
    assert cli("add", src, "--name", "src", "-w", ws).returncode == 0
    with Workspace.open(ws) as w:
        w.create_version("final")
        w.gc()
        result = w.verify()
        assert result.ok and result.notes == [], (result.problems, result.notes)


HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, b"pid %d: test holder" % os.getpid())
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_lock(ws, seconds):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws / ".visionflow" / "lock"),
                          str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_writer_that_cannot_get_the_lock_gives_up_with_a_clear_message(tmp_path):
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    src = write_coco(tmp_path / "pets", [(0, 1, [1, 1, 5, 5])])
    holder = _hold_lock(ws, 30)
    try:
        r = cli("add", src, "-w", ws, "--lock-timeout", "0.5")
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 1
    assert "another visionflow process is writing to this workspace (pid" in r.stderr
    assert "test holder" in r.stderr and "gave up after 0.5 s (--lock-timeout)" in r.stderr
    with Workspace.open(ws) as w:
        assert w.sources() == []


def test_a_writer_waits_for_the_other_and_says_so(tmp_path):
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    src = write_coco(tmp_path / "pets", [(0, 1, [1, 1, 5, 5])])
    holder = _hold_lock(ws, 60)
    proc = spawn("add", src, "-w", ws)
    try:
        first = proc.stderr.readline()  # printed while it waits
        assert proc.poll() is None
    finally:
        holder.kill()
        holder.wait()
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    assert f"waiting for another visionflow process holding {ws / '.visionflow' / 'lock'}" in first
    assert "test holder" in first
    assert "pets: revision 1" in rest


def test_two_real_writers_on_one_workspace(tmp_path):
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    rng = np.random.default_rng(1)
    a = _variant(tmp_path / "a", 1, rng, "a", 100)
    b = _variant(tmp_path / "b", 2, rng, "b", 100)
    procs = [spawn("add", a, "--name", "a", "-w", ws), spawn("add", b, "--name", "b", "-w", ws)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    # two processes racing for one version name: exactly one wins, the other is told why
    procs = [spawn("version", "create", "--name", "v1", "-w", ws) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 1], outs
    assert any("version 'v1' already exists" in err for _, err in outs)
    with Workspace.open(ws) as w:
        assert sorted(s["name"] for s in w.sources()) == ["a", "b"]
        assert w.version("v1")["images"] == 200
        assert w.verify().ok


def test_env_is_importable():
    # the subprocess helpers run this checkout's code, not an installed copy
    r = subprocess.run([sys.executable, "-c", "import visionflow, sys; print(visionflow.__file__)"],
                       capture_output=True, text=True, env=env(), check=False)
    assert "src/visionflow" in r.stdout


pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fcntl and SIGKILL are POSIX")
