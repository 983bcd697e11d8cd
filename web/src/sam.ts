// SAM click-to-segment in the browser: the server computes the image embedding once per image
// (POST /api/sam/embedding/{id}); the prompt decoder (GET /api/sam/decoder.onnx) runs here with
// onnxruntime-web's wasm backend, loaded only when the user first asks for SAM. The wasm file is
// one of our own built assets (no CDN); one thread, since the page is not cross-origin isolated.
import { postRaw } from "./api";
import wasmUrl from "onnxruntime-web/ort-wasm-simd-threaded.wasm?url";

type Ort = typeof import("onnxruntime-web/wasm");
let ortPromise: Promise<Ort> | null = null;
let sessionPromise: Promise<any> | null = null;

async function ort(): Promise<Ort> {
  if (!ortPromise) {
    ortPromise = import("onnxruntime-web/wasm").then((m) => {
      m.env.wasm.wasmPaths = { wasm: wasmUrl };
      m.env.wasm.numThreads = 1;
      m.env.wasm.proxy = false;
      return m;
    });
  }
  return ortPromise;
}

export async function decoder(): Promise<any> {
  if (!sessionPromise) {
    sessionPromise = (async () => {
      const o = await ort();
      const res = await fetch("/api/sam/decoder.onnx");
      if (!res.ok) {
        let msg = `decoder: ${res.status}`;
        try { msg = (await res.json()).error ?? msg; } catch { /* not JSON */ }
        throw new Error(msg);
      }
      return o.InferenceSession.create(new Uint8Array(await res.arrayBuffer()),
                                       { executionProviders: ["wasm"] });
    })();
    sessionPromise.catch(() => { sessionPromise = null; });
  }
  return sessionPromise;
}

export type Embedding = { data: Float32Array; shape: number[]; imageSize: [number, number];
                          inputSize: [number, number]; padSize: number };
const embeddings = new Map<number, Promise<Embedding>>();

function pair(v: string | null, what: string): [number, number] {
  const p = (v ?? "").split(",").map((s) => Number(s.trim()));
  if (p.length !== 2 || !p.every((x) => Number.isFinite(x) && x > 0))
    throw new Error(`SAM embedding: header ${what} is ${JSON.stringify(v)}, expected "W,H"`);
  return [p[0], p[1]];
}

/** The image's embedding, fetched once per image id (the server caches it per content). */
export function embedding(id: number): Promise<Embedding> {
  let p = embeddings.get(id);
  if (!p) {
    p = (async () => {
      const res = await postRaw(`/api/sam/embedding/${id}`);
      const shape = (res.headers.get("X-Shape") ?? "").split(",").map((s) => Number(s.trim()));
      const data = new Float32Array(await res.arrayBuffer());
      if (!shape.length || shape.some((v) => !Number.isFinite(v)) ||
          shape.reduce((a, b) => a * b, 1) !== data.length)
        throw new Error(`SAM embedding for image ${id}: X-Shape ${res.headers.get("X-Shape")} does not match ${data.length} floats`);
      const padSize = Number(res.headers.get("X-Pad-Size"));
      if (!(padSize > 0)) throw new Error("SAM embedding: no X-Pad-Size header");
      return { data, shape, padSize, imageSize: pair(res.headers.get("X-Image-Size"), "X-Image-Size"),
               inputSize: pair(res.headers.get("X-Input-Size"), "X-Input-Size") };
    })();
    embeddings.set(id, p);
    p.catch(() => embeddings.delete(id));
    if (embeddings.size > 8) embeddings.delete(embeddings.keys().next().value!);
  }
  return p;
}

export type Prompt = { points: [number, number, 1 | 0][]; box: [number, number, number, number] | null };
export type SamResult = { polygon: number[]; score: number | null };

/**
 * One mask for the prompt (image pixel coordinates) as a polygon in image pixels, following
 * the decoder contract in models/sam.py: clicks (labels 1/0), then the box as two corner points
 * (labels 2, 3), else one padding point (label -1), all in the model's input frame; the
 * best-scoring low-resolution mask is upsampled bilinearly to the padded square, cropped to the
 * resized image, thresholded at 0 and traced.
 */
