// The versions page: every version with its lineage, a diff between two of them, and the
// "generate version" wizard (split -> preprocess -> augment) that writes the same recipe YAML the
// CLI takes (`visionflow version create NAME --recipe r.yaml --seed N`), with a live preview.
import { useEffect, useRef, useState } from "preact/hooks";
import { Meta, get, post, thumbUrl } from "./api";
import { href } from "./router";

type Version = { name: string; created_at?: string; author?: string; images?: number;
                 annotations?: number; sources?: string[]; recipe?: string | null; seed?: number;
                 tags?: number; lineage?: any };
type DiffImage = { image: string; id: number | null };
type DiffResult = { a: string; b: string; images: Record<string, number>;
                    annotations: Record<string, number>; per_class: Record<string, Record<string, number>>;
                    categories: { added: string[]; removed: string[] };
                    images_added: DiffImage[]; images_removed: DiffImage[]; images_changed: DiffImage[];
                    images_reannotated: DiffImage[]; changed_ids?: number[] };
type Source = { name: string; revisions: { revision: number }[] };

export function VersionsPage({ meta, onChanged }: { meta: Meta; onChanged: () => void }) {
  const [versions, setVersions] = useState<Version[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [wizard, setWizard] = useState(false);
  const [sources, setSources] = useState<Source[]>([]);
  const load = () => get<any>("/api/versions")
    .then((r) => { setVersions(Array.isArray(r) ? r : r.versions ?? []); setSources(r.sources ?? []); })
    .catch((e) => setError(String(e.message ?? e)));
  useEffect(() => { load(); }, [meta.revision]);
  if (!versions) return error ? <div class="error page-error" role="alert">{error}</div> : <div class="loading">Loading versions…</div>;
  // what a diff compares: versions, and every revision of every source (SOURCE@N)
  const refs = [...versions.map((v) => v.name),
                ...sources.flatMap((s) => s.revisions.map((r) => `${s.name}@${r.revision}`))];
  return (
    <div class="page versions-page">
      <h2>Versions <span class="muted">{versions.length}</span>
        <button class="primary" data-testid="new-version" onClick={() => setWizard(true)}>generate version…</button></h2>
      {error && <div class="error" role="alert">{error}</div>}
      {versions.length === 0 ? <p class="muted">No versions yet: generate one from the source's current revision.</p> : (
        <table class="table" data-testid="versions">
          <thead><tr><th>name</th><th>created</th><th>images</th><th>annotations</th><th>from</th><th>recipe</th><th>seed</th></tr></thead>
          <tbody>{versions.map((v) => (
            <tr key={v.name} data-version={v.name}>
              <td><b>{v.name}</b></td><td>{v.created_at?.replace("T", " ").slice(0, 19)}</td>
              <td class="num">{v.images?.toLocaleString()}</td><td class="num">{v.annotations?.toLocaleString()}</td>
              <td>{(v.sources ?? []).join(", ")}</td><td title={v.lineage?.recipe?.text ?? ""}>{v.recipe ?? "—"}</td><td>{v.seed ?? ""}</td>
            </tr>))}</tbody>
        </table>)}
      {refs.length >= 2 && <DiffView refs={refs} />}
      {wizard && <Wizard meta={meta} existing={versions.map((v) => v.name)} onClose={() => setWizard(false)}
                         onCreated={() => { setWizard(false); load(); onChanged(); }} />}
    </div>);
}

function DiffView({ refs }: { refs: string[] }) {
  const [a, setA] = useState(refs[Math.max(0, refs.length - 2)]);
  const [b, setB] = useState(refs[refs.length - 1]);
  const [d, setD] = useState<DiffResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const run = () => {
    setError(null);
    get<DiffResult>(`/api/versions/diff?${new URLSearchParams({ a, b })}`).then(setD)
      .catch((e) => { setD(null); setError(String(e.message ?? e)); });
  };
  const pick = (v: string, set: (v: string) => void) => (
    <select value={v} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
      {refs.map((r) => <option key={r} value={r}>{r}</option>)}</select>);
  const list = (title: string, files: DiffImage[] | undefined, n: number | undefined) => files && files.length > 0 && (
    <details class="difflist" open={(n ?? files.length) <= 20}><summary>{title} ({n ?? files.length})</summary>
      <ul>{files.slice(0, 100).map((f) => (
        <li key={f.image}>{f.id != null ? <a href={href("image", "", f.id)}>{f.image}</a> : <span>{f.image}</span>}</li>))}
        {(n ?? files.length) > 100 && <li class="muted">…</li>}</ul></details>);
  return (
    <section class="diff" data-testid="diff">
      <h3>Diff</h3>
      <div class="row">{pick(a, setA)} → {pick(b, setB)} <button onClick={run}>compare</button></div>
      {error && <div class="error" role="alert">{error}</div>}
      {d && (
        <div>
          <p>images: +{d.images?.added ?? 0} −{d.images?.removed ?? 0}, {d.images?.changed ?? 0} changed pixels,
            {" "}{d.images?.reannotated ?? 0} re-annotated · annotations: +{d.annotations?.added ?? 0} −{d.annotations?.removed ?? 0}
            {d.categories?.added?.length ? ` · new classes: ${d.categories.added.join(", ")}` : ""}
            {d.categories?.removed?.length ? ` · removed classes: ${d.categories.removed.join(", ")}` : ""}</p>
          {Object.keys(d.per_class ?? {}).length > 0 && (
            <table class="table"><thead><tr><th>class</th><th>added</th><th>removed</th><th>moved</th></tr></thead>
              <tbody>{Object.entries(d.per_class).map(([c, v]) => (
                <tr key={c}><td>{c}</td><td class="num">{v.added ?? 0}</td><td class="num">{v.removed ?? 0}</td><td class="num">{v.moved ?? 0}</td></tr>))}</tbody></table>)}
          {(d.changed_ids?.length ?? 0) > 0 && <div class="thumbs" data-testid="diff-thumbs">
            {d.changed_ids!.slice(0, 24).map((id) => <a key={id} href={href("image", "", id)}><img src={thumbUrl(id, 256)} alt={`image ${id}`} /></a>)}</div>}
          {list("re-annotated", d.images_reannotated, d.images?.reannotated)}
          {list("changed pixels", d.images_changed, d.images?.changed)}
          {list("added", d.images_added, d.images?.added)}
          {list("removed", d.images_removed, d.images?.removed)}
        </div>)}
    </section>);
}

