"""bench/bench_app.py at a small size: the generated workspace is what it says, every
benchmark filter is valid, and the measuring child reports totals equal to the index's."""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pytest

from ..bench.test_gen_near_dups import _module

pytest.importorskip("fastapi")


def test_generated_workspace_and_the_measuring_child(tmp_path) -> None:
    bench = _module("bench_app")
    ws = bench.make_workspace(tmp_path, n_images=400, n_boxes=2800, seed=3)
    from visionflow.app.index import Filter
    from visionflow.app.state import AppState
    state = AppState.open(ws, findings=False, background=False)
    ds = state.dataset
    assert len(ds.images) == 400 and 2400 <= len(ds.annotations) <= 3200
    assert set(ds.splits) == {"train", "val", "test"} and len(ds.classes) == 80
    assert (np.bincount(ds.annotations.image_index, minlength=400) == 0).mean() < 0.15
    totals = {}
    for f in bench.FILTERS:
        totals[f] = int(len(state.index.select(Filter.parse(parse_qsl(f)))))
    assert totals[""] == 400 and 0 < totals["class=person"] < 400
    out = bench.run_child(ws, bench.FILTERS, 1)
    assert out["totals"] == totals
    assert out["total"] == 400 and len(out["times"]["facets"]) == len(bench.FILTERS)