export async function segment(id: number, prompt: Prompt): Promise<SamResult | null> {
  const [sess, emb, o] = await Promise.all([decoder(), embedding(id), ort()]);
  const [W, H] = emb.imageSize, [w, h] = emb.inputSize, S = emb.padSize;
  const fx = w / W, fy = h / H;
  const coords: number[] = [], labels: number[] = [];
  for (const [x, y, l] of prompt.points) { coords.push(x * fx, y * fy); labels.push(l); }
  if (prompt.box) {
    const [x, y, bw, bh] = prompt.box;
    coords.push(x * fx, y * fy, (x + bw) * fx, (y + bh) * fy);
    labels.push(2, 3);
  } else { coords.push(0, 0); labels.push(-1); }
  const n = labels.length;
  const T = o.Tensor;
  const feeds: Record<string, any> = {};
  for (const name of sess.inputNames as string[]) {
    if (name === "image_embeddings") feeds[name] = new T("float32", emb.data, emb.shape);
    else if (name === "point_coords") feeds[name] = new T("float32", Float32Array.from(coords), [1, n, 2]);
    else if (name === "point_labels") feeds[name] = new T("float32", Float32Array.from(labels), [1, n]);
    else throw new Error(`the SAM decoder has an input this app does not know: ${name}`);
  }
  const out = await sess.run(feeds);
  const names = sess.outputNames as string[];
  const masks = out[names.includes("masks") ? "masks" : names[0]];
  const iouName = names.find((x) => x.startsWith("iou"));
  const iou = iouName ? out[iouName] : null;
  const [, k, mh, mw] = masks.dims as number[];
  // models/sam.py: mask 0 is SAM's single-mask answer, 1..k-1 its answers for an ambiguous
  // prompt; one click and no box -> the best of 1..k-1, else mask 0 (as SamSegmenter.segment)
  let best = 0;
  if (iou && k > 1 && prompt.points.length === 1 && !prompt.box) {
    const sc = iou.data as Float32Array;
    best = 1;
    for (let i = 2; i < k; i++) if (sc[i] > sc[best]) best = i;
  }
  const logits = (masks.data as Float32Array).subarray(best * mh * mw, (best + 1) * mh * mw);
  const mask = upsample(logits, mw, mh, S, w, h);
  const poly = maskToPolygon(mask, w, h);
  if (!poly) return null;
  const polygon = poly.map((v, i) => (i % 2 ? Math.min(H, v / fy) : Math.min(W, v / fx)));
  return { polygon, score: iou ? (iou.data as Float32Array)[best] : null };
}

/** Logits (mh x mw) bilinearly upsampled to S x S (align_corners false), the top-left w x h
 * kept, thresholded at 0: a w x h 0/1 mask. */
export function upsample(logits: Float32Array, mw: number, mh: number, S: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h);
  const sx = mw / S, sy = mh / S;
  const x0 = new Int32Array(w), x1 = new Int32Array(w), ax = new Float32Array(w);
  for (let x = 0; x < w; x++) {
    const src = Math.max(0, (x + 0.5) * sx - 0.5);
    x0[x] = Math.min(mw - 1, Math.floor(src)); x1[x] = Math.min(mw - 1, x0[x] + 1); ax[x] = src - x0[x];
  }
  for (let y = 0; y < h; y++) {
    const src = Math.max(0, (y + 0.5) * sy - 0.5);
    const y0 = Math.min(mh - 1, Math.floor(src)), y1 = Math.min(mh - 1, y0 + 1), ay = src - y0;
    const r0 = y0 * mw, r1 = y1 * mw;
    for (let x = 0; x < w; x++) {
      const top = logits[r0 + x0[x]] * (1 - ax[x]) + logits[r0 + x1[x]] * ax[x];
      const bot = logits[r1 + x0[x]] * (1 - ax[x]) + logits[r1 + x1[x]] * ax[x];
      out[y * w + x] = top * (1 - ay) + bot * ay > 0 ? 1 : 0;
    }
  }
  return out;
}

