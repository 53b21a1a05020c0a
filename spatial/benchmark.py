"""Estate benchmarking: each site's and each trust's KPIs, their percentile among peers of the
same type, and outliers.

Input is one row per ERIC return (``eric_returns``: every trust site in England, plus each
trust's AGGREGATE row for the sites it returns together). This module knows no spreadsheet
header; the reader (:mod:`etl.readers.eric_benchmark`) maps ERIC's columns to these names.

Definitions (money in £, areas in m², shares in per cent of gross internal floor area):

* KPIs of a site (:data:`KPIS`): running cost, backlog (all risk categories, and each of
  high, significant, moderate, low) and energy cost per m² of gross internal floor area; the
  shares of floor area built before 1948, empty, under-used, and empty or under-used (their
  sum). A KPI is missing (NaN) when its figure or the floor area is.
* KPIs of a trust: its rows added up, AGGREGATE included (part of its estate). A per-m² KPI is
  Σ figure / Σ floor area over the rows where both are known; a share is the floor-area
  weighted mean of the rows' shares (Σ share × area / Σ area, rows with both known).
* Percentile: among the peers (sites of the same ERIC site type; trusts of the same ERIC trust
  type) with the KPI known, ``100 × (peers below + ½ × peers equal) / peers`` (the "mean"
  percentile rank; the value itself counts as one of the equal peers). Higher = more cost,
  backlog, old or unused space than the peers. AGGREGATE rows are not sites: they are left
  out of the site peer groups.
* Outlier: ``"high"`` when the percentile is above :data:`OUTLIER_HIGH` (95), ``"low"`` when
  below :data:`OUTLIER_LOW` (5), i.e. beyond the peers' 5th / 95th percentile. Chosen over
  Tukey's fences because several KPIs are mostly zero (high-risk backlog, empty space): with an
  inter-quartile range of 0, Tukey's rule would flag every site with any at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "BACKLOG_CATEGORIES",
    "KPIS",
    "OUTLIER_HIGH",
    "OUTLIER_LOW",
    "Kpi",
    "benchmark",
    "distribution",
    "national_totals",
    "percentile_rank",
    "site_kpis",
    "trust_kpis",
]

OUTLIER_LOW = 5.0
OUTLIER_HIGH = 95.0
#: Backlog risk categories, as ``backlog_<category>_gbp`` columns.
BACKLOG_CATEGORIES = ("high", "significant", "moderate", "low")
_BACKLOG_COLUMNS = tuple(f"backlog_{c}_gbp" for c in BACKLOG_CATEGORIES)
_SUMMED = ("gia_m2", "running_cost_gbp", *_BACKLOG_COLUMNS, "backlog_gbp", "energy_cost_gbp")
_SHARES = ("pre_1948_pct", "empty_pct", "under_used_pct", "empty_or_under_used_pct")


@dataclass(frozen=True)
class Kpi:
    """One benchmark measure: ``numerator`` per m² of floor area, or a floor-area share."""

    name: str
    label: str
    unit: str
    #: The column holding the amount (per m²) or the share (per cent).
    column: str
    per_m2: bool


KPIS: tuple[Kpi, ...] = (
    Kpi("running_cost_per_m2", "Running cost per m²", "£/m²/year", "running_cost_gbp", True),
    Kpi("backlog_per_m2", "Backlog per m² (all risk)", "£/m²", "backlog_gbp", True),
    *(
        Kpi(f"backlog_{c}_per_m2", f"Backlog per m² ({c} risk)", "£/m²", f"backlog_{c}_gbp", True)
        for c in BACKLOG_CATEGORIES
    ),
    Kpi("pre_1948_share", "Floor area built before 1948", "%", "pre_1948_pct", False),
    Kpi("empty_share", "Floor area empty", "%", "empty_pct", False),
    Kpi("under_used_share", "Floor area under-used", "%", "under_used_pct", False),
    Kpi(
        "empty_or_under_used_share",
        "Floor area empty or under-used",
        "%",
        "empty_or_under_used_pct",
        False,
    ),
    Kpi("energy_cost_per_m2", "Energy cost per m²", "£/m²/year", "energy_cost_gbp", True),
)


def _num(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column], errors="coerce").astype("float64")


def _prepared(returns: pd.DataFrame) -> pd.DataFrame:
    out = returns.copy()
    for column in ("gia_m2", "running_cost_gbp", *_BACKLOG_COLUMNS, "energy_cost_gbp"):
        out[column] = _num(out, column)
    for column in ("pre_1948_pct", "empty_pct", "under_used_pct"):
        out[column] = _num(out, column)
    out["backlog_gbp"] = out[list(_BACKLOG_COLUMNS)].sum(axis=1, min_count=1)
    out["empty_or_under_used_pct"] = out["empty_pct"] + out["under_used_pct"]
    return out


def _kpi_columns(frame: pd.DataFrame) -> pd.DataFrame:
    gia = frame["gia_m2"].where(frame["gia_m2"] > 0)
    for kpi in KPIS:
        frame[kpi.name] = frame[kpi.column] / gia if kpi.per_m2 else frame[kpi.column]
    return frame


def site_kpis(returns: pd.DataFrame) -> pd.DataFrame:
    """Every site's KPIs (AGGREGATE rows left out).

    ``returns`` has ``organisation_code``, ``site_code``, ``site_type``, ``aggregate``,
    ``gia_m2``, ``running_cost_gbp``, ``backlog_<category>_gbp``, ``energy_cost_gbp``,
    ``pre_1948_pct``, ``empty_pct``, ``under_used_pct`` (other columns are kept). Adds
    ``backlog_gbp``, ``empty_or_under_used_pct`` and one column per :data:`KPIS` name.
    """
    sites = returns[~returns["aggregate"].astype(bool)]
    return _kpi_columns(_prepared(sites).reset_index(drop=True))


def trust_kpis(returns: pd.DataFrame) -> pd.DataFrame:
    """Every trust's KPIs from all its rows (AGGREGATE included).

    Returns one row per ``organisation_code`` with ``organisation_name``,
    ``organisation_type``, ``sites`` (rows that are sites), ``aggregate_rows``, the summed
    figures (``gia_m2``, ``running_cost_gbp``, ``backlog_*_gbp``, ``energy_cost_gbp``), the
    floor-area weighted shares and one column per :data:`KPIS` name.
    """
    rows = _prepared(returns)
    gia = rows["gia_m2"].where(rows["gia_m2"] > 0)
    parts: dict[str, pd.Series] = {}
    for column in _SUMMED:
        parts[column] = rows[column]
        if column != "gia_m2":
            # Floor area of the rows where this figure is known: the per-m² denominator.
            parts[f"{column}__area"] = gia.where(rows[column].notna())
    for column in _SHARES:
        parts[f"{column}__weighted"] = rows[column] * gia
        parts[f"{column}__area"] = gia.where(rows[column].notna())
    work = pd.DataFrame(parts)
    work["organisation_code"] = rows["organisation_code"].to_numpy()
    work["site_row"] = (~rows["aggregate"].astype(bool)).astype(int).to_numpy()
    work["aggregate_row"] = rows["aggregate"].astype(bool).astype(int).to_numpy()
    sums = work.groupby("organisation_code").sum(min_count=1)
    names = rows.groupby("organisation_code")[["organisation_name", "organisation_type"]].first()
    out = names.copy()
    out["sites"] = sums["site_row"].fillna(0).astype(int)
    out["aggregate_rows"] = sums["aggregate_row"].fillna(0).astype(int)
    for column in _SUMMED:
        out[column] = sums[column]
    for kpi in KPIS:
        if kpi.per_m2:
            area = sums[f"{kpi.column}__area"]
            out[kpi.name] = sums[kpi.column] / area.where(area > 0)
        else:
            area = sums[f"{kpi.column}__area"]
            out[kpi.column] = sums[f"{kpi.column}__weighted"] / area.where(area > 0)
            out[kpi.name] = out[kpi.column]
    return out.reset_index()


def percentile_rank(values: pd.Series, groups: pd.Series) -> pd.Series:
    """Each value's percentile among the known values of its group (NaN stays NaN):
    ``100 × (below + ½ × equal) / n``."""
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    ranks = v.groupby(groups.to_numpy()).rank(method="average")
    n = v.notna().groupby(groups.to_numpy()).transform("sum").astype("float64")
    return (100.0 * (ranks - 0.5) / n).where(v.notna()).astype("float64")


def _outlier(percentile: pd.Series) -> pd.Series:
    flags: list[str | None] = [
        "high" if p > OUTLIER_HIGH else "low" if p < OUTLIER_LOW else None
        for p in percentile.to_numpy(dtype=float)
    ]
    return pd.Series(flags, index=percentile.index, dtype=object)


def benchmark(kpis: pd.DataFrame, *, peer_column: str) -> pd.DataFrame:
    """Add per KPI its percentile (``<kpi>_percentile``), outlier flag (``<kpi>_outlier``:
    ``"high"``, ``"low"`` or None) and number of peers with it known (``<kpi>_peers``),
    the peers being the rows with the same ``peer_column`` value."""
    out = kpis.copy()
    groups = out[peer_column].fillna("")
    for kpi in KPIS:
        values = out[kpi.name]
        pct = percentile_rank(values, groups)
        out[f"{kpi.name}_percentile"] = pct
        out[f"{kpi.name}_outlier"] = _outlier(pct)
        out[f"{kpi.name}_peers"] = (
            values.notna().groupby(groups.to_numpy()).transform("sum").astype(int)
        )
    return out


def distribution(kpis: pd.DataFrame, *, peer_column: str, peer: str) -> pd.DataFrame:
    """The peers' spread of each KPI (for a box plot): ``kpi, peers, min, p5, q1, median, q3,
    p95, max`` over the rows whose ``peer_column`` is ``peer`` (linear quantiles)."""
    rows = kpis[kpis[peer_column] == peer]
    records = []
    for kpi in KPIS:
        v = pd.to_numeric(rows[kpi.name], errors="coerce").dropna().to_numpy(dtype=float)
        if len(v):
            q = np.quantile(v, [0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0])
        else:
            q = np.full(7, np.nan)
        records.append(
            {
                "kpi": kpi.name,
                "peers": len(v),
                **dict(zip(("min", "p5", "q1", "median", "q3", "p95", "max"), q, strict=True)),
            }
        )
    return pd.DataFrame(records)


def national_totals(returns: pd.DataFrame) -> dict[str, float | int]:
    """Totals over every row (AGGREGATE included): floor area, running cost, backlog by risk
    and in all, energy cost; and the counts of trusts, sites and AGGREGATE rows."""
    rows = _prepared(returns)
    totals: dict[str, float | int] = {
        "trusts": int(rows["organisation_code"].nunique()),
        "sites": int((~rows["aggregate"].astype(bool)).sum()),
        "aggregate_rows": int(rows["aggregate"].astype(bool).sum()),
    }
    for column in _SUMMED:
        totals[column] = float(rows[column].sum())
    return totals
