// The image view and editor: zoom/pan, layers (ground truth, each prediction set), attributes
// and findings, keyboard navigation; editing boxes and polygons with undo/redo; SAM prompts.
// Geometry is drawn as SVG in image pixel coordinates inside one CSS-transformed stage, so zoom
// and pan move a single element and editing handles keep a constant size on screen.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, Detail, Filter, Meta, Obj, filterQuery, get, post, setKey } from "./api";
import { classColors } from "./colors";
import * as E from "./edits";
import { go } from "./router";
import type { Prompt } from "./sam";

type Tool = "select" | "box" | "polygon" | "sam";
type View = { k: number; x: number; y: number };
type Drag =
  | { kind: "pan"; sx: number; sy: number; v: View }
  | { kind: "move"; i: number; px: number; py: number; before: E.Snapshot }
  | { kind: "resize"; i: number; corner: number; before: E.Snapshot }
  | { kind: "vertex"; i: number; ring: number; v: number; before: E.Snapshot }
  | { kind: "draw"; x0: number; y0: number; x1: number; y1: number; sam: boolean };

const clone = <T,>(v: T): T => JSON.parse(JSON.stringify(v));

function bboxOf(poly: number[][]): [number, number, number, number] {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const ring of poly) for (let i = 0; i < ring.length; i += 2) {
    x0 = Math.min(x0, ring[i]); x1 = Math.max(x1, ring[i]);
    y0 = Math.min(y0, ring[i + 1]); y1 = Math.max(y1, ring[i + 1]);
  }
  return [x0, y0, x1 - x0, y1 - y0];
}
const r2 = (v: number) => Math.round(v * 100) / 100;

