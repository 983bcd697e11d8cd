"""bench/bench_autolabel.py runs end to end (on a tiny exported detector and four images) and
records what the lead reads: raw session time, phases, end-to-end time, their ratio, AP50."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from . import tiny_detectors as tiny  # noqa: E402
from .test_autolabel import make_source  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_autolabel.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_autolabel", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_records_raw_and_end_to_end_times(tmp_path, capsys):
    src = make_source(tmp_path)
    model = tiny.exported(tmp_path / "m.onnx", [[0.1, 0.1, 0.6, 0.6]], [0], ["bear"],
                          size=(32, 32))
    out = tmp_path / "autolabel.json"
    assert _bench().main(["--model", str(model), "--src", str(src), "--classes",
                          "raccoon=bear", "--results", str(out), "--chunk", "3"]) == 0
    rec = json.loads(out.read_text())
    assert rec["images"] == 4 and rec["raw_session_s"] > 0 and rec["end_to_end_s"] > 0
    assert rec["end_to_end_vs_raw"] == pytest.approx(rec["raw_session_s"] / rec["end_to_end_s"],
                                                     abs=2e-3)
    assert 0.0 <= rec["ap50_vs_human_labels"] <= 1.0


def test_bench_skips_cleanly_without_data_or_model(tmp_path, capsys):
    bench = _bench()
    assert bench.main(["--src", str(tmp_path / "absent"), "--results",
                       str(tmp_path / "r.json")]) == 0
    assert "skipped" in capsys.readouterr().err
    src = make_source(tmp_path)
    assert bench.main(["--model", "centernett", "--src", str(src), "--results",
                       str(tmp_path / "r.json")]) == 0
    assert "skipped" in capsys.readouterr().err and not (tmp_path / "r.json").exists()
