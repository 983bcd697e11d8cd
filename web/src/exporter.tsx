// The export dialog: a format, the images of the current filter (or all), downloaded as a zip
// the server streams; and the equivalent CLI line to copy.
import { useEffect, useState } from "preact/hooks";
import { Filter, Meta, filterQuery, token } from "./api";

// every format visionflow writes (`visionflow formats`); /api/meta's `formats`, when the server
// sends it, wins
const FORMATS = ["coco", "voc", "yolo", "yolo-darknet", "yolo-cls", "visionflow", "tfrecord",
  "tf-csv", "kitti", "mot", "labelme", "cvat", "createml", "vott-json", "vott-csv",
  "label-studio", "sagemaker", "dota", "hf-parquet", "voc-seg", "cls-csv", "jsonl-vlm",
  "datumaro", "cityscapes", "yolo-keras", "binary-masks", "open-images", "wider-face", "map-txt"];

export function ExportDialog({ meta, filter, onClose }: { meta: Meta; filter: Filter; onClose: () => void }) {
  const [format, setFormat] = useState("coco");
  const [useFilter, setUseFilter] = useState(filter.length > 0);
  const [command, setCommand] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ref = meta.revision;
  useEffect(() => {
    fetch(`/api/export/command?${new URLSearchParams({ ref, format })}`)
      .then(async (r) => { const d = await r.json(); if (!r.ok) throw new Error(d.error); setCommand(d.command); })
      .catch((e) => setCommand(`(${e.message ?? e})`));
  }, [ref, format]);
  async function download() {
    setBusy(true); setError(null);
    try {
      const res = await fetch("/api/export", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Visionflow-Token": token() },
        body: JSON.stringify({ ref, format, options: {}, filter: useFilter ? filterQuery(filter) : "" }),
      });
      if (!res.ok) {
        let msg = `${res.status}`;
        try { msg = (await res.json()).error ?? msg; } catch { /* not JSON */ }
        throw new Error(msg);
      }
      const blob = await res.blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${meta.name}-${format}.zip`;
      document.body.appendChild(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    } catch (e: any) { setError(`export failed: ${e.message ?? e}`); } finally { setBusy(false); }
  }
  return (
    <div class="modal-back" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div class="modal" data-testid="export">
        <h3>Export {ref}</h3>
        <div class="grid2">
          <span>format</span>
          <select value={format} data-testid="export-format" onChange={(e) => setFormat((e.target as HTMLSelectElement).value)}>
            {((meta as any).formats ?? FORMATS).map((f: string) => <option key={f}>{f}</option>)}</select>
          <span>images</span>
          <label class="inline"><input type="checkbox" checked={useFilter} disabled={!filter.length}
            onChange={() => setUseFilter(!useFilter)} /> only the current filter {filter.length ? `(${filterQuery(filter)})` : "(no filter)"}</label>
        </div>
        <p>The same from a terminal:</p>
        <div class="cli-row"><code class="cli" data-testid="export-command">{command}</code>
          <button onClick={() => navigator.clipboard?.writeText(command)}>copy</button></div>
        {error && <div class="error" role="alert">{error}</div>}
        <div class="modal-buttons">
          <button onClick={onClose}>close</button>
          <button class="primary" disabled={busy} onClick={download}>{busy ? "exporting…" : "download zip"}</button>
        </div>
      </div>
    </div>);
}