export function ImagePage({ meta, id, filter, onSaved }: {
  meta: Meta; id: number; filter: Filter; onSaved: () => void;
}) {
  const q = filterQuery(filter);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [, setTick] = useState(0);
  const [tool, setTool] = useState<Tool>("select");
  const [sel, setSel] = useState<number | null>(null);
  const [selVertex, setSelVertex] = useState<[number, number] | null>(null);
  const [hidden, setHidden] = useState(false);
  const [layers, setLayers] = useState<Record<string, boolean>>({ gt: true });
  const [view, setView] = useState<View>({ k: 1, x: 0, y: 0 });
  const [drag, setDrag] = useState<Drag | null>(null);
  const [draft, setDraft] = useState<number[]>([]);             // polygon being drawn
  const [cls, setCls] = useState<number>(meta.classes[0]?.id ?? 0);
  const [prompt, setPrompt] = useState<Prompt>({ points: [], box: null });
  const [samPoly, setSamPoly] = useState<number[] | null>(null);
  const [samMsg, setSamMsg] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [askWorkspace, setAskWorkspace] = useState(false);
  const viewer = useRef<HTMLDivElement>(null);
  const tagInput = useRef<HTMLInputElement>(null);

  useEffect(() => E.subscribe(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    const ac = new AbortController();
    setDetail(null); setSel(null); setSelVertex(null); setDraft([]); setError(null);
    setPrompt({ points: [], box: null }); setSamPoly(null);
    let timer = 0;
    // right after a save the new revision's findings may still be computing (409: not ready),
    // which a filter by finding needs: ask again shortly
    const load = (tries: number) => get<Detail>(`/api/images/${id}${q ? "?" + q : ""}`, ac.signal)
      .then((d) => { setDetail(d); E.ensure(id, { objects: d.objects, tags: d.tags ?? [] }); })
      .catch((e) => {
        if (e.name === "AbortError") return;
        if (e instanceof ApiError && e.status === 409 && tries > 0) timer = window.setTimeout(() => load(tries - 1), 500);
        else setError(String(e.message ?? e));
      });
    load(120);
    return () => { ac.abort(); clearTimeout(timer); };
  }, [id, meta.revision]);

  // fit the image into the viewer when it (or the viewer's size) is new
  const fit = () => {
    const el = viewer.current;
    if (!el || !detail) return;
    const k = Math.min(el.clientWidth / detail.width, el.clientHeight / detail.height) * 0.98;
    setView({ k, x: (el.clientWidth - detail.width * k) / 2, y: (el.clientHeight - detail.height * k) / 2 });
  };
  useEffect(fit, [detail]);

  // every class: the dataset's, plus the ones created in this session (ids after the last)
  const classes = useMemo(() => {
    const all = meta.classes.map((c) => ({ id: c.id, name: c.name }));
    let next = Math.max(-1, ...all.map((c) => c.id)) + 1;
    for (const n of E.createdClasses()) if (!all.some((c) => c.name === n)) all.push({ id: next++, name: n });
    return all;
  }, [meta.classes, E.createdClasses().length]);
  const className = (cid: number) => classes.find((c) => c.id === cid)?.name ?? `#${cid}`;
  const colors = classColors(meta.classes);

  const ed = E.editsOf(id);
  const cur = ed?.cur ?? { objects: [], tags: [] };
  const objects = cur.objects;
  const apply = (objs: Obj[], record = true, before?: E.Snapshot, tags?: string[]) =>
    E.apply(id, { objects: objs, tags: tags ?? cur.tags }, record, before);

  const back = () => go("grid", q);
  const nav = (to: number | null) => { if (to !== null && to !== undefined) go("image", q, to); };

  // -- keyboard -------------------------------------------------------------------------------
  // the listener is registered once and calls the handler of the latest render (assigned
  // below while rendering): an effect re-registered after each render would run after paint,
  // and a key pressed right after a click would see the state from before the click
  const keyHandler = useRef<(e: KeyboardEvent) => void>(() => {});
  useEffect(() => {
    const on = (e: KeyboardEvent) => keyHandler.current(e);
    window.addEventListener("keydown", on);
    return () => window.removeEventListener("keydown", on);
  }, []);
  {
    const on = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) {
        if (e.key === "Escape") t.blur();
        return;
      }
      const key = e.key.toLowerCase();
      if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); e.shiftKey ? E.redo(id) : E.undo(id); setSel(null); return; }
      if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); E.redo(id); return; }
      if ((e.ctrlKey || e.metaKey) && key === "s") { e.preventDefault(); save(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      if (e.key === "ArrowRight") nav(detail?.next ?? null);
      else if (e.key === "ArrowLeft") nav(detail?.prev ?? null);
      else if (e.key === "Escape") {
        if (draft.length) setDraft([]);
        else if (prompt.points.length || prompt.box) { setPrompt({ points: [], box: null }); setSamPoly(null); }
        else if (sel !== null) { setSel(null); setSelVertex(null); }
        else back();
      } else if (e.key === "Enter") {
        if (tool === "polygon" && draft.length >= 6) closeDraft();
        else if (tool === "sam" && samPoly) acceptSam();
      } else if (e.key === "Delete" || e.key === "Backspace") {
        e.preventDefault();
        if (tool === "polygon" && draft.length) setDraft(draft.slice(0, -2));
        else deleteSelected();
      } else if (key === "h") setHidden((h) => !h);
      else if (key === "t") { e.preventDefault(); tagInput.current?.focus(); }
      else if (key === "v") setTool("select");
      else if (key === "b") setTool("box");
      else if (key === "p") setTool("polygon");
      else if (key === "s") startSam();
      else if (key === "f" || key === "0") fit();
    };
    keyHandler.current = on;
  }

  // -- geometry helpers -----------------------------------------------------------------------
  const toImage = (e: { clientX: number; clientY: number }): [number, number] => {
    const r = viewer.current!.getBoundingClientRect();
    return [(e.clientX - r.left - view.x) / view.k, (e.clientY - r.top - view.y) / view.k];
  };
  const clampX = (v: number) => Math.min(detail!.width, Math.max(0, v));
  const clampY = (v: number) => Math.min(detail!.height, Math.max(0, v));

  function deleteSelected() {
    if (sel === null) return;
    const o = objects[sel];
    if (selVertex && o?.polygon) {
      const [ring, v] = selVertex;
      const poly = clone(o.polygon);
      if (poly[ring].length <= 6) return;           // a polygon keeps at least 3 vertices
      poly[ring].splice(2 * v, 2);
      const objs = objects.slice();
      objs[sel] = { ...o, polygon: poly, box: bboxOf(poly).map(r2) as any };
      apply(objs); setSelVertex(null);
      return;
    }
    apply(objects.filter((_, i) => i !== sel)); setSel(null);
  }

  function closeDraft() {
    const poly = [draft.map(r2)];
    apply([...objects, { class_id: cls, box: bboxOf(poly).map(r2) as any,
                         polygon: poly, keypoints: null, obb: null, score: null, attrs: {} }]);
    setDraft([]); setSel(objects.length);
  }

  async function startSam() {
    if (!meta.sam.configured) { setTool("sam"); setSamMsg(null); return; }
    setTool("sam"); setSamMsg("loading the SAM decoder and this image's embedding…");
    try {
      const sam = await import("./sam");
      await Promise.all([sam.decoder(), sam.embedding(id)]);
      setSamMsg("click: add a positive point, alt/right click: negative, drag: box; Enter accepts");
    } catch (e: any) { setSamMsg(`SAM: ${e.message ?? e}`); }
  }
  async function runSam(p: Prompt) {
    setPrompt(p);
    if (!p.points.length && !p.box) { setSamPoly(null); return; }
    try {
      const sam = await import("./sam");
      const t0 = performance.now();
      const res = await sam.segment(id, p);
      setSamPoly(res ? res.polygon.map(r2) : null);
      setSamMsg(res ? `mask in ${Math.round(performance.now() - t0)} ms: Enter accepts, Esc clears`
                    : "empty mask: add a positive click on the object");
    } catch (e: any) { setSamMsg(`SAM: ${e.message ?? e}`); }
  }
  function acceptSam() {
    if (!samPoly) return;
    const poly = [samPoly];
    apply([...objects, { class_id: cls, box: bboxOf(poly).map(r2) as any,
                         polygon: poly, keypoints: null, obb: null, score: null, attrs: {} }]);
    setSel(objects.length); setPrompt({ points: [], box: null }); setSamPoly(null);
  }

  // -- pointer --------------------------------------------------------------------------------
  function onDown(e: PointerEvent) {
    if (!detail) return;
    (e.currentTarget as HTMLElement).setPointerCapture(e.pointerId);
    const [x, y] = toImage(e);
    const target = e.target as Element;
    const hit = target.closest?.("[data-obj]");
    if (e.button === 1 || (e.button === 0 && e.shiftKey && tool !== "sam")) {
      setDrag({ kind: "pan", sx: e.clientX, sy: e.clientY, v: view }); return;
    }
    if (tool === "box" && e.button === 0) { setDrag({ kind: "draw", x0: clampX(x), y0: clampY(y), x1: clampX(x), y1: clampY(y), sam: false }); return; }
    if (tool === "polygon" && e.button === 0) {
      if (draft.length >= 6 && Math.hypot(draft[0] - x, draft[1] - y) * view.k < 8) { closeDraft(); return; }
      setDraft((d) => [...d, clampX(x), clampY(y)]); return;
    }
    if (tool === "sam") {
      if (!meta.sam.configured) return;
      if (e.button === 2 || e.altKey) { runSam({ ...prompt, points: [...prompt.points, [x, y, 0]] }); return; }
      setDrag({ kind: "draw", x0: clampX(x), y0: clampY(y), x1: clampX(x), y1: clampY(y), sam: true }); return;
    }
    // select tool
    const handle = target.getAttribute?.("data-handle");
    const vert = target.getAttribute?.("data-vertex");
    const snap = { objects, tags: cur.tags };
    if (handle !== null && handle !== undefined && sel !== null) {
      setDrag({ kind: "resize", i: sel, corner: Number(handle), before: snap }); return;
    }
    if (vert && sel !== null) {
      const [ring, v] = vert.split(":").map(Number);
      if (e.altKey) { setSelVertex([ring, v]); setTimeout(deleteSelected); return; }
      setSelVertex([ring, v]);
      setDrag({ kind: "vertex", i: sel, ring, v, before: snap }); return;
    }
    if (hit) {
      const i = Number(hit.getAttribute("data-obj"));
      setSel(i); setSelVertex(null);
      setDrag({ kind: "move", i, px: x, py: y, before: snap }); return;
    }
    setSel(null); setSelVertex(null);
    setDrag({ kind: "pan", sx: e.clientX, sy: e.clientY, v: view });
  }

  function onMove(e: PointerEvent) {
    if (!drag || !detail) return;
    const [x, y] = toImage(e);
    if (drag.kind === "pan") {
      setView({ ...drag.v, x: drag.v.x + e.clientX - drag.sx, y: drag.v.y + e.clientY - drag.sy });
    } else if (drag.kind === "draw") {
      setDrag({ ...drag, x1: clampX(x), y1: clampY(y) });
    } else if (drag.kind === "move") {
      const o = drag.before.objects[drag.i];
      const dx = x - drag.px, dy = y - drag.py;
      const objs = objects.slice();
      objs[drag.i] = {
        ...o,
        box: o.box ? [r2(o.box[0] + dx), r2(o.box[1] + dy), o.box[2], o.box[3]] : null,
        polygon: o.polygon ? o.polygon.map((ring) => ring.map((v, j) => r2(v + (j % 2 ? dy : dx)))) : null,
      };
      apply(objs, false);
    } else if (drag.kind === "resize") {
      const o = drag.before.objects[drag.i];
      const [bx, by, bw, bh] = o.box!;
      let x0 = bx, y0 = by, x1 = bx + bw, y1 = by + bh;
      if (drag.corner === 0 || drag.corner === 3) x0 = clampX(x); else x1 = clampX(x);
      if (drag.corner === 0 || drag.corner === 1) y0 = clampY(y); else y1 = clampY(y);
      const objs = objects.slice();
      objs[drag.i] = { ...o, box: [r2(Math.min(x0, x1)), r2(Math.min(y0, y1)), r2(Math.abs(x1 - x0)), r2(Math.abs(y1 - y0))] };
      apply(objs, false);
    } else if (drag.kind === "vertex") {
      const o = drag.before.objects[drag.i];
      const poly = clone(o.polygon!);
      poly[drag.ring][2 * drag.v] = r2(clampX(x)); poly[drag.ring][2 * drag.v + 1] = r2(clampY(y));
      const objs = objects.slice();
      objs[drag.i] = { ...o, polygon: poly, box: bboxOf(poly).map(r2) as any };
      apply(objs, false);
    }
  }

  function onUp() {
    if (!drag) return;
    if (drag.kind === "draw") {
      const x = Math.min(drag.x0, drag.x1), y = Math.min(drag.y0, drag.y1);
      const w = Math.abs(drag.x1 - drag.x0), h = Math.abs(drag.y1 - drag.y0);
      if (drag.sam) {
        if (w * view.k < 4 && h * view.k < 4) runSam({ ...prompt, points: [...prompt.points, [drag.x0, drag.y0, 1]] });
        else runSam({ ...prompt, box: [x, y, w, h] });
      } else if (w >= 1 && h >= 1) {
        apply([...objects, { class_id: cls, box: [r2(x), r2(y), r2(w), r2(h)],
                             polygon: null, keypoints: null, obb: null, score: null, attrs: {} }]);
        setSel(objects.length);
      }
    } else if (drag.kind !== "pan") {
      // one undo step per drag, recorded only when the drag changed something
      if (JSON.stringify(drag.before.objects) !== JSON.stringify(objects)) apply(objects, true, drag.before);
    }
    setDrag(null);
  }

  function onWheel(e: WheelEvent) {
    e.preventDefault();
    const r = viewer.current!.getBoundingClientRect();
    const mx = e.clientX - r.left, my = e.clientY - r.top;
    const k = Math.min(40, Math.max(0.05, view.k * Math.exp(-e.deltaY * 0.0015)));
    setView({ k, x: mx - ((mx - view.x) * k) / view.k, y: my - ((my - view.y) * k) / view.k });
  }

  function onDblClick(e: MouseEvent) {
    // double click on a selected polygon's edge: a new vertex there
    if (tool !== "select" || sel === null) return;
    const o = objects[sel];
    if (!o?.polygon) return;
    const [x, y] = toImage(e);
    let best = { d: Infinity, ring: 0, at: 0 };
    o.polygon.forEach((ring, ri) => {
      const n = ring.length / 2;
      for (let i = 0; i < n; i++) {
        const ax = ring[2 * i], ay = ring[2 * i + 1], bx = ring[(2 * i + 2) % ring.length], by = ring[(2 * i + 3) % ring.length];
        const l2 = (bx - ax) ** 2 + (by - ay) ** 2 || 1;
        const t = Math.max(0, Math.min(1, ((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / l2));
        const d = Math.hypot(ax + t * (bx - ax) - x, ay + t * (by - ay) - y);
        if (d < best.d) best = { d, ring: ri, at: i + 1 };
      }
    });
    if (best.d * view.k > 12) return;
    const poly = clone(o.polygon);
    poly[best.ring].splice(2 * best.at, 0, r2(x), r2(y));
    const objs = objects.slice();
    objs[sel] = { ...o, polygon: poly };
    apply(objs); setSelVertex([best.ring, best.at]);
  }

  // -- save -----------------------------------------------------------------------------------
  async function save() {
    const ids = E.dirtyIds();
    if (!ids.length || saving) return;
    if (meta.read_only) { setAskWorkspace(true); return; }
    setSaving(true); setError(null);
    const known = new Set(meta.classes.map((c) => c.id));
    try {
      const images = ids.map((i) => {
        const s = E.editsOf(i)!.cur;
        // a class created in this session has no id on the server yet: it goes by name
        return { id: i, tags: s.tags, objects: s.objects.map((o) => known.has(o.class_id) ? o
                 : { ...o, class_id: null, class_name: className(o.class_id) }) };
      });
      const res = await post<{ revision: string }>("/api/save",
        { base_revision: meta.revision, images, classes: E.createdClasses().slice() });
      E.clearAll();
      setNotice(`saved ${images.length} image${images.length > 1 ? "s" : ""}: revision ${res.revision}`);
      onSaved();
    } catch (e: any) {
      if (e instanceof ApiError && e.status === 409)
        setError(`Not saved: ${e.message.replace(/\.$/, "")}. Your edits are kept.`);
      else setError(`Not saved: ${e.message ?? e}. Your edits are kept.`);
    } finally { setSaving(false); }
  }

  if (error && !detail) return <div class="error page-error" role="alert">{error} <a href={`#/grid?${q}`}>back to the grid</a></div>;
  if (!detail || !ed) return <div class="loading">Loading image {id}…</div>;

  const selObj = sel !== null ? objects[sel] : null;
  const hs = 6 / view.k;                              // handle half-size in image pixels
  const sw = 2 / view.k;
  const dirty = E.dirtyIds();
  const tags = cur.tags;

  const drawObj = (o: Obj, i: number, pred: string | null) => {
    const c = colors(o.class_id);
    const dash = pred ? `${4 / view.k} ${3 / view.k}` : undefined;
    const selected = !pred && i === sel;
    return (
      <g key={`${pred ?? "gt"}${i}`} data-obj={pred ? undefined : i} class={selected ? "obj sel" : "obj"}
         data-class={className(o.class_id)}>
        {o.polygon ? o.polygon.map((ring, ri) => (
          <polygon key={ri} points={ring.join(" ")} fill={c} fill-opacity={selected ? 0.3 : 0.15}
                   stroke={c} stroke-width={sw} stroke-dasharray={dash} />))
          : o.box ? <rect x={o.box[0]} y={o.box[1]} width={o.box[2]} height={o.box[3]} fill={c}
                          fill-opacity={selected ? 0.2 : 0.04} stroke={c} stroke-width={sw} stroke-dasharray={dash} /> : null}
        {o.keypoints?.map((k, ki) => k[2] > 0 ? <circle key={ki} cx={k[0]} cy={k[1]} r={3 / view.k} fill={c} /> : null)}
        {o.obb && o.obb.length === 8 && <polygon points={o.obb.join(" ")} fill="none" stroke={c} stroke-width={sw} />}
        {o.box && <text x={o.box[0]} y={o.box[1] - 3 / view.k} font-size={12 / view.k} fill={c} class="label">
          {className(o.class_id)}{o.score != null ? ` ${o.score.toFixed(2)}` : ""}{o.outcome ? ` ${o.outcome.toUpperCase()}` : ""}</text>}
      </g>);
  };

  return (
    <div class="image-page">
      <div class="toolbar">
        <button onClick={back} title="back to the grid (Esc)">← grid</button>
        <button disabled={detail.prev == null} onClick={() => nav(detail.prev)} title="previous (←)">‹</button>
        <button disabled={detail.next == null} onClick={() => nav(detail.next)} title="next (→)">›</button>
        <span class="sep" />
        {(["select", "box", "polygon"] as Tool[]).map((t) => (
          <button key={t} class={tool === t ? "on" : ""} data-tool={t} onClick={() => { setTool(t); setDraft([]); }}
                  title={{ select: "select, move, resize (v)", box: "draw boxes (b)", polygon: "draw polygons (p): click points, Enter or first point closes", sam: "" }[t]}>{t}</button>))}
        <button class={tool === "sam" ? "on" : ""} data-tool="sam" onClick={startSam} title="SAM click-to-segment (s)">SAM</button>
        <span class="sep" />
        <button onClick={() => { E.undo(id); setSel(null); }} disabled={!ed.past.length} title="undo (Ctrl+Z)">undo</button>
        <button onClick={() => E.redo(id)} disabled={!ed.future.length} title="redo (Ctrl+Shift+Z)">redo</button>
        <button onClick={fit} title="fit (f)">fit</button>
        <button class={hidden ? "on" : ""} onClick={() => setHidden(!hidden)} title="hide overlays (h)">hide</button>
        <span class="sep" />
        <button class="primary" data-testid="save" disabled={!dirty.length || saving} onClick={save}
                title="save all edited images as a new revision (Ctrl+S)">
          {saving ? "saving…" : `save${dirty.length ? ` (${dirty.length})` : ""}`}</button>
        <span class="file" title={detail.file}>{detail.file}</span>
      </div>
      {askWorkspace && <CreateWorkspace meta={meta} onDone={(msg) => { setAskWorkspace(false); setNotice(msg); onSaved(); }}
                                        onCancel={() => setAskWorkspace(false)} />}
      {error && <div class="error" role="alert" data-testid="save-error">{error}</div>}
      {notice && !error && <div class="notice" data-testid="notice">{notice}</div>}
      <div class="image-body">
        <div class={`viewer tool-${tool}`} ref={viewer} data-testid="viewer" onPointerDown={onDown as any}
             onPointerMove={onMove as any} onPointerUp={onUp} onPointerCancel={onUp} onWheel={onWheel as any}
             onDblClick={onDblClick as any} onContextMenu={(e) => e.preventDefault()}>
          <div class="stage" style={`transform: translate(${view.x}px, ${view.y}px) scale(${view.k}); width:${detail.width}px; height:${detail.height}px`}>
            <img src={`/api/images/${id}/file`} width={detail.width} height={detail.height} draggable={false} alt={detail.file} />
            <svg viewBox={`0 0 ${detail.width} ${detail.height}`} width={detail.width} height={detail.height} data-testid="overlay">
              {!hidden && layers.gt && objects.map((o, i) => drawObj(o, i, null))}
              {!hidden && Object.entries(detail.predictions ?? {}).filter(([n]) => layers[n]).map(([n, objs]) =>
                objs.map((o, i) => drawObj(o, i, n)))}
              {!hidden && selObj?.box && !selObj.polygon && tool === "select" && (() => {
                const [x, y, w, h] = selObj.box!;
                return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]].map(([cx, cy], k) => (
                  <rect key={k} class="handle" data-handle={k} x={cx - hs} y={cy - hs} width={2 * hs} height={2 * hs} stroke-width={sw / 2} />));
              })()}
              {!hidden && selObj?.polygon && tool === "select" && selObj.polygon.map((ring, ri) =>
                Array.from({ length: ring.length / 2 }, (_, v) => (
                  <circle key={`${ri}:${v}`} class={selVertex && selVertex[0] === ri && selVertex[1] === v ? "handle on" : "handle"}
                          data-vertex={`${ri}:${v}`} cx={ring[2 * v]} cy={ring[2 * v + 1]} r={hs} stroke-width={sw / 2} />)))}
              {drag?.kind === "draw" && <rect class="drawing" x={Math.min(drag.x0, drag.x1)} y={Math.min(drag.y0, drag.y1)}
                width={Math.abs(drag.x1 - drag.x0)} height={Math.abs(drag.y1 - drag.y0)} stroke-width={sw} />}
              {draft.length > 0 && <polyline class="drawing" points={draft.join(" ")} stroke-width={sw} />}
              {draft.length > 0 && <circle class="handle" cx={draft[0]} cy={draft[1]} r={hs} stroke-width={sw / 2} />}
              {tool === "sam" && samPoly && <polygon class="sam-mask" data-testid="sam-polygon" points={samPoly.join(" ")} stroke-width={sw} />}
              {tool === "sam" && prompt.points.map(([px, py, l], k) => (
                <circle key={k} class={l ? "pt pos" : "pt neg"} cx={px} cy={py} r={5 / view.k} stroke-width={sw / 2} />))}
              {tool === "sam" && prompt.box && <rect class="drawing" x={prompt.box[0]} y={prompt.box[1]} width={prompt.box[2]} height={prompt.box[3]} stroke-width={sw} />}
            </svg>
          </div>
        </div>
        <aside class="inspector">
          {tool === "sam" && (
            <section class="sam-panel" data-testid="sam-panel">
              <h4>SAM</h4>
              {meta.sam.configured
                ? <p>{samMsg ?? "click on an object"} {samPoly && <button onClick={acceptSam}>accept (Enter)</button>}</p>
                : <div class="hint" data-testid="sam-hint">
                    <p>No SAM model is configured, so click-to-segment is off. Restart the app with one:</p>
                    <code class="cli">visionflow app {meta.path} --sam facebook/sam-vit-base</code>
                    <p>(a Hugging Face hub id, or a folder saved with <code>save_pretrained</code>; the image
                      encoder runs on the server once per image, the prompt decoder here in the browser.)</p>
                    {meta.sam.hint && <p class="muted">{meta.sam.hint}</p>}</div>}
            </section>)}
          <section>
            <h4>Class for new and selected objects</h4>
            <ClassPicker classes={classes} value={selObj ? selObj.class_id : cls} onPick={(cid) => {
              setCls(cid);
              if (sel !== null && selObj && selObj.class_id !== cid) {
                const objs = objects.slice(); objs[sel] = { ...selObj, class_id: cid }; apply(objs);
              }
            }} onCreate={(name) => { E.addClass(name); }} />
          </section>
          <section>
            <h4>Layers</h4>
            <label class="inline"><input type="checkbox" checked={layers.gt} onChange={() => setLayers({ ...layers, gt: !layers.gt })} /> ground truth ({objects.length})</label>
            {Object.keys(detail.predictions ?? {}).map((n) => (
              <label class="inline" key={n}><input type="checkbox" checked={!!layers[n]} data-layer={n}
                onChange={() => setLayers({ ...layers, [n]: !layers[n] })} /> {n} ({detail.predictions[n].length})</label>))}
          </section>
          <section>
            <h4>Image tags</h4>
            <Tags tags={tags} inputRef={tagInput} testid="image-tags" onChange={(t) => apply(objects, true, undefined, t)} />
          </section>
          {selObj && (
            <section data-testid="selected">
              <h4>Selected object #{sel}</h4>
              <div>{className(selObj.class_id)} {selObj.box && `· ${selObj.box.map((v) => Math.round(v)).join(", ")}`}</div>
              <Tags tags={(selObj.attrs?.tags as string[]) ?? []} testid="object-tags" onChange={(t) => {
                const objs = objects.slice(); objs[sel!] = { ...selObj, attrs: { ...selObj.attrs, tags: t } }; apply(objs);
              }} />
              <Attrs attrs={Object.fromEntries(Object.entries(selObj.attrs ?? {}).filter(([k]) => k !== "tags"))} />
              <button onClick={deleteSelected} title="Delete">delete {selVertex ? "vertex" : "object"}</button>
            </section>)}
          <section>
            <h4>Findings ({detail.findings.length})</h4>
            {detail.findings.length === 0 ? <div class="muted">none</div> : (
              <ul class="findings">
                {detail.findings.map((f, i) => (
                  <li key={i} class={`sev-${f.severity}`}>
                    <a href={`#/grid?${filterQuery(setKey([], "finding", f.code))}`}>{f.code}</a> {f.message}</li>))}
              </ul>)}
          </section>
          <section>
            <h4>Image</h4>
            <Attrs attrs={{ file: detail.file, split: detail.split, size: `${detail.width}×${detail.height}`, ...detail.attrs }} />
          </section>
          <section class="keys muted">
            ←/→ previous/next · t tag · h hide · Esc back · b box · p polygon · s SAM · v select ·
            Delete removes · double-click an edge adds a vertex · Ctrl+Z / Ctrl+Shift+Z · wheel zoom, drag pans
          </section>
        </aside>
      </div>
    </div>
  );
}

