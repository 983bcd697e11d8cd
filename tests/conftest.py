"""Shared fixtures. Real datasets live in ../shared/datasets beside the checkout; tests that need
them skip with a clear reason when it is absent (never copy them into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("VISIONFLOW_SHARED", REPO.parent / "shared" / "datasets"))


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory) -> None:
    """Files readers derive (images extracted from TFRecords) go to a temporary cache folder,
    never into the user's ~/.cache during tests."""
    if "VISIONFLOW_MODELS_DIR" not in os.environ:  # pulled models stay found (make models)
        from visionflow.models.base import models_dir
        os.environ["VISIONFLOW_MODELS_DIR"] = str(models_dir())
    if "VISIONFLOW_CACHE_DIR" not in os.environ:
        os.environ["VISIONFLOW_CACHE_DIR"] = str(tmp_path_factory.mktemp("visionflow-cache"))


@pytest.fixture
def shared() -> Path:
    """Root of ../shared/datasets, or skip."""
    if not SHARED.is_dir():
        pytest.skip(f"real datasets not available: {SHARED} is absent")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path under ../shared/datasets, skipping the test when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"real dataset not available: {p} is absent")
    return p


def make_image(path: Path, size: tuple[int, int] = (64, 48), color=(120, 80, 40)) -> Path:
    """Write a small real image file (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((size[1], size[0], 3), np.uint8)
    arr[...] = color
    arr[: size[1] // 2, : size[0] // 2] = (250, 250, 250)
    Image.fromarray(arr).save(path)
    return path


def tree_snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of every file under root: proof that a source was not modified."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def pytest_addoption(parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/data/<format>/<case>/golden.json from what the readers "
                          "read now (tests/formats/test_golden.py); read the diff before "
                          "committing")
