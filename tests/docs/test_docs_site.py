"""The documentation site: `mkdocs build --strict` passes without a warning, loads nothing from
the network, documents every format, CLI command and recipe operation (generated from the live
registries), and every code example on its pages runs.

Examples run in order, per page, in a fresh folder holding the small generated datasets the
pages name (`data/`, `roboflow-export/`, `cvat-export/`, `results.json`): bash blocks through the
installed `visionflow` command, python blocks executed (one namespace per page), and a yaml block
with a `title="file"` written to that file first, as the page tells the reader to. Blocks in
`text` are shown, not run (installing packages, training with Ultralytics, an AGPL tool we never
depend on); any other language fails the test, so no example is skipped by accident.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from html import escape as html_escape
from html import unescape
from pathlib import Path

import numpy as np
import orjson
import pytest

import visionflow as vf
from tests.conftest import make_image, tree_snapshot

pytest.importorskip("mkdocs")
pytest.importorskip("material")

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
RUN = {"bash", "python"}
SHOWN = {"text"}
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.S | re.M)


def _gen():
    spec = importlib.util.spec_from_file_location("visionflow_docs_gen", DOCS / "gen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mkdocs(site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--clean",
                           "-f", str(REPO / "mkdocs.yml"), "-d", str(site)],
                          cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})  # a banner, not ours


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = _mkdocs(out)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    return out


def _text(html: str) -> str:
    """What a reader sees: tags dropped, entities decoded, whitespace folded."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def _html(site: Path, page: str) -> str:
    return (site / page / "index.html").read_text(encoding="utf-8")


