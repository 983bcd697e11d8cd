"""Format.requires: a format that needs an optional library says what to install, once, and the
contract test skips it instead of failing, when that library is missing. The missing module is
simulated (sys.modules[name] = None makes find_spec and import fail as if uninstalled)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.core.errors import Error
from visionflow.formats import registry
from visionflow.formats.base import Format

from ..conftest import make_image, tree_snapshot
from .test_contract import needs

LINE = "the hf-parquet format needs pyarrow: pip install 'visionflow[hf]'"


@pytest.fixture
def no_pyarrow(monkeypatch):
    for name in [m for m in sys.modules if m == "pyarrow" or m.startswith("pyarrow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pyarrow", None)


def _dataset(tmp_path) -> vf.Dataset:
    a = make_image(tmp_path / "src" / "a.png", (40, 30))
    return vf.Dataset(vf.Images.build(["a.png"], [40], [30], path=[str(a)]),
                      vf.Annotations.build([0], [1], [[1, 2, 10, 20]]),
                      vf.Categories([vf.Category(1, "cat")]))


def test_only_formats_that_import_an_optional_library_declare_it():
    declared = {f.name: f.requires for f in registry.all_formats() if f.requires}
    assert declared == {"hf-parquet": ("pyarrow",)}


def test_nothing_missing_when_installed():
    pytest.importorskip("pyarrow")
    assert registry.get("hf-parquet").missing() is None
    assert needs(registry.get("hf-parquet")) is registry.get("hf-parquet")


def test_missing_library_is_one_line_naming_the_extra(no_pyarrow):
    assert registry.get("hf-parquet").missing() == LINE
    assert registry.get("coco").missing() is None


def test_contract_test_skips_with_the_reason(no_pyarrow):
    param = needs(registry.get("hf-parquet"))
    (mark,) = param.marks
    assert mark.name == "skip" and mark.kwargs["reason"] == LINE
    assert needs(registry.get("coco")) is registry.get("coco")


def test_library_refuses_before_touching_anything(no_pyarrow, tmp_path):
    ds = _dataset(tmp_path)
    with pytest.raises(Error, match=r"needs pyarrow: pip install 'visionflow\[hf\]'"):
        vf.write(ds, tmp_path / "out", "hf-parquet")
    assert not (tmp_path / "out").exists()
    (tmp_path / "in").mkdir()
    with pytest.raises(Error, match="needs pyarrow"):
        vf.load(tmp_path / "in", "parquet")       # an alias picks the same format


def test_cli_says_it_in_one_line(no_pyarrow, tmp_path):
    ds = _dataset(tmp_path)
    vf.write(ds, tmp_path / "coco", "coco")
    before = tree_snapshot(tmp_path / "coco")
    res = CliRunner().invoke(app, ["convert", str(tmp_path / "coco"), str(tmp_path / "out"),
                                   "--to", "hf-parquet"])
    assert res.exit_code == 1
    assert LINE in res.output and "Traceback" not in res.output
    assert len([ln for ln in res.output.splitlines() if ln.strip()]) == 1
    assert not (tmp_path / "out").exists()
    assert tree_snapshot(tmp_path / "coco") == before


def test_a_plugin_names_its_own_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "not_installed_lib", None)
    fmt = Format(name="plug", description="a plugin", supports=frozenset(),
                 detect=lambda p: None, requires=("json", "not_installed_lib.sub"))
    assert fmt.missing() == "the plug format needs not_installed_lib.sub: pip install " \
                            "not_installed_lib"