function ClassPicker({ classes, value, onPick, onCreate }: {
  classes: { id: number; name: string }[]; value: number; onPick: (id: number) => void; onCreate: (name: string) => void;
}) {
  const [name, setName] = useState("");
  const [pending, setPending] = useState<string | null>(null);
  // once a created class shows up in the list, pick it
  useEffect(() => {
    if (pending === null) return;
    const c = classes.find((c) => c.name === pending);
    if (c) { onPick(c.id); setPending(null); }
  }, [classes, pending]);
  return (
    <div class="class-picker">
      <select value={String(value)} data-testid="class-select"
              onChange={(e) => onPick(Number((e.target as HTMLSelectElement).value))}>
        {classes.map((c) => <option key={c.id} value={String(c.id)}>{c.name}</option>)}
      </select>
      <form onSubmit={(e) => {
        e.preventDefault();
        const n = name.trim();
        if (!n) return;
        const c = classes.find((c) => c.name === n);
        if (c) onPick(c.id); else { onCreate(n); setPending(n); }
        setName("");
      }}>
        <input placeholder="new class" value={name} data-testid="new-class"
               onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        <button>create</button>
      </form>
    </div>);
}

function Tags({ tags, onChange, inputRef, testid }: {
  tags: string[]; onChange: (t: string[]) => void; inputRef?: any; testid: string;
}) {
  const [v, setV] = useState("");
  return (
    <div class="tags" data-testid={testid}>
      {tags.map((t) => <span key={t} class="chip">{t}<button title="remove" onClick={() => onChange(tags.filter((x) => x !== t))}>×</button></span>)}
      <form onSubmit={(e) => {
        e.preventDefault();
        const t = v.trim();
        if (t && !tags.includes(t)) onChange([...tags, t]);
        setV("");
        (e.target as HTMLFormElement).querySelector("input")?.blur();
      }}>
        <input ref={inputRef} placeholder="add tag" value={v} onInput={(e) => setV((e.target as HTMLInputElement).value)} />
      </form>
    </div>);
}

