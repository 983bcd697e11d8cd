"""`visionflow autolabel` and `visionflow predict` from the command line, with an exported
detector (the generic ONNX contract) built in the test: output, --json, workspace prediction
sets, and one-line errors with exit 1 and nothing half-written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import visionflow as vf  # noqa: E402
from visionflow.cli.main import app  # noqa: E402

from ..conftest import tree_snapshot  # noqa: E402
from . import tiny_detectors as tiny  # noqa: E402
from .test_autolabel import make_source  # noqa: E402

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def student(tmp_path):
    """An exported detector: bear (score from the red channel) and person (0.9)."""
    return tiny.exported(tmp_path / "student.onnx", [[0.25, 0.25, 0.75, 0.75],
                                                     [0.0, 0.0, 0.1, 0.1]],
                         [0, 1], ["bear", "person"], size=(32, 32))


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert text.startswith("error: ") and len(text.splitlines()) == 1, text
    assert "Traceback" not in result.output
    for n in needles:
        assert n in text, text


def test_autolabel_cli_writes_and_reports(tmp_path, student):
    src = make_source(tmp_path)
    before = tree_snapshot(src)
    result = run("autolabel", src, tmp_path / "out", "--model", student, "--classes",
                 "raccoon=bear", "--threshold", "0.5", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["objects"] == 3 and data["per_class"] == {"raccoon": 3}
    assert data["written"]["format"] == "coco" and data["images_per_second"] > 0
    assert "found 3 objects" in result.stderr and "images/s" in result.stderr
    out = vf.load(tmp_path / "out")
    assert (~np.isnan(out.annotations.score)).sum() == 3
    assert tree_snapshot(src) == before


def test_predict_cli_then_evaluate(tmp_path, student):
    src = make_source(tmp_path)
    result = run("predict", student, src, tmp_path / "preds", "--classes", "raccoon=bear")
    assert result.exit_code == 0, result.output
    ev = run("evaluate", src, tmp_path / "preds", "--json")
    assert ev.exit_code == 0, ev.output
    assert "AP50" in json.loads(ev.stdout)
    # the loop: the model's confident boxes where no raccoon is labelled are mistakes to review
    found = run("mistakes", src, tmp_path / "preds", "--json", "--out", tmp_path / "review",
                "--top", "2")
    assert found.exit_code == 0, found.output
    ranked = json.loads(found.stdout)
    assert ranked["images"] and ranked["images"][0]["missing_label"] >= 1
    assert len(vf.load(tmp_path / "review").images) == 2


def test_workspace_prediction_set_from_the_cli(tmp_path, student, monkeypatch):
    src = make_source(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert run("init", "ws").exit_code == 0
    ws = tmp_path / "ws"
    assert run("add", src, "--name", "raccoon", "-w", ws).exit_code == 0
    assert run("version", "create", "--name", "v1", "-w", ws).exit_code == 0
    result = run("autolabel", "v1", "-w", ws, "--model", student, "--classes", "raccoon=bear",
                 "--name", "student")
    assert result.exit_code == 0, result.output
    assert "prediction set 'student'" in result.stderr
    ev = run("evaluate", "v1", "student", "-w", ws, "--json")
    assert ev.exit_code == 0, ev.output


@pytest.mark.parametrize("args, needles", [
    (["--classes", "raccoon=baer"], ["did you mean 'bear'"]),
    (["--classes", "raccoon="], ["both sides"]),
    (["--threshold", "2"], ["threshold"]),
    (["--engine", "spark"], ["engine"]),
    (["--to", "nosuch"], ["nosuch"]),
])
def test_autolabel_cli_errors_are_one_line(tmp_path, student, args, needles):
    src = make_source(tmp_path)
    result = run("autolabel", src, tmp_path / "out", "--model", student, *args)
    _one_line_error(result, *needles)
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_missing_model_file_and_sidecar_are_one_line(tmp_path, student):
    src = make_source(tmp_path)
    _one_line_error(run("autolabel", src, tmp_path / "o", "--model", tmp_path / "absent.onnx"),
                    "no such ONNX model file")
    student.with_suffix(".json").unlink()
    _one_line_error(run("predict", student, src, tmp_path / "o"), "no sidecar student.json")


def test_help_has_examples():
    for cmd in ("autolabel", "predict"):
        result = run(cmd, "--help")
        assert result.exit_code == 0 and "Examples" in result.output
