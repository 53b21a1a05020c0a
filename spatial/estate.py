"""Derived per-site estate figures: cost and backlog per m², pre-1948 share, utilisation flags.

Input is a table of sites as stored in ``sites``: columns ``gia_m2``, ``running_cost_gbp``,
``backlog_gbp`` (already derived by the loader that read the owner's return) and an
``attributes`` mapping (a dict or a JSON string) that may hold the measures named by the
constants below. This module knows no source's column headers: the NHS ERIC reader
(:mod:`etl.readers.eric`, the only code that knows ERIC's headers) defines which ERIC costs make
up the running cost and stores ERIC's utilisation measures under these keys; any other owner's
loader may fill them too.

Everything is a few vectorised pandas column operations; hand-written because no library knows
estate returns, and because every figure must be traceable to a stored value for a board paper.

Definitions (money in £ per year, areas in m² and hectares):

* running cost and backlog: the stored ``running_cost_gbp`` and ``backlog_gbp`` (for NHS sites
  the sums defined in :mod:`etl.readers.eric`).
* cost per m² = running cost / gross internal floor area (GIA); backlog per m² likewise.
* share built before 1948 = ``attributes[PRE_1948_PCT]`` / 100.
* occupied share = ``attributes[OCCUPIED_M2]`` / GIA.
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
    "EMPTY_PCT",
    "LAND_NOT_DELIVERING_HA",
    "NOT_SUITABLE_PCT",
    "OCCUPIED_M2",
    "PRE_1948_PCT",
    "UNDER_USED_PCT",
    "derive_estate_metrics",
    "estate_cost_per_m2",
]

# Keys in ``attributes``. Their values are the keys the ERIC loader has always stored (the
# snake case of ERIC's headers), so databases loaded before keep their figures.
#: Occupied floor area, m².
OCCUPIED_M2 = "occupied_floor_area_m"
#: Land owned that does not deliver services, hectares.
LAND_NOT_DELIVERING_HA = "land_area_not_delivering_services_hectares"
#: Occupied floor area that is not functionally suitable, per cent.
NOT_SUITABLE_PCT = "not_functionally_suitable_occupied_floor_area"
#: Floor area empty, per cent.
EMPTY_PCT = "floor_area_empty"
#: Floor area under-used, per cent.
UNDER_USED_PCT = "floor_area_under_used"
#: Floor area built before 1948, per cent.
PRE_1948_PCT = "age_profile_pre_1948"


def _to_number(value: Any) -> float:
    """Stored measures are numbers, blanks or text such as ``"Not Applicable"``: text is NaN."""
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
        ``attributes`` (dict or JSON string holding the keys :data:`PRE_1948_PCT`,
        :data:`EMPTY_PCT`, :data:`UNDER_USED_PCT`, :data:`NOT_SUITABLE_PCT`,
        :data:`OCCUPIED_M2`, :data:`LAND_NOT_DELIVERING_HA`). Sites without them (council,
        GP) get NaN figures and ``False`` flags; text such as ``"Not Applicable"`` is NaN.
    empty_pct_threshold : float, default 5.0
        ``flag_empty`` is set when the empty floor area (:data:`EMPTY_PCT`) exceeds this
        (per cent).
    under_used_pct_threshold : float, default 10.0
        ``flag_under_used`` when the under-used floor area (:data:`UNDER_USED_PCT`) exceeds
        this (per cent).
    not_suitable_pct_threshold : float, default 20.0
        ``flag_not_suitable`` when the not functionally suitable occupied floor area
        (:data:`NOT_SUITABLE_PCT`) exceeds this (per cent).
    surplus_land_ha_threshold : float, default 0.0
        ``flag_surplus_land`` when land not delivering services
        (:data:`LAND_NOT_DELIVERING_HA`) exceeds this (hectares).

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
    out["pre_1948_share"] = _attribute_column(attrs, PRE_1948_PCT) / 100.0
    out["empty_pct"] = _attribute_column(attrs, EMPTY_PCT)
    out["under_used_pct"] = _attribute_column(attrs, UNDER_USED_PCT)
    out["not_suitable_pct"] = _attribute_column(attrs, NOT_SUITABLE_PCT)
    out["occupied_share"] = _attribute_column(attrs, OCCUPIED_M2) / gia.where(gia > 0)
    out["land_not_delivering_ha"] = _attribute_column(attrs, LAND_NOT_DELIVERING_HA)

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


def estate_cost_per_m2(sites: pd.DataFrame, *, kinds: Sequence[str] | None = None) -> float:
    """Floor-area-weighted running cost per m² over a set of sites (e.g. NHS community hospitals).

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
