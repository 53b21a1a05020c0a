"""The words and tables of the consultation pack (:mod:`app.reports.consultation`).

Accessible building blocks (tables with a caption and header scopes, figures with alt text and
a caption) and the plain-language summary, option changes in words and method notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import escape

from app.reports import _fmt
from app.reports._charts import data_uri
from spatial.modes import mode_spec


def table(
    frame: pd.DataFrame, caption: str, *, row_header: str | None = None, css: str = ""
) -> str:
    """An HTML table with a caption, column headers (``scope="col"``) and, with
    ``row_header``, that column as row headers (``scope="row"``)."""
    text = {c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}

    def cls(c: Any) -> str:
        return ' class="t"' if c in text else ""

    head = "".join(f'<th scope="col"{cls(c)}>{escape(str(c))}</th>' for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, rec, strict=True):
            if c == row_header:
                cells.append(f'<th scope="row" class="t">{escape(_fmt(v))}</th>')
            else:
                cells.append(f"<td{cls(c)}>{escape(_fmt(v))}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table class="{escape(css)}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def para(*texts: str) -> str:
    return "".join(f"<p>{escape(t)}</p>" for t in texts if t)


def figure(image: bytes, alt: str, caption: str) -> str:
    return (
        f'<figure><img src="{data_uri(image)}" alt="{escape(alt)}">'
        f"<figcaption>{escape(caption)}</figcaption></figure>"
    )


def num(v: Any, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "unknown"
    return f"{float(v):,.{digits}f}"


def describe(change: Mapping[str, Any], sites: pd.DataFrame) -> str:
    """One change in words, sites by name (``Close: Uppingham Surgery (site 56)``)."""
    names = dict(zip(sites["site_id"].astype(str), sites["name"].astype(str), strict=False))

    def site(sid: Any) -> str:
        name = names.get(str(sid))
        return f"{name} (site {sid})" if name and name != str(sid) else f"site {sid}"

    kind = change.get("type")
    if kind == "close_sites":
        return "Close: " + ", ".join(site(s) for s in change.get("site_ids", []))
    if kind == "open_site":
        where = (
            f"in {site(change['at_site_id'])}"
            if change.get("at_site_id")
            else f"at grid reference {change.get('x'):.0f}, {change.get('y'):.0f}"
        )
        extra = f", {change['gia_m2']:,.0f} m² added" if change.get("gia_m2") else ""
        return f"Open {change.get('name') or change.get('site_id')} {where}{extra}"
    if kind == "move_service":
        return (
            f"Move the service from {site(change.get('from_site_id'))} to "
            f"{site(change.get('to_site_id'))}"
            + ("" if change.get("release_building", True) else " (the building is kept)")
        )
    if kind == "change_capacity":
        return f"Set the capacity of {site(change.get('site_id'))} to {change.get('capacity')}"
    if kind == "grow_population":
        return (
            f"Population aged {', '.join(change.get('age_bands', []))} × {change.get('factor')}"
            + (" in some areas" if change.get("area_codes") else "")
        )
    return str(kind)


def summary(results: Mapping[str, Any], labels: Mapping[str, str], crit: Mapping[str, Any]) -> str:
    ranking = results["ranking"]
    rows = {r["option"]: r for r in ranking["rows"]}
    top = ranking["top"]
    opts = results["options"]
    a = results.get("assumptions", {})
    parts = [
        f"This pack compares {len(opts)} options for where services are provided "
        f"({', '.join(a.get('kinds', []))}): "
        + "; ".join(f"“{o['label']}”" for o in opts)
        + ". Each option is judged on how long people take to reach their nearest site, "
        "who would lose access and whether that falls on deprived areas or older people, "
        "how far patients travel and the carbon that travel emits, and what the option does "
        "to the estate (buildings, running costs, land).",
        f"With the weights used, “{labels[top]}” scores highest "
        f"({rows[top]['score']:.2f} out of 1).",
    ]
    sens = ranking.get("sensitivity", {})
    if sens.get("min_change") is not None:
        c = crit.get(sens["min_change_criterion"], {})
        parts.append(
            f"The preferred option would change if the weight given to "
            f"“{c.get('label', sens['min_change_criterion'])}” moved by "
            f"{100 * sens['min_change']:.0f} percentage points (other weights adjusted in "
            f"proportion)."
        )
    else:
        parts.append("No change of a single weight changes the preferred option.")
    mc = ranking.get("monte_carlo")
    if mc:
        parts.append(
            f"Allowing for uncertainty in the figures ({mc['draws']:,} random draws), "
            f"“{labels[top]}” ranks first in {100 * mc['first_share'][top]:.0f}% of draws."
        )
    dominated = [labels[r["option"]] for r in ranking["rows"] if r["dominated"]]
    if dominated:
        parts.append(
            "Some options are worse than another option on every criterion that counts and "
            f"better on none: {', '.join(dominated)}."
        )
    items = []
    threshold = a.get("threshold_min", 20)
    for o in opts:
        if o["kind"] == "baseline":
            continue
        detail = results["details"][o["id"]]
        for m, d in detail["modes"].items():
            v = next(r["values"] for r in results["matrix"] if r["option"] == o["id"])
            base: dict[str, Any] = next(
                (r["values"] for r in results["matrix"] if r["option"] == "baseline"), {}
            )
            lose = sum(d.get("losing_by_age", {}).values())
            deprived = sum(x for k, x in d.get("losing_by_imd", {}).items() if k in ("1", "2"))
            mean = v.get(f"mean_time_min:{m}")
            was = base.get(f"mean_time_min:{m}")
            change = f" (from {num(was)} today)" if was is not None else ""
            items.append(
                f"“{o['label']}”, by {mode_spec(m).label.lower()}: {lose:,.0f} people would "
                f"no longer reach a site within {threshold:g} minutes ({deprived:,.0f} of them "
                f"in the 20% most deprived areas); the average journey would take "
                f"{num(mean)} minutes{change}."
            )
    body = para(*parts)
    if items:
        body += "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"
    return body


def method_notes(results: Mapping[str, Any]) -> str:
    a = results.get("assumptions", {})
    ranking = results["ranking"]
    factors = pd.DataFrame(
        [
            {
                "mode": mode_spec(f["mode"]).label,
                "kg CO2e per km": f["kg_co2e_per_km"],
                "what the km counts": f["basis"],
                "source": f"{f['source']} ({f['year']})",
            }
            for f in a.get("emission_factors", [])
        ]
    )
    crit = pd.DataFrame(
        [
            {
                "criterion": c["label"],
                "id": c["id"],
                "group": c["group"],
                "unit": c["unit"],
                "better": c["direction"],
                "definition": c["description"],
            }
            for c in results["criteria"]
        ]
    )
    first = next(iter(results.get("evaluations", {}).values()), None) or {}
    return (
        para(
            "Travel time is the time from each area's population-weighted centre to its "
            "nearest site providing the service, on the stored road network or timetable. "
            + " ".join(str(n) for n in first.get("notes", [])),
            f"Normalisation: {ranking['normalisation']}.",
            "Score: the sum of weight × normalised value; rank 1 is the highest score. "
            f"Weights are normalised to sum to 1. {ranking.get('flip_rule', '')}.",
            "Inequality: the concentration index of travel time by deprivation rank (Kakwani, "
            "Wagstaff & van Doorslaer 1997; O'Donnell et al. 2008, World Bank), C = 2 cov(t, "
            "R) / mean(t), population weighted, areas ranked from most to least deprived (IMD "
            "2019 decile); 0 means no gradient, negative means longer journeys for the more "
            "deprived. The criterion is its absolute value.",
            f"Patient travel: residents × {a.get('visits_per_person_year')} visits a year "
            f"({a.get('visit_rate_source', '')}) × 2 (return) × route distance, estimated as "
            f"the straight line × {a.get('route_factor')}. Each mode's figure assumes every "
            "visit is made by that mode.",
            f"Running cost where a site has none: floor area × "
            f"£{num(a.get('cost_per_m2_gbp'), 2)}/m²/year ({a.get('cost_per_m2_source')}). "
            + (
                f"Capital receipt: land released × £{num(a.get('receipt_per_ha'), 0)}/ha."
                if a.get("receipt_per_ha") is not None
                else "No receipt rate was given: capital receipts are not appraised."
            ),
        )
        + table(factors, "Emission factors (kg CO2e per km)", row_header="mode")
        + table(crit, "The criteria", row_header="criterion")
        + "<ul>"
        + "".join(f"<li>{escape(str(n))}</li>" for n in results.get("notes", []))
        + "</ul>"
    )