type Steps = {
  split: boolean; ratios: [number, number, number]; stratify: boolean;
  resize: boolean; size: number; mode: string; autoOrient: boolean; grayscale: boolean;
  augment: boolean; copies: number; flip: number; rotate: number; brightness: number; blur: number;
};

/** The recipe YAML for the wizard's choices (the format of transforms/recipe.py). */
export function recipeYaml(s: Steps): string {
  const lines: string[] = [];
  if (s.split) lines.push(`split: {ratios: [${s.ratios.join(", ")}], stratify: ${s.stratify}}`);
  const pre: string[] = [];
  if (s.autoOrient) pre.push("  - auto_orient");
  if (s.resize) pre.push(`  - resize: {size: [${s.size}, ${s.size}], mode: ${s.mode}}`);
  if (s.grayscale) pre.push("  - grayscale");
  if (pre.length) lines.push("preprocess:", ...pre);
  if (s.augment) {
    const ops: string[] = [];
    if (s.flip > 0) ops.push(`    - flip: {direction: horizontal, p: ${s.flip}}`);
    if (s.rotate > 0) ops.push(`    - rotate: {angle_range: ${s.rotate}}`);
    if (s.brightness > 0) ops.push(`    - brightness: {amount_range: ${s.brightness}}`);
    if (s.blur > 0) ops.push(`    - blur: {p: ${s.blur}}`);
    if (ops.length) lines.push("augment:", `  copies: ${s.copies}`, "  ops:", ...ops);
  }
  return lines.join("\n") + "\n";
}

