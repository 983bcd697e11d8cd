// The HTTP API (web/API.md) as typed functions. Mutations carry the session token the server
// put into index.html; every error becomes an ApiError with the server's one-line message.

export type ClassInfo = { id: number; name: string; color: string };
export type Meta = {
  name: string; path: string; kind: "workspace" | "folder"; read_only: boolean;
  source: string | null; revision: string; classes: ClassInfo[]; splits: string[];
  images: number; objects: number; findings_ready: boolean; predictions: string[];
  embeddings: boolean; sam: { configured: boolean; model: string | null; hint: string };
};
export type GridItem = {
  id: number; file: string; split: string; width: number; height: number; objects: number;
  boxes: [number, number, number, number, number][];
};
export type Page = { total: number; offset: number; items: GridItem[] };
export type Hist = { edges: (number | null)[]; counts: number[] };
export type Facets = {
  total: number; split: Record<string, number>; class: Record<string, number>;
  tag: Record<string, number>; finding?: Record<string, number>;
  outcome?: Record<string, number>; empty?: Record<string, number>;
  width?: Hist; height?: Hist; aspect?: Hist; objects?: Hist; area?: Hist;
  [k: string]: unknown;
};
export type Obj = {
  class_id: number; ann_id?: number | null; box: [number, number, number, number] | null;
  polygon: number[][] | null; keypoints?: number[][] | null; obb?: number[] | null;
  score?: number | null; outcome?: string | null; attrs: Record<string, unknown>;
};
export type Finding = { code: string; severity: string; message: string };
export type Detail = {
  id: number; file: string; split: string; width: number; height: number; tags: string[];
  attrs: Record<string, unknown>; objects: Obj[]; findings: Finding[];
  predictions: Record<string, Obj[]>; prev: number | null; next: number | null;
};

export class ApiError extends Error {
  constructor(public status: number, message: string, public body: any) { super(message); }
}

export function token(): string {
  const el = document.querySelector('meta[name="visionflow-token"]');
  return el?.getAttribute("content") ?? "";
}

async function request(method: string, url: string, body?: unknown, signal?: AbortSignal):
    Promise<Response> {
  const headers: Record<string, string> = {};
  if (method !== "GET") headers["X-Visionflow-Token"] = token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(url, {
    method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let data: any = null;
    try { data = await res.json(); } catch { /* not JSON */ }
    throw new ApiError(res.status, data?.error ?? data?.detail ?? `${res.status} ${res.statusText}`,
                       data);
  }
  return res;
}

export async function get<T>(url: string, signal?: AbortSignal): Promise<T> {
  return (await request("GET", url, undefined, signal)).json();
}
export async function post<T>(url: string, body: unknown): Promise<T> {
  return (await request("POST", url, body)).json();
}
export async function postRaw(url: string, body?: unknown): Promise<Response> {
  return request("POST", url, body);
}

// -- the filter: URL query <-> API query ---------------------------------------------------------
// The filter lives in the hash route's query (`#/grid?class=a&split=train`) so reload, back and
// forward keep it; the same text is the query of /api/images, /api/facets and the export.
export const FILTER_KEYS = ["split", "class", "no_class", "count", "empty", "tag", "finding",
  "area", "aspect", "width", "height", "pred", "outcome", "conf", "dup", "similar", "q"];

export type Filter = [string, string][];

export function filterFrom(params: URLSearchParams): Filter {
  const out: Filter = [];
  params.forEach((v, k) => { if (FILTER_KEYS.includes(k) && v !== "") out.push([k, v]); });
  return out;
}
export function filterQuery(f: Filter): string {
  return new URLSearchParams(f).toString();
}
export function values(f: Filter, key: string): string[] {
  return f.filter(([k]) => k === key).flatMap(([, v]) => v.split(","));
}
/** The filter with `value` toggled inside the comma list of `key` (OR within one key). */
export function toggle(f: Filter, key: string, value: string): Filter {
  const cur = values(f, key);
  const next = cur.includes(value) ? cur.filter((v) => v !== value) : [...cur, value];
  return setKey(f, key, next.join(","));
}
export function setKey(f: Filter, key: string, value: string): Filter {
  const rest = f.filter(([k]) => k !== key);
  return value ? [...rest, [key, value]] : rest;
}
export function thumbUrl(id: number, size = 256): string {
  return `/api/images/${id}/thumb?size=${size}`;
}
