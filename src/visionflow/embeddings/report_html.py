"""The dedup report: one offline HTML page (no CDN, no script), in the house style of the check
report. Each group of near-duplicates is a row of small inline thumbnails (base64 JPEG, at
most THUMB pixels a side, at most MAX_GROUPS groups drawn; every group is listed): the kept
image first and why it was kept, then each removed image with its annotation counts per
class, so that nothing removed is lost from sight.

`render_html(result) -> str`; writing the file is the caller's business.
"""

from __future__ import annotations

import html
from collections import Counter

from ..checks.report_html import _HEAD, _e
from .dedup import DedupResult

THUMB = 160
MAX_GROUPS = 200          # groups drawn with thumbnails; the rest are listed by name


def render_html(result: DedupResult, *, max_groups: int = MAX_GROUPS) -> str:
    ds = result.dataset
    removed = result.removed
    n_ann = len(result.removed_annotations)
    parts = [_HEAD.format(title="visionflow dedup"), _STYLE, "<h1>Near-duplicate images</h1>"]
    unit = "bits" if result.method == "hash" else "cosine distance"
    parts.append(
        f"<p class=meta>{len(ds.images)} images · <b>{len(result.groups)}</b> groups · "
        f"{len(result.kept)} kept · <b>{len(removed)}</b> removed, holding {n_ann} "
        f"annotations · method <b>{_e(result.method)}</b> ({_e(result.model)}), threshold "
        f"{result.threshold:g} {unit} · keep <b>{_e(result.keep)}</b>"
        + (f" · confirmed by {_e(result.confirm)} ({result.confirmed} of {result.pairs} "
           "candidate pairs)" if result.confirm else f" · {result.pairs} candidate pairs")
        + "</p>")
    if result.notes:
        parts.append("<ul class=notes>" + "".join(f"<li>{_e(n)}</li>" for n in result.notes)
                     + "</ul>")
    if result.unreadable:
        parts.append(f"<p class=meta>{len(result.unreadable)} images could not be read and "
                     f"were not compared: {_e(', '.join(result.unreadable[:20]))}"
                     f"{' …' if len(result.unreadable) > 20 else ''}</p>")
    if not result.groups:
        parts.append("<p>No near-duplicates found.</p>")
    names = {c.id: c.name for c in ds.categories}
    ann = ds.annotations
    per_image: dict[int, Counter] = {}
    for r, cid in zip(ann.image_index.tolist(), ann.category_id.tolist()):
        per_image.setdefault(r, Counter())[names.get(cid, f"id {cid}")] += 1
    for k, (group, why) in enumerate(zip(result.groups, result.reasons)):
        draw = k < max_groups
        cards = [_card(result, group[0], f"kept: {why}", per_image, draw, kept=True)]
        cards += [_card(result, r, "removed", per_image, draw, kept=False) for r in group[1:]]
        parts.append(f"<h2>Group {k + 1} · {len(group)} images</h2><div class=group>"
                     + "".join(cards) + "</div>")
    if len(result.groups) > max_groups:
        parts.append(f"<p class=meta>groups after the first {max_groups} are listed without "
                     "pictures.</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _card(result: DedupResult, row: int, label: str, per_image: dict[int, Counter],
          draw: bool, *, kept: bool) -> str:
    ds = result.dataset
    counts = per_image.get(row, Counter())
    total = sum(counts.values())
    what = ", ".join(f"{n} {c}" for c, n in sorted(counts.items())) or "no annotations"
    pic = _thumbnail(ds.images.path[row], result.name(row)) if draw else ""
    note = (f"{total} annotations: {_e(what)}" if total else "no annotations")
    if not kept and total:
        note = f"<b>{note}</b>" + (" (merged into the kept image)" if result.notes
                                    else " (not in the output)")
    return (f"<div class='dup {'kept' if kept else 'removed'}'>{pic}<div class=cap>"
            f"<b>{_e(result.name(row))}</b><br>{ds.images.width[row]}x"
            f"{ds.images.height[row]} · {_e(label)}<br>{note}</div></div>")


def _thumbnail(path: str | None, alt: str) -> str:
    from ..viz.thumbs import data_uri, thumbnail
    image = thumbnail(path, THUMB)
    if image is None:
        return "<div class=noimg>no picture: the file cannot be read</div>"
    return f"<img alt='{html.escape(alt, quote=True)}' src='{data_uri(image)}'>"


_STYLE = """<style>
.group { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 8px; }
.dup { width: 180px; border: 2px solid #ccc; border-radius: 6px; padding: 6px; font-size: 12px; }
.dup.kept { border-color: #59a14f; }
.dup.removed { border-color: #e15759; opacity: 0.9; }
.dup img { max-width: 100%; display: block; margin-bottom: 4px; }
.noimg { color: #888; font-size: 11px; }
</style>"""
