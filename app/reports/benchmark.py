"""The estate benchmark report (HTML, PDF): the answer of ``GET /estate/benchmark`` for a board
paper.

One chart (each selected site's or trust's percentile per KPI among its peers, the outlier
zones beyond the 5th and 95th percentiles shaded), the table of KPIs with their percentiles
and outlier flags, the method, and the national totals computed from the file beside NHS
Digital's published figures. Built with the same HTML template, tables and PDF engines as the
other reports (:mod:`app.reports`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from app.reports import _charts, _html_table, _render_html, render_pdf
from spatial import benchmark as bm

__all__ = ["MAX_CHARTED", "benchmark_report", "percentile_chart"]

#: Rows drawn in the chart (the table lists every row returned).
MAX_CHARTED = 12


def _label(level: str, row: dict[str, Any]) -> str:
    if level == "site":
        return f"{row['site_code']} {str(row['site_name'])[:28]}"
    return f"{row['trust_code']} {str(row['trust_name'])[:28]}"


def percentile_chart(answer: dict[str, Any]) -> Figure:
    """Dots: each row's percentile per KPI among its peers (0–100), outlier zones shaded."""
    rows = answer["rows"][:MAX_CHARTED]
    labels = [k["label"] for k in answer["kpis"]]
    names = [k["name"] for k in answer["kpis"]]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.6))
    ax.axvspan(0, bm.OUTLIER_LOW, color="#d6eaf8", zorder=0)
    ax.axvspan(bm.OUTLIER_HIGH, 100, color="#f5b7b1", zorder=0)
    ax.axvline(50, color="#999", lw=0.8, ls=":")
    y = np.arange(len(labels))
    cmap = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    offsets = np.linspace(-0.3, 0.3, len(rows)) if len(rows) > 1 else np.zeros(1)
    for i, row in enumerate(rows):
        pct = [row["kpis"][n]["percentile"] for n in names]
        xs = np.array([np.nan if p is None else p for p in pct], dtype=float)
        ax.scatter(
            xs, y + offsets[i], s=28, color=cmap(i % cmap.N), label=_label(answer["level"], row)
        )
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("percentile among peers (higher = more cost, backlog, old or unused space)")
    ax.set_title("Estate benchmark: percentile among peers (shaded: outliers)")
    if rows:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
    fig.subplots_adjust(left=0.28, right=0.98, top=0.92, bottom=0.3)
    fig.text(0.01, 0.005, _charts.ATTRIBUTION, fontsize=5.5, color="#444")
    return fig


def _kpi_table(answer: dict[str, Any]) -> pd.DataFrame:
    level = answer["level"]
    records = []
    for row in answer["rows"]:
        rec: dict[str, Any] = {"row": _label(level, row), "GIA m²": row["figures"]["gia_m2"]}
        for k in answer["kpis"]:
            v = row["kpis"][k["name"]]
            flag = {"high": " ▲", "low": " ▼"}.get(v["outlier"] or "", "")
            value = "–" if v["value"] is None else f"{v['value']:,.1f}"
            pct = "–" if v["percentile"] is None else f"{v['percentile']:.0f}"
            rec[f"{k['label']} ({k['unit']})"] = f"{value} (p{pct}){flag}"
        records.append(rec)
    return pd.DataFrame(records)


def _totals_table(answer: dict[str, Any]) -> pd.DataFrame:
    totals = answer["national_totals"]
    rows = [
        ("Trusts", totals["trusts"], "", ""),
        ("Sites (AGGREGATE rows apart)", totals["sites"], "", ""),
        ("Gross internal floor area, m²", totals["gia_m2"], "", ""),
        ("Running cost, £/year (Locus definition)", totals["running_cost_gbp"], "", ""),
        ("Backlog, £ (all risk)", totals["backlog_gbp"], "", ""),
        *(
            (f"Backlog, £ ({c} risk)", totals[f"backlog_{c}_gbp"], "", "")
            for c in bm.BACKLOG_CATEGORIES
        ),
        ("Energy cost, £/year", totals["energy_cost_gbp"], "", ""),
    ]
    frame = pd.DataFrame(rows, columns=["measure", "computed", "published", "note"])
    check = totals["published_check"]
    for key, label in (
        ("gia_m2", "Gross internal floor area, m²"),
        ("running_cost_gbp", "Running cost, £/year (Locus definition)"),
        ("backlog_gbp", "Backlog, £ (all risk)"),
    ):
        at = frame["measure"] == label
        frame.loc[at, "published"] = check[key].get("published") or "not found"
        frame.loc[at, "note"] = check[key].get("why", "")
    frame["computed"] = frame["computed"].astype(float)
    return frame


def benchmark_report(
    answer: dict[str, Any], *, title: str, pdf: bool, pdf_engine: str = "auto"
) -> tuple[str, bytes | None]:
    """The HTML report (and the PDF when ``pdf``) of a benchmark answer."""
    chart = _charts.png(percentile_chart(answer))
    kpis = _kpi_table(answer)
    totals = _totals_table(answer)
    method = [f"{k.replace('_', ' ')}: {v}" for k, v in answer["method"].items()]
    sections: list[dict[str, Any]] = [
        {
            "heading": "Percentiles among peers",
            "paragraphs": [
                f"{answer['returned']} of {answer['matched']} matching "
                f"{answer['level']}s shown; ▲ / ▼: outlier above the 95th / below the 5th "
                "percentile of the peers."
            ],
            "images": [{"uri": _charts.data_uri(chart), "alt": "benchmark percentiles"}],
            "tables": [_html_table(kpis, css="kpis")],
        },
        {"heading": "Method", "paragraphs": method, "images": [], "tables": []},
        {
            "heading": "National totals (England, ERIC 2016/17)",
            "paragraphs": [answer["national_totals"]["published_source"]],
            "images": [],
            "tables": [_html_table(totals, css="totals")],
        },
    ]
    meta = answer["metadata"]
    sources = [
        (
            "eric-benchmark",
            str(meta.get("file_name", "")),
            str(meta.get("vintage") or ""),
            str(meta.get("licence") or ""),
        )
    ]
    subtitle = (
        f"{answer['level'].capitalize()} level; peers: {answer['method']['peer_group']}; "
        f"{meta.get('rows_benchmarked')} {answer['level']}s benchmarked"
    )
    html = _render_html(title, subtitle, sections, sources)
    if not pdf:
        return html, None
    document = render_pdf(
        html,
        title=title,
        images=[chart],
        tables=[("KPIs", kpis), ("National totals", totals)],
        sources=sources,
        engine=pdf_engine,
    )
    return html, document
