"""The README's "Python API" example runs as written, on the real raccoon dataset."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import shared_path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.shared
def test_readme_python_api_example_runs(monkeypatch, tmp_path):
    pytest.importorskip("pandas")
    pytest.importorskip("supervision")
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    section = README[README.index("## Python API"):README.index("## Formats")]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(code) == 1
    monkeypatch.chdir(shared_path("raccoon", "annotations").parents[1])
    scope: dict = {}
    exec(compile(code[0], "README.md#python-api", "exec"), scope)
    assert len(scope["ds"]) == 200 and scope["first"].file_name == "raccoon-1.jpg"
    assert len(scope["subset"]) == 50 and len(scope["sv_ds"]) == 200
    assert list(scope["hf_ds"]) == ["train"] and len(scope["df"]) == 217
