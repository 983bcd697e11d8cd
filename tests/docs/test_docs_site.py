"""The documentation site: `mkdocs build --strict` passes without a warning, loads nothing from
the network, documents every format, CLI command and recipe operation (generated from the live
registries), and every code example on its pages runs.

Examples run in order, per page, in a fresh folder holding the small generated datasets the
pages name (`data/`, `roboflow-export/`, `cvat-export/`, `results.json`, `photos/` with planted
near-duplicates, `query.jpg`): bash blocks line by line (a plain `visionflow` call in process,
anything needing a shell through bash and the installed command: see _bash_steps), python
blocks executed (one namespace per page), and a block
with a `title="file"` (yaml, a plugin's python module or pyproject.toml) written to that file
first, as the page tells the reader to; a page's `pip install -e .` (a plugin package) is done
without touching this venv (see _pip_install_editable). Blocks in
`text` are shown, not run (installing packages, training with Ultralytics, an AGPL tool we never
depend on); any other language fails the test, so no example is skipped by accident.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import traceback
from html import escape as html_escape
from html import unescape
from pathlib import Path

import numpy as np
import orjson
import pytest

import visionflow as vf
from typer.testing import CliRunner
from visionflow.cli.main import app
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


DISTINCT, PLANTED = 8, (1, 4, 6)  # photo<i>-copy.jpg is a near-duplicate of photo<i>.jpg


def _photos_with_duplicates(root: Path) -> vf.Dataset:
    """Eight distinct smooth-noise "photos" (160x120; pHashes 26 or more bits apart) and a
    near-duplicate of three of them as scraping makes them: cropped a little, resized to
    120x90, brightened by 15 %, re-encoded at JPEG quality 70 (2 to 4 bits from their
    original). Also query.jpg, a re-encoded brighter photo2 outside the dataset."""
    from PIL import Image, ImageEnhance
    rng = np.random.default_rng(1)
    folder = root / "photos-src"
    folder.mkdir()
    originals = [Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
                 .resize((160, 120), Image.BICUBIC) for _ in range(DISTINCT)]
    names = [f"photo{i}.jpg" for i in range(DISTINCT)] + [f"photo{i}-copy.jpg" for i in PLANTED]
    for name, img in zip(names, originals):
        img.save(folder / name, quality=92)
    for i in PLANTED:
        copy = originals[i].crop((3, 2, 157, 118)).resize((120, 90), Image.BILINEAR)
        ImageEnhance.Brightness(copy).enhance(1.15).save(folder / f"photo{i}-copy.jpg",
                                                          quality=70)
    ImageEnhance.Brightness(originals[2]).enhance(1.1).save(root / "query.jpg", quality=80)
    sizes = [Image.open(folder / n).size for n in names]
    ann = vf.Annotations.from_objects(  # one object each; the copies' scaled like their pixels
        list(range(len(names))), [1 + k % 2 for k in range(len(names))],
        [[12, 10, 80, 70] if w == 160 else [7, 6, 58, 50] for w, _ in sizes])
    images = vf.Images.build(names, [w for w, _ in sizes], [h for _, h in sizes],
                             split=["train"] * len(names), path=[str(folder / n) for n in names])
    return vf.Dataset(images, ann, vf.Categories([vf.Category(1, "cat"), vf.Category(2, "dog")]))


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("doc-fixtures")
    ds = _examples_dataset(root)
    vf.write(ds, root / "data", "coco")
    vf.write(_photos_with_duplicates(root), root / "photos", "coco")
    shutil.rmtree(root / "photos-src")
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


# A block's lines run one by one, as `bash -e` would run them: a plain `visionflow ...` line
# (and one whose only shell syntax is `> FILE` at the end: its stdout written there) in this
# process, the same Typer app the installed command starts, without a new Python and its
# imports each time; anything else a shell must interpret (pipes, other redirections, `||`,
# globs, variables, other programs) through bash. A block that carries state from line to line in the
# shell (cd, variables, loops, here-documents) runs whole through bash.
SHELL_STATE = re.compile(r"^\s*(?:\w+=|(?:cd|export|source|set|unset|alias|pushd|popd|for|while|"
                         r"until|if|case|function|select)\b|\.\s|\w+\s*\(\))|<<|[{}]\s*$",
                         re.M)


def _bash_steps(code: str) -> list[tuple[str, list[str] | None, str | None]]:
    """(line, argv for the in-process CLI or None for bash, the file its stdout goes to or
    None) for each command of a bash block."""
    import shlex
    code = code.replace("\\\n", " ")  # continuation lines
    if SHELL_STATE.search(code):
        return [(code, None, None)]
    steps = []
    for line in code.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # a quote across lines: the shell's business
            return [(code, None, None)]
        if not tokens:
            continue  # blank or a comment
        out = tokens[-1] if len(tokens) > 2 and tokens[-2] == ">" and re.search(
            r"\s>\s*\S+\s*(?:#.*)?$", line) else None  # `> FILE`, not `2> FILE`
        args = tokens[:-2] if out else tokens
        plain = args[0] == "visionflow" and not any(
            set(t) <= set("();<>|&") or set(t) & set("$`*?[]{}~") for t in [*args, out or "x"])
        steps.append((line, args[1:], out) if plain else (line, None, None))
    return steps


def _env() -> dict[str, str]:
    """The environment the examples run in: this venv's `visionflow` first on PATH."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "COLUMNS": "120"}


