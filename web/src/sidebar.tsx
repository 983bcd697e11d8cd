// The filter sidebar: every facet with its count for the current filter (the server counts each
// facet without its own clause, so a chosen split still shows the other splits' counts).
import { useEffect, useState } from "preact/hooks";
import { Facets, Filter, Hist, Meta, filterQuery, get, setKey, toggle, values } from "./api";
import { classColors } from "./colors";

type Props = { meta: Meta; filter: Filter; onChange: (f: Filter) => void;
               onError: (e: string | null) => void };

export function Sidebar({ meta, filter, onChange, onError }: Props) {
  const [facets, setFacets] = useState<Facets | null>(null);
  const q = filterQuery(filter);
  useEffect(() => {
    const ac = new AbortController();
    const t = setTimeout(() => {
      get<Facets>(`/api/facets?${q}`, ac.signal).then(setFacets).catch((e) => {
        if (e.name !== "AbortError") onError(String(e.message ?? e));
      });
    }, 60);
    return () => { clearTimeout(t); ac.abort(); };
  }, [q, meta.revision, meta.findings_ready]);

  const colors = classColors(meta.classes);
  const classId = new Map(meta.classes.map((c) => [c.name, c.id]));
  const chosen = (k: string, v: string) => values(filter, k).includes(v);
  const list = (key: string, counts: Record<string, number> | undefined, label: (k: string) => any = (k) => k) => {
    const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1]);
    return entries.length === 0 ? <div class="muted">none</div> : (
      <ul class="facet">
        {entries.map(([k, n]) => (
          <li key={k}>
            <label class={n === 0 && !chosen(key, k) ? "zero" : ""}>
              <input type="checkbox" checked={chosen(key, k)} data-facet={key} data-value={k}
                     onChange={() => onChange(toggle(filter, key, k))} />
              <span class="name">{label(k)}</span><span class="n">{n.toLocaleString()}</span>
            </label>
          </li>))}
      </ul>);
  };

  return (
    <aside class="sidebar" data-testid="sidebar">
      <div class="facet-head">
        <b>{facets ? facets.total.toLocaleString() : "…"}</b> of {meta.images.toLocaleString()} images
        {filter.length > 0 && <button class="link" onClick={() => onChange([])}>clear all</button>}
      </div>
      <TextBox label="File name contains" value={values(filter, "q").join(",")}
               onSet={(v) => onChange(setKey(filter, "q", v))} testid="q" />
      <Section title="Split">{list("split", facets?.split, (k) => k || "(no split)")}</Section>
      <Section title="Classes">
        <ul class="facet">
          {Object.entries(facets?.class ?? {}).sort((a, b) => b[1] - a[1]).map(([k, n]) => (
            <li key={k} class="class-row">
              <label>
                <input type="checkbox" checked={chosen("class", k)} data-facet="class" data-value={k}
                       title="images with this class" onChange={() => onChange(toggle(filter, "class", k))} />
                <i class="swatch" style={`background:${colors(classId.get(k) ?? 0)}`} />
                <span class="name">{k}</span><span class="n">{n.toLocaleString()}</span>
              </label>
              <button class={chosen("no_class", k) ? "without on" : "without"} data-without={k}
                      title="images without this class" onClick={() => onChange(toggle(filter, "no_class", k))}>
                without</button>
            </li>))}
        </ul>
        <CountRange filter={filter} onChange={onChange} names={meta.classes.map((c) => c.name)} />
        {facets?.empty && (
          <label class="inline"><input type="checkbox" checked={chosen("empty", "1")} data-facet="empty"
            onChange={() => onChange(setKey(filter, "empty", chosen("empty", "1") ? "" : "1"))} />
            only images without objects <span class="n">{facets.empty.empty ?? 0}</span></label>)}
      </Section>
      <Section title="Tags">{list("tag", facets?.tag)}</Section>
      <Section title="Health findings">
        {facets?.finding ? list("finding", facets.finding)
          : <div class="muted">{meta.findings_ready ? "none" : "running check…"}</div>}
      </Section>
      {meta.predictions.length > 0 && (
        <Section title="Predictions">
          <select value={values(filter, "pred")[0] ?? ""} data-testid="pred"
                  onChange={(e) => onChange(setKey(filter, "pred", (e.target as HTMLSelectElement).value))}>
            {meta.predictions.length > 1 && <option value="">(choose a set)</option>}
            {meta.predictions.map((p) => <option key={p} value={p}>{p}</option>)}
          </select>
          {list("outcome", facets?.outcome, (k) => k.toUpperCase())}
          <RangeBox label="confidence" k="conf" filter={filter} onChange={onChange} />
        </Section>)}
      <Section title="Object size (box area / image area)">
        <HistView h={facets?.area} k="area" filter={filter} onChange={onChange} />
      </Section>
      <Section title="Image aspect (w/h)"><HistView h={facets?.aspect} k="aspect" filter={filter} onChange={onChange} /></Section>
      <Section title="Image width"><HistView h={facets?.width} k="width" filter={filter} onChange={onChange} /></Section>
      <Section title="Image height"><HistView h={facets?.height} k="height" filter={filter} onChange={onChange} /></Section>
      {((meta as any).duplicates || meta.embeddings || values(filter, "dup").length > 0) && <Section title="Duplicates">
        <label class="inline"><input type="checkbox" checked={chosen("dup", "1")} data-facet="dup"
          onChange={() => onChange(setKey(filter, "dup", chosen("dup", "1") ? "" : "1"))} />
          only images in a near-duplicate group</label>
        {meta.embeddings && values(filter, "similar").length > 0 &&
          <div class="muted">ordered by similarity to image {values(filter, "similar")[0]}
            <button class="link" onClick={() => onChange(setKey(filter, "similar", ""))}>×</button></div>}
      </Section>}
    </aside>
  );
}

