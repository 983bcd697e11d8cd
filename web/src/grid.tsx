// The grid: a virtualized window over every image the filter selects. Only the rows in view (plus
// a little overscan) exist in the DOM, pages of 200 items are fetched by offset as they come into
// view and the pages far from the view are dropped, so 250,000 images cost what one screen costs.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, Filter, GridItem, Meta, Page, filterQuery, get, thumbUrl } from "./api";
import { go } from "./router";
import { Sidebar } from "./sidebar";
import { classColors } from "./colors";

const PAGE = 200;
const KEEP_PAGES = 24;            // ~4800 items in memory at most
const GAP = 6;
const OVERSCAN_ROWS = 2;

export function GridPage({ meta, filter }: { meta: Meta; filter: Filter }) {
  const q = filterQuery(filter);
  const [error, setError] = useState<string | null>(null);
  const setFilter = (f: Filter) => go("grid", filterQuery(f));
  return (
    <div class="grid-page">
      <Sidebar meta={meta} filter={filter} onChange={setFilter} onError={setError} />
      <section class="grid-main">
        {error && <div class="error" role="alert">{error}</div>}
        <Grid meta={meta} query={q} onError={setError} />
      </section>
    </div>
  );
}

function Grid({ meta, query, onError }: { meta: Meta; query: string; onError: (e: string | null) => void }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ w: 800, h: 600 });
  const [scrollTop, setScrollTop] = useState(0);
  const [total, setTotal] = useState<number | null>(null);
  const [cell, setCell] = useState(() => Number(localStorage.getItem("vf.cell")) || 180);
  const pages = useRef(new Map<number, GridItem[]>());
  const pending = useRef(new Set<number>());
  const [, setTick] = useState(0);
  const colors = useMemo(() => classColors(meta.classes), [meta.classes]);
  const generation = useRef(0);

  // a new filter: forget every page, back to the top, fetch the first page for the total
  useEffect(() => {
    generation.current++;
    pages.current.clear();
    pending.current.clear();
    setTotal(null);
    if (scroller.current) scroller.current.scrollTop = 0;
    setScrollTop(0);
    fetchPage(0);
  }, [query, meta.revision]);

  useLayoutEffect(() => {
    const el = scroller.current!;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    setSize({ w: el.clientWidth, h: el.clientHeight });
    return () => ro.disconnect();
  }, []);

  // scroll updates at most once a frame
  useEffect(() => {
    const el = scroller.current!;
    let frame = 0;
    const on = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => { frame = 0; setScrollTop(el.scrollTop); });
    };
    el.addEventListener("scroll", on, { passive: true });
    return () => { el.removeEventListener("scroll", on); cancelAnimationFrame(frame); };
  }, []);

  function fetchPage(p: number) {
    if (pages.current.has(p) || pending.current.has(p)) return;
    pending.current.add(p);
    const gen = generation.current;
    const sep = query ? "&" : "";
    get<Page>(`/api/images?${query}${sep}offset=${p * PAGE}&limit=${PAGE}`)
      .then((page) => {
        if (gen !== generation.current) return;
        pending.current.delete(p);
        pages.current.set(p, page.items);
        setTotal(page.total);
        onError(null);
        setTick((t) => t + 1);
      })
      .catch((e) => {
        if (gen !== generation.current) return;
        pending.current.delete(p);
        // 409: the revision's findings are still being computed; the filter needs them
        if (e instanceof ApiError && e.status === 409) { setTimeout(() => { if (gen === generation.current) fetchPage(p); }, 700); return; }
        onError(String(e.message ?? e));
        setTotal((t) => t ?? 0);
      });
  }

  const cols = Math.max(1, Math.floor((size.w - GAP) / (cell + GAP)));
  const rowH = cell + GAP;
  const n = total ?? 0;
  const rows = Math.ceil(n / cols);
  const first = Math.max(0, Math.floor(scrollTop / rowH) - OVERSCAN_ROWS);
  const last = Math.min(rows, Math.ceil((scrollTop + size.h) / rowH) + OVERSCAN_ROWS);
  const lo = first * cols, hi = Math.min(n, last * cols);

  useEffect(() => {
    if (!n) return;
    const p0 = Math.floor(lo / PAGE), p1 = Math.floor(Math.max(lo, hi - 1) / PAGE);
    for (let p = p0; p <= p1; p++) fetchPage(p);
    // drop pages far from the view (bounded memory while scrolling through everything)
    if (pages.current.size > KEEP_PAGES) {
      const far = [...pages.current.keys()].sort((a, b) => Math.abs(b - p0) - Math.abs(a - p0));
      for (const p of far.slice(0, pages.current.size - KEEP_PAGES)) pages.current.delete(p);
    }
  }, [lo, hi, n, query]);

  // cells are keyed by their slot (index modulo the rows in the window), so scrolling reuses
  // the same DOM nodes with a new transform and image instead of creating and dropping nodes
  const slots = Math.max(1, (last - first + 1) * cols);
  const cells = [];
  for (let i = lo; i < hi; i++) {
    const item = pages.current.get(Math.floor(i / PAGE))?.[i % PAGE];
    const r = Math.floor(i / cols), c = i % cols;
    const style = `transform: translate(${GAP + c * (cell + GAP)}px, ${GAP + r * rowH}px);` +
                  `width:${cell}px;height:${cell}px`;
    cells.push(item
      ? <Cell key={i % slots} item={item} size={cell} style={style} colors={colors} query={query} />
      : <div key={i % slots} class="cell placeholder" style={style} />);
  }
  return (
    <div class="grid-wrap">
      <div class="grid-bar">
        <span data-testid="total">{total === null ? "…" : `${n.toLocaleString()} image${n === 1 ? "" : "s"}`}</span>
        <label>size <input type="range" min={96} max={360} value={cell}
          onInput={(e) => { const v = Number((e.target as HTMLInputElement).value);
                            setCell(v); localStorage.setItem("vf.cell", String(v)); }} /></label>
      </div>
      <div class="grid-scroll" ref={scroller} data-testid="grid">
        <div class="grid-inner" style={`height:${rows * rowH + GAP}px`}>{cells}</div>
      </div>
    </div>
  );
}