/**
 * The outline of the mask's largest 4-connected component as a polygon [x0, y0, x1, y1, ...]
 * (pixel corners), traced along pixel edges and simplified with Douglas-Peucker (0.7 px).
 */
export function maskToPolygon(mask: Uint8Array, w: number, h: number): number[] | null {
  // largest component by flood fill
  const label = new Int32Array(w * h);
  let bestLabel = 0, bestSize = 0, next = 0;
  const stack: number[] = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || label[s]) continue;
    next++; let size = 0; stack.push(s); label[s] = next;
    while (stack.length) {
      const p = stack.pop()!; size++;
      const x = p % w, y = (p - x) / w;
      if (x > 0 && mask[p - 1] && !label[p - 1]) { label[p - 1] = next; stack.push(p - 1); }
      if (x < w - 1 && mask[p + 1] && !label[p + 1]) { label[p + 1] = next; stack.push(p + 1); }
      if (y > 0 && mask[p - w] && !label[p - w]) { label[p - w] = next; stack.push(p - w); }
      if (y < h - 1 && mask[p + w] && !label[p + w]) { label[p + w] = next; stack.push(p + w); }
    }
    if (size > bestSize) { bestSize = size; bestLabel = next; }
  }
  if (!bestLabel) return null;
  const inside = (x: number, y: number) => x >= 0 && y >= 0 && x < w && y < h && label[y * w + x] === bestLabel;
  // start at the top-left pixel of the component, walk its outer boundary along pixel edges,
  // keeping the component on the right-hand side (directions: 0 right, 1 down, 2 left, 3 up)
  let start = 0;
  while (label[start] !== bestLabel) start++;
  const sx = start % w, sy = (start - sx) / w;
  const pts: number[] = [sx, sy];
  let x = sx, y = sy, d = 0;
  const dx = [1, 0, -1, 0], dy = [0, 1, 0, -1];
  // the pixel to the right-hand side of a move from corner (x, y) in direction d
  const right = (cx: number, cy: number, dir: number): boolean =>
    dir === 0 ? inside(cx, cy) : dir === 1 ? inside(cx - 1, cy) : dir === 2 ? inside(cx - 1, cy - 1) : inside(cx, cy - 1);
  const limit = 4 * (w + 1) * (h + 1);
  for (let steps = 0; steps < limit; steps++) {
    // the first boundary edge out of this corner, turning left, then straight, then right:
    // a boundary edge has the component on its right and the outside on its left
    for (const turn of [3, 0, 1]) {
      const nd = (d + turn) % 4;
      if (right(x, y, nd) && !right(x, y, (nd + 3) % 4)) {
        if (nd !== d && steps > 0) pts.push(x, y);
        d = nd;
        break;
      }
    }
    x += dx[d]; y += dy[d];
    if (x === sx && y === sy) break;
  }
  if (pts.length < 6) {
    return [sx, sy, sx + 1, sy, sx + 1, sy + 1, sx, sy + 1];
  }
  return simplify(pts, 0.7);
}

function simplify(pts: number[], eps: number): number[] {
  const n = pts.length / 2;
  if (n <= 4) return pts;
  const keep = new Uint8Array(n);
  keep[0] = keep[n - 1] = 1;
  const stack: [number, number][] = [[0, n - 1]];
  while (stack.length) {
    const [a, b] = stack.pop()!;
    const ax = pts[2 * a], ay = pts[2 * a + 1], bx = pts[2 * b], by = pts[2 * b + 1];
    const len = Math.hypot(bx - ax, by - ay) || 1;
    let far = -1, dist = eps;
    for (let i = a + 1; i < b; i++) {
      const d = Math.abs((bx - ax) * (ay - pts[2 * i + 1]) - (ax - pts[2 * i]) * (by - ay)) / len;
      if (d > dist) { dist = d; far = i; }
    }
    if (far >= 0) { keep[far] = 1; stack.push([a, far], [far, b]); }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(pts[2 * i], pts[2 * i + 1]);
  return out.length >= 6 ? out : pts;
}
