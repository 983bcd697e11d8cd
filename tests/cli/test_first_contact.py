"""First contact (issue 11, items 6, 23 and 25): messages printed literally, no traceback ever
(a bug says so in one line), hints that name options the command has, the native writer on
classification data, and a `make demo` that installs only what the demo needs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.app import command
from visionflow.cli.main import app
from visionflow.core.errors import Error

from ..conftest import REPO, make_image, shared_path

runner = CliRunner()


def cli(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False, env=env)


# --- item 25: text is printed literally --------------------------------------------------------

def _toy_app(exc: BaseException) -> typer.Typer:
    toy = typer.Typer()

    @command(on=toy, name="boom")
    def boom():
        raise exc

    @command(on=toy, name="other")
    def other():
        pass

    return toy


def test_install_hint_keeps_its_brackets():
    r = runner.invoke(_toy_app(Error("transforms need OpenCV and albumentations: pip install "
                                     "'visionflow[transforms]'")), ["boom"])
    assert r.exit_code == 1
    assert "pip install 'visionflow[transforms]'" in r.output


def test_paths_and_class_names_with_brackets_are_printed_as_they_are(tmp_path):
    missing = tmp_path / "[bold]data[/bold]"
    r = cli("info", missing)
    assert r.exit_code == 1 and "[bold]data[/bold]" in r.output
    root = tmp_path / "src"
    (root / "annotations").mkdir(parents=True)
    make_image(root / "images" / "train" / "a.png")
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9]}],
           "categories": [{"id": 1, "name": "[red]box"}, {"id": 2, "name": "tag[/]"}]}
    (root / "annotations" / "instances_train.json").write_text(json.dumps(doc))
    r = cli("info", root)
    assert r.exit_code == 0, r.output
    assert "[red]box" in r.output and "tag[/]" in r.output


def test_internal_error_is_one_line_exit_70_and_traceback_only_when_asked(monkeypatch):
    toy = _toy_app(RuntimeError("list index out of range [x]"))
    monkeypatch.delenv("VISIONFLOW_DEBUG", raising=False)
    r = runner.invoke(toy, ["boom"])
    assert r.exit_code == 70
    lines = [line for line in r.output.splitlines() if line.strip()]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("internal error: RuntimeError: list index out of range [x]")
    assert "please report" in lines[0] and "Traceback" not in r.output
    r = runner.invoke(toy, ["boom"], env={"VISIONFLOW_DEBUG": "1"})
    assert r.exit_code == 70
    assert "Traceback" in r.output and "internal error" in r.output


def test_every_command_goes_through_the_error_rule():
    """No command bypasses `command()` (its wrapper is what turns bugs into one line)."""
    def commands(t: typer.Typer):
        for c in t.registered_commands:
            yield c
        for g in t.registered_groups:
            yield from commands(g.typer_instance)

    found = list(commands(app))
    assert len(found) > 20
    bare = [c.callback.__name__ for c in found
            if getattr(c.callback, "__wrapped__", None) is None]
    assert not bare, bare


def test_unexpected_os_error_is_an_internal_error_not_a_traceback(monkeypatch):
    import errno
    monkeypatch.delenv("VISIONFLOW_DEBUG", raising=False)
    r = runner.invoke(_toy_app(OSError(errno.EBADF, "Bad file descriptor")), ["boom"])
    assert r.exit_code == 70 and r.output.startswith("internal error: OSError")
    assert "Traceback" not in r.output


@pytest.mark.parametrize("exc, status", [(typer.Exit(3), 3), (typer.Abort(), 1),
                                         (typer.BadParameter("nope"), 2)])
def test_command_exits_and_usage_errors_are_not_internal_errors(exc, status):
    r = runner.invoke(_toy_app(exc), ["boom"])
    assert r.exit_code == status and "internal error" not in r.output


def test_version_create_conflict_hint_names_merge_not_a_missing_option(tmp_path):
    from ..versioning.helpers import write_coco
    cli("init", tmp_path / "ws")
    a = write_coco(tmp_path / "a", [(0, 1, [1, 1, 5, 5])], names=("a.png",))
    b = write_coco(tmp_path / "b", [(0, 5, [3, 3, 5, 5])], names=("x.png",),
                   cats=[(5, "cat"), (2, "dog")], colors=[(9, 9, 9)])
    assert cli("add", a, "--name", "a", "-w", tmp_path / "ws").exit_code == 0
    assert cli("add", b, "--name", "b", "-w", tmp_path / "ws").exit_code == 0
    r = cli("version", "create", "--name", "v1", "-w", tmp_path / "ws")
    assert r.exit_code == 1
    message = " ".join(r.output.split())
    assert "pass --renumber" not in message
    assert "visionflow merge a b --name NEW --renumber" in message
    # every option the hint names exists on `merge`
    for opt in re.findall(r"--[a-z-]+", message.split("visionflow merge", 1)[1].split("'")[0]):
        assert opt in cli("merge", "--help").output
    # and merge itself still says --renumber, which it has
    r = cli("merge", "a", "b", "--name", "ab", "-w", tmp_path / "ws")
    assert r.exit_code == 1 and "pass --renumber" in " ".join(r.output.split())


# Options of other tools that visionflow names (yolov5, labelme, pip, the converter script).
PEER_TOOL_OPTIONS = {"--data", "--labels", "--quiet", "--upgrade", "--outputs"}  # + pip, tf2onnx
# Files that drive another program's command line (tf2onnx in the converter environment).
PEER_TOOL_FILES = {"models/convert_tfjs.py"}


def test_every_option_named_in_the_source_exists():
    """A hint such as "pass --renumber" must name an option some command has."""
    import typer.main

    known = set()

    def walk(c):
        for p in c.params:
            known.update(p.opts, p.secondary_opts)
        for sub in getattr(c, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    known |= {"--help"} | PEER_TOOL_OPTIONS
    unknown = {}
    for f in sorted((REPO / "src" / "visionflow").rglob("*.py")):
        if f.relative_to(REPO / "src" / "visionflow").as_posix() in PEER_TOOL_FILES:
            continue
        for i, line in enumerate(f.read_text().splitlines(), 1):
            for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
                if opt not in known:
                    unknown.setdefault(opt, f"{f.relative_to(REPO)}:{i}")
    assert not unknown, unknown


# --- item 6: the native writer on classification data ---------------------------------------

def _yolo_cls(root: Path) -> Path:
    for split in ("train", "val"):
        for cls, color in (("cat", (200, 10, 10)), ("dog", (10, 200, 10))):
            for i in range(2):
                make_image(root / split / cls / f"{cls}_{i}.jpg", color=color)
    return root


def test_native_writer_takes_classification_data_as_read(tmp_path):
    src = _yolo_cls(tmp_path / "cls")
    r = cli("convert", src, tmp_path / "native", "--to", "visionflow", "--from", "yolo-cls")
    assert r.exit_code == 0, r.output
    back = vf.load(tmp_path / "native")
    orig = vf.load(src, "yolo-cls")
    assert not orig.differences(back)
    assert back.annotations.is_label.all() and len(back.annotations) == 8


def test_native_writer_on_real_imagenet10(tmp_path):
    src = shared_path("ultralytics-hub-datasets", "imagenet10")
    r = cli("convert", src, tmp_path / "native", "--to", "visionflow")
    assert r.exit_code == 0, r.output
    back = vf.load(tmp_path / "native")
    assert len(back.images) == 20 and back.annotations.is_label.all()
    assert not vf.load(src).differences(back)


# --- item 23: make demo installs the demo's needs only ---------------------------------------

def _make_dry_run(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"  # absent: make plans every step without running any
    out = subprocess.run(["make", "-n", "-C", str(REPO), target, f"VENV={venv}"],
                         capture_output=True, text=True, check=True)
    return out.stdout


def _installed_extras(plan: str) -> set[str]:
    found = re.findall(r"pip install [^\n]*-e '\.\[([a-z,]+)\]'", plan)
    assert found, plan
    return {e for group in found for e in group.split(",")}


def test_make_demo_installs_only_the_demo_extras(tmp_path):
    extras = _installed_extras(_make_dry_run("demo", tmp_path))
    assert "dev" not in extras
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    wanted = " ".join(d for e in extras for d in deps[e])
    for heavy in ("tensorflow", "ray", "datumaro", "datasets", "pytest"):
        assert heavy not in wanted, heavy
    # what the demo runs: photos from scikit-image; examples/recipe.yaml needs OpenCV through
    # albumentations (the transforms extra)
    assert "scikit-image" in wanted and "albumentations" in wanted
    recipe = yaml.safe_load((REPO / "examples" / "recipe.yaml").read_text())
    assert recipe.get("preprocess") or recipe.get("augment")


def test_make_test_still_installs_everything(tmp_path):
    assert "dev" in _installed_extras(_make_dry_run("test", tmp_path))


def test_demo_recipe_runs_with_only_the_demo_packages(tmp_path):
    """The transform step of the demo: every op of examples/recipe.yaml binds and runs."""
    from visionflow.transforms import Recipe, run
    names = [f"img_{i}.png" for i in range(2)]
    paths = [str(make_image(tmp_path / "src" / n)) for n in names]
    ds = vf.Dataset(vf.Images.build(names, [64, 64], [48, 48], path=paths),
                    vf.Annotations.build([0, 1], [1, 1], [[4, 4, 30, 20]] * 2),
                    vf.Categories.from_names(["a"]))
    out = run(ds, Recipe.load(REPO / "examples" / "recipe.yaml"), tmp_path / "o", seed=7,
              workers=1)
    assert len(out.images) == 6 and np.isfinite(out.annotations.xyxy).all()