function Wizard({ meta, existing, onClose, onCreated }: {
  meta: Meta; existing: string[]; onClose: () => void; onCreated: () => void;
}) {
  const [step, setStep] = useState(0);
  const [s, setS] = useState<Steps>({ split: false, ratios: [0.7, 0.2, 0.1], stratify: true,
    resize: true, size: 640, mode: "letterbox", autoOrient: false, grayscale: false,
    augment: true, copies: 2, flip: 0.5, rotate: 10, brightness: 0.2, blur: 0 });
  const [text, setText] = useState<string | null>(null);      // hand-edited YAML, when edited
  const [name, setName] = useState(() => { let i = existing.length + 1; while (existing.includes(`v${i}`)) i++; return `v${i}`; });
  const [seed, setSeed] = useState(0);
  const [preview, setPreview] = useState<{ output_images: number; samples: string[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const recipe = text ?? recipeYaml(s);
  const hasSteps = recipe.trim().length > 0;
  const set = (p: Partial<Steps>) => { setS({ ...s, ...p }); setText(null); };
  const req = useRef(0);

  useEffect(() => {
    if (!hasSteps) { setPreview(null); return; }
    const n = ++req.current;
    const t = setTimeout(() => {
      post<{ output_images: number; samples: string[] }>("/api/versions/preview", { recipe, seed, n: 6 })
        .then((p) => { if (n === req.current) { setPreview(p); setError(null); } })
        .catch((e) => { if (n === req.current) { setPreview(null); setError(String(e.message ?? e)); } });
    }, 300);
    return () => clearTimeout(t);
  }, [recipe, seed]);

  async function create() {
    setBusy(true); setError(null);
    try {
      await post("/api/versions", { name, recipe: hasSteps ? recipe : null, seed });
      onCreated();
    } catch (e: any) { setError(String(e.message ?? e)); } finally { setBusy(false); }
  }
  const num = (v: number, f: (x: number) => void, step = 0.1, min = 0, max = 100, testid?: string) => (
    <input type="number" value={v} step={step} min={min} max={max} data-testid={testid}
           onInput={(e) => f(Number((e.target as HTMLInputElement).value))} />);
  const steps = ["Split", "Preprocess", "Augment", "Create"];
  return (
    <div class="modal-back" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="modal wizard" data-testid="wizard">
        <h3>Generate a version from {meta.revision}</h3>
        <ol class="steps">{steps.map((t, i) => <li key={t} class={i === step ? "on" : ""} onClick={() => setStep(i)}>{t}</li>)}</ol>
        <div class="wizard-body">
          <div class="wizard-form">
            {step === 0 && (<div>
              <label class="inline"><input type="checkbox" checked={s.split} data-testid="w-split" onChange={() => set({ split: !s.split })} /> re-split the images</label>
              {s.split && <div class="row">train {num(s.ratios[0], (v) => set({ ratios: [v, s.ratios[1], s.ratios[2]] }), 0.05, 0, 1)}
                val {num(s.ratios[1], (v) => set({ ratios: [s.ratios[0], v, s.ratios[2]] }), 0.05, 0, 1)}
                test {num(s.ratios[2], (v) => set({ ratios: [s.ratios[0], s.ratios[1], v] }), 0.05, 0, 1)}
                <label class="inline"><input type="checkbox" checked={s.stratify} onChange={() => set({ stratify: !s.stratify })} /> stratify by class</label></div>}
              {!s.split && <p class="muted">keeps the splits as they are ({meta.splits.join(", ") || "none"})</p>}
            </div>)}
            {step === 1 && (<div>
              <label class="inline"><input type="checkbox" checked={s.autoOrient} onChange={() => set({ autoOrient: !s.autoOrient })} /> auto-orient (EXIF)</label>
              <label class="inline"><input type="checkbox" checked={s.resize} data-testid="w-resize" onChange={() => set({ resize: !s.resize })} /> resize to</label>
              {s.resize && <div class="row">{num(s.size, (v) => set({ size: Math.round(v) }), 32, 32, 4096, "w-size")} px,
                <select value={s.mode} onChange={(e) => set({ mode: (e.target as HTMLSelectElement).value })}>
                  {["letterbox", "fit", "stretch", "fill"].map((m) => <option key={m}>{m}</option>)}</select></div>}
              <label class="inline"><input type="checkbox" checked={s.grayscale} onChange={() => set({ grayscale: !s.grayscale })} /> grayscale</label>
            </div>)}
            {step === 2 && (<div>
              <label class="inline"><input type="checkbox" checked={s.augment} data-testid="w-augment" onChange={() => set({ augment: !s.augment })} /> augment the train split</label>
              {s.augment && <div class="grid2">
                <span>copies per image</span>{num(s.copies, (v) => set({ copies: Math.max(1, Math.round(v)) }), 1, 1, 50, "w-copies")}
                <span>horizontal flip p</span>{num(s.flip, (v) => set({ flip: v }), 0.1, 0, 1)}
                <span>rotate ± degrees</span>{num(s.rotate, (v) => set({ rotate: v }), 1, 0, 180)}
                <span>brightness ±</span>{num(s.brightness, (v) => set({ brightness: v }), 0.05, 0, 1)}
                <span>blur p</span>{num(s.blur, (v) => set({ blur: v }), 0.1, 0, 1)}
              </div>}
            </div>)}
            {step === 3 && (<div class="grid2">
              <span>version name</span><input value={name} data-testid="w-name" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
              <span>seed</span>{num(seed, (v) => setSeed(Math.round(v)), 1, 0, 2 ** 31, "w-seed")}
            </div>)}
            <details class="yaml">
              <summary>recipe YAML (the file the CLI takes)</summary>
              <textarea rows={9} value={recipe} data-testid="w-recipe" onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} />
              <code class="cli" data-testid="w-command">visionflow version create --name {name} {hasSteps ? "--recipe recipe.yaml " : ""}--seed {seed}</code>
            </details>
          </div>
          <div class="wizard-preview" data-testid="preview">
            <h4>Preview {preview && <span data-testid="output-count">{preview.output_images.toLocaleString()} output images</span>}</h4>
            {!hasSteps && <p class="muted">no steps: the version is the source as it is</p>}
            <div class="samples">{preview?.samples.map((src, i) => <img key={i} src={src} alt={`sample ${i}`} />)}</div>
          </div>
        </div>
        {error && <div class="error" role="alert">{error}</div>}
        <div class="modal-buttons">
          <button onClick={onClose}>cancel</button>
          {step > 0 && <button onClick={() => setStep(step - 1)}>back</button>}
          {step < 3 ? <button class="primary" onClick={() => setStep(step + 1)}>next</button>
            : <button class="primary" data-testid="w-create" disabled={busy || !name.trim()} onClick={create}>{busy ? "creating…" : "create version"}</button>}
        </div>
      </div>
    </div>);
}