def _run_bash(code: str, cwd: Path, env: dict, where: str) -> None:
    """Run a bash block's commands in order; the first that fails (or shows a traceback or an
    internal error) fails the test with its output."""
    for line, argv, stdout_file in _bash_steps(code):
        if argv is None:  # needs a shell: the installed command, as the reader runs it
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=cwd, env=env,
                               capture_output=True, text=True, timeout=300)
            status, out, err = r.returncode, r.stdout, r.stderr
        else:  # a plain `visionflow ...` line: the same app, in this process (cwd is `cwd`)
            assert Path.cwd() == cwd, where
            r = CliRunner().invoke(app, argv, env={k: env.get(k) for k in (
                "COLUMNS", "VISIONFLOW_CACHE_DIR")})
            status, out, err = r.exit_code, r.stdout, r.stderr
            if stdout_file:  # `> FILE`: bash would create it before the command runs
                (cwd / stdout_file).write_bytes(r.stdout_bytes)
            if r.exception is not None and not isinstance(r.exception, SystemExit):
                err += "".join(traceback.format_exception(r.exception))
        assert status == 0, f"{where} failed:\n{line}\n{out[-3000:]}\n{err[-3000:]}"
        assert "internal error" not in err and "Traceback" not in err, f"{where}: {line}\n{err}"


def test_a_failing_line_fails_the_example_in_process_or_in_bash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = _env()
    _run_bash("visionflow formats --json > f.json\nvisionflow formats --json | cat > g.json",
              tmp_path, env, "ok")  # in process, then through bash: the same JSON
    assert orjson.loads((tmp_path / "f.json").read_bytes()) == \
        orjson.loads((tmp_path / "g.json").read_bytes()) != []
    for bad in ("visionflow formats\nvisionflow info missing/\nvisionflow formats",
                "visionflow info missing/ > out.txt", "visionflow info missing/ | cat",
                "false"):
        with pytest.raises(AssertionError, match="failed"):
            _run_bash(bad, tmp_path, env, "bad")


def test_bash_lines_run_in_process_only_when_no_shell_is_needed():
    steps = _bash_steps("visionflow check data/ --report health.html   # charts\n"
                        "\n# a comment\n"
                        'visionflow search data/ "a raccoon # at night" --top 3\n'
                        "visionflow convert data/ out/ \\\n  --to yolo\n"
                        "visionflow check data/ --json > findings.json\n"
                        "visionflow dedup a/ b/ --json | python -m json.tool\n"
                        "visionflow convert data/ mine/ --to coco || echo refused\n"
                        "visionflow info data-*/\n"
                        "cat out/.visionflow-output\n")
    assert steps[0][1:] == (["check", "data/", "--report", "health.html"], None)
    assert steps[1][1:] == (["search", "data/", "a raccoon # at night", "--top", "3"], None)
    assert steps[2][1:] == (["convert", "data/", "out/", "--to", "yolo"], None)
    assert steps[3][1:] == (["check", "data/", "--json"], "findings.json")
    assert [step[1:] for step in steps[4:]] == [(None, None)] * 4
    assert len(steps) == 8
    for shell in ("visionflow info data/ 2> err.txt", "visionflow info data/ > a > b",
                  "visionflow info data/ >> log.txt", "visionflow info data/ > $OUT",
                  "visionflow info data/ > out.txt; cat out.txt"):
        assert _bash_steps(shell) == [(shell, None, None)], shell
    for stateful in ("cd data\nvisionflow info .", "D=data\nvisionflow info $D",
                     "for d in a b; do\n  visionflow info $d\ndone", 'echo "a\nb"'):
        assert _bash_steps(stateful) == [(stateful, None, None)], stateful


def test_every_written_page_is_in_the_navigation():
    import yaml

    def walk(node):
        if isinstance(node, str):
            yield node
        elif isinstance(node, list | dict):
            for item in (node.values() if isinstance(node, dict) else node):
                yield from walk(item)
    nav = set(walk(yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]))
    assert set(_pages()) <= nav, f"pages missing from mkdocs.yml's nav: {set(_pages()) - nav}"


