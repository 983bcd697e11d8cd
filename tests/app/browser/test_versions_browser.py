"""The versions page in a real browser: the generate-version wizard (split -> preprocess ->
augment) previews augmented samples and the output count, and creates a version equal to the
one `visionflow version create` makes from the same recipe and seed; the diff view compares
them; the classes page lists the class counts and renames a class into a new revision."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import get_json

pytestmark = pytest.mark.shared


def test_wizard_version_equals_the_cli_version(page, start_server, raccoon_workspace,
                                               tmp_path, shots):
    server = start_server(raccoon_workspace)
    page.goto(server.url + "/#/classes")
    page.wait_for_selector("[data-testid=classes] tr[data-class=raccoon]")
    assert "217" in page.inner_text("[data-testid=classes] tr[data-class=raccoon]")
    # rename the class: a new revision of the source
    page.fill("[data-testid=classes] tr[data-class=raccoon] input", "procyon")
    page.click(".classes-page button.primary")
    page.wait_for_selector("[data-testid=classes] tr[data-class=procyon]")
    assert "217" in page.inner_text("[data-testid=classes] tr[data-class=procyon]")
    assert page.inner_text("[data-testid=revision]") == "raccoon@2"
    page.screenshot(path=str(shots / "classes.png"))

    page.click("a[data-page=versions]")
    page.click("[data-testid=new-version]")
    page.wait_for_selector("[data-testid=wizard]")
    page.click("text=next")                                   # split: keep the splits
    page.fill("[data-testid=w-size]", "256")                  # preprocess: letterbox to 256
    page.click("text=next")
    page.fill("[data-testid=w-copies]", "1")                  # augment: one copy per image
    page.click("text=next")
    page.fill("[data-testid=w-name]", "wizard")
    page.fill("[data-testid=w-seed]", "7")
    # the live preview: samples drawn by the server and the number of output images
    page.wait_for_function("() => document.querySelectorAll('.samples img').length > 0 && "
                           "document.querySelector('[data-testid=output-count]')", timeout=60000)
    count = int(page.inner_text("[data-testid=output-count]").split()[0].replace(",", ""))
    assert count == 200                    # one augmented copy per image (keep_original: false)
    page.click("details.yaml summary")
    recipe = page.input_value("[data-testid=w-recipe]")
    assert "resize: {size: [256, 256], mode: letterbox}" in recipe and "copies: 1" in recipe
    page.screenshot(path=str(shots / "wizard.png"))
    page.click("[data-testid=w-create]")
    page.wait_for_selector("[data-testid=versions] tr[data-version=wizard]", timeout=300000)

    # the CLI, same recipe and seed
    (tmp_path / "recipe.yaml").write_text(recipe)
    run = subprocess.run([sys.executable, "-m", "visionflow", "version", "create", "--name",
                          "cli", "--recipe", str(tmp_path / "recipe.yaml"), "--seed", "7",
                          "--workspace", str(raccoon_workspace)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    from visionflow.versioning.workspace import Workspace
    with Workspace.open(raccoon_workspace) as ws:
        a, b = ws.version("wizard"), ws.version("cli")
        assert a["images"] == b["images"] == count
        assert a["lineage"]["fingerprint"] == b["lineage"]["fingerprint"]
        assert ws.diff("wizard", "cli").is_empty

    # the diff view between the source revision and the new version
    page.reload()
    page.wait_for_selector("[data-testid=versions] tr[data-version=cli]")
    page.select_option("[data-testid=diff] select >> nth=0", "raccoon@2")
    page.select_option("[data-testid=diff] select >> nth=1", "wizard")
    page.click("[data-testid=diff] button")
    page.wait_for_selector("[data-testid=diff] .difflist")
    assert "+200" in page.inner_text("[data-testid=diff]")
    page.screenshot(path=str(shots / "versions.png"))
    assert len(get_json(server.url + "/api/versions")["versions"]) == 2
