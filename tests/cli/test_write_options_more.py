"""`-O KEY=VALUE` on the writing commands that gained it after issue 12 (dedup, search --out,
sample, mistakes --out): the option reaches the writer and changes the output, and without
--to a Roboflow COCO source is written back as Roboflow (mistakes --out used to force plain
COCO)."""

from __future__ import annotations

from pathlib import Path

import pytest

import visionflow as vf

from .test_write_options_cli import _coco, _layout, _one_line_error, run


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))


def _predictions(tmp_path: Path) -> Path:
    """mAP-tool text predictions for _coco's images: one good box and one confident box on
    nothing per image, so every image has something to review."""
    folder = tmp_path / "pred"
    folder.mkdir()
    for split in ("train", "val"):
        for i in (1, 2):
            (folder / f"{split}{i}.txt").write_text(
                f"cat 0.9 4 4 {24 + i} 14\ncat 0.95 40 30 60 45\n")
    return folder


def _commands(tmp_path: Path, src: Path) -> dict[str, tuple[list, list]]:
    """Each command, with its arguments before DST and after it."""
    like = next(src.rglob("train1.jpg"))
    return {"dedup": (["dedup", src], []),
            "search": (["search", src, "--like", like, "--model", "phash", "--top", "3",
                        "--out"], []),
            "sample": (["sample", src], ["--n", "3", "--strategy", "random"]),
            "mistakes": (["mistakes", src, _predictions(tmp_path), "--out"],
                         ["--top", "4", "--iou", "0.3"])}


COMMANDS = ["dedup", "search", "sample", "mistakes"]


def _written(before, dst, after, *options) -> str:
    r = run(*before, dst, *after, *options)
    assert r.exit_code == 0, r.output
    return _layout(dst)


@pytest.mark.parametrize("command", COMMANDS)
def test_option_changes_the_output(command, tmp_path):
    src = _coco(tmp_path / "src")
    before, after = _commands(tmp_path, src)[command]
    assert _written(before, tmp_path / "plain", after) == "standard"
    assert _written(before, tmp_path / "rf", after, "-O", "layout=roboflow") == "roboflow"
    plain, rf = vf.load(tmp_path / "plain"), vf.load(tmp_path / "rf")
    assert len(rf.images) == len(plain.images) >= 1
    assert len(rf.annotations) == len(plain.annotations) >= 1


@pytest.mark.parametrize("command", COMMANDS)
def test_a_roboflow_source_stays_roboflow_unless_told(command, tmp_path):
    src = _coco(tmp_path / "src", roboflow=True)
    before, after = _commands(tmp_path, src)[command]
    assert _written(before, tmp_path / "same", after) == "roboflow"
    assert _written(before, tmp_path / "std", after, "-O", "layout=standard") == "standard"


@pytest.mark.parametrize("command", COMMANDS)
def test_a_misspelt_option_is_one_line_and_nothing_is_written(command, tmp_path):
    src = _coco(tmp_path / "src")
    before, after = _commands(tmp_path, src)[command]
    r = run(*before, tmp_path / "out", *after, "-O", "layuot=roboflow")
    _one_line_error(r, "unknown writer option 'layuot' for format coco; did you mean 'layout'?")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_lists_the_option(command):
    r = run(command, "--help")
    assert r.exit_code == 0 and "--option" in r.output and "-O" in r.output


def test_a_misspelt_option_with_tag_records_no_revision(tmp_path):
    """mistakes --tag --out -O: a misspelt option is refused before the tag's revision."""
    src = _coco(tmp_path / "src")
    root = tmp_path / "ws"
    with vf.Workspace.init(root) as w:
        w.add(src, name="data")
        w.create_version("v1")
    pred = _predictions(tmp_path)
    r = run("mistakes", "v1", pred, "-w", root, "--tag", "review",
            "--top", "2", "--iou", "0.3", "--out", tmp_path / "out", "-O", "layuot=roboflow")
    _one_line_error(r, "unknown writer option 'layuot' for format coco")
    assert not (tmp_path / "out").exists()
    with vf.Workspace.open(root) as w:
        with pytest.raises(vf.Error):
            w.load("data@2")
    r = run("mistakes", "v1", pred, "-w", root, "--tag",
            "review", "--top", "2", "--iou", "0.3", "--out", tmp_path / "out", "-O",
            "layout=roboflow")
    assert r.exit_code == 0, r.output
    assert _layout(tmp_path / "out") == "roboflow"
    with vf.Workspace.open(root) as w:
        assert len(w.load("data@2").filter(tag="review").images) == 2
