"""`visionflow distill` from the command line: a short run writes the ONNX student, its
sidecar and the report (--json), and mistakes are one line with exit status 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import torch  # noqa: E402

from visionflow.cli.main import app  # noqa: E402

from .distill_data import squares  # noqa: E402

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def teacher(tmp_path):
    ds = squares(tmp_path / "images", n_train=8, n_val=4, size=64)
    ds.export(tmp_path / "teacher", format="visionflow")
    return tmp_path / "teacher"


def _one_line_error(result, *needles):
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert "\n" not in text and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text


def test_distill_writes_student_sidecar_and_report(tmp_path, teacher):
    out = tmp_path / "run"
    result = run("distill", teacher, out, "--epochs", "2", "--input-size", "64", "--batch",
                 "4", "--backbone", "none", "--threads", "1", "--no-tflite", "--json",
                 "--gt", teacher)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [h["epoch"] for h in data["history"]] == [1, 2]
    assert "epoch 2/2" in result.stderr and "s/step" in result.stderr
    assert (out / "student.onnx").is_file() and (out / "checkpoint.pt").is_file()
    side = json.loads((out / "student.json").read_text())
    assert side["outputs"] == "boxes_scores_labels" and side["input_size"] == [64, 64]
    ev = data["report"]["evaluation"]
    assert set(ev) >= {"student_vs_teacher", "student_vs_human", "teacher_vs_human"}
    # the teacher's labels are the human labels here: the teacher scores perfectly
    assert ev["teacher_vs_human"]["AP50"] == pytest.approx(1.0)
    assert "student vs human labels" in (out / "report.md").read_text()
    # a second run into the same folder needs --resume or --overwrite
    _one_line_error(run("distill", teacher, out, "--epochs", "1", "--backbone", "none",
                        "--input-size", "64"), str(out))


def test_distill_errors_are_one_line(tmp_path, teacher):
    _one_line_error(run("distill", teacher, tmp_path / "a", "--resume", "--backbone", "none"),
                    "nothing to resume")
    _one_line_error(run("distill", teacher, tmp_path / "b", "--input-size", "50",
                        "--backbone", "none"), "multiple of 32")
    _one_line_error(run("distill", teacher, tmp_path / "c", "--backbone",
                        tmp_path / "missing"), "not pulled")
    _one_line_error(run("distill", tmp_path / "nowhere", tmp_path / "d"), "nowhere")
    flat = tmp_path / "flat"
    ds = squares(tmp_path / "img2", n_train=3, n_val=0, size=64)
    ds.replace(images=ds.images.replace(split=np.full(len(ds), "", object))).export(
        flat, format="visionflow")
    _one_line_error(run("distill", flat, tmp_path / "e", "--backbone", "none"),
                    "no 'train' split")


def test_distill_reads_a_workspace_version(tmp_path, teacher):
    import visionflow as vf
    ws = vf.Workspace.init(tmp_path / "ws")
    ws.add(teacher)
    ws.create_version("v1")
    ws.close()
    result = run("distill", "v1", tmp_path / "run", "-w", tmp_path / "ws", "--epochs", "1",
                 "--input-size", "64", "--batch", "4", "--backbone", "none", "--threads", "1",
                 "--no-tflite", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["report"]["source"] == "v1" and data["report"]["val_images"] == 4
    _one_line_error(run("distill", "v9", tmp_path / "run2", "-w", tmp_path / "ws",
                        "--backbone", "none"), "v9")


def test_overwrite_keeps_the_old_run_until_the_new_one_is_complete(tmp_path, monkeypatch):
    """--overwrite never leaves OUT without a run: a failed new run puts the old one back."""
    import visionflow.models.distill as distill_pkg
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"old run")
    from visionflow.io.atomic import MARKER, MARKER_TEXT
    (out / MARKER).write_bytes(MARKER_TEXT)

    def boom(ds, human, out_dir, *a, **k):
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "checkpoint.pt").write_bytes(b"half a new run")
        raise KeyboardInterrupt

    monkeypatch.setattr(distill_pkg, "_run", boom)
    import visionflow.models.distill.train as train_mod
    monkeypatch.setattr(train_mod, "load_source", lambda src, ws: None)
    src = tmp_path / "src"
    src.mkdir()
    import pytest
    with pytest.raises(KeyboardInterrupt):
        distill_pkg.distill(src, out, overwrite=True, backbone="none")
    assert (out / "checkpoint.pt").read_bytes() == b"old run"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run")] == []
