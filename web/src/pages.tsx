// The health page (the `check` report, each finding code a link to its images in the grid) and
// the classes page (counts per split; rename and merge write a new revision).
import { useEffect, useState } from "preact/hooks";
import { Meta, get, post } from "./api";
import { href } from "./router";
import { classColors } from "./colors";

type HealthFinding = { severity: string; code: string; message: string; count?: number;
                       where?: string | null; image_id?: number | null };
type Health = { revision?: string; findings: HealthFinding[]; statistics?: Record<string, unknown>;
                codes?: { code: string; severity: string; count: number; images: number }[] };

export function HealthPage({ meta }: { meta: Meta }) {
  const [health, setHealth] = useState<Health | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  useEffect(() => {
    if (!meta.findings_ready) return;
    get<Health>("/api/health").then(setHealth).catch((e) => setError(String(e.message ?? e)));
  }, [meta.revision, meta.findings_ready]);
  if (error) return <div class="error page-error" role="alert">{error}</div>;
  if (!meta.findings_ready) return <div class="loading">Running the health check…</div>;
  if (!health) return <div class="loading">Loading the health report…</div>;

  const groups = new Map<string, HealthFinding[]>();
  for (const f of health.findings) groups.set(f.code, [...(groups.get(f.code) ?? []), f]);
  const rank = (s: string) => ({ error: 0, warning: 1, info: 2 } as Record<string, number>)[s] ?? 3;
  const rows = [...groups.entries()].sort((a, b) => rank(a[1][0].severity) - rank(b[1][0].severity) || b[1].length - a[1].length);
  return (
    <div class="page health-page">
      <h2>Health <span class="muted">{health.revision ?? meta.revision}</span></h2>
      {rows.length === 0 ? <p>No findings: <code>check</code> found nothing wrong.</p> : (
        <table class="table findings-table" data-testid="findings">
          <thead><tr><th>severity</th><th>finding</th><th>count</th><th>images</th><th>example</th></tr></thead>
          <tbody>
            {rows.map(([code, fs]) => {
              const summary = Array.isArray(health.codes) ? health.codes.find((c) => c.code === code) : undefined;
              const images = summary?.images ?? new Set(fs.filter((f) => f.image_id != null).map((f) => f.image_id)).size;
              const count = summary?.count ?? fs.reduce((a, f) => a + (f.count ?? 1), 0);
              return [
                <tr key={code} class={`sev-${fs[0].severity}`} data-code={code}>
                  <td>{fs[0].severity}</td>
                  <td>{images > 0
                    ? <a href={href("grid", new URLSearchParams({ finding: code }).toString())} data-finding={code}>{code}</a>
                    : <span>{code}</span>}</td>
                  <td>{count}</td><td>{images || ""}</td>
                  <td class="msg">{fs[0].where ? <b>{fs[0].where}: </b> : null}{fs[0].message}
                    {fs.length > 1 && <button class="link" onClick={() => setOpen(open === code ? null : code)}>
                      {open === code ? "less" : `all ${fs.length}`}</button>}</td>
                </tr>,
                open === code && fs.slice(1, 200).map((f, i) => (
                  <tr key={`${code}${i}`} class="sub"><td /><td /><td /><td />
                    <td class="msg">{f.image_id != null ? <a href={href("image", "", f.image_id)}>{f.where ?? `image ${f.image_id}`}: </a>
                      : f.where ? <b>{f.where}: </b> : null}{f.message}</td></tr>)),
              ];
            })}
          </tbody>
        </table>)}
      {health.statistics && <Stats stats={health.statistics} />}
    </div>);
}

function Stats({ stats }: { stats: Record<string, unknown> }) {
  const flat = Object.entries(stats).filter(([, v]) => v === null || typeof v !== "object");
  if (!flat.length) return null;
  return (
    <section><h3>Statistics</h3>
      <table class="table attrs"><tbody>{flat.map(([k, v]) => (
        <tr key={k}><th>{k}</th><td>{typeof v === "number" ? Number(v.toPrecision(4)) : String(v)}</td></tr>))}</tbody></table>
    </section>);
}

type ClassRow = { id: number; name: string; color: string; per_split: Record<string, number> };

export function ClassesPage({ meta, onChanged }: { meta: Meta; onChanged: () => void }) {
  const [rows, setRows] = useState<ClassRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [rename, setRename] = useState<Record<string, string>>({});
  const [merge, setMerge] = useState<Record<string, string>>({});
  useEffect(() => {
    get<{ classes: ClassRow[] }>("/api/classes").then((r) => setRows(r.classes))
      .catch((e) => setError(String(e.message ?? e)));
  }, [meta.revision]);
  if (!rows) return error ? <div class="error page-error" role="alert">{error}</div> : <div class="loading">Loading classes…</div>;
  const splits = [...new Set([...meta.splits, ...rows.flatMap((r) => Object.keys(r.per_split))])];
  const colors = classColors(meta.classes);
  const changes = Object.keys(rename).filter((k) => rename[k] && rename[k] !== k).length +
                  Object.keys(merge).filter((k) => merge[k]).length;
  async function apply() {
    setError(null); setNotice(null);
    const ren = Object.fromEntries(Object.entries(rename).filter(([k, v]) => v && v !== k));
    const mer = Object.fromEntries(Object.entries(merge).filter(([, v]) => v));
    try {
      const res = await post<{ revision?: string }>("/api/classes", { base_revision: meta.revision, rename: ren, merge: mer });
      setRename({}); setMerge({});
      setNotice(`saved${res.revision ? `: revision ${res.revision}` : ""}`);
      onChanged();
    } catch (e: any) { setError(String(e.message ?? e)); }
  }
  return (
    <div class="page classes-page">
      <h2>Classes <span class="muted">{rows.length}</span></h2>
      {error && <div class="error" role="alert">{error}</div>}
      {notice && <div class="notice">{notice}</div>}
      <table class="table" data-testid="classes">
        <thead><tr><th>class</th>{splits.map((s) => <th key={s}>{s || "(no split)"}</th>)}<th>total</th><th>rename to</th><th>merge into</th></tr></thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.id} data-class={r.name}>
              <td><i class="swatch" style={`background:${r.color || colors(r.id)}`} />
                <a href={href("grid", new URLSearchParams({ class: r.name }).toString())}>{r.name}</a></td>
              {splits.map((s) => <td key={s} class="num">{(r.per_split[s] ?? 0).toLocaleString()}</td>)}
              <td class="num">{Object.values(r.per_split).reduce((a, b) => a + b, 0).toLocaleString()}</td>
              <td><input value={rename[r.name] ?? ""} placeholder={r.name} disabled={meta.read_only || !!merge[r.name]}
                         onInput={(e) => setRename({ ...rename, [r.name]: (e.target as HTMLInputElement).value })} /></td>
              <td><select value={merge[r.name] ?? ""} disabled={meta.read_only || !!rename[r.name]}
                          onChange={(e) => setMerge({ ...merge, [r.name]: (e.target as HTMLSelectElement).value })}>
                <option value="">—</option>
                {rows.filter((o) => o.name !== r.name).map((o) => <option key={o.id} value={o.name}>{o.name}</option>)}
              </select></td>
            </tr>))}
        </tbody>
      </table>
      {meta.read_only ? <p class="muted">A dataset folder is read-only: create a workspace to rename or merge classes.</p>
        : <button class="primary" disabled={!changes} onClick={apply}>apply {changes || ""} change{changes === 1 ? "" : "s"} as a new revision</button>}
    </div>);
}
