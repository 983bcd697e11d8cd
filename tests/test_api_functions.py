"""Every CLI command is one library function away: the function alone, called with the
command's parameters, gives the same output as the command (files byte for byte, JSON equal).
Also: no READ_DEFAULTS side channel is left, `detect` runs detection once, reading commands
pass --images-dir / --follow-links on, and library messages say parameters that the CLI says
as flags."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from PIL import Image

from tests.conftest import REPO
from visionflow.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A small COCO dataset (6 images of two sizes, two classes, boxes and one polygon) with
    images of distinct content, and a COCO results file of predictions for it."""
    root = tmp_path_factory.mktemp("api") / "src"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir(parents=True)
    rng = np.random.default_rng(3)
    images, anns = [], []
    for i in range(1, 7):
        w, h = (96, 64) if i % 2 else (80, 80)
        name = f"img{i}.jpg"
        # noise: distinct perceptual hashes, so that splits are not held together as
        # near-duplicates
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "images" / name, quality=95)
        images.append({"id": i, "file_name": name, "width": w, "height": h})
        anns.append({"id": 2 * i - 1, "image_id": i, "category_id": 1 + i % 2,
                     "bbox": [4.0 + i, 6.0, 30.0, 20.0], "area": 600.0, "iscrowd": 0})
        anns.append({"id": 2 * i, "image_id": i, "category_id": 1,
                     "bbox": [40.0, 30.0, 20.0, 24.0], "area": 480.0, "iscrowd": 0,
                     "segmentation": [[40, 30, 60, 30, 60, 54, 40, 54]] if i == 1 else []})
    (root / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": images, "annotations": anns,
         "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}))
    preds = [{"image_id": a["image_id"], "category_id": a["category_id"],
              "bbox": [a["bbox"][0] + 1, a["bbox"][1], a["bbox"][2], a["bbox"][3]],
              "score": 0.9 - 0.05 * k} for k, a in enumerate(anns) if k % 3]
    preds.append({"image_id": 2, "category_id": 2, "bbox": [60, 50, 10, 10], "score": 0.8})
    (root.parent / "results.json").write_text(json.dumps(preds))
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _cli(*args: str):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


# (name, CLI arguments after SRC DST, library call(src, dst)) for the commands writing a folder
FOLDER_COMMANDS = [
    ("convert", ["--to", "yolo"], lambda s, d: vf.convert(s, d, "yolo")),
    ("convert", ["--to", "cvat", "--images", "none", "--strict"],
     lambda s, d: vf.convert(s, d, "cvat", images="none", strict=True)),
    ("transform", ["--recipe", "RECIPE", "--seed", "7"],
     lambda s, d: vf.transform(s, d, "RECIPE", seed=7)),
    ("resize", ["--size", "48x40", "--mode", "letterbox", "--to", "coco"],
     lambda s, d: vf.resize(s, d, "48x40", mode="letterbox", to="coco")),
    ("tile", ["--grid", "2x2", "--overlap", "4"],
     lambda s, d: vf.tile(s, d, grid="2x2", overlap=4)),
    ("split", ["--ratios", "50,30,20", "--seed", "1", "--stratify"],
     lambda s, d: vf.split(s, d, "50,30,20", seed=1, stratify=True)),
    ("split", ["--ratios", "60,40", "--rebalance", "--to", "yolo"],
     lambda s, d: vf.split(s, d, "60,40", rebalance=True, to="yolo")),
    ("fix", ["--to", "yolo", "--remap", "dog=cat"],
     lambda s, d: vf.fix(s, d, to="yolo", remap={"dog": "cat"})),
]


@pytest.mark.parametrize(("command", "args", "call"), FOLDER_COMMANDS,
                         ids=[f"{c}-{i}" for i, (c, *_) in enumerate(FOLDER_COMMANDS)])
def test_folder_commands_equal_their_library_function(tmp_path, data, command, args, call):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("preprocess:\n  - resize: {size: [64, 48], mode: fit}\naugment:\n"
                      "  copies: 2\n  ops:\n    - flip: {p: 0.5}\n"
                      "    - brightness: {amount_range: 0.3, p: 0.7}\n")
    args = [str(recipe) if a == "RECIPE" else a for a in args]
    _cli(command, data, tmp_path / "by-cli", *args)
    if command == "transform":
        vf.transform(data, tmp_path / "by-lib", recipe, seed=7)
    else:
        call(data, tmp_path / "by-lib")
    cli, lib = _tree(tmp_path / "by-cli"), _tree(tmp_path / "by-lib")
    assert len(cli) >= 2 and cli.keys() == lib.keys()
    assert cli == lib


def test_convert_and_split_return_what_was_written(tmp_path, data):
    report = vf.convert(data, tmp_path / "y", "yolo")
    assert report.written == {"format": "yolo", "images": 6, "annotations": 12,
                              "categories": 2}
    report = vf.split(data, tmp_path / "s", "50,50", seed=2, near_duplicates=False)
    assert sum(report.written["splits"].values()) == 6
    assert set(report.written["splits"]) == {"train", "val"}
    back = vf.load(tmp_path / "s")
    for name, count in report.written["splits"].items():
        assert int((back.images.split == name).sum()) == count


def test_info_equals_the_library_function(data):
    result = _cli("info", data, "--json")
    assert json.loads(result.stdout) == json.loads(json.dumps(vf.info(data)))
    assert vf.info(data)["images"] == 6


def test_detect_equals_the_library_function_and_runs_detection_once(data, monkeypatch):
    from visionflow.formats import registry
    calls = []
    real = registry.candidates
    monkeypatch.setattr(registry, "candidates", lambda p: calls.append(p) or real(p))
    result = _cli("detect", data, "--json")
    assert len(calls) == 1  # candidates listed once; the verdict comes from the same list
    found = vf.detect(data)
    assert json.loads(result.stdout) == [
        {"format": d.format, "confidence": round(d.confidence, 3), "reasons": list(d.reasons)}
        for d in found]
    assert found.best.format == "coco"


def test_detect_exits_1_on_no_format_after_one_detection(tmp_path, monkeypatch):
    from visionflow.formats import registry
    calls = []
    real = registry.candidates
    monkeypatch.setattr(registry, "candidates", lambda p: calls.append(p) or real(p))
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["detect", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no known dataset format" in result.output
    assert len(calls) == 1
    with pytest.raises(vf.NotDetected):
        vf.detect(tmp_path / "empty").best


def test_show_writes_the_same_picture(tmp_path, data):
    _cli("show", data, "--out", tmp_path / "cli.png", "--limit", "4", "--tile-size", "64",
         "--random", "--seed", "3")
    grid = vf.show(data, tmp_path / "lib.png", limit=4, tile_size=64, random=True, seed=3)
    assert (tmp_path / "cli.png").read_bytes() == (tmp_path / "lib.png").read_bytes()
    assert grid.image.size == (128, 128) and grid.problems == []
    again = vf.show(data, limit=4, tile_size=64, random=True, seed=3)  # no file: returned
    assert np.array_equal(np.asarray(again.image), np.asarray(grid.image))


def test_show_refuses_a_picture_inside_the_source(data):
    with pytest.raises(vf.OutputError, match="lies inside the source dataset"):
        vf.show(data, data / "grid.png")
    assert not (data / "grid.png").exists()
    result = runner.invoke(app, ["show", str(data), "--out", str(data / "x.txt")])
    assert result.exit_code == 1 and "--out must end in .png" in result.output


def test_check_equals_the_library_function(tmp_path, data):
    result = runner.invoke(app, ["check", str(data), "--json", "--report",
                                 str(tmp_path / "cli.html")])
    assert result.exit_code == 0, result.output
    lib = vf.check(data, html=tmp_path / "lib.html")
    assert json.loads(result.stdout) == json.loads(json.dumps(lib.to_dict()))
    assert (tmp_path / "cli.html").stat().st_size > 1000 and (tmp_path / "lib.html").exists()
    in_memory = vf.check(vf.load(data), read_images=False)
    assert [f.code for f in in_memory] == [f.code for f in vf.check(data, read_images=False)]


def test_check_html_is_refused_inside_the_source_and_said_as_the_flag(data):
    with pytest.raises(vf.OutputError):
        vf.check(data, html=data / "r.html")
    with pytest.raises(vf.Error, match="`html` must end in .html"):
        vf.check(data, html="r.pdf")
    result = runner.invoke(app, ["check", str(data), "--report", "r.pdf"])
    assert result.exit_code == 1 and "--report must end in .html" in result.output


def test_fix_report_json_equals_the_library_function(tmp_path, data):
    _cli("fix", data, tmp_path / "cli", "--report-json", tmp_path / "cli.json")
    result = vf.fix(data, tmp_path / "lib", report_json=tmp_path / "lib.json")
    cli = json.loads((tmp_path / "cli.json").read_text())
    lib = json.loads((tmp_path / "lib.json").read_text())
    for d in (cli, lib):
        d.pop("destination")
    assert cli == lib
    assert result.destination == str((tmp_path / "lib").absolute())


def test_fix_in_memory_keeps_working(data):
    ds = vf.load(data)
    out = vf.fix(ds, clip=False, drop_duplicate_images=False)
    assert isinstance(out.dataset, vf.Dataset)
    with pytest.raises(vf.Error, match="unknown parameter"):
        vf.fix(ds, clipp=False)


def test_evaluate_equals_the_library_function(tmp_path, data):
    pred = data.parent / "results.json"
    result = _cli("evaluate", data, pred, "--json", "--objects", tmp_path / "cli.jsonl",
                  "--confidence", "0.5")
    lib = vf.evaluate(data, pred, objects=tmp_path / "lib.jsonl", confidence=0.5)
    assert json.loads(result.stdout) == json.loads(json.dumps(lib.to_json()))
    assert (tmp_path / "cli.jsonl").read_bytes() == (tmp_path / "lib.jsonl").read_bytes()
    voc = _cli("evaluate", data, pred, "--json", "--metric", "voc", "--iou", "0.5")
    assert json.loads(voc.stdout) == json.loads(json.dumps(
        vf.evaluate(data, pred, metric="voc", iou="0.5").to_json()))


def test_mistakes_equals_the_library_function(tmp_path, data):
    pred = data.parent / "results.json"
    result = _cli("mistakes", data, pred, "--json", "--top", "3", "--out", tmp_path / "cli",
                  "--to", "coco")
    found = vf.find_mistakes(data, pred, top=3, out=tmp_path / "lib", to="coco")
    assert json.loads(result.stdout) == json.loads(json.dumps(found.to_json(3)))
    assert _tree(tmp_path / "cli") == _tree(tmp_path / "lib")
    assert found.report.written["images"] == min(3, len(found.images))
    ev = vf.evaluate(data, pred, iou=0.5)
    assert vf.find_mistakes(ev).to_json() == vf.find_mistakes(data, pred).to_json()


def test_workspace_commands_equal_their_workspace_methods(tmp_path, data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _cli("init", "ws")
    _cli("add", data, "--name", "pets", "-w", "ws")
    _cli("version", "create", "--name", "v1", "-w", "ws")
    _cli("version", "create", "--name", "v2", "--recipe", _recipe(tmp_path), "--seed", "3",
         "-w", "ws")
    _cli("version", "export", "v1", tmp_path / "cli", "--to", "yolo", "-w", "ws")
    with vf.Workspace.open(tmp_path / "ws") as ws:
        ws.export("v1", tmp_path / "lib", "yolo")
        expected = {("sources",): ws.sources(), ("version", "list"): ws.versions(),
                    ("version", "show", "v2"): ws.version("v2"),
                    ("version", "diff", "v1", "v2"): ws.diff("v1", "v2").to_dict()}
    assert _tree(tmp_path / "cli") == _tree(tmp_path / "lib")
    for args, want in expected.items():
        got = json.loads(_cli(*args, "-w", "ws", "--json").stdout)
        assert got == json.loads(json.dumps(want)), args


def _recipe(tmp_path: Path) -> Path:
    path = tmp_path / "v2.yaml"
    path.write_text("preprocess:\n  - resize: {size: [48, 32]}\n")
    return path


# --- no side channel: every reading command passes --images-dir / --follow-links on --------

def test_no_read_defaults_side_channel_is_left():
    found = [f"{p.relative_to(REPO)}:{i}" for p in sorted((REPO / "src").rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"READ_DEFAULTS|read_defaults", line)]
    assert not found, found


OWN_CLI = ("main", "transform", "check", "evaluate", "versions")


def test_reading_commands_declare_and_pass_images_dir_and_follow_links():
    """Each reading command (it takes --from) in these modules declares both options and
    hands them to the library function it calls (no hidden defaults)."""
    import ast
    for mod in OWN_CLI:
        path = REPO / "src" / "visionflow" / "cli" / f"{mod}.py"
        tree = ast.parse(path.read_text())
        for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
            args = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            if "from_" not in args:
                continue
            assert {"images_dir", "follow_links"} <= args, f"{mod}.{fn.name}"
            passed = {k.arg for call in ast.walk(fn) if isinstance(call, ast.Call)
                      for k in call.keywords}
            assert {"images_dir", "follow_links"} <= passed, f"{mod}.{fn.name}"


@pytest.mark.parametrize("command", ["check", "show", "convert", "split", "fix", "tile"])
def test_images_dir_given_on_the_command_line_reaches_the_reader(tmp_path, data, command):
    """A COCO file kept apart from its images: each command finds them with --images-dir
    (without it, the images are missing: an error, or findings / unreadable tiles)."""
    ann = tmp_path / "ann" / "instances.json"
    ann.parent.mkdir()
    ann.write_bytes((data / "annotations" / "instances_default.json").read_bytes())
    extra = {"check": ["--json"], "show": ["--out", tmp_path / "g.png"],
             "convert": [tmp_path / "o", "--to", "yolo"], "fix": [tmp_path / "o"],
             "split": [tmp_path / "o", "--to", "yolo"],
             "tile": [tmp_path / "o", "--grid", "2x2"]}[command]
    args = [str(a) for a in (command, ann, *extra)]
    with_dir = [*args, "--images-dir", str(data / "images")]
    if command in ("check", "show"):
        without, result = runner.invoke(app, args), runner.invoke(app, with_dir)
        assert without.exit_code == result.exit_code == 0, without.output
        if command == "check":
            def missing(r):
                return [f for f in json.loads(r.stdout)["findings"] if "missing" in f["code"]]
            assert len(missing(without)) == 6 and missing(result) == []
        else:
            assert "show.unreadable" not in result.output and "warning" in without.output
            assert "warning" not in result.output
        return
    without = runner.invoke(app, args)
    if command in ("fix", "tile"):  # missing images are reported and left out
        assert without.exit_code == 0 and "wrote 0 images" in without.output
        args = [a.replace(str(tmp_path / "o"), str(tmp_path / "o2")) for a in with_dir]
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "wrote 0 images" not in result.output, result.output
        return
    assert without.exit_code == 1 and "image" in without.output
    assert not (tmp_path / "o").exists()
    result = runner.invoke(app, with_dir)
    assert result.exit_code == 0, result.output


# --- library messages name parameters; the CLI says the flags ----------------------------

def test_library_messages_name_parameters_and_the_cli_says_flags(tmp_path, data):
    from visionflow.cli.app import as_flags
    flags = {"images_dir": "--images-dir", "from_": "--from", "report": "--report",
             "top": "--top", "workspace": "--workspace"}
    assert as_flags("`images_dir` /x: no such folder", flags) == "--images-dir /x: no such folder"
    assert as_flags("`html` must end in .html", flags) == "--report must end in .html"
    assert as_flags("pass `errors=\"skip\"`", flags) == 'pass errors="skip"'  # no flag here
    assert as_flags("pass `errors=\"skip\"`", {"skip_errors": "--skip-errors"}) == \
        "pass --skip-errors"
    assert as_flags('pass `images="none"`', {"images": "--images"}) == "pass --images none"
    assert as_flags("with `follow_links=True`", {"follow_links": "--follow-links"}) == \
        "with --follow-links"
    assert as_flags("/data/images_dir/a.jpg: `top` must be", flags) == \
        "/data/images_dir/a.jpg: --top must be"  # only quoted names, never paths
    with pytest.raises(vf.Error, match=r"^`top` must be at least 1"):
        vf.find_mistakes(data, data.parent / "results.json", top=0)
    result = runner.invoke(app, ["mistakes", str(data), str(data.parent / "results.json"),
                                 "--top", "0"])
    assert result.exit_code == 1 and "error: --top must be at least 1" in result.output


def test_every_command_function_is_exported_and_documented():
    for name in ("convert", "detect", "info", "show", "transform", "resize", "tile", "split",
                 "check", "fix", "evaluate", "find_mistakes"):
        fn = getattr(vf, name)
        assert name in vf.__all__ and callable(fn)
        doc = fn.__doc__ or ""
        assert len(doc) > 120 and ("Returns" in doc or "returns" in doc), name


def test_command_function_examples_run():
    import doctest

    import visionflow.commands
    result = doctest.testmod(visionflow.commands)
    assert result.failed == 0 and result.attempted >= 8


def test_find_mistakes_refuses_outputs_for_an_evaluation(tmp_path, data):
    ev = vf.evaluate(data, data.parent / "results.json")
    with pytest.raises(vf.Error, match="only ranked"):
        vf.find_mistakes(ev, out=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_the_cli_holds_no_library_logic():
    """The commands of these modules call one library function: no destination checks,
    loads, writes or file writing of their own (the rule lives in io.atomic, called by the
    library)."""
    pattern = re.compile(r"guard_destination|guard_file|api\.load|api\.write|[^.]\bload\(|"
                         r"write_bytes_atomic|make_temp_dir|registry\.detect")
    for mod in OWN_CLI:
        path = REPO / "src" / "visionflow" / "cli" / f"{mod}.py"
        found = [f"{mod}.py:{i}: {line.strip()}"
                 for i, line in enumerate(path.read_text().splitlines(), 1)
                 if pattern.search(line)]
        assert not found, found