function Attrs({ attrs }: { attrs: Record<string, unknown> }) {
  const entries = Object.entries(attrs);
  if (!entries.length) return null;
  return (
    <table class="attrs">
      <tbody>{entries.map(([k, v]) => <tr key={k}><th>{k}</th><td>{typeof v === "string" ? v : JSON.stringify(v)}</td></tr>)}</tbody>
    </table>);
}

/** A dataset folder is opened read-only: saving first makes a workspace with the folder as its
 * source (POST /api/workspace); the app switches to it and the edits are saved from there. */
function CreateWorkspace({ meta, onDone, onCancel }: { meta: Meta; onDone: (msg: string) => void; onCancel: () => void }) {
  const [path, setPath] = useState(`${meta.path.replace(/\/+$/, "")}-workspace`);
  const [error, setError] = useState<string | null>(null);
  return (
    <form class="notice" data-testid="create-workspace" onSubmit={async (e) => {
      e.preventDefault(); setError(null);
      try {
        await post("/api/workspace", { path });
        onDone(`workspace created at ${path} with this folder as its source: press save again to save your edits there`);
      } catch (err: any) { setError(String(err.message ?? err)); }
    }}>
      This folder is opened read-only. Create a workspace (the folder is not changed) at{" "}
      <input size={50} value={path} onInput={(e) => setPath((e.target as HTMLInputElement).value)} />{" "}
      <button class="primary">create workspace</button> <button type="button" onClick={onCancel}>cancel</button>
      {error && <div class="error">{error}</div>}
    </form>);
}
