"""The check report as one self-contained HTML page: opens offline, no script, no external
file. Charts are inline SVG, heatmaps and thumbnails base64 PNG/JPEG drawn with Pillow and
visionflow.viz.draw (the offending annotation outlined in red over the image's annotations).

`render_html(result) -> str`; writing the file is the caller's business.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..core.errors import Error
from .findings import SEVERITY_RANK, CheckFinding
from .run import CheckResult

MAX_THUMBNAILS = 60
MAX_ROWS_PER_CODE = 300
MAX_HEATMAPS = 48
THUMB_SIZE = 280
HIGHLIGHT = (255, 0, 60)
_PAIR_CODES = {"image.exact_duplicate", "image.near_duplicate", "split.leakage"}
_SPLIT_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]
# viridis, 5 anchors: dark (no boxes) to bright (most boxes)
_CMAP_ANCHORS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98),
                          (253, 231, 37)], dtype=np.float64)


def render_html(result: CheckResult, *, max_thumbnails: int = MAX_THUMBNAILS) -> str:
    ds, stats = result.dataset, result.statistics
    counts = result.counts()
    parts = [_HEAD.format(title=html.escape(f"visionflow check: {result.source}"))]
    parts.append(f"<h1>Dataset health: {_e(result.source)}</h1>")
    parts.append(
        f"<p class=meta>format <b>{_e(ds.source_format or '?')}</b> · {stats['images']} images · "
        f"{stats['annotations']} annotations · {stats['classes']} classes · splits: "
        f"{_e(', '.join(s or '(none)' for s in stats['splits']))}</p>")
    parts.append("<p class=badges>" + "".join(
        f"<span class='badge {s}'>{counts.get(s, 0)} {s}{'s' if counts.get(s, 0) != 1 else ''}"
        "</span>" for s in ("error", "warning", "info")) + "</p>")
    parts.append(_summary_table(result.findings))
    parts.append(_thumbnails(result, max_thumbnails))
    parts.append(_charts(stats))
    parts.append(_heatmaps(stats))
    parts.append(_details(result.findings))
    parts.append(f"<p class=meta>thresholds: {_e(_config_text(result))}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


# --- findings --------------------------------------------------------------------------------

def _summary_table(findings: Sequence[CheckFinding]) -> str:
    if not findings:
        return "<h2>Findings</h2><p>No findings: nothing to fix.</p>"
    groups: dict[tuple[str, str], list[CheckFinding]] = {}
    for f in findings:
        groups.setdefault((f.severity, f.code), []).append(f)
    rows = []
    for (sev, code), fs in sorted(groups.items(), key=lambda kv: (SEVERITY_RANK[kv[0][0]],
                                                                 kv[0][1])):
        rows.append(f"<tr><td><span class='sev {sev}'>{sev}</span></td>"
                    f"<td><a href='#{_anchor(code, sev)}'><code>{_e(code)}</code></a></td>"
                    f"<td class=num>{len(fs)}</td><td>{_e(_first_line(fs[0]))}</td></tr>")
    return ("<h2>Findings</h2><table class=summary><tr><th>severity</th><th>code</th>"
            "<th>count</th><th>example</th></tr>" + "".join(rows) + "</table>")


def _details(findings: Sequence[CheckFinding]) -> str:
    if not findings:
        return ""
    groups: dict[tuple[str, str], list[CheckFinding]] = {}
    for f in findings:
        groups.setdefault((f.severity, f.code), []).append(f)
    out = ["<h2>All findings</h2>"]
    for (sev, code), fs in sorted(groups.items(), key=lambda kv: (SEVERITY_RANK[kv[0][0]],
                                                                 kv[0][1])):
        rows = "".join(f"<tr><td>{_e(f.where or '(dataset)')}</td><td>{_e(f.message)}</td></tr>"
                       for f in fs[:MAX_ROWS_PER_CODE])
        more = (f"<p class=meta>... and {len(fs) - MAX_ROWS_PER_CODE} more (use --json for "
                "all)</p>" if len(fs) > MAX_ROWS_PER_CODE else "")
        out.append(f"<details id='{_anchor(code, sev)}' {'open' if sev == 'error' else ''}>"
                   f"<summary><span class='sev {sev}'>{sev}</span> <code>{_e(code)}</code> "
                   f"({len(fs)})</summary><table class=list><tr><th>where</th><th>what</th></tr>"
                   f"{rows}</table>{more}</details>")
    return "\n".join(out)


# --- thumbnails ------------------------------------------------------------------------------

def _thumbnails(result: CheckResult, limit: int) -> str:
    by_image: dict[int, list[CheckFinding]] = {}
    for f in result.findings:  # already errors first
        if f.image_row is not None and f.severity in ("error", "warning"):
            by_image.setdefault(f.image_row, []).append(f)
    if not by_image:
        return ""
    cards = []
    for row, fs in list(by_image.items())[:limit]:
        cards.append(_card(result, row, fs))
    more = (f"<p class=meta>{len(by_image) - limit} more images with findings are not shown."
            "</p>" if len(by_image) > limit else "")
    return ("<h2>Images with findings</h2><p class=meta>Offending annotations in red over "
            "the image's annotations (upright, as EXIF-aware loaders show it).</p>"
            "<div class=cards>" + "".join(cards) + "</div>" + more)


def _card(result: CheckResult, row: int, fs: list[CheckFinding]) -> str:
    ds = result.dataset
    ann_rows = sorted({f.annotation_row for f in fs if f.annotation_row is not None})
    pics = [_thumbnail(ds, row, ann_rows)]
    pair = next((f for f in fs if f.code in _PAIR_CODES and "other_row" in f.details), None)
    if pair is not None:
        pics.append(_thumbnail(ds, int(pair.details["other_row"]), []))
    codes = ", ".join(dict.fromkeys(f.code for f in fs))
    worst = min((f.severity for f in fs), key=SEVERITY_RANK.get)
    lines = "".join(f"<li>{_e(f.message)}</li>" for f in fs[:6])
    if len(fs) > 6:
        lines += f"<li>... {len(fs) - 6} more</li>"
    name = ds.images.file_name[row]
    split = ds.images.split[row]
    return (f"<div class='card {worst}'><div class=pics>{''.join(pics)}</div>"
            f"<div class=cap><b>{_e(f'{split}/{name}' if split else name)}</b><br>"
            f"<code>{_e(codes)}</code><ul>{lines}</ul></div></div>")


def _thumbnail(ds, row: int, ann_rows: list[int]) -> str:
    from ..viz.draw import draw_image
    try:
        image = draw_image(ds, row, class_names=False)
    except (Error, OSError, ValueError, SyntaxError) as e:
        return f"<div class=noimg>no picture: {_e(str(e)[:160])}</div>"
    image = _outline(image, ds, ann_rows)
    if max(image.size) < THUMB_SIZE // 2:  # tiny images: enlarge by a whole factor, crisp
        k = THUMB_SIZE // max(image.size)
        image = image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)
    image.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    from ..viz.thumbs import data_uri
    return f"<img alt='{_e(ds.images.file_name[row])}' src='{data_uri(image, quality=80)}'>"


def _outline(image: Image.Image, ds, ann_rows: list[int]) -> Image.Image:
    """The offending annotations in red, thick, over whatever draw_image drew. When they
    reach outside the image, the canvas grows (gray margin, up to the image's size on each
    side) so that they show."""
    if not ann_rows:
        return image
    ann = ds.annotations
    w, h = image.size
    pts = [ann.xyxy[a].reshape(2, 2) for a in ann_rows if np.isfinite(ann.xyxy[a]).all()]
    if ann.polygons is not None:
        pts += [r for a in ann_rows for r in ann.polygons.rings(int(a)) if np.isfinite(r).all()]
    if ann.keypoints is not None:
        kp = ann.keypoints[ann_rows][:, :, :2].reshape(-1, 2)
        pts.append(kp[np.isfinite(kp).all(axis=1)])
    pts = np.concatenate(pts) if pts else np.zeros((0, 2))
    lo = np.clip(np.floor(pts.min(axis=0)) if len(pts) else np.zeros(2), [-w, -h], 0)
    hi = np.clip(np.ceil(pts.max(axis=0)) if len(pts) else np.array([w, h]), [w, h],
                 [2 * w, 2 * h])
    t = max(2, round(max(w, h) / 120))
    ox, oy = int(-lo[0]) + (2 * t if lo[0] < 0 else 0), int(-lo[1]) + (2 * t if lo[1] < 0 else 0)
    if ox or oy or hi[0] > w or hi[1] > h:
        pad_w = int(hi[0] - w) + (2 * t if hi[0] > w else 0)
        pad_h = int(hi[1] - h) + (2 * t if hi[1] > h else 0)
        canvas = Image.new("RGB", (w + ox + pad_w, h + oy + pad_h), (90, 90, 90))
        canvas.paste(image, (ox, oy))
        image = canvas
    draw = ImageDraw.Draw(image)
    for a in ann_rows:
        b = ann.xyxy[a]
        if np.isfinite(b).all():
            x0, x1 = sorted((float(b[0]) + ox, float(b[2]) + ox))
            y0, y1 = sorted((float(b[1]) + oy, float(b[3]) + oy))
            draw.rectangle([x0 - t, y0 - t, x1 + t, y1 + t], outline=HIGHLIGHT, width=t)
        if ann.polygons is not None:
            for ring in ann.polygons.rings(int(a)):
                if len(ring) >= 2 and np.isfinite(ring).all():
                    pts_ = [(x + ox, y + oy) for x, y in ring.tolist()]
                    draw.line(pts_ + [pts_[0]], fill=HIGHLIGHT, width=t)
        if ann.keypoints is not None:
            for x, y, v in ann.keypoints[a]:
                if np.isfinite([x, y]).all() and v > 0:
                    x, y = x + ox, y + oy
                    draw.ellipse([x - 2 * t, y - 2 * t, x + 2 * t, y + 2 * t], outline=HIGHLIGHT,
                                 width=t)
    return image


# --- charts ----------------------------------------------------------------------------------

def _charts(stats: dict[str, Any]) -> str:
    out = ["<h2>Distribution</h2><div class=charts>"]
    out.append(_chart("Annotations per class and split", _class_bars(stats["per_class"])))
    out.append(_chart("Images per split", _split_table(stats["splits"])))
    opi = stats["objects_per_image"]
    labels = [str(v) if v < opi["capped_at"] else f"{v}+" for v in opi["values"]]
    last = max([i for i, c in enumerate(opi["counts"]) if c] + [1])
    out.append(_chart("Objects per image", _histogram(labels[:last + 1],
                                                      opi["counts"][:last + 1], "images")))
    rel = stats["object_size_relative"]
    out.append(_chart("Object size (sqrt of area) relative to the image",
                      _histogram(_edge_labels(rel["edges"], "{:.2f}"), rel["counts"], "boxes")))
    inp = stats["object_size_at_input"]
    out.append(_chart(f"Object shorter side at input size {stats['input_size']} (px)",
                      _histogram(_edge_labels(inp["edges"], "{:.0f}"), inp["counts"], "boxes")))
    ar = stats["object_aspect_log2"]
    out.append(_chart("Object aspect ratio (width / height, log scale)",
                      _histogram(_edge_labels(ar["edges"], "{:.2g}", pow2=True), ar["counts"],
                                 "boxes")))
    iar = stats["image_aspect_log2"]
    out.append(_chart("Image aspect ratio (width / height, log scale)",
                      _histogram(_edge_labels(iar["edges"], "{:.2g}", pow2=True), iar["counts"],
                                 "images")))
    sizes = "".join(f"<tr><td>{s['width']}x{s['height']}</td><td class=num>{s['images']}</td>"
                    "</tr>" for s in stats["image_sizes"])
    out.append(_chart("Most common image sizes", "<table class=list><tr><th>size</th>"
                      f"<th>images</th></tr>{sizes}</table>"))
    out.append("</div>")
    return "\n".join(out)


def _chart(title: str, body: str) -> str:
    return f"<figure class=chart><figcaption>{_e(title)}</figcaption>{body}</figure>"


def _split_table(splits: dict[str, dict]) -> str:
    rows = "".join(f"<tr><td>{_e(s or '(none)')}</td><td class=num>{v['images']}</td>"
                   f"<td class=num>{v['annotations']}</td>"
                   f"<td class=num>{v['images_without_annotations']}</td></tr>"
                   for s, v in splits.items())
    return ("<table class=list><tr><th>split</th><th>images</th><th>annotations</th>"
            f"<th>without annotations</th></tr>{rows}</table>")


def _class_bars(per_class: dict[str, list[dict]]) -> str:
    splits = list(per_class)
    if not splits or not per_class[splits[0]]:
        return "<p class=meta>no classes</p>"
    n_cls = len(per_class[splits[0]])
    totals = [sum(per_class[s][k]["annotations"] for s in splits) for k in range(n_cls)]
    order = sorted(range(n_cls), key=lambda k: -totals[k])
    top = max(totals) or 1
    label_w, bar_w, row_h = 150, 300, 16
    height = row_h * len(order) + 24
    svg = [f"<svg width='{label_w + bar_w + 60}' height='{height}' role='img'>"]
    for i, k in enumerate(order):
        y = i * row_h
        name = per_class[splits[0]][k]["class"]
        svg.append(f"<text x='{label_w - 4}' y='{y + 12}' text-anchor='end' class=lbl>"
                   f"{_e(_short(name, 22))}</text>")
        x = label_w
        for j, s in enumerate(splits):
            v = per_class[s][k]["annotations"]
            w = bar_w * v / top
            if w > 0:
                svg.append(f"<rect x='{x:.1f}' y='{y + 2}' width='{max(w, 1):.1f}' "
                           f"height='{row_h - 4}' fill='{_SPLIT_COLORS[j % 7]}'>"
                           f"<title>{_e(name)} · {_e(s or '(none)')}: {v}</title></rect>")
            x += w
        svg.append(f"<text x='{x + 4:.1f}' y='{y + 12}' class=lbl>{totals[k]}</text>")
    legend_y = height - 6
    x = label_w
    for j, s in enumerate(splits):
        svg.append(f"<rect x='{x}' y='{legend_y - 9}' width='10' height='10' "
                   f"fill='{_SPLIT_COLORS[j % 7]}'/><text x='{x + 14}' y='{legend_y}' "
                   f"class=lbl>{_e(s or '(none)')}</text>")
        x += 20 + 7 * len(s or "(none)")
    svg.append("</svg>")
    return "".join(svg)


def _histogram(labels: Sequence[str], counts: Sequence[int], unit: str) -> str:
    n = len(counts)
    if not n or not any(counts):
        return "<p class=meta>no data</p>"
    width, height, pad = 420, 150, 18
    bw = (width - 10) / n
    top = max(counts)
    svg = [f"<svg width='{width}' height='{height + 2 * pad}' role='img'>"]
    for i, c in enumerate(counts):
        h = height * c / top
        x = 5 + i * bw
        svg.append(f"<rect x='{x:.1f}' y='{pad + height - h:.1f}' width='{max(bw - 1, 1):.1f}' "
                   f"height='{h:.1f}' fill='#4e79a7'><title>{_e(labels[i])}: {c} {unit}"
                   "</title></rect>")
    step = max(1, n // 6)
    for i in range(0, n, step):
        svg.append(f"<text x='{5 + i * bw:.1f}' y='{height + 2 * pad - 4}' class=lbl>"
                   f"{_e(labels[i])}</text>")
    svg.append(f"<text x='{width - 5}' y='12' text-anchor='end' class=lbl>max {top} {unit}"
               "</text></svg>")
    return "".join(svg)


def _edge_labels(edges: Sequence[float], fmt: str, pow2: bool = False) -> list[str]:
    return [fmt.format(2 ** e if pow2 else e) for e in edges[:-1]]


# --- heatmaps --------------------------------------------------------------------------------

def heatmap_png(grid: np.ndarray, scale: int = 4) -> bytes:
    """A counts grid as a PNG with a viridis-like colormap (sqrt scaling, 0 = darkest)."""
    g = np.asarray(grid, dtype=np.float64)
    norm = np.sqrt(g / g.max()) if g.max() > 0 else g
    pos = norm * (len(_CMAP_ANCHORS) - 1)
    lo = np.clip(np.floor(pos).astype(int), 0, len(_CMAP_ANCHORS) - 2)
    frac = (pos - lo)[..., None]
    rgb = _CMAP_ANCHORS[lo] * (1 - frac) + _CMAP_ANCHORS[lo + 1] * frac
    im = Image.fromarray(rgb.round().astype(np.uint8), "RGB")
    im = im.resize((g.shape[1] * scale, g.shape[0] * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _heatmaps(stats: dict[str, Any]) -> str:
    maps = stats.get("heatmaps") or {}
    if not maps:
        return ""
    ranked = sorted(maps.items(), key=lambda kv: -sum(map(sum, kv[1])))
    cells = []
    for name, grid in ranked[:MAX_HEATMAPS]:
        data = base64.b64encode(heatmap_png(np.asarray(grid))).decode("ascii")
        n = int(np.asarray(grid).sum())
        cells.append(f"<figure class=heat><img alt='{_e(name)} heatmap' "
                     f"src='data:image/png;base64,{data}'><figcaption>{_e(_short(name, 24))} "
                     f"({n})</figcaption></figure>")
    more = (f"<p class=meta>{len(ranked) - MAX_HEATMAPS} rarer classes not shown.</p>"
            if len(ranked) > MAX_HEATMAPS else "")
    return ("<h2>Where objects are (box centers per class)</h2><p class=meta>Each square is "
            "the image, top-left at its top-left; brighter cells hold more box centers.</p>"
            "<div class=heats>" + "".join(cells) + "</div>" + more)


# --- helpers ---------------------------------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _anchor(code: str, severity: str) -> str:
    return f"{severity}-{code}".replace(".", "-")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


def _first_line(f: CheckFinding) -> str:
    at = f"{f.where}: " if f.where else ""
    return _short(at + f.message, 160)


def _config_text(result: CheckResult) -> str:
    c = result.config
    return (f"min size {c.min_size:g} px at input {c.input_size}, duplicate IoU {c.iou:g}, "
            f"imbalance ratio {c.imbalance_ratio:g}, near-duplicate distance "
            f"{c.near_dup_distance} bits, whole image {c.whole_image:g}, edge tolerance "
            f"{c.edge_tolerance:g} px")


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1400px; }}
h1 {{ font-size: 22px; }} h2 {{ font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }}
.meta {{ color: #666; }}
.badge {{ display: inline-block; padding: 3px 10px; border-radius: 10px; margin-right: 6px;
         color: #fff; font-weight: 600; }}
.badge.error, .sev.error {{ background: #c62828; }}
.badge.warning, .sev.warning {{ background: #ef8f00; }}
.badge.info, .sev.info {{ background: #607d8b; }}
.sev {{ color: #fff; padding: 1px 6px; border-radius: 4px; font-size: 12px; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 3px 8px; border-bottom: 1px solid #eee;
  text-align: left; vertical-align: top; }}
td.num {{ text-align: right; }}
table.list td:first-child {{ white-space: nowrap; }}
details {{ margin: 6px 0; }} summary {{ cursor: pointer; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ddd; border-left: 5px solid #ef8f00; width: 300px; padding: 6px;
  font-size: 12px; overflow-wrap: anywhere; }}
.card.error {{ border-left-color: #c62828; }}
.card .pics {{ display: flex; gap: 4px; }}
.card .pics img {{ max-width: 100%; max-height: 240px; min-width: 0; object-fit: contain;
  margin: 0 auto; }}
.card ul {{ padding-left: 16px; margin: 4px 0; }}
.noimg {{ background: #eee; color: #555; padding: 20px 8px; width: 100%; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 18px; }}
.chart {{ margin: 0; }} figcaption {{ font-weight: 600; margin-bottom: 4px; }}
.lbl {{ font-size: 11px; fill: #333; }}
.heats {{ display: flex; flex-wrap: wrap; gap: 10px; }}
.heat {{ margin: 0; text-align: center; }} .heat img {{ border: 1px solid #ccc; width: 128px;
  height: 128px; image-rendering: pixelated; }} .heat figcaption {{ font-weight: 400; }}
</style></head><body>"""
