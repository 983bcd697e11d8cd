// The app shell: the dataset's meta, the top bar and the page the hash route names.
import { render } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { get, Meta, filterFrom, filterQuery } from "./api";
import { href, useRoute } from "./router";
import { GridPage } from "./grid";
import { ImagePage } from "./image";
import { HealthPage, ClassesPage } from "./pages";
import { VersionsPage } from "./versions";
import { ExportDialog } from "./exporter";
import "./style.css";

function App() {
  const route = useRoute();
  const [meta, setMeta] = useState<Meta | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [exporting, setExporting] = useState(false);

  const reloadMeta = useCallback(async () => {
    try { setMeta(await get<Meta>("/api/meta")); setError(null); }
    catch (e: any) { setError(String(e.message ?? e)); }
  }, []);
  useEffect(() => { reloadMeta(); }, []);
  // findings come from a background `check`: ask again until they are ready
  useEffect(() => {
    if (!meta || meta.findings_ready) return;
    const t = setTimeout(reloadMeta, 1500);
    return () => clearTimeout(t);
  }, [meta]);

  if (error && !meta) return <div class="fatal">Cannot reach the visionflow server: {error}</div>;
  if (!meta) return <div class="loading">Opening…</div>;
  const filter = filterFrom(route.params);
  const q = filterQuery(filter);
  const tab = (page: string, label: string) => (
    <a class={route.page === page ? "tab on" : "tab"} href={href(page, page === "grid" ? q : "")}
       data-page={page}>{label}</a>);
  return (
    <div class="app">
      <header>
        <span class="brand">visionflow</span>
        <span class="dsname" title={meta.path}>{meta.name}</span>
        <span class="rev" data-testid="revision">{meta.revision}</span>
        {meta.read_only && <span class="badge" title="a dataset folder: saving needs a workspace">read-only</span>}
        <nav>
          {tab("grid", "Grid")}{tab("health", "Health")}{tab("classes", "Classes")}
          {meta.kind === "workspace" && tab("versions", "Versions")}
        </nav>
        <button class="export-btn" onClick={() => setExporting(true)}>Export…</button>
      </header>
      <main>
        {route.page === "image" && route.id !== null
          ? <ImagePage meta={meta} id={route.id} filter={filter} onSaved={reloadMeta} />
          : route.page === "health" ? <HealthPage meta={meta} />
          : route.page === "classes" ? <ClassesPage meta={meta} onChanged={reloadMeta} />
          : route.page === "versions" ? <VersionsPage meta={meta} onChanged={reloadMeta} />
          : <GridPage meta={meta} filter={filter} />}
      </main>
      {exporting && <ExportDialog meta={meta} filter={filter} onClose={() => setExporting(false)} />}
    </div>
  );
}

render(<App />, document.getElementById("app")!);
