"""The contract every format in the registry meets, built-in or plugin:

- round trip: read(write(D)) equals D restricted to what the format holds;
- fixed point: writing what was read writes the same bytes;
- detection recognizes the format's own output, unambiguously.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.formats import registry
from visionflow.formats.base import POLYGONS, OBB, KEYPOINTS, BOXES

from ..strategies import canonical, datasets

# Text formats store normalized or rounded numbers; pixels agree within this tolerance.
TOLERANCE_PX = {"yolo": 1e-3, "yolo-darknet": 1e-3,
                # loc tokens: 1024 bins per side, images up to 1200 px in the strategy
                "jsonl-vlm": 1.2}


def needs(fmt):
    """The format, marked to skip with the reason when an optional library it requires is
    missing (Format.requires): `pip install 'visionflow[hf]'`, not a failure."""
    why = fmt.missing()
    return pytest.param(fmt, marks=pytest.mark.skip(reason=why)) if why else fmt


WRITABLE = [needs(f) for f in registry.all_formats() if f.read and f.write]


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(data=st.data())
def test_round_trip_and_fixed_point(fmt, data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "src").mkdir()
        ds = data.draw(datasets(fmt, image_dir=tmp / "src"))
        report = vf.write(ds, tmp / "a", fmt.name, images="link")
        assert not [f for f in report.findings if f.code.startswith("loss.")], report.findings
        back = vf.load(tmp / "a", fmt.name)
        expected, got = canonical(ds, fmt), canonical(back, fmt)
        diff = expected.differences(got, atol=TOLERANCE_PX.get(fmt.name, 1e-9))
        assert not diff, f"{fmt.name} changed {diff}"

        vf.write(back, tmp / "b", fmt.name, images="link")
        assert _files(tmp / "a") == _files(tmp / "b")

        top = registry.detect(tmp / "a")
        assert top.format == fmt.name


@pytest.mark.parametrize("fmt", WRITABLE, ids=lambda f: f.name)
def test_format_declares_itself(fmt):
    assert fmt.description and fmt.name == fmt.name.lower()
    assert registry.get(fmt.name) is fmt
    for alias in fmt.aliases:
        assert registry.get(alias) is fmt
