"""The estate benchmark: every English NHS site and trust against its peers (ERIC 2016/17).

Reads the national returns (``eric_returns``, dataset ``eric-benchmark``), computes the KPIs,
percentiles and outliers with :mod:`spatial.benchmark` over all of England, then selects the
rows asked for (a trust's sites, named sites, a type, outliers only). The answer states the
method (definitions, peer groups, the outlier rule, the running-cost definition) and the
national totals computed from the file, beside the figures NHS Digital published for 2016/17
where a published source was found (:data:`PUBLISHED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from app.services.estate_common import clean
from etl.readers.eric import RUNNING_COST_DEFINITION
from spatial import benchmark as bm
from store.benchmark import benchmark_load, eric_returns
from store.connection import Database

__all__ = [
    "PUBLISHED",
    "BenchmarkTable",
    "BenchmarkUnavailable",
    "Level",
    "benchmark_table",
    "method",
    "to_json",
]

Level = Literal["site", "trust"]
#: Peer groups: ERIC's site type for sites, its trust (organisation) type for trusts.
PEER_COLUMN: dict[Level, str] = {"site": "site_type", "trust": "organisation_type"}
#: At most this many peer-group distributions are returned with one answer.
MAX_DISTRIBUTIONS = 12

#: NHS Digital's published national figures for 2016/17, as quoted with the 2017/18 release
#: ("Headline statistics ... [2016/17 ...]", HEFMA news, "Backlog maintenance hits £6bn",
#: https://www.hefma.co.uk/about-us/news/item/backlog-maintenance-hits-6bn). The published
#: "total costs of running the NHS estate" include capital (finance) costs and medical
#: equipment maintenance, which Locus's running cost leaves out on purpose. No published
#: national floor area was found.
PUBLISHED: dict[str, dict[str, Any]] = {
    "backlog_gbp": {
        "published": "£5.5bn",
        "published_gbp": 5.5e9,
        "comparable": True,
    },
    "running_cost_gbp": {
        "published": "£8.6bn (total costs of running the NHS estate)",
        "published_gbp": 8.6e9,
        "comparable": False,
        "why": "NHS Digital's total includes estates and facilities finance (capital) costs "
        "and medical equipment maintenance, which the Locus running cost excludes",
    },
    "gia_m2": {"published": None, "comparable": False, "why": "no published figure found"},
}
PUBLISHED_SOURCE = (
    "NHS Digital ERIC 2017/18 headline statistics with 2016/17 comparators, as reported by "
    "HEFMA: https://www.hefma.co.uk/about-us/news/item/backlog-maintenance-hits-6bn"
)


class BenchmarkUnavailable(LookupError):
    """The national ERIC returns are not loaded (HTTP 503)."""


@dataclass
class BenchmarkTable:
    """The benchmarked rows asked for, with what the answer states about them."""

    level: Level
    #: Every row of the level (all England), KPIs, percentiles and outlier flags added.
    national: pd.DataFrame
    #: The rows asked for (a subset of ``national``), paged.
    rows: pd.DataFrame
    matched: int
    totals: dict[str, float | int]
    source: dict[str, Any]


def method(level: Level) -> dict[str, Any]:
    """The definitions the benchmark uses, in words (stated with every answer)."""
    return {
        "peer_group": "sites of the same ERIC site type"
        if level == "site"
        else "trusts of the same ERIC trust (organisation) type",
        "running_cost": RUNNING_COST_DEFINITION,
        "per_m2": "figure / gross internal floor area; a trust's per-m² KPI is Σ figure / "
        "Σ floor area over its rows (sites and AGGREGATE) where both are known",
        "shares": "per cent of gross internal floor area (ERIC's age profile and space "
        "utilisation); a trust's share is the floor-area weighted mean of its rows'",
        "backlog": "cost to eradicate backlog by risk category (high, significant, moderate, "
        "low) and their sum; the critical infrastructure risk columns are a subset, not added",
        "percentile": "100 × (peers below + ½ × peers equal) / peers with the KPI known "
        "(the row itself is one of the equal peers); higher = more cost, backlog, pre-1948 or "
        "unused space than its peers",
        "outliers": f"'high' above the peers' {bm.OUTLIER_HIGH:g}th percentile, 'low' below "
        f"the {bm.OUTLIER_LOW:g}th (Tukey's fences are not used: several KPIs are mostly zero)",
        "aggregate_rows": "each trust's AGGREGATE row (sites returned together) counts in "
        "its trust's figures and the national totals, not as a site",
    }


def _returns(db: Database) -> tuple[pd.DataFrame, dict[str, Any]]:
    with db.connection() as conn:
        frame = eric_returns(conn)
        load = benchmark_load(conn)
    if frame.empty or load is None:
        raise BenchmarkUnavailable(
            "the national ERIC benchmark is not loaded: "
            "`locus load eric-benchmark eric_2016-17_trust_site_pfi.xls` (no --region)"
        )
    return frame, load


def _codes(values: Sequence[str] | None) -> set[str]:
    return {v.strip().upper() for v in values or () if v.strip()}


def benchmark_table(
    db: Database,
    *,
    level: Level,
    trusts: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    peer: str | None = None,
    outliers_only: bool = False,
    limit: int = 100,
    offset: int = 0,
) -> BenchmarkTable:
    """Benchmark every site (or trust) in England and select the rows asked for.

    ``trusts``: trust codes (a site level answer gives their sites); ``sites``: site codes
    (site level only); ``peer``: one site type (or trust type); ``outliers_only``: rows with
    any KPI flagged.
    """
    frame, load = _returns(db)
    peer_column = PEER_COLUMN[level]
    kpis = bm.site_kpis(frame) if level == "site" else bm.trust_kpis(frame)
    national = bm.benchmark(kpis, peer_column=peer_column)
    keep = pd.Series(True, index=national.index)
    trust_codes, site_codes = _codes(trusts), _codes(sites)
    if trust_codes:
        keep &= national["organisation_code"].isin(trust_codes)
    if site_codes:
        keep &= national["site_code"].isin(site_codes)
    if peer:
        keep &= national[peer_column].str.lower() == peer.strip().lower()
    if outliers_only:
        flags = national[[f"{k.name}_outlier" for k in bm.KPIS]].notna().any(axis=1)
        keep &= flags
    chosen = national[keep]
    return BenchmarkTable(
        level=level,
        national=national,
        rows=chosen.iloc[offset : offset + limit],
        matched=len(chosen),
        totals=bm.national_totals(frame),
        source=load,
    )


def _row(level: Level, r: pd.Series) -> dict[str, Any]:
    head: dict[str, Any] = {
        "trust_code": r["organisation_code"],
        "trust_name": r["organisation_name"],
        "trust_type": r["organisation_type"],
    }
    if level == "site":
        head = {
            "site_code": r["site_code"],
            "site_name": r["site_name"],
            "site_type": r["site_type"],
            **head,
        }
    else:
        head.update({"sites": int(r["sites"]), "aggregate_rows": int(r["aggregate_rows"])})
    figures = {
        c: r[c]
        for c in (
            "gia_m2",
            "running_cost_gbp",
            "backlog_gbp",
            *(f"backlog_{c}_gbp" for c in bm.BACKLOG_CATEGORIES),
            "energy_cost_gbp",
        )
    }
    kpis = {
        k.name: {
            "value": r[k.name],
            "percentile": r[f"{k.name}_percentile"],
            "outlier": r[f"{k.name}_outlier"],
            "peers": int(r[f"{k.name}_peers"]),
        }
        for k in bm.KPIS
    }
    return {**head, "figures": figures, "kpis": kpis}


def _totals_json(totals: dict[str, float | int]) -> dict[str, Any]:
    checks = {}
    for key, pub in PUBLISHED.items():
        computed = float(totals[key])
        entry = {"computed": computed, **pub}
        if pub.get("published_gbp"):
            entry["difference_share"] = round(computed / float(pub["published_gbp"]) - 1.0, 4)
        checks[key] = entry
    return {**totals, "published_check": checks, "published_source": PUBLISHED_SOURCE}


def to_json(table: BenchmarkTable, *, limit: int, offset: int) -> dict[str, Any]:
    """The answer of ``GET /estate/benchmark``."""
    level = table.level
    peer_column = PEER_COLUMN[level]
    groups = list(dict.fromkeys(table.rows[peer_column].tolist()))[:MAX_DISTRIBUTIONS]
    distributions = []
    for g in groups:
        d = bm.distribution(table.national, peer_column=peer_column, peer=g)
        distributions.append(
            {
                "peer_group": g,
                "kpis": {
                    r["kpi"]: {k: r[k] for k in d.columns if k != "kpi"}
                    for r in d.to_dict("records")
                },
            }
        )
    answer: dict[str, Any] = clean(
        {
            "level": level,
            "matched": table.matched,
            "returned": len(table.rows),
            "limit": limit,
            "offset": offset,
            "kpis": [{"name": k.name, "label": k.label, "unit": k.unit} for k in bm.KPIS],
            "rows": [_row(level, r) for _, r in table.rows.iterrows()],
            "distributions": distributions,
            "method": method(level),
            "national_totals": _totals_json(table.totals),
            "metadata": {
                **table.source,
                "dataset": "eric-benchmark",
                "rows_benchmarked": len(table.national),
            },
        }
    )
    return answer
