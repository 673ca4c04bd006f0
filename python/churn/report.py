"""``churn report MODEL``: a self-contained HTML or Markdown report of a trained model, from its
metadata alone (see docs/model-metadata.md): metrics, ROC and PR curves, confusion matrix, feature
importances and the probability histogram by class. Plots are drawn with matplotlib and embedded (SVG
in HTML, PNG data URIs in Markdown), so the file stands alone."""
from __future__ import annotations

import base64
import html
import io
import os
from typing import Any, Dict, List, Tuple

from .report_shap import section_shap

_METRIC_LABELS = {
    "f1": "F1", "precision": "Precision", "recall": "Recall", "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy", "roc_auc": "ROC AUC", "average_precision": "PR AUC (AP)",
    "log_loss": "Log loss", "brier": "Brier score",
}


def _figures(meta: Dict[str, Any]) -> List[Tuple[str, Any]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("churn report needs matplotlib: pip install 'churn[report]'") from e

    test = meta.get("test", {})
    figures = []

    roc = test.get("roc_curve")
    if roc:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(roc["fpr"], roc["tpr"], lw=2, label=f"forest (AUC {test['metrics'].get('roc_auc', float('nan')):.3f})")
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=1, label="chance")
        ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test set)")
        ax.legend(loc="lower right")
        figures.append(("ROC curve", fig))

    pr = test.get("pr_curve")
    if pr:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.step(pr["recall"], pr["precision"], where="post", lw=2,
                label=f"forest (AP {test['metrics'].get('average_precision', float('nan')):.3f})")
        base = meta.get("data", {}).get("positive_rate")
        if base is not None:
            ax.axhline(base, ls="--", c="grey", lw=1, label="churn rate")
        ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve (test set)", ylim=(0, 1.05))
        ax.legend(loc="lower left")
        figures.append(("Precision-recall curve", fig))

    cm = test.get("confusion_matrix")
    if cm:
        fig, ax = plt.subplots(figsize=(4, 3.6))
        ax.imshow(cm, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(cm[i][j]), ha="center", va="center", fontsize=14,
                        color="white" if cm[i][j] > max(map(max, cm)) / 2 else "black")
        ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["stays", "churns"], yticklabels=["stayed", "churned"],
               xlabel="predicted", ylabel="actual", title=f"Confusion matrix at {meta.get('threshold', 0.5):.2f}")
        figures.append(("Confusion matrix", fig))

    features = meta.get("features", [])
    if features:
        top = sorted(features, key=lambda f: f.get("importance", 0.0), reverse=True)[:15][::-1]
        fig, ax = plt.subplots(figsize=(6.5, 0.32 * len(top) + 1))
        ax.barh([f["name"] for f in top], [f.get("importance", 0.0) for f in top])
        ax.set(xlabel="impurity importance", title="Feature importance (top 15)")
        fig.tight_layout()
        figures.append(("Feature importance", fig))

    probabilities = test.get("probabilities")
    if probabilities:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        bins = [i / 20 for i in range(21)]
        ax.hist(probabilities.get("stayed", []), bins=bins, alpha=0.6, label="stayed")
        ax.hist(probabilities.get("churned", []), bins=bins, alpha=0.6, label="churned")
        ax.axvline(meta.get("threshold", 0.5), c="black", ls="--", lw=1, label="threshold")
        ax.set(xlabel="predicted probability of churn", ylabel="users", title="Probabilities by class (test set)")
        ax.legend()
        figures.append(("Probability histogram", fig))
    return figures


def _embed(fig, fmt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, bbox_inches="tight", dpi=110)
    plt.close(fig)
    data = buffer.getvalue()
    if fmt == "svg":
        text = data.decode("utf-8")
        return text[text.find("<svg"):]
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _metric_rows(meta: Dict[str, Any]) -> List[List[str]]:
    rows = []
    cv_models = meta.get("cv", {}).get("models", {})
    test = meta.get("test", {}).get("metrics", {})
    for name in ("f1", "precision", "recall", "roc_auc", "average_precision", "accuracy", "balanced_accuracy",
                 "log_loss", "brier"):
        row = [_METRIC_LABELS[name]]
        for model in cv_models.values():
            m = model.get("metrics", {}).get(name)
            row.append(f"{m['mean']:.3f} ± {m['std']:.3f}" if m else "")
        row.append(f"{test[name]:.3f}" if name in test else "")
        rows.append(row)
    return rows


def render(meta: Dict[str, Any], fmt: str = "html") -> str:
    """The report as text, "html" or "md"."""
    data = meta.get("data", {})
    labels = meta.get("labels", {})
    cv_names = list(meta.get("cv", {}).get("models", {}))
    header = ["metric"] + [f"CV {n}" for n in cv_names] + ["test (forest)"]
    rows = _metric_rows(meta)
    facts = [
        ("data", f"{data.get('source', '?')}: {data.get('events', '?')} events, {data.get('users', '?')} users, "
                 f"{data.get('churned', '?')} churned"),
        ("labels", f"{labels.get('mode', '?')} mode, cutoff {labels.get('cutoff_ms')}, "
                   f"horizon {labels.get('horizon_days')} days"),
        ("split", f"{data.get('rows_train', '?')} users for training and CV, {data.get('rows_test', '?')} withheld"),
        ("threshold", f"{meta.get('threshold', 0.5):.3f} ({meta.get('threshold_rule', '')})"),
        ("library", f"churn {meta.get('library_version', '?')}, created {meta.get('created', '?')}"),
    ]
    figures = _figures(meta)
    shap = section_shap(meta)
    if fmt == "md":
        out = ["# churn model report", ""]
        out += [f"- **{k}**: {v}" for k, v in facts] + [""]
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(r) + " |" for r in rows] + [""]
        for title, fig in figures:
            out += [f"## {title}", "", f"![{title}]({_embed(fig, 'png')})", ""]
        if shap is not None:
            out += [f"## {shap.title}", "", shap.markdown, ""]
            for caption, svg in shap.figures:
                uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
                out += [f"![{caption}]({uri})", ""]
        return "\n".join(out)
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>churn model report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}"
        "th:first-child,td:first-child{text-align:left}figure{display:inline-block;margin:1em}"
        "figure svg{max-width:100%;height:auto}</style></head><body>",
        "<h1>churn model report</h1><ul>",
        *[f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in facts],
        "</ul><h2>Metrics</h2><table><tr>",
        *[f"<th>{esc(h)}</th>" for h in header], "</tr>",
        *["<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows],
        "</table><h2>Plots</h2>",
        *[f"<figure aria-label='{esc(t)}'>{_embed(fig, 'svg')}<figcaption>{esc(t)}</figcaption></figure>"
          for t, fig in figures],
        *([] if shap is None else [
            f"<section id='{shap.id}'><h2>{esc(shap.title)}</h2>{shap.html}",
            *[f"<figure aria-label='{esc(c)}'>{svg}<figcaption>{esc(c)}</figcaption></figure>" for c, svg in shap.figures],
            "</section>"]),
        "</body></html>",
    ]
    return "".join(parts)


def write_report(model_or_path: Any, out_path: "os.PathLike[str] | str") -> str:
    """Writes the report of a model (a path or a loaded model); the format follows the extension
    (.md for Markdown, anything else HTML). Returns the path written."""
    from .forest import load_model

    model = load_model(model_or_path) if isinstance(model_or_path, (str, os.PathLike)) else model_or_path
    out = os.fspath(out_path)
    fmt = "md" if out.lower().endswith((".md", ".markdown")) else "html"
    text = render(dict(model.metadata or {}), fmt)
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)
    return out
