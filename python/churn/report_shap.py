"""The report's SHAP section: mean |SHAP| per feature group and per feature, and a beeswarm of the
leading features, as inline SVG (no plotting library), from the metadata's ``explanations`` (written by
``churn train``, see churn.reasons.explanation_summary).

:func:`section_shap` returns the section as a :class:`ShapSection` (id, title, html, markdown, figures
of (caption, SVG)): the shape of a report section, so that a report built from a list of sections takes
it as it is.
"""
from __future__ import annotations

import html
import math
from typing import Any, List, Mapping, NamedTuple, Optional, Sequence, Tuple

_PURPLE, _TEAL = "#6f42c1", "#20c997"


class ShapSection(NamedTuple):
    id: str
    title: str
    html: str
    markdown: str
    figures: List[Tuple[str, str]]


def _num(v: Any) -> Optional[float]:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def svg_bars(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str, colour: str,
             width: int = 560) -> str:
    """Horizontal bars (values >= 0), one row per label."""
    esc = html.escape
    left, right, top, row = 190, 40, 28, 16
    height = top + row * len(labels) + 40
    hi = max([v for v in values if v is not None] + [1e-12])
    pw = width - left - right
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' role='img' aria-label='{esc(title)}'>"
           f"<title>{esc(title)}</title>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{esc(title)}</text>"]
    for r, (label, v) in enumerate(zip(labels, values)):
        y = top + r * row
        w = pw * v / hi
        out.append(f"<text x='{left - 6}' y='{y + 11}' text-anchor='end' font-size='10'>{esc(label)}</text>"
                   f"<rect x='{left}' y='{y + 2}' width='{max(w, 0.5):.1f}' height='{row - 4}' fill='{colour}'>"
                   f"<title>{esc(label)}: {v:.2f}</title></rect>"
                   f"<text x='{left + w + 4:.1f}' y='{y + 11}' font-size='9'>{v:.2f}</text>")
    base = top + row * len(labels)
    out.append(f"<line x1='{left}' x2='{left}' y1='{top}' y2='{base}' stroke='#495057'/>"
               f"<text x='{left + pw / 2}' y='{base + 22}' text-anchor='middle' font-size='11'>{esc(xlabel)}</text></svg>")
    return "".join(out)


def _colour(p: Optional[float]) -> str:
    if p is None:
        return "#6c757d"
    t = max(0.0, min(1.0, p / 100))
    return f"rgb({round(13 + t * 207)},{round(110 - t * 57)},{round(253 - t * 184)})"


def svg_beeswarm(rows: Sequence[Mapping[str, Any]], *, title: str, width: int = 640) -> str:
    """One row per feature, a dot per customer at its SHAP value (percentage points), coloured by the
    value's training percentile (blue low, red high; grey for categories)."""
    esc = html.escape
    left, right, top, row = 190, 20, 28, 30
    height = top + row * len(rows) + 44
    xs = [100 * s for r in rows for s in (r.get("shap") or []) if _num(s) is not None]
    lo, hi = min(xs + [0.0]), max(xs + [0.0])
    if hi == lo:
        hi = lo + 1
    pad = (hi - lo) * 0.04
    lo, hi = lo - pad, hi + pad
    pw = width - left - right

    def px(v: float) -> float:
        return left + pw * (v - lo) / (hi - lo)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' role='img' aria-label='{esc(title)}'>"
           f"<title>{esc(title)}</title>",
           f"<text x='{width / 2}' y='16' text-anchor='middle' font-size='13' font-weight='600'>{esc(title)}</text>"]
    for r, entry in enumerate(rows):
        y0 = top + r * row + row / 2
        out.append(f"<text x='{left - 6}' y='{y0 + 3:.1f}' text-anchor='end' font-size='10'>{esc(str(entry.get('feature', '?')))}</text>")
        pct = list(entry.get("percentile") or [])
        for i, s in enumerate(entry.get("shap") or []):
            v = _num(s)
            if v is None:
                continue
            jitter = ((i * 0.618034) % 1 - 0.5) * row * 0.7  # deterministic spread over the row
            p = _num(pct[i]) if i < len(pct) else None
            out.append(f"<circle cx='{px(100 * v):.1f}' cy='{y0 + jitter:.1f}' r='2' fill='{_colour(p)}' fill-opacity='0.75'/>")
    base = top + row * len(rows)
    out.append(f"<line x1='{px(0):.1f}' x2='{px(0):.1f}' y1='{top}' y2='{base}' stroke='#495057'/>")
    for k in range(5):
        t = lo + (hi - lo) * k / 4
        out.append(f"<text x='{px(t):.1f}' y='{base + 14}' text-anchor='middle' font-size='10'>{t:+.1f}</text>")
    out.append(f"<text x='{left + pw / 2}' y='{base + 32}' text-anchor='middle' font-size='11'>SHAP value, percentage "
               "points (right: raises the churn risk); colour: the customer's value, blue low, red high</text></svg>")
    return "".join(out)


