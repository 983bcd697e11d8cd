"""TF Lite export of the student (float32 and int8) through Keras + TensorFlow's converter:
the float model's detections equal torch's; the int8 model's scores stay close. Skipped when
TensorFlow is not installed (it is in the `dev` extra)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

import torch  # noqa: E402

from visionflow.models.distill.export import export_tflite  # noqa: E402
from visionflow.models.distill.student import build_student  # noqa: E402


def test_tflite_float_equals_torch_and_int8_stays_close(tmp_path):
    torch.manual_seed(0)
    model = build_student(2, backbone=None, width=0.35).eval()
    with torch.no_grad():                 # scores spread over 0..1, not all near 0.01
        model.heat[-1].bias.zero_()
    images = (np.random.default_rng(0).random((4, 64, 64, 3)) * 255).astype(np.uint8)
    out = export_tflite(model, tmp_path, ["a", "b"], 64, images)
    assert "skipped" not in out, out
    assert (tmp_path / "student-float32.tflite").is_file()
    assert (tmp_path / "student-int8.tflite").stat().st_size < \
        (tmp_path / "student-float32.tflite").stat().st_size / 2
    f = out["check"]["float32"]
    assert f["compared"] > 0 and f["boxes"] < 1e-4 and f["scores"] < 1e-4, f
    assert f["labels_differ"] == 0
    q = out["check"]["int8"]
    assert q["compared"] > 0 and q["scores"] < 0.05, q
