"""Every readable format reads its small real exports in tests/data (no ../shared needed) into
exactly the canonical dataset stored beside them as golden JSON.

The goldens change only on purpose: `pytest tests/formats/test_golden.py --update-golden`
rewrites them (then read the diff). tests/data/make_exports.py makes the exports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.annotations import COLUMNS
from visionflow.formats import registry

from .test_contract import needs

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = sorted(p.parent for p in DATA.glob("*/*/case.json"))
DIGITS = 4   # pixels: 1e-4 px is far below any format's precision, far above float noise


def _num(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(v) else round(float(v), DIGITS) + 0.0
    return v


def _jsonable(v, root: Path):
    """Attribute values as stable JSON: numbers rounded, arrays as lists, paths relative."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x, root) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x, root) for x in (v.tolist() if isinstance(v, np.ndarray) else v)]
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    if isinstance(v, str) or v is None:
        return v
    v = _num(v)
    return v if isinstance(v, (bool, int, float)) or v is None else str(v)


def _path(p, root: Path):
    """An image's location: relative to the case folder, '<extracted>/name' for pixels a
    reader wrote elsewhere (embedded images), None for none."""
    if p is None:
        return None
    p = Path(p)
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return f"<extracted>/{p.name}"


def dump(ds: vf.Dataset, root: Path) -> dict:
    """The canonical dataset as readable JSON: images, categories, one object per annotation
    row with every column that row holds."""
    im = ds.images
    images = []
    for i in range(len(im)):
        row = {"id": int(im.id[i]), "file_name": im.file_name[i], "width": int(im.width[i]),
               "height": int(im.height[i]), "split": im.split[i],
               "path": _path(im.path[i], root)}
        attrs = {k: _jsonable(v[i], root) for k, v in sorted(im.attrs.items())
                 if v[i] is not None}
        if attrs:
            row["attrs"] = attrs
        images.append(row)
    a = ds.annotations
    rows = []
    for k in range(len(a)):
        row = {"image": int(a.image_index[k]), "category_id": int(a.category_id[k]),
               "id": int(a.id[k]), "xyxy": [_num(v) for v in a.xyxy[k]]}
        for spec in COLUMNS:
            col = getattr(a, spec.field)
            if col is None or not spec.present(col)[k]:
                continue
            if spec.field in ("polygons", "polylines"):
                row[spec.field] = [[[_num(x), _num(y)] for x, y in ring]
                                   for ring in col.rings(k)]
            else:
                row[spec.field] = _jsonable(col[k], root)
        attrs = {n: _jsonable(v[k], root) for n, v in sorted(a.attrs.items())
                 if v[k] is not None}
        if attrs:
            row["attrs"] = attrs
        rows.append(row)
    return {"source_format": ds.source_format,
            "categories": [_jsonable(c.to_dict(), root) for c in ds.categories],
            "images": images, "annotations": rows}


def _params():
    out = []
    for folder in CASES:
        info = json.loads((folder / "case.json").read_text())
        marks = list(getattr(needs(registry.get(info["format"])), "marks", ()))
        out.append(pytest.param(folder, info, marks=marks,
                                id=f"{info['format']}/{info['case']}"))
    return out


def test_every_readable_format_has_a_case():
    cased = {json.loads((f / "case.json").read_text())["format"] for f in CASES}
    readable = {f.name for f in registry.all_formats() if f.read}
    assert readable <= cased, f"no tests/data case for {sorted(readable - cased)}"


@pytest.mark.parametrize(("folder", "info"), _params())
def test_reads_the_golden_dataset(folder, info, request, tmp_path):
    export = folder / "export" / info["read"]
    detected = registry.detect(export).format
    ds = vf.load(export, info["format"], **info.get("options", {}))
    got = json.loads(json.dumps(dump(ds, folder)))
    golden = folder / "golden.json"
    if request.config.getoption("--update-golden"):
        golden.write_text(json.dumps(got, indent=1, ensure_ascii=False) + "\n")
        return
    if not golden.exists():
        pytest.fail(f"{golden} is missing: run pytest {__file__} --update-golden")
    assert got == json.loads(golden.read_text())
    assert detected == info["format"]
    assert len(ds.images) == 3 and len(ds.annotations) >= 3


def test_golden_dump_sees_every_column(tmp_path):
    """The dump is a faithful view: a change in any column changes it."""
    ds = vf.load(DATA / "coco" / "datumaro" / "export", "coco")
    base = dump(ds, DATA)
    a = ds.annotations
    moved = a.replace(xyxy=a.xyxy + np.array([0, 0, 0.001, 0]))
    assert dump(ds.replace(annotations=moved), DATA) != base
    assert any("polygons" in r for r in base["annotations"])
