"""The capacity-sizing report (HTML and PDF) and its CSV: one row per site's catchment.

Built from the job's :class:`app.schemas.planning.CapacityResult` alone, with the same page
template, tables and PDF engines as the scenario and co-location reports.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from app.reports import Source, _html_table, _render_html, render_pdf
from app.reports._charts import ATTRIBUTION, data_uri, png
from app.reports.export import frame_csv
from app.schemas.planning import CapacityResult

__all__ = ["capacity_csv", "capacity_report", "capacity_table"]


def capacity_table(result: CapacityResult) -> pd.DataFrame:
    """One row per site: people, need now and at the horizon, capacity, gaps, status."""
    rows: list[dict[str, Any]] = []
    for s in result.sites:
        row: dict[str, Any] = {
            "site_id": s.site_id,
            "source_id": s.source_id,
            "name": s.name,
            "kind": s.kind,
            "areas": s.areas,
            f"population_{result.now_year}": s.population_now,
            f"population_{result.horizon_year}": s.population_horizon,
        }
        row.update({f"need_{m}_{result.now_year}": v for m, v in s.need_now.items()})
        row.update({f"need_{m}_{result.horizon_year}": v for m, v in s.need_horizon.items()})
        row.update({f"capacity_{m}": c for m, c in s.capacity.items()})
        row.update({f"gap_{m}_{result.horizon_year}": g for m, g in s.gap_horizon.items()})
        row["status"] = s.status
        rows.append(row)
    return pd.DataFrame(rows)


def capacity_csv(result: CapacityResult) -> bytes:
    """The site table as CSV, escaped like every export (:func:`app.reports.export.frame_csv`)."""
    return (frame_csv(capacity_table(result)) + f"# {ATTRIBUTION}\r\n").encode("utf-8")


def _chart(result: CapacityResult) -> Figure:
    names = [str(s.name or s.site_id)[:28] for s in result.sites]
    now = [s.population_now for s in result.sites]
    later = [s.population_horizon for s in result.sites]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    ax.barh(y - 0.2, now, height=0.4, label=str(result.now_year), color="#7f8c8d")
    ax.barh(y + 0.2, later, height=0.4, label=str(result.horizon_year), color="#2980b9")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("people in the catchment")
    ax.legend()
    ax.set_title(f"Catchment population by {result.mode}")
    fig.subplots_adjust(left=0.35, right=0.97)
    return fig


def _norms_table(result: CapacityResult) -> pd.DataFrame:
    sources = result.metadata.get("norm_sources") or {}
    rows = []
    for name, item in (sources.get("primary_care") or {}).items():
        rows.append(
            {
                "norm": name,
                "value": item.get("value"),
                "unit": item.get("unit"),
                "basis": item.get("basis"),
                "source": item.get("source"),
            }
        )
    beds = sources.get("beds") or {}
    for item in beds.get("bed_days_per_1000", []):
        rows.append(
            {
                "norm": f"bed days per 1,000 aged {item.get('age_band')}",
                "value": item.get("value"),
                "unit": "bed days a year",
                "basis": item.get("basis"),
                "source": item.get("source"),
            }
        )
    for key in ("target_occupancy", "average_length_of_stay_days"):
        if key in beds:
            rows.append(
                {"norm": key, **{k: beds[key].get(k) for k in ("value", "unit", "basis", "source")}}
            )
    return pd.DataFrame(rows, columns=["norm", "value", "unit", "basis", "source"])


def capacity_report(result: CapacityResult, *, pdf_engine: str = "auto") -> tuple[str, bytes]:
    """HTML and PDF of a capacity-sizing result."""
    table = capacity_table(result)
    short = table[table["status"].str.startswith("shortfall")]
    norms = _norms_table(result)
    chart = png(_chart(result))
    projection = result.projection
    subtitle = (
        f"{result.service.replace('_', ' ')}; {len(result.sites)} catchments of "
        f"{', '.join(result.kinds)} by {result.mode}; need in {result.now_year} and "
        f"{result.horizon_year}"
        + (
            f" (projection {projection['name']} v{projection['version']})"
            if projection
            else " (no projection: need now only)"
        )
    )
    norm = result.norms
    sections: list[dict[str, Any]] = [
        {
            "heading": "Method",
            "paragraphs": [
                str(result.metadata.get("catchments", "")),
                str(result.metadata.get("gap", "")),
                f"Norm set {norm.get('name')} v{norm.get('version')}"
                + (" (built in)" if norm.get("builtin") else ""),
                f"People in areas reaching no site: {result.unassigned.get('now', 0):,.0f} now, "
                f"{result.unassigned.get('horizon', 0):,.0f} at the horizon.",
            ],
            "images": [{"uri": data_uri(chart), "alt": "catchment population"}],
            "tables": [],
        },
        {
            "heading": "Catchments",
            "paragraphs": [
                f"{len(short)} of {len(table)} catchments short of capacity; capacity is "
                "blank where no figure is loaded."
            ],
            "images": [],
            "tables": [_html_table(table, css="capacity")],
        },
        {
            "heading": "Planning norms and their sources",
            "paragraphs": [],
            "images": [],
            "tables": [_html_table(norms, css="norms")],
        },
    ]
    sources: list[Source] = [
        (str(s[0]), str(s[1]), str(s[2]), str(s[3]))
        for s in result.metadata.get("sources", [])
        if isinstance(s, list) and len(s) == 4
    ]
    title = "Capacity sizing"
    html = _render_html(title, subtitle, sections, sources)
    pdf = render_pdf(
        html,
        title=title,
        images=[chart],
        tables=[("Catchments", table), ("Planning norms", norms)],
        sources=sources,
        engine=pdf_engine,
    )
    return html, pdf
