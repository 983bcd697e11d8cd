// Unsaved edits, per image, kept for the whole session (moving to the next image keeps them; one
// save sends them all) with an undo/redo history of snapshots per image.
import { Obj } from "./api";

export type Snapshot = { objects: Obj[]; tags: string[] };
export type ImageEdits = { base: Snapshot; cur: Snapshot; past: Snapshot[]; future: Snapshot[] };

const edits = new Map<number, ImageEdits>();
const created: string[] = [];        // classes created in this session, not saved yet
let listeners: (() => void)[] = [];

export function editsOf(id: number): ImageEdits | undefined { return edits.get(id); }
export function allEdits(): Map<number, ImageEdits> { return edits; }
export function createdClasses(): string[] { return created; }
export function subscribe(f: () => void): () => void {
  listeners.push(f);
  return () => { listeners = listeners.filter((g) => g !== f); };
}
function changed() { for (const f of listeners) f(); }

export function ensure(id: number, base: Snapshot): ImageEdits {
  let e = edits.get(id);
  if (!e) { e = { base, cur: base, past: [], future: [] }; edits.set(id, e); }
  return e;
}

/** Replace the current snapshot; `record` pushes the previous one onto the undo history. */
export function apply(id: number, next: Snapshot, record = true, before?: Snapshot) {
  const e = edits.get(id)!;
  if (record) { e.past.push(before ?? e.cur); e.future = []; }
  e.cur = next;
  changed();
}
export function undo(id: number) {
  const e = edits.get(id);
  if (!e || !e.past.length) return;
  e.future.push(e.cur); e.cur = e.past.pop()!; changed();
}
export function redo(id: number) {
  const e = edits.get(id);
  if (!e || !e.future.length) return;
  e.past.push(e.cur); e.cur = e.future.pop()!; changed();
}
export function isDirty(e: ImageEdits): boolean {
  return JSON.stringify(e.cur) !== JSON.stringify(e.base);
}
export function dirtyIds(): number[] {
  return [...edits.entries()].filter(([, e]) => isDirty(e)).map(([id]) => id);
}
export function addClass(name: string) {
  if (!created.includes(name)) { created.push(name); changed(); }
}
export function clearAll() { edits.clear(); created.length = 0; changed(); }
