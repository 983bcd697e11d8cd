"""No predictions, no ground truth, one side empty per class: numbers as COCOeval gives them,
every command finishes, and per-class precision / recall / F1 are what the counts say."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.evaluation import cocogen
from tests.evaluation.test_mistakes import planted  # noqa: F401 (fixture)
from visionflow.cli.main import app
from visionflow.evaluation.run import evaluate

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("empty", ["predictions", "ground truth", "both"])
def test_empty_sides_equal_cocoeval_and_every_command_runs(tmp_path, empty):
    gt, res = cocogen.generate(3, n_images=6)
    if empty in ("predictions", "both"):
        res = []
    if empty in ("ground truth", "both"):
        gt["annotations"] = []
    gp, rp = cocogen.write(tmp_path / "d", gt, res)
    r = run("evaluate", gp, rp, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    if res:                                   # pycocotools cannot load an empty results file
        E = cocogen.pycocotools_eval(gp, rp)
        assert [out[k] for k in ("AP", "AP50", "AR100")] == pytest.approx(
            [E.stats[0], E.stats[1], E.stats[8]], abs=1e-12)
    else:
        assert out["AP"] == (0.0 if gt["annotations"] else -1.0)
    for extra in (["--metric", "voc", "--json"], ["--report", tmp_path / "r.html"]):
        assert run("evaluate", gp, rp, *extra).exit_code == 0
    assert run("mistakes", gp, rp, "--json").exit_code == 0


def test_class_table_counts(planted):  # noqa: F811
    """cat: 3 objects; predictions at >= 0.5: img1 (FP, 0.95), img2 (TP, 0.8) -> P 1/2, R 1/3.
    dog: 1 object; the dog on the cat (FP 0.9), the perfect dog (TP 0.99), a spurious dog
    (FP 0.1, below the confidence) -> P 1/2, R 1; best F1 at 0.99: P 1, R 1."""
    gp, rp = planted
    ev = evaluate(gp, rp, iou="0.5", confidence=0.5)
    cat, dog = ev.classes["cat"], ev.classes["dog"]
    assert (cat["objects"], cat["predictions"]) == (3, 2)
    assert (cat["precision"], cat["recall"]) == pytest.approx((1 / 2, 1 / 3))
    assert cat["f1"] == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))
    assert (dog["objects"], dog["predictions"]) == (1, 3)
    assert (dog["precision"], dog["recall"]) == pytest.approx((1 / 2, 1.0))
    assert (dog["best_f1"], dog["best_f1_confidence"]) == pytest.approx((1.0, 0.99))
    # cat: at 0.95 F1 is 0 (one FP); at 0.8 it is 0.4: the best is the lowest score
    assert cat["best_f1_confidence"] == pytest.approx(0.8)
    m = ev.confusion.matrix
    # rows cat, dog, background; columns the same
    np.testing.assert_array_equal(m, [[1, 1, 1], [0, 1, 0], [1, 0, 0]])
