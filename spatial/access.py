"""Accessibility measures per area from a long travel-time table.

Hand-written (rather than pysal/access) so that the measures take our long
``from_id, to_id, seconds`` tables directly, keep unreachable pairs out explicitly and
document every weight; the formulas follow Luo & Wang (2003) and Luo & Qi (2009).

* :func:`nearest_and_count` — time to the nearest site and number of sites within T.
* :func:`two_step_fca` — 2SFCA / E2SFCA supply-to-demand ratios. With bands
  ``[(d_1, w_1), …, (d_r, w_r)]`` (seconds, weight), the site ratio is
  ``R_j = S_j / Σ_k w(d_kj) P_k`` and the area score ``A_i = Σ_j w(d_ij) R_j``, where
  ``w(d)`` is the weight of the first band with ``d ≤ d_b`` and 0 beyond the last band.
  Plain 2SFCA is one band with weight 1. Default E2SFCA weights (Luo & Qi 2009, Gaussian
  steps): 0–10 min 1.00, 10–20 min 0.68, 20–30 min 0.22.
* :func:`access_gaps` — a transparent need × poor-access ranking.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = [
    "E2SFCA_LUO_QI_BANDS",
    "access_gaps",
    "nearest_and_count",
    "two_step_fca",
]

#: E2SFCA bands (upper limit seconds, weight) after Luo & Qi (2009).
E2SFCA_LUO_QI_BANDS: tuple[tuple[float, float], ...] = (
    (600.0, 1.0),
    (1200.0, 0.68),
    (1800.0, 0.22),
)


def nearest_and_count(
    times: pd.DataFrame,
    *,
    area_ids: Sequence[object] | None = None,
    thresholds_min: Sequence[float] = (10, 20, 30),
) -> pd.DataFrame:
    """Time to the nearest site and the number of sites within each threshold.

    Parameters
    ----------
    times : pandas.DataFrame
        Long table ``from_id`` (area), ``to_id`` (site), ``seconds``.
    area_ids : sequence, optional
        All areas to report (areas with no reachable site get NaN / 0).
    thresholds_min : sequence of float
        Thresholds in minutes.

    Returns
    -------
    pandas.DataFrame
        ``area_id, nearest_site, nearest_s`` and ``sites_within_<T>min`` per threshold.
    """
    t = times.sort_values(["from_id", "seconds", "to_id"], kind="mergesort")
    best = t.drop_duplicates("from_id")[["from_id", "to_id", "seconds"]]
    out = best.rename(
        columns={"from_id": "area_id", "to_id": "nearest_site", "seconds": "nearest_s"}
    ).set_index("area_id")
    for m in thresholds_min:
        cnt = times[times["seconds"] <= m * 60.0].groupby("from_id").size()
        out[f"sites_within_{m:g}min"] = cnt
    if area_ids is not None:
        out = out.reindex(pd.Index(list(area_ids), name="area_id"))
    for m in thresholds_min:
        col = f"sites_within_{m:g}min"
        out[col] = out[col].fillna(0).astype(np.int64)
    out.index.name = "area_id"
    return out.reset_index()


def _weights(seconds: np.ndarray, bands: Sequence[tuple[float, float]]) -> np.ndarray:
    w = np.zeros(len(seconds))
    assigned = np.zeros(len(seconds), dtype=bool)
    for limit, weight in sorted(bands):
        m = ~assigned & (seconds <= limit)
        w[m] = weight
        assigned |= m
    return w


def two_step_fca(
    times: pd.DataFrame,
    demand: pd.Series,
    supply: pd.Series,
    *,
    catchment_s: float = 1800.0,
    bands: Sequence[tuple[float, float]] | None = None,
    per: float = 1000.0,
) -> pd.DataFrame:
    """Two-step floating catchment area (2SFCA), or E2SFCA when ``bands`` are given.

    Parameters
    ----------
    times : pandas.DataFrame
        Long table ``from_id`` (area), ``to_id`` (site), ``seconds``.
    demand : pandas.Series
        Population ``P_k`` indexed by area id.
    supply : pandas.Series
        Supply ``S_j`` indexed by site id: a count (1 per site), floor area (m²) or list
        size (registered patients).
    catchment_s : float, default 1800
        Catchment for plain 2SFCA, seconds (ignored when ``bands`` is given).
    bands : sequence of (seconds, weight), optional
        E2SFCA distance-decay bands, e.g. :data:`E2SFCA_LUO_QI_BANDS`.
    per : float, default 1000
        Scores are supply per ``per`` people.

    Returns
    -------
    pandas.DataFrame
        ``area_id, access`` (supply per ``per`` people), ``demand``; ``attrs["site_ratio"]``
        holds ``R_j`` per site, ``attrs["bands"]`` the weights used.
    """
    use = list(bands) if bands is not None else [(float(catchment_s), 1.0)]
    t = times[["from_id", "to_id", "seconds"]].copy()
    t["w"] = _weights(t["seconds"].to_numpy(np.float64), use)
    t = t[t["w"] > 0]
    t["P"] = t["from_id"].map(demand).fillna(0.0).astype(float)
    weighted_demand = (t["w"] * t["P"]).groupby(t["to_id"]).sum()
    s = supply.astype(float).reindex(weighted_demand.index).fillna(0.0)
    ratio = (s / weighted_demand.replace(0.0, np.nan)).fillna(0.0)
    t["R"] = t["to_id"].map(ratio).fillna(0.0)
    a = (t["w"] * t["R"]).groupby(t["from_id"]).sum() * per
    out = pd.DataFrame({"area_id": demand.index})
    out["access"] = out["area_id"].map(a).fillna(0.0).astype(float)
    out["demand"] = demand.to_numpy(float)
    out.attrs["site_ratio"] = ratio.to_dict()
    out.attrs["bands"] = use
    return out


def access_gaps(
    areas: pd.DataFrame,
    *,
    imd_col: str = "imd_decile",
    share65_col: str = "share_65plus",
    time_col: str = "nearest_s",
    fca_col: str | None = "access",
) -> pd.DataFrame:
    """Rank areas by need combined with poor access (a transparent score in 0..1).

    ``need = (rank of deprivation + rank of share 65+) / 2`` and ``poor_access = (rank of
    time to nearest + rank of *low* FCA score) / 2`` (or only the time rank when
    ``fca_col`` is None), each rank a percentile in 0..1 (``pandas.rank(pct=True)``,
    deprivation ranked on ``11 - imd_decile`` so decile 1 is neediest; an unreachable area
    has the worst time). ``gap_score = need × poor_access``; rows sorted descending.

    Parameters
    ----------
    areas : pandas.DataFrame
        One row per area with the named columns.
    imd_col, share65_col, time_col, fca_col : str
        Column names (IMD decile 1–10, share of residents aged 65+, seconds, FCA score).

    Returns
    -------
    pandas.DataFrame
        Input columns plus ``need``, ``poor_access``, ``gap_score``, ``gap_rank`` (1 = worst).
    """
    df = areas.copy()
    dep = (11 - df[imd_col].astype(float)).rank(pct=True)
    old = df[share65_col].astype(float).rank(pct=True)
    df["need"] = (dep + old) / 2
    tm = df[time_col].astype(float).fillna(np.inf).rank(pct=True)
    if fca_col is not None:
        low = (-df[fca_col].astype(float)).rank(pct=True)
        df["poor_access"] = (tm + low) / 2
    else:
        df["poor_access"] = tm
    df["gap_score"] = df["need"] * df["poor_access"]
    df = df.sort_values("gap_score", ascending=False, kind="mergesort").reset_index(drop=True)
    df["gap_rank"] = np.arange(1, len(df) + 1)
    return df
