"""`visionflow embed`: a summary of what was computed and reused, --json for tools, and exit 1
with one line for a wrong model, a missing extra or bad options."""

from __future__ import annotations

import builtins
import json
import sys

import pytest
from typer.testing import CliRunner

from visionflow.cli.main import app

from .embed_fixtures import write_photos

pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'visionflow[embed]')")
runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def src(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return write_photos(tmp_path / "data", 5).parent


def test_help_has_examples():
    result = cli("embed", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output and "--patches" in result.output


def test_json_summary_then_everything_reused(src, tmp_path):
    first = cli("embed", src, "--patches", "--json")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout)
    assert (data["model"], data["kind"], data["dim"]) == ("phash", "hash", 64)
    assert (data["images"], data["objects"], data["computed"], data["reused"]) == (5, 5, 10, 0)
    assert data["store"].startswith(str(tmp_path / "cache" / "embeddings"))
    second = json.loads(cli("embed", src, "--patches", "--json").stdout)
    assert (second["computed"], second["reused"], second["store"]) == (0, 10, data["store"])
    text = cli("embed", src, "--model", "dhash", "--store", tmp_path / "mine")
    assert text.exit_code == 0
    assert "embedded 5 images with dhash: 5 computed, 0 reused (stored in " \
        f"{tmp_path / 'mine'}" in " ".join(text.stderr.split())


def test_a_tiny_model_folder(src, tmp_path):
    from .tiny_models import save_tiny
    folder = save_tiny("dinov2", tmp_path / "dino")
    result = cli("embed", src, "--model", folder, "--json", "--batch", "2")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["model"], data["kind"], data["dim"], data["computed"]) == \
        ("hf:dino", "vector", 32, 5)


def test_wrong_model_id_offline_is_one_line(src):
    result = cli("embed", src, "--model", "nobody/no-such-model-xyz")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot load model "
                                                   "'nobody/no-such-model-xyz': looked in")
    assert "HF_HUB_OFFLINE=1" in lines[0] and "Traceback" not in result.output


def test_missing_extra_is_one_line(src, monkeypatch):
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    for mod in [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]:
        monkeypatch.delitem(sys.modules, mod)
    result = cli("embed", src, "--model", "openai/clip-vit-base-patch32")
    assert result.exit_code == 1
    assert result.stderr.strip() == ("error: model embeddings need torch and transformers: "
                                     "pip install 'visionflow[embed]'")


@pytest.mark.parametrize("args, message", [
    (["--engine", "spark"], "--engine must be one of local, ray"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--model", "./nowhere"], "./nowhere: no such model folder"),
])
def test_bad_options_exit_1(src, args, message):
    result = cli("embed", src, *args)
    assert result.exit_code == 1 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_source_and_nothing_embeddable(tmp_path, src):
    result = cli("embed", tmp_path / "nope")
    assert result.exit_code == 1 and "no such file or folder" in result.stderr
    for p in src.glob("*.png"):  # a whole header and end marker, a broken body
        data = p.read_bytes()
        p.write_bytes(data[:60] + bytes(200) + data[-12:])
    result = cli("embed", src)
    assert result.exit_code == 1
    assert "no image could be embedded" in result.stderr.strip().splitlines()[-1]


def test_a_workspace_version_keeps_its_rows_in_the_workspace(src, tmp_path):
    import visionflow as vf
    with vf.Workspace.init(tmp_path / "ws") as ws:
        ws.add(src, "photos")
        ws.create_version("v1")
    result = cli("embed", "v1", "-w", tmp_path / "ws", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["store"].startswith(str(tmp_path / "ws" / ".visionflow" / "embeddings"))
    assert data["computed"] == 5
    missing = cli("embed", "v9", "-w", tmp_path / "ws")
    assert missing.exit_code == 1 and len(missing.stderr.strip().splitlines()) == 1


def test_ctrl_c_keeps_the_work_done_and_a_rerun_finishes(src, tmp_path, monkeypatch):
    import visionflow.embeddings as embeddings
    from visionflow.embeddings import store as store_mod

    from .embed_fixtures import CountingEmbedder
    monkeypatch.setattr(store_mod, "PART_ROWS", 1)
    monkeypatch.setattr(embeddings, "load_embedder",
                        lambda model: CountingEmbedder(fail_after=2))  # Ctrl-C on call 3
    result = cli("embed", src, "--batch", "2", "--workers", "1")
    assert result.exit_code == 130
    assert "computed so far are kept" in result.stderr
    monkeypatch.setattr(embeddings, "load_embedder", lambda model: CountingEmbedder())
    rerun = json.loads(cli("embed", src, "--json").stdout)
    assert (rerun["computed"], rerun["reused"]) == (1, 4)
