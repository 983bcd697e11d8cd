"""bench/gen_near_dups.py: the planted near-duplicates are what the ground truth says, distinct
images are far apart, and everything is reproducible from the seed."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]


def _module(name: str):
    """bench/<name>.py as module `name`, loaded once (worker processes unpickle its
    functions by that name, so there must be one such module)."""
    if name in sys.modules and getattr(sys.modules[name], "__file__", "") == str(
            REPO / "bench" / f"{name}.py"):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod          # worker processes unpickle its functions by name
    spec.loader.exec_module(mod)
    return mod


gen = _module("gen_near_dups")
N, SEED = 48, 7


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("nd") / "ds"
    doc = gen.generate(N, out, SEED, dup_rate=0.25, size=(96, 72), workers=2, use_shared=False)
    return out, doc


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L"), np.float64)


def test_counts_layout_and_truth_beside_the_dataset(made):
    out, doc = made
    images = sorted(out.glob("images/*/*.jpg"))
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(images) == len(labels) == N
    assert doc["duplicates"] == round(N * 0.25) and doc["distinct"] == N - doc["duplicates"]
    truth = json.loads(out.with_name("ds.truth.json").read_text())
    assert truth["groups"] == doc["groups"]
    assert not list(out.glob("*.json"))            # never inside the dataset
    members = [p for g in doc["groups"] for p in g]
    assert len(members) == len(set(members))       # a file is in at most one group
    assert sum(len(g) - 1 for g in doc["groups"]) == doc["duplicates"]
    assert any(len(g) == 3 for g in doc["groups"]) and all(2 <= len(g) <= 3
                                                           for g in doc["groups"])
    assert all((out / p).is_file() for p in members)
    assert set(truth["edits"]) == {Path(p).name for g in doc["groups"] for p in g[1:]}


def test_visionflow_reads_it_with_every_box(made):
    import visionflow as vf
    out, _ = made
    ds = vf.load(out)
    assert len(ds.images) == N
    lines = sum(len(p.read_text().splitlines()) for p in out.glob("labels/*/*.txt"))
    assert len(ds.annotations) == lines > N * 3


def test_planted_duplicates_are_their_original_edited(made):
    """Undo each edit (crop the original by the recorded box, resize to the copy's size): the
    copy matches its original within JPEG noise, and matches no other original."""
    out, doc = made
    originals = [g[0] for g in doc["groups"]]
    for g in doc["groups"]:
        a = Image.open(out / g[0]).convert("L")
        for p in g[1:]:
            e = doc["edits"][Path(p).name]
            b = _grey(out / p)
            l, t, r, btm = e.get("crop", [0, 0, 0, 0])
            w, h = a.size
            crop = a.crop((round(l * w), round(t * h), w - round(r * w), h - round(btm * h)))
            if "resize" in e:
                assert b.shape[1] == max(8, round(crop.width * e["resize"][0]))
            else:
                assert b.shape[::-1] == crop.size
            undone = np.asarray(crop.resize(b.shape[::-1], Image.Resampling.LANCZOS), np.float64)
            undone = undone * e.get("brightness", 1.0)
            err = np.abs(np.clip(undone, 0, 255) - b).mean()
            assert err < 10, (p, err)
            others = [np.abs(np.asarray(Image.open(out / o).convert("L").resize(
                b.shape[::-1]), np.float64) - b).mean() for o in originals if o != g[0]]
            assert min(others) > 2 * err + 10, (p, min(others), err)
            assert 1 <= len([k for k in ("resize", "crop", "brightness") if k in e])
            assert e["quality"] != gen.ORIGINAL_QUALITY


def test_copies_keep_at_most_their_originals_boxes(made):
    out, doc = made
    def boxes(p: str) -> np.ndarray:
        lab = out / p.replace("images/", "labels/", 1).replace(".jpg", ".txt")
        return np.loadtxt(lab, ndmin=2)
    for g in doc["groups"]:
        n0 = len(boxes(g[0]))
        for p in g[1:]:
            b = boxes(p)
            assert 1 <= len(b) <= n0
            assert ((b[:, 1:] > 0) & (b[:, 1:] <= 1)).all()


def test_distinct_images_are_far_apart_planted_pairs_close(made):
    out, doc = made
    v = gen.distance_histograms(out, doc)
    assert v["distinct_images"] == doc["distinct"]
    assert v["planted_pairs"] == doc["duplicates"]
    planted = np.repeat(np.arange(65), v["planted_hist"])
    # 64-bit pHash: distinct real-photo mosaics sit ~32 bits apart, far from their copies
    assert v["distinct_min"] >= 14
    assert np.median(planted) <= 6 and v["distinct_min"] > np.percentile(planted, 75)


def test_reproducible_from_the_seed(made, tmp_path):
    out, doc = made
    again = tmp_path / "again"
    doc2 = gen.generate(N, again, SEED, dup_rate=0.25, size=(96, 72), workers=1,
                        use_shared=False)
    assert _digest(again) == _digest(out)
    assert doc2["groups"] == doc["groups"] and doc2["edits"] == doc["edits"]
    other = gen.generate(N, tmp_path / "other", SEED + 1, dup_rate=0.25, size=(96, 72),
                         workers=1, use_shared=False)
    assert other["groups"] != doc["groups"]
    assert _digest(tmp_path / "other") != _digest(out)


def test_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not empty"):
        gen.generate(4, tmp_path, 0, use_shared=False)
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_plan_is_scattered_and_sized():
    orig, split = gen.plan(10_000, 3, 0.1)
    dups = np.flatnonzero(orig >= 0)
    assert len(dups) == 1000
    assert (orig[orig[dups]] == -1).all()          # an original is never itself a copy
    counts = np.bincount(orig[dups])
    assert counts.max() == 2 and 0.1 < (counts == 2).sum() / (counts > 0).sum() < 0.2
    assert 0.05 < split.mean() < 0.15
    assert np.abs(np.diff(dups)).min() >= 1 and np.corrcoef(dups, orig[dups])[0, 1] < 0.1
