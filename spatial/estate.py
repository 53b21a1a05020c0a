"""Derived per-site estate figures: cost and backlog per m², pre-1948 share, utilisation flags.

Input is a table of sites as stored in ``sites`` (columns ``gia_m2``, ``running_cost_gbp``,
``backlog_gbp`` and an ``attributes`` mapping, a dict or a JSON string). For NHS sites the
``attributes`` hold the ERIC Site Data fields keyed by the **exact column headers of NHS
Digital's ERIC Site Data sheet** (2016/17 layout, header on the sheet's second row), e.g.
``"Age profile - pre 1948 (%)"``. The headers used here are the module constants below; they
were checked against ``eric_2016-17_trust_site_pfi.xls`` in ``tests/spatial/test_estate.py``.

Everything is a few vectorised pandas column operations; hand-written because no library knows
ERIC, and because every figure must be traceable to a named ERIC column for a board paper.

Definitions (all money in £ per year as returned to ERIC, areas in m² and hectares):

* running cost = hard FM + soft FM + energy + water/sewage + waste (``ERIC_RUNNING_COST_COLUMNS``).
  Capital charges ("Estates and facilities finance costs") and medical-equipment maintenance
  ("Electro Bio Medical Equipment maintenance cost") are excluded: they do not stop when a
  building is vacated in the way FM, energy and utilities do.
* backlog = high + significant + moderate + low risk (``ERIC_BACKLOG_COLUMNS``). The three
  "Critical Infrastructure Risk" columns are a subset of those totals and are not added again.
* cost per m² = running cost / gross internal floor area (GIA); backlog per m² likewise.
* share built before 1948 = ``"Age profile - pre 1948 (%)"`` / 100.
* utilisation flags: empty floor area %, under-used floor area %, not functionally suitable
  occupied floor area % above user thresholds, and land not delivering services > threshold ha.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ERIC_AGE_PRE_1948",
    "ERIC_BACKLOG_COLUMNS",
    "ERIC_EMPTY_PCT",
    "ERIC_GIA",
    "ERIC_LAND_HA",
    "ERIC_LAND_NOT_DELIVERING_HA",
    "ERIC_NOT_SUITABLE_PCT",
    "ERIC_OCCUPIED",
    "ERIC_RUNNING_COST_COLUMNS",
    "ERIC_UNDER_USED_PCT",
    "derive_estate_metrics",
    "estate_cost_per_m2",
    "sites_from_eric",
]

ERIC_GIA = "Gross internal floor area (m²)"
ERIC_OCCUPIED = "Occupied floor area (m²)"
ERIC_LAND_HA = "Land area owned (Hectares)"
ERIC_LAND_NOT_DELIVERING_HA = "Land area not delivering services (Hectares)"
ERIC_NOT_SUITABLE_PCT = "Not functionally suitable - occupied floor area (%)"
ERIC_EMPTY_PCT = "Floor area - empty (%)"
ERIC_UNDER_USED_PCT = "Floor area - under used (%)"
ERIC_AGE_PRE_1948 = "Age profile - pre 1948 (%)"

#: Hard FM, soft FM, energy, utilities and waste: the costs that go with the building.
ERIC_RUNNING_COST_COLUMNS: tuple[str, ...] = (
    "Estates and property maintenance (£)",
    "Grounds and gardens maintenance (£)",
    "Other Hard FM (Estates) costs (£)",
    "Other Soft FM (Hotel Services) costs (£)",
    "Energy costs (all energy supplies) (£)",
    "Water cost (£)",
    "Sewage cost (£)",
    "Landfill disposal cost (£)",
    "Incineration disposal cost (£)",
    "Waste reycling cost (£)",  # sic: ERIC's spelling
    "Other recovery cost (£)",
    "Cleaning service cost (£)",
    "Inpatient food service cost (£)",
    "Laundry and linen service cost (£)",
    "Portering service cost (£)",
)

#: Backlog by risk category; their sum is the cost to eradicate all backlog.
ERIC_BACKLOG_COLUMNS: tuple[str, ...] = (
    "Cost to eradicate high risk backlog (£)",
    "Cost to eradicate significant risk backlog (£)",
    "Cost to eradicate moderate risk backlog (£)",
    "Cost to eradicate low risk backlog (£)",
)


def _to_number(value: Any) -> float:
    """ERIC cells hold numbers, blanks or text such as ``"Not Applicable"``: text becomes NaN."""
    if value is None or isinstance(value, bool):
        return float("nan")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return float("nan")


def _attributes(value: Any) -> Mapping[str, Any]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return {}
    if isinstance(value, str):
        parsed = json.loads(value) if value.strip() else {}
        if not isinstance(parsed, dict):
            raise ValueError("attributes JSON must be an object")
        return parsed
    if isinstance(value, Mapping):
        return value
    raise TypeError(f"attributes must be a mapping or JSON string, got {type(value).__name__}")


def _attribute_column(attrs: pd.Series, key: str) -> pd.Series:
    return pd.Series(
        [_to_number(a.get(key)) for a in attrs], index=attrs.index, dtype="float64", name=key
    )


def _per_m2(numerator: pd.Series, gia: pd.Series) -> pd.Series:
    out = numerator.astype("float64") / gia.where(gia > 0).astype("float64")
    return out.astype("float64")


def derive_estate_metrics(
    sites: pd.DataFrame,
    *,
    empty_pct_threshold: float = 5.0,
    under_used_pct_threshold: float = 10.0,
    not_suitable_pct_threshold: float = 20.0,
    surplus_land_ha_threshold: float = 0.0,
) -> pd.DataFrame:
    """Add derived per-site estate figures and utilisation flags.

    Parameters
    ----------
    sites : pandas.DataFrame
        One row per site with columns ``gia_m2`` (gross internal floor area, m²),
        ``running_cost_gbp`` (£ per year), ``backlog_gbp`` (£) and, optionally,
        ``attributes`` (dict or JSON string keyed by ERIC Site Data headers). Sites without
        ERIC attributes (council, GP) get NaN ERIC figures and ``False`` flags.
    empty_pct_threshold : float, default 5.0
        ``flag_empty`` is set when ``"Floor area - empty (%)"`` exceeds this (per cent).
    under_used_pct_threshold : float, default 10.0
        ``flag_under_used`` when ``"Floor area - under used (%)"`` exceeds this (per cent).
    not_suitable_pct_threshold : float, default 20.0
        ``flag_not_suitable`` when ``"Not functionally suitable - occupied floor area (%)"``
        exceeds this (per cent).
    surplus_land_ha_threshold : float, default 0.0
        ``flag_surplus_land`` when ``"Land area not delivering services (Hectares)"`` exceeds
        this (hectares).

    Returns
    -------
    pandas.DataFrame
        A copy of ``sites`` with added columns: ``cost_per_m2_gbp`` and
        ``backlog_per_m2_gbp`` (£/m², NaN where GIA is missing or zero), ``pre_1948_share``
        (0–1), ``empty_pct``, ``under_used_pct``, ``not_suitable_pct`` (per cent),
        ``occupied_share`` (occupied / gross internal floor area, 0–1),
        ``land_not_delivering_ha`` (ha), the four boolean ``flag_*`` columns and
        ``utilisation_flags`` (a ``;``-joined list of the raised flags, ``""`` if none).
    """
    out = sites.copy()
    for column in ("gia_m2", "running_cost_gbp", "backlog_gbp"):
        if column not in out.columns:
            raise ValueError(f"sites is missing column {column!r}")
    gia = pd.to_numeric(out["gia_m2"], errors="coerce").astype("float64")
    running = pd.to_numeric(out["running_cost_gbp"], errors="coerce").astype("float64")
    backlog = pd.to_numeric(out["backlog_gbp"], errors="coerce").astype("float64")
    raw = out["attributes"] if "attributes" in out.columns else pd.Series(None, index=out.index)
    attrs = pd.Series([_attributes(a) for a in raw], index=out.index, dtype="object")

    out["cost_per_m2_gbp"] = _per_m2(running, gia)
    out["backlog_per_m2_gbp"] = _per_m2(backlog, gia)
    out["pre_1948_share"] = _attribute_column(attrs, ERIC_AGE_PRE_1948) / 100.0
    out["empty_pct"] = _attribute_column(attrs, ERIC_EMPTY_PCT)
    out["under_used_pct"] = _attribute_column(attrs, ERIC_UNDER_USED_PCT)
    out["not_suitable_pct"] = _attribute_column(attrs, ERIC_NOT_SUITABLE_PCT)
    occupied = _attribute_column(attrs, ERIC_OCCUPIED)
    eric_gia = _attribute_column(attrs, ERIC_GIA).where(lambda s: s > 0)
    out["occupied_share"] = occupied / eric_gia.fillna(gia.where(gia > 0))
    out["land_not_delivering_ha"] = _attribute_column(attrs, ERIC_LAND_NOT_DELIVERING_HA)

    flags = {
        "flag_empty": out["empty_pct"] > empty_pct_threshold,
        "flag_under_used": out["under_used_pct"] > under_used_pct_threshold,
        "flag_not_suitable": out["not_suitable_pct"] > not_suitable_pct_threshold,
        "flag_surplus_land": out["land_not_delivering_ha"] > surplus_land_ha_threshold,
    }
    for name, values in flags.items():
        out[name] = values.fillna(False).astype(bool)
    names = list(flags)
    out["utilisation_flags"] = [
        ";".join(n.removeprefix("flag_") for n in names if bool(row[n]))
        for _, row in out[names].iterrows()
    ]
    return out


def sites_from_eric(site_data: pd.DataFrame) -> pd.DataFrame:
    """Turn ERIC Site Data rows into the ``sites`` shape used by :func:`derive_estate_metrics`.

    Parameters
    ----------
    site_data : pandas.DataFrame
        The "Site Data" sheet read with its second row as header (``header=1``), i.e. columns
        named exactly as published (``"Site Code"``, ``"Gross internal floor area (m²)"``...).
        The per-trust ``AGGREGATE SITE`` rows (``Site Type == "Aggregate Site"``) are dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``site_id`` (ERIC site code), ``name``, ``owner`` (trust name), ``owner_code``,
        ``owner_type`` (``"nhs_trust"``), ``kind`` (ERIC site type), ``gia_m2`` (m²),
        ``land_ha`` (ha), ``running_cost_gbp`` (sum of ``ERIC_RUNNING_COST_COLUMNS``, £/year),
        ``backlog_gbp`` (sum of ``ERIC_BACKLOG_COLUMNS``, £) and ``attributes`` (dict of every
        ERIC column for the row).
    """
    required = ("Site Code", "Site Name", "Organisation Name", "Site Type", ERIC_GIA)
    missing = [c for c in required if c not in site_data.columns]
    if missing:
        raise ValueError(f"not an ERIC Site Data sheet: missing columns {missing}")
    rows = site_data[site_data["Site Type"].astype(str).str.strip() != "Aggregate Site"]
    rows = rows[rows["Site Code"].notna()]

    def total(columns: Sequence[str]) -> pd.Series:
        present = [c for c in columns if c in rows.columns]
        numeric = rows[present].apply(lambda col: col.map(_to_number))
        summed: pd.Series = numeric.sum(axis=1, min_count=1).astype("float64")
        return summed

    out = pd.DataFrame(
        {
            "site_id": rows["Site Code"].astype(str).str.strip(),
            "name": rows["Site Name"].astype(str).str.strip(),
            "owner": rows["Organisation Name"].astype(str).str.strip(),
            "owner_code": rows["Organisation Code"].astype(str).str.strip()
            if "Organisation Code" in rows.columns
            else None,
            "owner_type": "nhs_trust",
            "kind": rows["Site Type"].astype(str).str.strip(),
            "gia_m2": rows[ERIC_GIA].map(_to_number).astype("float64"),
            "land_ha": rows[ERIC_LAND_HA].map(_to_number).astype("float64")
            if ERIC_LAND_HA in rows.columns
            else np.nan,
            "running_cost_gbp": total(ERIC_RUNNING_COST_COLUMNS),
            "backlog_gbp": total(ERIC_BACKLOG_COLUMNS),
        }
    )
    attrs: list[dict[str, Any]] = [
        {str(k): (None if pd.isna(v) else v) for k, v in rec.items()}
        for rec in rows.to_dict(orient="records")
    ]
    out["attributes"] = pd.Series(attrs, index=out.index, dtype="object")
    return out.reset_index(drop=True)


def estate_cost_per_m2(sites: pd.DataFrame, *, kinds: Sequence[str] | None = None) -> float:
    """Floor-area-weighted running cost per m² over a set of sites (e.g. ERIC community hospitals).

    Parameters
    ----------
    sites : pandas.DataFrame
        Columns ``gia_m2`` (m²), ``running_cost_gbp`` (£/year) and, when ``kinds`` is given,
        ``kind``. Rows with missing or non-positive GIA or missing cost are ignored.
    kinds : sequence of str, optional
        Only sites whose ``kind`` is one of these.

    Returns
    -------
    float
        Σ running cost / Σ GIA in £ per m² per year (the rate a user can apply to buildings
        with a known floor area but no running-cost return, e.g. council buildings).
    """
    frame = sites if kinds is None else sites[sites["kind"].isin(list(kinds))]
    gia = pd.to_numeric(frame["gia_m2"], errors="coerce")
    cost = pd.to_numeric(frame["running_cost_gbp"], errors="coerce")
    ok = (gia > 0) & cost.notna()
    if not bool(ok.any()):
        raise ValueError("no site with both a floor area and a running cost")
    return float(cost[ok].sum() / gia[ok].sum())
