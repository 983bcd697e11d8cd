"""SAM click-to-segment in the browser: the app started with a tiny random SAM (tests/models/
tiny_sam.py, built here), a positive click runs the exported prompt decoder with
onnxruntime-web (wasm from the app's own assets) on the server's embedding, and the polygon it
shows is the mask the Python path (`SamSegmenter.segment_embedding`) gives for the same click;
Enter adds it as an object."""

from __future__ import annotations

import numpy as np
import pytest

from ...conftest import shared_path
from .test_edit_flow import at, n_objects

pytestmark = pytest.mark.shared

CLICK = (300.0, 250.0)


def _largest_filled(mask: np.ndarray) -> np.ndarray:
    """The mask's largest 4-connected component with its holes filled (what the browser
    outlines)."""
    from scipy import ndimage
    lab, n = ndimage.label(mask)
    assert n > 0, "the Python path gives an empty mask for the click"
    sizes = np.bincount(lab.ravel())[1:]
    return ndimage.binary_fill_holes(lab == 1 + int(np.argmax(sizes)))


def test_sam_click_gives_the_python_mask_as_polygon(page, start_server, raccoon_workspace,
                                                    tmp_path, shots):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tests.models.tiny_sam import build_tiny_sam
    from visionflow.models.masks import polygons_to_mask
    from visionflow.models.sam import load_sam

    folder = build_tiny_sam(tmp_path / "tiny-sam")
    server = start_server(raccoon_workspace, "--sam", str(folder))
    assert server.meta["sam"]["configured"]
    page.goto(server.url + "/#/image/0")
    page.wait_for_function("() => document.querySelector('.stage img')?.complete")
    assert page.inner_text(".toolbar .file") == "raccoon-1.jpg"
    page.click("[data-tool=sam]")
    page.wait_for_function("() => document.querySelector('[data-testid=sam-panel]')"
                           "?.textContent.includes('click: add')", timeout=60000)
    page.mouse.click(*at(page, *CLICK))
    page.wait_for_selector("[data-testid=sam-polygon]", timeout=30000)
    panel = page.inner_text("[data-testid=sam-panel]")
    assert "mask in" in panel, panel
    points = page.get_attribute("[data-testid=sam-polygon]", "points")
    xy = np.array([float(v) for v in points.split()]).reshape(-1, 2)
    assert len(xy) >= 3
    page.screenshot(path=str(shots / "sam.png"))

    model = load_sam(folder)
    emb = model.embed_file(shared_path("raccoon", "images", "raccoon-1.jpg"))
    want = _largest_filled(model.segment_embedding(emb, points=np.array([CLICK]),
                                                   labels=np.array([1])))
    h, w = want.shape
    got = polygons_to_mask([xy], w, h)
    iou = (got & want).sum() / (got | want).sum()
    # the browser thresholds at the model's input resolution (64 px here: 10 image px a
    # step), the Python path at the image's: the outlines agree up to that step
    assert iou > 0.85, iou

    page.keyboard.press("Enter")
    assert n_objects(page) == 2
    assert page.locator("[data-testid=overlay] g.obj polygon").count() == 1
