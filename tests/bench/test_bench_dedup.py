"""bench/bench_dedup.py's measuring parts: pair scoring, the pairwise-SSIM baseline on a small
generated set, the process-tree memory peak, the growth fit."""

from __future__ import annotations

import sys
import textwrap

import pytest

from .test_gen_near_dups import _module

gen = _module("gen_near_dups")
bench = _module("bench_dedup")


def test_score_counts_pairs_inside_groups():
    truth = [["images/train/a.jpg", "images/val/b.jpg", "images/train/c.jpg"], ["d.jpg", "e.jpg"]]
    assert bench.score(truth, truth) == {"found_pairs": 4, "planted_pairs": 4, "true_pairs": 4,
                                         "largest_group": 3, "precision": 1.0, "recall": 1.0}
    found = [["a.jpg", "b.jpg"], ["d.jpg", "x.jpg"]]      # one right, one wrong, 3 missed
    s = bench.score(found, truth)
    assert (s["true_pairs"], s["precision"], s["recall"]) == (1, 0.5, 0.25)
    assert bench.score([], truth)["recall"] == 0.0
    # a chained group: counted, not listed; its planted pairs still count as found
    chain = [[f"{k}.jpg" for k in range(20_000)] + ["a.jpg", "b.jpg"]]
    s = bench.score(chain, truth)
    assert s["found_pairs"] == 20_002 * 20_001 // 2 and s["true_pairs"] == 1
    assert s["largest_group"] == 20_002


def test_union_find_groups_transitively():
    names = list("abcdef")
    groups = bench._groups(6, [(0, 1), (1, 4), (2, 3)], names)
    assert sorted(sorted(g) for g in groups) == [["a", "b", "e"], ["c", "d"]]


def test_pairwise_ssim_finds_the_planted_pairs(tmp_path):
    src = tmp_path / "n40"
    doc = gen.generate(40, src, 5, dup_rate=0.2, size=(96, 72), workers=1, use_shared=False)
    r = bench.bench_ssim(src, doc, workers=2)
    assert r["images"] == 40 and r["pairs"] == 40 * 39 // 2
    at = r["by_threshold"]["0.6"]
    assert at["planted_pairs"] == sum(len(g) * (len(g) - 1) // 2 for g in doc["groups"])
    assert at["precision"] == 1.0 and at["recall"] >= 0.9
    # a stricter threshold never finds more pairs
    found = [r["by_threshold"][str(t)]["found_pairs"] for t in bench.SSIM_THRESHOLDS]
    assert found == sorted(found, reverse=True)


def test_peak_memory_is_the_process_tree_not_the_parent(tmp_path):
    """A child that starts a grandchild holding ~300 MB: the tree's peak sees it, the
    child's own high-water mark does not."""
    script = tmp_path / "tree.py"
    script.write_text(textwrap.dedent(f"""
        import subprocess, sys
        code = "b = bytearray(300 * 2**20); import time; time.sleep(0.6)"
        subprocess.run([{sys.executable!r}, "-c", code], check=True)
        print("done")
    """))
    r = bench.run_measured([sys.executable, str(script)], tmp_path / "out.txt")
    assert r["rc"] == 0 and (tmp_path / "out.txt").read_text() == "done\n"
    assert r["processes"] == 2
    assert 300 <= r["peak_process_hwm_mb"] < 400
    assert r["peak_tree_rss_mb"] >= 300 + 5     # the grandchild plus its parent


def test_power_fit_recovers_the_exponent():
    f = bench.fit_power([1000, 2000, 5000], [3e-6 * n ** 2 for n in (1000, 2000, 5000)])
    assert f["b"] == pytest.approx(2.0, abs=1e-3)
    assert f["a"] == pytest.approx(3e-6, rel=1e-3)