def test_pages_have_examples_and_only_known_languages():
    pages = _pages()
    assert {"quickstart.md", "concepts.md", "how-to/pytorch.md"} <= set(pages)
    for page in pages:
        text = (DOCS / page).read_text()
        fences = len(re.findall(r"^\s*```", text, flags=re.M))
        assert fences == 2 * len(_blocks(text)), f"{page}: a code block the tests cannot see"
        for lang, attrs, _ in _blocks(text):
            written = 'title="' in attrs  # a file the page has the reader save
            assert lang in RUN | SHOWN or written, f"{page}: ```{lang} is neither run nor shown"
    ran = sum(lang in RUN for p in pages for lang, _, _ in _blocks((DOCS / p).read_text()))
    assert ran >= 20


# What each page's examples leave behind (and must not): proof that they did what the page says.
WRITES = {
    "quickstart.md": ["data-yolo/data.yaml", "data-voc", "grid.png", "data-aug/.visionflow-output",
                      "data-voc-2"],
    "concepts.md": ["out/annotations", "out/.visionflow-output", "mine/notes.txt",
                    "!mine/.visionflow-output", "!data-voc-strict", "!bad", "!data-tf-3",
                    "data-tf/train.tfrecord-00001-of-00002", "data-rf/train/_annotations.coco.json",
                    "data-rf-2/train/_annotations.coco.json",
                    "data-tf-2/train.tfrecord-00001-of-00002"],
    "how-to/roboflow-to-yolo.md": ["yolo-dataset/data.yaml", "yolo-dataset/labels/val"],
    "how-to/cvat-to-coco.md": ["coco/annotations/instances_train.json"],
    "how-to/check-before-training.md": ["health.html", "findings.json", "fixed/.visionflow-output"],
    "how-to/reproduce-training-data.md": ["v1-yolo/data.yaml", "v1-again/data.yaml"],
    "how-to/evaluate-and-label-mistakes.md": ["metrics.json", "eval.html",
                                              "review/annotations.xml"],
    "how-to/write-a-format-plugin.md": ["tiny-again/labels.csv", "tiny-1/.visionflow-output",
                                        "tiny-coco/.visionflow-output"],
    "how-to/find-duplicates-and-pick-what-to-label.md": [
        "duplicates.html", "photos-dedup/.visionflow-output", "merged/.visionflow-output",
        "to-label/.visionflow-output", "map.html", "ws/.visionflow/embeddings"],
}


def _pip_install_editable(work: Path, site: Path, monkeypatch, env: dict) -> None:
    """A page's `pip install -e .` (a plugin package), without touching this venv: what an
    editable install leaves for importlib.metadata (a .dist-info holding the pyproject's
    entry points, the project folder on the path), and a fresh format registry that scans
    them, put back when the test ends."""
    import functools
    import tomllib

    from visionflow.formats import registry
    project = tomllib.loads((work / "pyproject.toml").read_text())["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\n"
                                   f"Version: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items()) + "\n"
        for group, points in project.get("entry-points", {}).items()))
    for folder in (site, work):
        monkeypatch.syspath_prepend(str(folder))
    env["PYTHONPATH"] = os.pathsep.join([str(work), str(site)])  # for bash lines too
    monkeypatch.setattr(registry, "_formats", functools.cache(registry._formats.__wrapped__))


@pytest.mark.parametrize("page", _pages())
def test_every_example_runs(page, fixtures, tmp_path, monkeypatch):
    work = tmp_path / "work"
    shutil.copytree(fixtures, work, symlinks=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))  # what a page embeds
    env = _env()
    namespace: dict = {"__name__": "__docs__"}
    sources = {name: tree_snapshot(work / name) for name in ("data", "roboflow-export",
                                                             "cvat-export", "photos")}
    for i, (lang, attrs, code) in enumerate(_blocks((DOCS / page).read_text())):
        where = f"{page} example {i + 1} ({lang})"
        title = re.search(r'title="([^"]+)"', attrs)
        if title:
            (work / title.group(1)).write_text(code)
        elif lang == "bash" and code.strip() == "pip install -e .":
            _pip_install_editable(work, tmp_path / "site", monkeypatch, env)
        elif lang == "bash":
            _run_bash(code, work, env, where)
        elif lang == "python":
            exec(compile(code, where, "exec"), namespace)  # noqa: S102 - our own docs
    for path in WRITES.get(page, []):
        absent = path.startswith("!")
        assert (work / path.lstrip("!")).exists() != absent, f"{page}: {path}"
    for name, before in sources.items():
        assert tree_snapshot(work / name) == before, f"{page} modified the source {name}/"
