"""The grid's speed in a real browser (Debian's Chromium, headless) on a big workspace, e.g. the
250,000-image one bench/bench_app.py generates:

    python tests/app/browser/measure_scroll.py WORKSPACE [--seconds 8]

Starts `visionflow app WORKSPACE --no-browser`, opens the grid, scrolls once through a stretch
of the grid so the thumbnails are cached (server side and in the browser), then measures:
- first grid: page load to the first thumbnails on screen;
- scroll fps: a steady scroll (requestAnimationFrame-driven, 3 rows a frame) over the cached
  stretch, frames counted and the longest frame reported;
- a jump to the middle and the end of the grid (uncached pages: fetch + draw);
- filter round trip: clicking a class facet to the grid and facet counts updated (p50/p95).
Prints one JSON object. Headless Chromium without a GPU composites in software, so the fps is
a floor for a desktop browser."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))

from tests.app.browser.conftest import ARGS, CHROMIUM, Server  # noqa: E402

SCROLL = """async ([rows, frames]) => {
  const el = document.querySelector('[data-testid=grid]');
  const cell = document.querySelector('.cell');
  const rowH = cell.getBoundingClientRect().height + 6;
  const times = [];
  let last = performance.now();
  for (let i = 0; i < frames; i++) {
    await new Promise(r => requestAnimationFrame(r));
    const now = performance.now(); times.push(now - last); last = now;
    el.scrollTop += rows * rowH;
  }
  return times;
}"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("workspace", type=Path)
    ap.add_argument("--frames", type=int, default=480)
    ap.add_argument("--filters", type=int, default=12)
    ap.add_argument("--rows-per-frame", type=float, nargs="+", default=[1, 3])
    ap.add_argument("--wait-loaded", action="store_true",
                    help="measure once the server's background load and check are done")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    log = Path("/tmp") / "visionflow-measure-server.log"
    t0 = time.perf_counter()
    import tests.app.browser.conftest as c
    c.START_TIMEOUT_S = 900
    server = Server(args.workspace, log, full=args.wait_loaded)   # the grid needs the index only
    out: dict = {"server_ready_s": round(time.perf_counter() - t0, 2),
                 "images": server.meta["images"], "objects": server.meta["objects"]}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            t = time.perf_counter()
            page.goto(server.url + "/")
            page.wait_for_function("() => [...document.querySelectorAll('.cell img')]"
                                   ".some(i => i.complete && i.naturalWidth > 0)", timeout=60000)
            out["first_grid_s"] = round(time.perf_counter() - t, 3)
            out["cells_in_dom"] = page.locator(".cell").count()
            # warm: the same scroll once (thumbnails made and cached), then back to the top
            page.evaluate(SCROLL, [3, args.frames])
            page.wait_for_timeout(3000)
            page.evaluate(SCROLL, [3, args.frames])        # second pass: thumbnails cached
            page.evaluate("() => document.querySelector('[data-testid=grid]').scrollTop = 0")
            page.wait_for_timeout(1500)
            for rows in args.rows_per_frame:
                page.evaluate("() => document.querySelector('[data-testid=grid]').scrollTop = 0")
                page.wait_for_timeout(1000)
                times = page.evaluate(SCROLL, [rows, args.frames])[5:]
                out[f"scroll_{rows:g}_rows_per_frame"] = {
                    "fps": round(1000 / statistics.mean(times), 1),
                    "p95_frame_ms": round(sorted(times)[int(0.95 * len(times))], 1),
                    "max_frame_ms": round(max(times), 1)}
            out["cells_in_dom_after_scroll"] = page.locator(".cell").count()
            out["js_heap_mb"] = round(page.evaluate(
                "() => performance.memory ? performance.memory.usedJSHeapSize : 0") / 2**20, 1)
            for where in ("middle", "end"):
                t = time.perf_counter()
                page.evaluate(f"""() => {{ const el = document.querySelector('[data-testid=grid]');
                    el.scrollTop = {'el.scrollHeight / 2' if where == 'middle' else 'el.scrollHeight'}; }}""")
                page.wait_for_function("() => document.querySelectorAll('.cell.placeholder')"
                                       ".length === 0", timeout=30000)
                out[f"jump_{where}_ms"] = round(1000 * (time.perf_counter() - t), 1)
            print(json.dumps(out), file=sys.stderr)
            names = [c["name"] for c in server.meta["classes"]
                     if c["name"].isalnum()][: args.filters]
            rounds = []
            for name in names:
                page.evaluate("() => document.querySelector('[data-testid=grid]').scrollTop = 0")
                t = time.perf_counter()
                page.goto(server.url + "/#/grid?" + f"class={name}")
                page.wait_for_function(
                    """n => { const b = document.querySelector('.facet-head b');
                              const g = document.querySelector('[data-testid=total]');
                              return location.hash.includes('class=' + n) && b && g &&
                                     g.textContent.startsWith(b.textContent) &&
                                     !document.querySelector('.cell.placeholder'); }""",
                    arg=name, timeout=30000)
                rounds.append(1000 * (time.perf_counter() - t))
                print(name, round(rounds[-1]), file=sys.stderr)
            rounds.sort()
            out["filter_round_trip_ms"] = {"p50": round(statistics.median(rounds), 1),
                                           "p95": round(rounds[int(0.95 * (len(rounds) - 1))], 1),
                                           "n": len(rounds)}
            browser.close()
    finally:
        server.stop()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