function Cell({ item, size, style, colors, query }: {
  item: GridItem; size: number; style: string; colors: (id: number) => string; query: string;
}) {
  const canvas = useRef<HTMLCanvasElement>(null);
  // overlays: the thumbnail is drawn "contain" inside the square cell; boxes follow it
  useEffect(() => {
    const cv = canvas.current;
    if (!cv) return;
    const dpr = window.devicePixelRatio || 1;
    // resizing reallocates the canvas: only when the cell size changed (cells are reused)
    if (cv.width !== size * dpr) { cv.width = size * dpr; cv.height = size * dpr; }
    const ctx = cv.getContext("2d")!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, size, size);
    const s = Math.min(size / item.width, size / item.height);
    const ox = (size - item.width * s) / 2, oy = (size - item.height * s) / 2;
    ctx.lineWidth = 1.5;
    for (const [cid, x, y, w, h] of item.boxes) {
      ctx.strokeStyle = colors(cid);
      ctx.strokeRect(ox + x * s, oy + y * s, w * s, h * s);
    }
  }, [item, size]);
  return (
    <a class="cell" style={style} href={`#/image/${item.id}${query ? "?" + query : ""}`}
       title={`${item.file} (${item.split}, ${item.width}×${item.height}, ${item.objects} objects)`}
       data-id={item.id}>
      <img src={thumbUrl(item.id, size > 256 ? 512 : 256)} loading="lazy" decoding="async"
           draggable={false} alt={item.file} />
      {item.boxes.length > 0 && <canvas ref={canvas} />}
      <span class="count">{item.objects}</span>
    </a>
  );
}