def test_site_builds_strict_and_offline(site):
    assert (site / "index.html").is_file() and (site / "quickstart" / "index.html").is_file()
    external = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""",
                          re.I)
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not external.search(text), f"{page}: loads an asset from the network"
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, page
    for css in site.rglob("*.css"):
        assert "@import url(http" not in css.read_text(encoding="utf-8").replace('"', ""), css


def test_every_format_has_its_page(site):
    gen = _gen()
    for fmt in vf.formats():
        html = _html(site, f"formats/{fmt.name}")
        assert html_escape(fmt.description.split(" (")[0], quote=False) in html, fmt.name
        text = _text(html)
        first = gen.format_module_doc(fmt).split("\n")[0]  # layout and quirks, from the module
        assert first and " ".join(first.replace("`", "").split()) in text, fmt.name
        for option in (*fmt.read_options, *fmt.write_options):
            assert f"<code>{option.name}</code>" in html, (fmt.name, option.name)
            # the help as written: placeholders like <bndbox> survive, nothing is eaten
            assert " ".join(option.help.replace("`", "").split()) in text, (fmt.name, option.name)
        assert fmt.name in _html(site, "formats")
    coco = _html(site, "formats/coco")
    assert "Roboflow" in coco and "_annotations.coco.json" in coco  # quirks, from the docstring
    cvat = _html(site, "formats/cvat")
    assert "&lt;labels&gt;" in cvat  # placeholders in the prose survive as text


def test_every_cli_command_and_option_is_in_the_reference(site):
    html = _html(site, "reference/cli")
    text = _text(html)
    commands = _gen().cli_commands()
    names = {name for name, _, _ in commands}
    assert {"visionflow convert", "visionflow version create", "visionflow ops"} <= names
    for name, cmd, _ in commands:
        assert f"<code>{name}</code>" in html, f"{name} has no entry"
        for param in cmd.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("-"):
                    assert opt in text, f"{name} {opt} is not documented"
        if cmd.help:
            first = " ".join(cmd.help.split("\n\n")[0].split()[:6])
            assert first in text, \
                f"{name}: its help text is missing"


def test_every_recipe_op_is_in_the_reference(site):
    from visionflow.transforms.ops import OPS
    html = _html(site, "reference/ops")
    text = _text(html)
    for name, op in OPS.items():
        assert f"<code>{name}</code>" in html, f"recipe operation {name} has no entry"
        for p in op.params():
            assert f"<code>{p.name}</code>" in html, (name, p.name)
            assert " ".join(p.help.replace("`", "").split()) in text, (name, p.name)


def test_the_ops_pages_examples_are_recipes():
    import yaml

    from visionflow.transforms import OPS, Recipe
    blocks = [code for lang, _, code in _blocks(_gen().ops_page()) if lang == "yaml"]
    assert len(blocks) == len(OPS)
    for code in blocks:
        Recipe.load({"preprocess": yaml.safe_load(code)})  # a RecipeError fails the test


def test_python_api_reference_lists_every_export(site):
    html = _html(site, "reference/api")
    for name in [n for n in vf.__all__ if not n.startswith("__")] + ["torch"]:
        assert f"<code>vf.{name}</code>" in html, name
    assert "DetectionDataset" in html and "collate_fn" in html
    assert "Read a dataset in any known format" in html  # vf.load's docstring, rendered


def test_a_new_format_gets_a_page_without_editing_the_docs(monkeypatch):
    from visionflow.formats.base import Detection, Format, Option
    gen = _gen()
    extra = Format(name="acme-json", description="ACME labeller JSON", supports=frozenset(
        {"boxes"}), detect=lambda p: Detection("acme-json", 0.0),
        read_options=(Option("units", choices=("px", "mm"), help="coordinate units"),))
    real = vf.formats()
    monkeypatch.setattr(vf, "formats", lambda: [*real, extra])
    pages = gen.pages()
    assert set(pages) >= {f"formats/{f.name}.md" for f in real}
    page = pages["formats/acme-json.md"]
    assert "ACME labeller JSON" in page and "`units`" in page and "px \\| mm" in page
    assert "[`acme-json`](acme-json.md)" in pages["formats/index.md"]


# --- every example runs ----------------------------------------------------------------------

def _examples_dataset(root: Path) -> vf.Dataset:
    """Six photos-like images in train/val, two classes, boxes and polygons."""
    names, paths, splits = [], [], []
    for i in range(6):
        split = "train" if i < 4 else "val"
        name = f"img{i}.jpg"
        paths.append(str(make_image(root / "src" / split / name, (96, 72),
                                    color=(30 * i, 200 - 25 * i, 90))))
        names.append(name)
        splits.append(split)
    rows, cats, boxes, rings = [], [], [], []
    for i in range(6):
        for k in range(2):
            x, y = 6 + 30 * k + i, 8 + 20 * k
            rows.append(i)
            cats.append(1 + (i + k) % 2)
            boxes.append([x, y, x + 24, y + 30])
            rings.append([np.array([[x, y], [x + 24, y], [x + 24, y + 30], [x, y + 30]], float)]
                         if k == 0 else [])
    ann = vf.Annotations.from_objects(rows, cats, boxes, rings=rings)
    images = vf.Images.build(names, [96] * 6, [72] * 6, split=splits, path=paths)
    return vf.Dataset(images, ann, vf.Categories([vf.Category(1, "cat"), vf.Category(2, "dog")]))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("doc-fixtures")
    ds = _examples_dataset(root)
    vf.write(ds, root / "data", "coco")
    vf.write(ds, root / "roboflow-export", "coco", layout="roboflow")
    vf.write(ds, root / "cvat-export", "cvat")
    gt = vf.load(root / "data")
    ann = gt.annotations
    rng = np.random.default_rng(0)
    results = []
    for r in range(len(ann) - 1):  # the last object is missed
        x0, y0, x1, y1 = ann.xyxy[r] + rng.normal(0, 1.0, 4)
        results.append({"image_id": int(gt.images.id[ann.image_index[r]]),
                        "category_id": int(ann.category_id[r]),
                        "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                        "score": float(0.55 + 0.4 * rng.random())})
    results.append({"image_id": int(gt.images.id[0]), "category_id": 2,
                    "bbox": [60.0, 40.0, 20.0, 20.0], "score": 0.9})  # on nothing
    (root / "results.json").write_bytes(orjson.dumps(results))
    return root


def _pages() -> list[str]:
    """The written pages (the generated ones are never on disk: see docs/gen.py)."""
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md"))


def _blocks(text: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3)) for m in FENCE.finditer(text)]


def test_pages_have_examples_and_only_known_languages():
    pages = _pages()
    assert {"quickstart.md", "concepts.md", "how-to/pytorch.md"} <= set(pages)
    for page in pages:
        text = (DOCS / page).read_text()
        fences = len(re.findall(r"^\s*```", text, flags=re.M))
        assert fences == 2 * len(_blocks(text)), f"{page}: a code block the tests cannot see"
        for lang, attrs, _ in _blocks(text):
            written = lang == "yaml" and 'title="' in attrs
            assert lang in RUN | SHOWN or written, f"{page}: ```{lang} is neither run nor shown"
    ran = sum(lang in RUN for p in pages for lang, _, _ in _blocks((DOCS / p).read_text()))
    assert ran >= 20


# What each page's examples leave behind (and must not): proof that they did what the page says.
WRITES = {
    "quickstart.md": ["data-yolo/data.yaml", "data-voc", "grid.png", "data-aug/.visionflow-output",
                      "data-voc-2"],
    "concepts.md": ["out/annotations", "out/.visionflow-output", "mine/notes.txt",
                    "!mine/.visionflow-output", "!data-voc-strict"],
    "how-to/roboflow-to-yolo.md": ["yolo-dataset/data.yaml", "yolo-dataset/labels/val"],
    "how-to/cvat-to-coco.md": ["coco/annotations/instances_train.json"],
    "how-to/check-before-training.md": ["health.html", "findings.json", "fixed/.visionflow-output"],
    "how-to/reproduce-training-data.md": ["v1-yolo/data.yaml", "v1-again/data.yaml"],
    "how-to/evaluate-and-label-mistakes.md": ["metrics.json", "eval.html",
                                              "review/annotations.xml"],
}


@pytest.mark.parametrize("page", _pages())
def test_every_example_runs(page, fixtures, tmp_path, monkeypatch):
    import shutil
    work = tmp_path / "work"
    shutil.copytree(fixtures, work, symlinks=True)
    monkeypatch.chdir(work)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "COLUMNS": "120"}
    namespace: dict = {"__name__": "__docs__"}
    sources = {name: tree_snapshot(work / name) for name in ("data", "roboflow-export",
                                                             "cvat-export")}
    for i, (lang, attrs, code) in enumerate(_blocks((DOCS / page).read_text())):
        where = f"{page} example {i + 1} ({lang})"
        title = re.search(r'title="([^"]+)"', attrs)
        if lang == "yaml" and title:
            (work / title.group(1)).write_text(code)
        elif lang == "bash":
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", code], cwd=work, env=env,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, f"{where} failed:\n{code}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
            assert "internal error" not in r.stderr and "Traceback" not in r.stderr, where
        elif lang == "python":
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own docs
    for path in WRITES.get(page, []):
        absent = path.startswith("!")
        assert (work / path.lstrip("!")).exists() != absent, f"{page}: {path}"
    for name, before in sources.items():
        assert tree_snapshot(work / name) == before, f"{page} modified the source {name}/"
