"""The evaluation report: one offline file with curves, matrix, table and two-colour galleries."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tests.evaluation.test_mistakes import planted  # noqa: F401 (fixture)
from visionflow.cli.main import app
from visionflow.evaluation.report_html import GT_COLOR, PRED_COLOR

runner = CliRunner()


def test_report_is_offline_and_complete(planted, tmp_path):  # noqa: F811
    gp, rp = planted
    out = tmp_path / "eval.html"
    r = runner.invoke(app, ["evaluate", str(gp), str(rp), "--report", str(out),
                            "--confidence", "0.5"])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)     # nothing fetched
    assert "<script" not in text
    assert text.count("<svg") == 2                                   # a PR curve per class
    assert "Confusion matrix" in text and "background" in text
    for title in ("Confident false positives", "Class confusions", "Missed objects",
                  "Loose boxes", "Hardest images"):
        assert title in text
    # the class-confusion picture (img0) holds both colours
    pics = re.findall(r"alt='img0.jpg' src='data:image/jpeg;base64,([^']+)'", text)
    assert pics
    im = np.asarray(Image.open(io.BytesIO(base64.b64decode(pics[0]))).convert("RGB"), int)

    def near(c):
        return (np.abs(im - np.array(c)).sum(axis=2) < 90).sum()
    assert near(GT_COLOR) > 20 and near(PRED_COLOR) > 20


def test_report_refused_inside_source(planted):  # noqa: F811
    gp, rp = planted
    r = runner.invoke(app, ["evaluate", str(gp), str(rp), "--report", str(gp.parent / "x.html")])
    assert r.exit_code == 1 and not (gp.parent / "x.html").exists()


def test_voc_report(planted, tmp_path):  # noqa: F811
    gp, rp = planted
    out = tmp_path / "voc.html"
    r = runner.invoke(app, ["evaluate", str(gp), str(rp), "--metric", "voc", "--report", str(out)])
    assert r.exit_code == 0, r.output
    assert "mAP" in out.read_text()
