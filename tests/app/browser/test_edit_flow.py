"""The web app in a real browser on the raccoon dataset: the grid and its filters (in the URL,
kept by back/forward/reload), the health page's finding links, the image view's keyboard, and
an edit (draw a box, draw a polygon, move a vertex, resize, create and change a class, undo and
redo) saved as a new revision whose COCO export differs from the previous revision by exactly
those changes. Also: two tabs saving over each other get a conflict, not a lost edit."""

from __future__ import annotations

import zipfile
from pathlib import Path

import orjson
import pytest

from .conftest import get_json

pytestmark = pytest.mark.shared

WHOLE = "raccoon-3.jpg"                # the one image with check's box.whole_image finding


def wait_total(page, n: int) -> None:
    page.wait_for_function(
        "n => document.querySelector('[data-testid=total]')?.textContent === "
        "`${n.toLocaleString()} image${n === 1 ? '' : 's'}`", arg=n, timeout=20000)


def thumbs_loaded(page) -> None:
    page.wait_for_function("() => [...document.querySelectorAll('.cell img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=20000)


def stage(page) -> tuple[float, float, float]:
    """(left, top, scale) of the image on screen: image pixel (x, y) is at
    (left + x * scale, top + y * scale)."""
    return tuple(page.evaluate("""() => {
        const r = document.querySelector('.stage').getBoundingClientRect();
        const w = document.querySelector('[data-testid=overlay]').width.baseVal.value;
        return [r.left, r.top, r.width / w]; }"""))


def at(page, x: float, y: float) -> tuple[float, float]:
    left, top, k = stage(page)
    return left + x * k, top + y * k


def drag(page, a: tuple[float, float], b: tuple[float, float]) -> None:
    page.mouse.move(*at(page, *a))
    page.mouse.down()
    page.mouse.move(*at(page, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2), steps=3)
    page.mouse.move(*at(page, *b), steps=3)
    page.mouse.up()


def n_objects(page) -> int:
    return page.locator("[data-testid=overlay] g.obj").count()


def coco_of(ws_path: Path, ref: str, dst: Path) -> dict:
    """The revision exported to COCO by the library (Workspace.export), as JSON."""
    from visionflow.versioning.workspace import Workspace
    with Workspace.open(ws_path) as ws:
        ws.export(ref, dst, "coco", images="link")
    files = sorted(dst.rglob("*.json"))
    assert len(files) == 1, files
    return orjson.loads(files[0].read_bytes())


def by_file(coco: dict) -> dict[str, list[tuple[str, list[float], list]]]:
    """file name -> sorted [(class name, bbox, segmentation)]."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"].rsplit("/", 1)[-1] for im in coco["images"]}
    out: dict[str, list] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        out[files[a["image_id"]]].append((names[a["category_id"]], a["bbox"],
                                          a.get("segmentation") or []))
    return {f: sorted(v, key=lambda t: (t[0], t[1])) for f, v in out.items()}


def test_filter_open_edit_save_and_export(page, start_server, raccoon_workspace, shots, tmp_path):
    server = start_server(raccoon_workspace)
    assert server.meta["revision"] == "raccoon@1"
    page.goto(server.url + "/")
    wait_total(page, 200)
    # the grid is virtualized: far fewer cells than images, thumbnails loaded
    page.wait_for_function("() => [...document.querySelectorAll('.cell img')]"
                           ".some(i => i.complete && i.naturalWidth > 0)")
    assert 0 < page.locator(".cell").count() < 200
    # every thumbnail in view drawn (made on demand by the server) before the screenshot
    page.wait_for_function("() => [...document.querySelectorAll('.cell img')]"
                           ".filter(i => i.getBoundingClientRect().top < innerHeight)"
                           ".every(i => i.complete && i.naturalWidth > 0)", timeout=60_000)
    page.screenshot(path=str(shots / "grid.png"))

    # filter by class, then by a finding: counts follow, the URL keeps the filter
    page.click("input[data-facet=class][data-value=raccoon]")
    page.wait_for_url("**class=raccoon**")
    wait_total(page, 200)
    page.click("button[data-without=raccoon]")
    wait_total(page, 0)
    page.click("button[data-without=raccoon]")
    wait_total(page, 200)
    page.click("input[data-facet=finding][data-value='box.whole_image']")
    page.wait_for_url("**finding=box.whole_image**")
    wait_total(page, 1)
    page.wait_for_function("() => document.querySelector('.facet-head b')?.textContent === '1'")
    thumbs_loaded(page)
    page.screenshot(path=str(shots / "grid-filtered.png"))
    page.go_back()
    wait_total(page, 200)
    assert "finding=" not in page.url and "class=raccoon" in page.url
    page.go_forward()
    wait_total(page, 1)
    page.reload()
    wait_total(page, 1)
    assert page.is_checked("input[data-facet=finding][data-value='box.whole_image']")
    assert page.is_checked("input[data-facet=class][data-value=raccoon]")

    # the health page lists the finding; its link is the grid filtered by it
    page.click("a[data-page=health]")
    page.wait_for_selector("[data-testid=findings]")
    page.screenshot(path=str(shots / "health.png"))
    page.click("a[data-finding='box.whole_image']")
    page.wait_for_url("**#/grid?finding=box.whole_image")
    wait_total(page, 1)

    # open the image
    page.click(".cell")
    page.wait_for_url("**#/image/*")
    page.wait_for_function("() => document.querySelector('.stage img')?.complete")
    assert page.inner_text(".toolbar .file") == WHOLE
    assert n_objects(page) == 1
    page.keyboard.press("h")
    assert n_objects(page) == 0
    page.keyboard.press("h")
    assert n_objects(page) == 1
    # no SAM model configured: the SAM button says how to add one
    page.click("[data-tool=sam]")
    assert "--sam" in page.inner_text("[data-testid=sam-hint]")

    # draw a box, undo and redo it, resize it by its corner
    page.click("[data-tool=box]")
    drag(page, (50, 60), (200, 180))
    assert n_objects(page) == 2
    page.keyboard.press("Control+z")
    assert n_objects(page) == 1
    page.keyboard.press("Control+Shift+z")
    assert n_objects(page) == 2
    page.click("[data-tool=select]")
    page.mouse.click(*at(page, 120, 120))                      # select the new box
    drag(page, (200, 180), (230, 200))                          # its bottom-right handle
    # draw a polygon (Enter closes it) and move one of its vertices
    page.click("[data-tool=polygon]")
    for x, y in [(300, 100), (400, 120), (380, 250), (290, 220)]:
        page.mouse.click(*at(page, x, y))
    page.keyboard.press("Enter")
    assert n_objects(page) == 3
    page.click("[data-tool=select]")
    drag(page, (380, 250), (390, 262))                          # the selected polygon's vertex
    # a new class, given to the polygon (selected) and to the original whole-image box
    page.fill("[data-testid=new-class]", "raccoon-cub")
    page.keyboard.press("Enter")
    page.mouse.click(*at(page, 650, 420))                       # inside the original box only
    page.select_option("[data-testid=class-select]", label="raccoon-cub")
    page.screenshot(path=str(shots / "image-edited.png"))
    _, _, k = stage(page)

    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=notice], [data-testid=save-error]")
    assert not page.locator("[data-testid=save-error]").count(), \
        page.inner_text("[data-testid=save-error]")
    assert "raccoon@2" in page.inner_text("[data-testid=notice]")
    page.wait_for_function("() => document.querySelector('[data-testid=revision]')"
                           "?.textContent === 'raccoon@2'")
    assert page.is_disabled("[data-testid=save]")

    # the new revision, exported to COCO, differs from revision 1 by exactly those changes
    before = by_file(coco_of(raccoon_workspace, "raccoon@1", tmp_path / "coco1"))
    after_coco = coco_of(raccoon_workspace, "raccoon@2", tmp_path / "coco2")
    after = by_file(after_coco)
    assert sorted(c["name"] for c in after_coco["categories"]) == ["raccoon", "raccoon-cub"]
    assert set(before) == set(after) and len(after) == 200
    assert {f: v for f, v in before.items() if f != WHOLE} == \
        {f: v for f, v in after.items() if f != WHOLE}
    tol = 1.0 / k + 0.02                                        # one screen pixel
    (orig_cls, orig_box, _), = before[WHOLE]
    objs = after[WHOLE]
    assert len(objs) == 3, objs
    boxes = [o for o in objs if not o[2]]
    polys = [o for o in objs if o[2]]
    assert len(polys) == 1 and len(boxes) == 2
    orig = [o for o in boxes if o[1] == orig_box]
    assert len(orig) == 1 and orig[0][0] == "raccoon-cub"       # same box, new class
    (new_cls, new_box, _), = [o for o in boxes if o[1] != orig_box]
    assert new_cls == "raccoon"
    assert new_box == pytest.approx([50, 60, 180, 140], abs=tol)
    cls, bbox, seg = polys[0]
    assert cls == "raccoon-cub"
    assert len(seg) == 1 and seg[0] == pytest.approx(
        [300, 100, 400, 120, 390, 262, 290, 220], abs=tol)
    assert bbox == pytest.approx([290, 100, 110, 162], abs=tol)

    # the export dialog: the CLI line, and the zip the server makes
    page.click(".export-btn")
    page.wait_for_selector("[data-testid=export]")
    page.select_option("[data-testid=export-format]", "coco")
    page.wait_for_function("() => document.querySelector('[data-testid=export-command]')"
                           "?.textContent.includes('coco')")
    command = page.inner_text("[data-testid=export-command]")
    assert command.startswith("visionflow ") and "raccoon@2" in command
    page.screenshot(path=str(shots / "export.png"))
    if page.is_checked("[data-testid=export] input[type=checkbox]"):
        page.uncheck("[data-testid=export] input[type=checkbox]")
    with page.expect_download(timeout=60000) as dl:
        page.click("[data-testid=export] button.primary")
    zpath = tmp_path / "export.zip"
    dl.value.save_as(zpath)
    with zipfile.ZipFile(zpath) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".json")]
        zipped = by_file(orjson.loads(z.read(name)))
    assert zipped == after


def test_two_tabs_conflict_keeps_the_edit(page, chromium_browser, start_server,
                                          raccoon_workspace, shots):
    server = start_server(raccoon_workspace)
    other = chromium_browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    try:
        # keyboard: arrows walk the images, Esc goes back to the grid
        page.goto(server.url + "/#/image/0?class=raccoon")
        page.wait_for_selector(".toolbar .file")
        page.keyboard.press("ArrowRight")
        page.wait_for_url("**#/image/1?class=raccoon")
        page.wait_for_selector(".toolbar .file")
        page.keyboard.press("ArrowLeft")
        page.wait_for_url("**#/image/0?class=raccoon")
        page.wait_for_selector(".toolbar .file")
        page.keyboard.press("t")                                  # t: the image's tag box
        assert page.evaluate("() => document.activeElement?.placeholder") == "add tag"
        page.keyboard.press("Escape")                             # leaves the tag box
        page.keyboard.press("Escape")                             # back to the grid
        page.wait_for_url("**#/grid?class=raccoon")
        for p in (page, other):
            p.goto(server.url + "/#/image/0")
            p.wait_for_function("() => document.querySelector('.stage img')?.complete")
            p.click("[data-tool=box]")
        drag(page, (20, 20), (120, 90))
        drag(other, (300, 200), (400, 300))
        page.click("[data-testid=save]")
        page.wait_for_selector("[data-testid=notice]")
        other.click("[data-testid=save]")
        other.wait_for_selector("[data-testid=save-error]")
        msg = other.inner_text("[data-testid=save-error]")
        assert "raccoon@2" in msg and "edits are kept" in msg
        assert n_objects(other) == 2                      # the unsaved box is still there
        assert not other.is_disabled("[data-testid=save]")
        other.screenshot(path=str(shots / "conflict.png"))
    finally:
        other.context.close()
    assert get_json(server.url + "/api/meta")["revision"] == "raccoon@2"
    detail = get_json(server.url + "/api/images/0")
    assert len(detail["objects"]) == 2                    # the first tab's save, nothing else


def test_folder_is_read_only_until_a_workspace_is_made(page, start_server, tmp_path, shots):
    from ...conftest import shared_path, tree_snapshot
    folder = shared_path("raccoon")
    before = tree_snapshot(folder)
    server = start_server(folder)
    assert server.meta["read_only"] and server.meta["kind"] == "folder"
    page.goto(server.url + "/#/image/0")
    page.wait_for_function("() => document.querySelector('.stage img')?.complete")
    file_name = page.inner_text(".toolbar .file")
    page.click("[data-tool=box]")
    drag(page, (20, 20), (120, 90))
    page.click("[data-testid=save]")
    page.wait_for_selector("[data-testid=create-workspace]")
    ws = tmp_path / "made-ws"
    page.fill("[data-testid=create-workspace] input", str(ws))
    page.click("[data-testid=create-workspace] button.primary")
    page.wait_for_selector("[data-testid=notice]")
    page.wait_for_function("() => !document.querySelector('.badge')")   # no longer read-only
    page.wait_for_function("() => document.querySelectorAll('[data-testid=overlay] g.obj')"
                           ".length === 2")                             # the edit is kept
    assert page.inner_text(".toolbar .file") == file_name               # on the same image
    page.click("[data-testid=save]")
    page.wait_for_function("() => document.querySelector('[data-testid=save-error]') || "
                           "document.querySelector('[data-testid=notice]')"
                           "?.textContent.includes('@2')", timeout=30000)
    page.screenshot(path=str(shots / "folder-saved.png"))
    assert not page.locator("[data-testid=save-error]").count(), \
        page.inner_text("[data-testid=save-error]")
    meta = get_json(server.url + "/api/meta")
    assert meta["kind"] == "workspace" and meta["revision"].endswith("@2")
    detail = get_json(server.url + "/api/images/0")
    assert detail["file"] == file_name and len(detail["objects"]) == 2
    assert tree_snapshot(folder) == before                              # the source untouched
