"""The evaluation report: one offline HTML file (no CDN, no script), like the health report.

Summary table, PR curves as inline SVG, the confusion matrix as a shaded table, the per-class
table, and galleries of the worst images (confident false positives, missed objects, class
confusions) with ground truth and predictions drawn in two colours.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..checks.report_html import _HEAD, _e
from ..core.errors import Error
from .mistakes import find_mistakes
from .run import Evaluation

GT_COLOR = (0, 170, 0)          # ground truth: green
PRED_COLOR = (220, 0, 120)      # predictions: magenta
THUMB = 360
GALLERY = 12
_SVG_W, _SVG_H = 300, 220


def render_html(ev: Evaluation, *, gallery: int = GALLERY) -> str:
    parts = [_HEAD.format(title="visionflow evaluate")]
    parts.append(_STYLE)
    parts.append("<h1>Evaluation</h1>")
    n_obj = int((~ev.gt.annotations.is_label).sum())
    parts.append(f"<p class=meta>{len(ev.gt.images)} images · {n_obj} ground-truth objects · "
                 f"{len(ev.pred.annotations)} predictions · metric "
                 f"<b>{_e(ev.metric)}</b> · confusion and P/R/F1 at confidence "
                 f"{ev.confidence:g}, IoU {ev.iou:g} · <span style='color:{_css(GT_COLOR)}'>"
                 f"■ ground truth</span> <span style='color:{_css(PRED_COLOR)}'>■ predictions"
                 "</span></p>")
    parts.append(_summary(ev))
    parts.append("<h2>Precision-recall curves</h2>" + _curves(ev))
    parts.append("<h2>Per class</h2>" + _class_table(ev))
    parts.append("<h2>Confusion matrix</h2>" + _confusion(ev))
    parts.append(_galleries(ev, gallery))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary(ev: Evaluation) -> str:
    j = ev.to_json()
    if ev.metric == "voc":
        cells = [("mAP", j["mAP"])]
    else:
        cells = [(k, j[k]) for k in ev.coco.stats]
    head = "".join(f"<th>{_e(k)}</th>" for k, _ in cells)
    row = "".join(f"<td class=num>{_f(v)}</td>" for _, v in cells)
    return f"<h2>Summary</h2><table><tr>{head}</tr><tr>{row}</tr></table>"


def _f(v: Any) -> str:
    return "–" if v is None or v == -1 or v != v else f"{v:.3f}"


def _css(c: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % c


def _pr_points(ev: Evaluation) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class (recall, precision) of the curve the AP is the area under."""
    out = {}
    if ev.metric == "voc":
        for name, c in ev.voc.curves.items():
            out[name] = (c["recall"], np.maximum.accumulate(c["precision"][::-1])[::-1])
        return out
    c = ev.coco
    t = int(np.argmin(np.abs(c.params.iou_thrs - ev.iou)))
    for k, name in enumerate(c.per_class):
        p = c.precision[t, :, k, 0, -1]
        if (p > -1).any():
            out[name] = (c.params.rec_thrs, p)
    return out


def _curves(ev: Evaluation) -> str:
    from ..viz.draw import category_color
    figs = []
    for k, (name, (rec, prec)) in enumerate(_pr_points(ev).items()):
        color = _css(category_color(k))
        pts = " ".join(f"{30 + r * (_SVG_W - 40):.1f},{_SVG_H - 30 - p * (_SVG_H - 40):.1f}"
                       for r, p in zip(rec, prec))
        axes = (f"<line x1=30 y1={_SVG_H - 30} x2={_SVG_W - 10} y2={_SVG_H - 30} stroke=#999 />"
                f"<line x1=30 y1=10 x2=30 y2={_SVG_H - 30} stroke=#999 />"
                f"<text class=lbl x={_SVG_W // 2} y={_SVG_H - 8}>recall</text>"
                f"<text class=lbl x=2 y=14>1</text><text class=lbl x=2 y={_SVG_H - 30}>0</text>")
        ap = ev.voc.per_class.get(name) if ev.metric == "voc" else ev.coco.per_class[name][
            "AP50" if abs(ev.iou - .5) < 1e-9 else "AP"]
        figs.append(f"<figure class=chart><figcaption>{_e(name)} · AP {_f(ap)}</figcaption>"
                    f"<svg width={_SVG_W} height={_SVG_H} role=img>{axes}<polyline fill=none "
                    f"stroke='{color}' stroke-width=2 points='{pts}' /></svg></figure>")
    return "<div class=charts>" + "".join(figs) + "</div>" if figs else "<p>no curves</p>"