def section_shap(meta: Mapping[str, Any]) -> Optional[ShapSection]:
    """The SHAP section of a model's report, or None when its metadata has no explanations."""
    ex = meta.get("explanations")
    if not isinstance(ex, Mapping):
        return None
    groups = sorted((g for g in ex.get("groups") or [] if isinstance(g, Mapping) and _num(g.get("mean_abs_shap")) is not None),
                    key=lambda g: -g["mean_abs_shap"])
    per = ex.get("mean_abs_shap") if isinstance(ex.get("mean_abs_shap"), Mapping) else {}
    feats = sorted(((str(k), _num(v)) for k, v in per.items() if _num(v) is not None), key=lambda kv: -kv[1])
    if not groups and not feats:
        return None
    esc = html.escape
    ev = _num(ex.get("expected_value"))
    intro = ("A SHAP value is how many percentage points one feature moved one customer's probability away from the "
             f"average prediction{f' ({100 * ev:.0f}%)' if ev is not None else ''}; a customer's values add up exactly to "
             f"their probability. Mean |SHAP| is its typical size over {ex.get('rows', 'the')} customers of the training "
             "data. The reasons given for a customer (churn predict, the web demo) are these values summed over the "
             "groups below; a group's importance is the mean of the absolute group sums.")
    figures = []
    if groups:
        figures.append(("Mean |SHAP| per feature group", svg_bars(
            [str(g.get("label")) for g in groups], [100 * g["mean_abs_shap"] for g in groups],
            title="Mean |SHAP| per feature group", xlabel="percentage points", colour=_PURPLE)))
    if feats:
        top = feats[:15]
        figures.append(("Mean |SHAP| per feature (top 15)", svg_bars(
            [k for k, _ in top], [100 * v for _, v in top], title="Mean |SHAP| per feature (top 15)",
            xlabel="percentage points", colour=_TEAL)))
    swarm = [e for e in ex.get("beeswarm") or [] if isinstance(e, Mapping)]
    if swarm:
        figures.append(("SHAP values of the leading features, a dot per customer",
                        svg_beeswarm(swarm, title="SHAP values of the leading features")))
    header = ["Group", "Mean |SHAP| (points)", "Features"]
    rows = [[str(g.get("label")), f"{100 * g['mean_abs_shap']:.2f}", ", ".join(map(str, g.get("features") or []))]
            for g in groups]
    table = ("<div class='scroll'><table><thead><tr>" + "".join(f"<th scope='col'>{esc(h)}</th>" for h in header)
             + "</tr></thead><tbody>" + "".join(
                 f"<tr><th scope='row'>{esc(r[0])}</th><td>{esc(r[1])}</td><td class='text'>{esc(r[2])}</td></tr>"
                 for r in rows) + "</tbody></table></div>")
    md_table = "\n".join(["| " + " | ".join(header) + " |", "|---|---:|---|"]
                         + ["| " + " | ".join(r) + " |" for r in rows])
    return ShapSection("shap", "What moves the predictions (SHAP)", f"<p>{esc(intro)}</p>" + table,
                       intro + "\n\n" + md_table, figures)


__all__ = ["ShapSection", "section_shap", "svg_bars", "svg_beeswarm"]