function Section({ title, children }: { title: string; children: any }) {
  const [open, setOpen] = useState(true);
  return (
    <section class="facet-section">
      <h4 onClick={() => setOpen(!open)}>{open ? "▾" : "▸"} {title}</h4>
      {open && children}
    </section>);
}

function TextBox({ label, value, onSet, testid }: { label: string; value: string; onSet: (v: string) => void; testid: string }) {
  const [v, setV] = useState(value);
  useEffect(() => setV(value), [value]);
  return (
    <form class="textbox" onSubmit={(e) => { e.preventDefault(); onSet(v.trim()); }}>
      <input placeholder={label} value={v} data-testid={testid}
             onInput={(e) => setV((e.target as HTMLInputElement).value)} />
    </form>);
}

function CountRange({ filter, onChange, names }: { filter: Filter; onChange: (f: Filter) => void; names: string[] }) {
  const cur = values(filter, "count")[0]?.split(":") ?? [];
  const [name, setName] = useState(cur[0] ?? names[0] ?? "");
  const [lo, setLo] = useState(cur[1] ?? "");
  const [hi, setHi] = useState(cur[2] ?? "");
  const apply = (e: Event) => {
    e.preventDefault();
    onChange(setKey(filter, "count", lo || hi ? `${name}:${lo}:${hi}` : ""));
  };
  return (
    <form class="count-range" onSubmit={apply} title="images with lo..hi objects of a class">
      <select value={name} onChange={(e) => setName((e.target as HTMLSelectElement).value)}>
        {names.map((n) => <option key={n} value={n}>{n}</option>)}
      </select>
      <input size={3} placeholder="min" value={lo} onInput={(e) => setLo((e.target as HTMLInputElement).value)} />
      –<input size={3} placeholder="max" value={hi} onInput={(e) => setHi((e.target as HTMLInputElement).value)} />
      <button>count</button>
    </form>);
}

function RangeBox({ label, k, filter, onChange }: { label: string; k: string; filter: Filter; onChange: (f: Filter) => void }) {
  const cur = values(filter, k)[0]?.split(":") ?? [];
  const [lo, setLo] = useState(cur[0] ?? "");
  const [hi, setHi] = useState(cur[1] ?? "");
  useEffect(() => { setLo(cur[0] ?? ""); setHi(cur[1] ?? ""); }, [values(filter, k)[0]]);
  return (
    <form class="range" onSubmit={(e) => { e.preventDefault(); onChange(setKey(filter, k, lo || hi ? `${lo}:${hi}` : "")); }}>
      <span>{label}</span>
      <input size={5} placeholder="min" value={lo} data-range={k + "-lo"} onInput={(e) => setLo((e.target as HTMLInputElement).value)} />
      –<input size={5} placeholder="max" value={hi} data-range={k + "-hi"} onInput={(e) => setHi((e.target as HTMLInputElement).value)} />
      <button>set</button>
    </form>);
}

function fmt(v: number | null): string {
  if (v === null) return "";
  return Math.abs(v) >= 10 ? String(Math.round(v)) : String(Number(v.toPrecision(3)));
}

/** A histogram of the current filter's counts; a click on a bar filters to that bin. */
function HistView({ h, k, filter, onChange }: { h?: Hist; k: string; filter: Filter; onChange: (f: Filter) => void }) {
  if (!h) return <div class="muted">…</div>;
  const max = Math.max(1, ...h.counts);
  return (
    <div>
      <div class="hist" data-hist={k}>
        {h.counts.map((n, i) => (
          <div key={i} class="bar" title={`${fmt(h.edges[i])}–${fmt(h.edges[i + 1]) || "∞"}: ${n}`}
               onClick={() => onChange(setKey(filter, k, `${fmt(h.edges[i])}:${fmt(h.edges[i + 1])}`))}>
            <div style={`height:${(100 * n) / max}%`} />
          </div>))}
      </div>
      <RangeBox label="" k={k} filter={filter} onChange={onChange} />
    </div>);
}