def _class_table(ev: Evaluation) -> str:
    keys = (["AP"] if ev.metric == "voc" else [k for k in ("AP", "AP50", "AP75", "AR100", "AR")
                                               if k in ev.coco.stats])
    head = "".join(f"<th>{k}</th>" for k in ["class", *keys, "objects", "predictions",
                                              "precision", "recall", "F1", "best F1",
                                              "at confidence"])
    rows = []
    for name, c in ev.classes.items():
        if ev.metric == "voc":
            vals = [ev.voc.per_class.get(name)]
        else:
            vals = [ev.coco.per_class[name][k] for k in keys]
        rows.append("<tr><td>" + _e(name) + "</td>" + "".join(
            f"<td class=num>{_f(v)}</td>" for v in vals) +
            f"<td class=num>{c['objects']}</td><td class=num>{c['predictions']}</td>" + "".join(
                f"<td class=num>{_f(c[k])}</td>" for k in ("precision", "recall", "f1", "best_f1",
                                                           "best_f1_confidence")) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _confusion(ev: Evaluation) -> str:
    m = ev.confusion.matrix
    labels = [*ev.confusion.labels, "background"]
    top = max(int(m.max()), 1)
    head = "<th>true \\ predicted</th>" + "".join(f"<th class=rot>{_e(n)}</th>" for n in labels)
    rows = []
    for i, name in enumerate(labels):
        cells = []
        for j in range(len(labels)):
            v = int(m[i, j])
            a = 0.08 + 0.8 * v / top if v else 0
            hue = "0,128,0" if i == j and i < len(labels) - 1 else "200,30,30"
            cells.append(f"<td class=num style='background:rgba({hue},{a:.2f})'>{v or ''}</td>")
        rows.append(f"<tr><th>{_e(name)}</th>{''.join(cells)}</tr>")
    return (f"<table class=cm><tr>{head}</tr>{''.join(rows)}</table><p class=meta>rows: true "
            "class; columns: predicted; background row: spurious predictions; background column:"
            " missed objects.</p>")


def _galleries(ev: Evaluation, limit: int) -> str:
    m = find_mistakes(ev, confidence=ev.confidence)
    groups = {"Confident false positives (likely missing labels)": "missing_label",
              "Class confusions": "wrong_class", "Missed objects": "missed",
              "Loose boxes": "loose_box"}
    out = []
    rows_of = {int(ev.gt.images.id[i]): i for i in range(len(ev.gt.images))}
    for title, kind in groups.items():
        seen: list[int] = []
        for o in m.objects:
            if o["kind"] == kind:
                row = rows_of.get(o["image_id"])
                if row is not None and row not in seen:
                    seen.append(row)
            if len(seen) >= limit:
                break
        if not seen:
            continue
        cards = "".join(_card(ev, r) for r in seen)
        out.append(f"<h2>{_e(title)}</h2><div class=cards>{cards}</div>")
    hard = [i for i in m.image_rows[:limit].tolist()]
    if hard:
        out.append("<h2>Hardest images (false positives + misses)</h2><div class=cards>"
                   + "".join(_card(ev, r) for r in hard) + "</div>")
    return "\n".join(out)


def _card(ev: Evaluation, row: int) -> str:
    gt, pred = ev.gt, ev.pred
    ga, da = gt.annotations, pred.annotations
    g = np.flatnonzero((ga.image_index == row) & ~ga.is_label)
    score = da.score if da.score is not None else np.ones(len(da))
    p = np.flatnonzero((da.image_index == row) & (score >= ev.confidence))
    names = {c.id: c.name for c in gt.categories}
    fp = int((ev.objects["pred_outcome"][p] == "FP").sum())
    fn = int((ev.objects["gt_outcome"][g] == "FN").sum())
    pic = _picture(ev, row, g, p)
    return (f"<div class=card>{pic}<div>{_e(gt.images.file_name[row])}</div><div class=meta>"
            f"{len(g)} objects, {len(p)} predictions · {fp} FP · {fn} FN</div><ul>"
            + "".join(f"<li>{_e(names.get(int(da.category_id[j]), '?'))} {score[j]:.2f} "
                      f"{_e(ev.objects['pred_outcome'][j])}</li>" for j in p[:6]) + "</ul></div>")


def _picture(ev: Evaluation, row: int, g: np.ndarray, p: np.ndarray) -> str:
    from ..io.images import load_rgb
    path = ev.gt.images.path[row]
    try:
        if path is None:
            raise Error("no image file")
        image = load_rgb(path)
    except (Error, OSError, ValueError, SyntaxError) as e:
        w, h = int(ev.gt.images.width[row]), int(ev.gt.images.height[row])
        if w <= 0 or h <= 0 or w * h > 4096 * 4096:
            return f"<div class=noimg>no picture: {_e(str(e)[:120])}</div>"
        image = Image.new("RGB", (w, h), (235, 235, 235))   # boxes on a blank canvas
    # scale to the thumbnail first, then draw: lines stay crisp for tiny and huge images alike
    k = THUMB / max(image.size)
    image = image.resize((max(1, round(image.width * k)), max(1, round(image.height * k))),
                         Image.Resampling.LANCZOS if k < 1 else Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(image)
    for rows, ann, color in ((g, ev.gt.annotations, GT_COLOR), (p, ev.pred.annotations,
                                                                 PRED_COLOR)):
        for j in rows.tolist():
            draw.rectangle((ann.xyxy[j] * k).tolist(), outline=color, width=2)
    from ..viz.thumbs import data_uri
    return f"<img alt='{_e(ev.gt.images.file_name[row])}' src='{data_uri(image, quality=80)}'>"


_STYLE = """<style>
table.cm th.rot { writing-mode: vertical-rl; transform: rotate(180deg); }
.card img { max-width: 100%; }
</style>"""
