"""Adding up area (LSOA) results by footprint: local authority, MSOA, ward, commissioner, or
any custom set of polygons; and how two footprints overlap.

A *membership* says which footprint each area belongs to: a frame ``area_code, footprint,
weight``. Every footprint type Locus builds assigns each area wholly to one footprint
(weight 1): LSOAs nest in local authorities and MSOAs; a ward gets the LSOAs most of whose
postcodes it holds (:func:`majority_assignment`); a commissioner the LSOAs in the catchments
of its practices; a custom polygon the LSOAs whose representative point it contains. Weights
below 1 (an area apportioned between footprints) are accepted as long as each area's weights
sum to 1, so that every area's figures are counted exactly once per footprint type: areas no
footprint claims are put in :data:`UNASSIGNED` by :func:`complete_membership`, and the sums
over all footprints equal the totals over all areas.

Need and capacity (:func:`capacity_by_footprint`) follow the same rule: need is a figure per
area (its site's need is the sum over its areas), and each site's capacity today is
apportioned to the areas of its catchment by their share of the catchment's people now, then
both are summed like any other area figure.

Everything here is pure pandas: frames in, frames out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spatial.capacity import shortfall_flags

__all__ = [
    "UNASSIGNED",
    "FootprintCapacity",
    "access_by_footprint",
    "capacity_by_footprint",
    "complete_membership",
    "majority_assignment",
    "overlap",
    "sum_by_footprint",
]

#: The footprint of areas no footprint of the type claims (so sums still equal the totals).
UNASSIGNED = "(unassigned)"
_TOLERANCE = 1e-9


def majority_assignment(counts: pd.DataFrame) -> pd.DataFrame:
    """Each area to the footprint holding most of its units (postcodes).

    Parameters
    ----------
    counts : pandas.DataFrame
        ``area_code, footprint, n``: how many units (e.g. postcodes) of the area lie in each
        footprint (e.g. ward).

    Returns
    -------
    pandas.DataFrame
        ``area_code, footprint, weight`` (1.0), ``share`` (that footprint's share of the
        area's units: 1.0 when the area lies in one footprint only) and ``units`` (the area's
        units in all footprints); one row per area, ordered by area. Ties go to the footprint
        whose code sorts first.
    """
    if counts.empty:
        return pd.DataFrame(
            {
                "area_code": pd.Series(dtype=object),
                "footprint": pd.Series(dtype=object),
                "weight": pd.Series(dtype="float64"),
                "share": pd.Series(dtype="float64"),
                "units": pd.Series(dtype="float64"),
            }
        )
    c = counts[["area_code", "footprint", "n"]].copy()
    c["n"] = pd.to_numeric(c["n"]).astype("float64")
    if (c["n"] < 0).any():
        raise ValueError("unit counts must not be negative")
    c = pd.DataFrame(c.groupby(["area_code", "footprint"], as_index=False)["n"].sum())
    units = c.groupby("area_code")["n"].sum()
    c = c.sort_values(["area_code", "n", "footprint"], ascending=[True, False, True])
    best = c.drop_duplicates("area_code", keep="first").reset_index(drop=True)
    best["units"] = best["area_code"].map(units).astype("float64")
    best["share"] = best["n"] / best["units"].where(best["units"] > 0)
    best["weight"] = 1.0
    return pd.DataFrame(best[["area_code", "footprint", "weight", "share", "units"]])


def complete_membership(area_codes: Sequence[str], membership: pd.DataFrame) -> pd.DataFrame:
    """``membership`` restricted to ``area_codes``, with every area not (fully) claimed put in
    :data:`UNASSIGNED` for the rest of its weight.

    Raises
    ------
    ValueError
        When an area's weights are negative or add up to more than 1.
    """
    codes = pd.Index(pd.unique(pd.Series(list(area_codes), dtype=object)))
    m = membership[["area_code", "footprint"]].copy()
    m["weight"] = (
        pd.to_numeric(membership["weight"]).astype("float64") if "weight" in membership else 1.0
    )
    m = m[m["area_code"].isin(codes)]
    if (m["weight"] < 0).any():
        raise ValueError("membership weights must not be negative")
    m = pd.DataFrame(m.groupby(["area_code", "footprint"], as_index=False)["weight"].sum())
    claimed = m.groupby("area_code")["weight"].sum().reindex(codes, fill_value=0.0)
    over = claimed[claimed > 1.0 + _TOLERANCE]
    if len(over):
        raise ValueError(
            f"area {over.index[0]} is given weights adding up to {over.iloc[0]:g} (more than 1)"
        )
    rest = (1.0 - claimed)[lambda s: s > _TOLERANCE]
    if len(rest):
        m = pd.concat(
            [
                m,
                pd.DataFrame(
                    {"area_code": rest.index, "footprint": UNASSIGNED, "weight": rest.to_numpy()}
                ),
            ],
            ignore_index=True,
        )
    return pd.DataFrame(m.sort_values(["footprint", "area_code"]).reset_index(drop=True))


def sum_by_footprint(values: pd.DataFrame, membership: pd.DataFrame) -> pd.DataFrame:
    """Sum area figures by footprint.

    Parameters
    ----------
    values : pandas.DataFrame
        One row per area, indexed by area code, numeric columns (population, people per age
        band, projected population, need...).
    membership : pandas.DataFrame
        ``area_code, footprint, weight`` (see :func:`complete_membership`; areas of ``values``
        it does not claim are counted in :data:`UNASSIGNED`).

    Returns
    -------
    pandas.DataFrame
        Indexed by footprint (sorted, :data:`UNASSIGNED` last): ``areas`` (the weight of areas
        counted) and each column of ``values`` summed with the areas' weights. The column sums
        equal those of ``values``.
    """
    if values.index.has_duplicates:
        raise ValueError("values must have one row per area")
    m = complete_membership(values.index.tolist(), membership)
    numeric = values.apply(pd.to_numeric).astype("float64").fillna(0.0)
    rows = numeric.reindex(m["area_code"]).to_numpy() * m["weight"].to_numpy()[:, None]
    weighted = pd.DataFrame(rows, columns=numeric.columns)
    weighted.insert(0, "areas", m["weight"].to_numpy())
    weighted["footprint"] = m["footprint"].to_numpy()
    out = weighted.groupby("footprint").sum()
    return _unassigned_last(out)


def access_by_footprint(
    seconds: pd.Series,
    population: pd.Series,
    membership: pd.DataFrame,
    *,
    within_minutes: float,
) -> pd.DataFrame:
    """Time to the nearest site, summarised per footprint, weighting areas by population.

    Parameters
    ----------
    seconds : pandas.Series
        Per area (index: area code), the time to its nearest site; NaN or inf: none reached.
    population : pandas.Series
        Per area, people (the weights).
    membership : pandas.DataFrame
        ``area_code, footprint, weight``.
    within_minutes : float
        The threshold of ``population_within``.

    Returns
    -------
    pandas.DataFrame
        Indexed by footprint: ``population``; ``population_reached`` (areas with a time);
        ``mean_minutes`` (population-weighted mean time over the people reached; NaN when
        none); ``population_within`` and ``share_within`` (people within ``within_minutes``,
        share of the footprint's population); ``population_unreached``.
    """
    pop = pd.to_numeric(population).astype("float64").fillna(0.0)
    secs = pd.to_numeric(seconds.reindex(pop.index)).astype("float64").replace(np.inf, np.nan)
    reached = secs.notna()
    frame = pd.DataFrame(
        {
            "population": pop,
            "population_reached": pop.where(reached, 0.0),
            "person_seconds": (pop * secs).where(reached, 0.0),
            "population_within": pop.where(secs <= within_minutes * 60.0, 0.0),
        },
        index=pop.index,
    )
    sums = sum_by_footprint(frame, membership)
    reached_pop = sums["population_reached"]
    out = pd.DataFrame(
        {
            "areas": sums["areas"],
            "population": sums["population"],
            "population_reached": reached_pop,
            "mean_minutes": sums["person_seconds"] / reached_pop.where(reached_pop > 0) / 60.0,
            "population_within": sums["population_within"],
            "share_within": sums["population_within"]
            / sums["population"].where(sums["population"] > 0),
            "population_unreached": sums["population"] - reached_pop,
        }
    )
    return out


def overlap(membership: pd.DataFrame, other: pd.DataFrame, population: pd.Series) -> pd.DataFrame:
    """How two footprint types overlap, in people.

    Parameters
    ----------
    membership, other : pandas.DataFrame
        ``area_code, footprint, weight`` for each type (e.g. local authorities and practice
        catchments); areas neither claims are counted in :data:`UNASSIGNED`.
    population : pandas.Series
        People per area (index: area code).

    Returns
    -------
    pandas.DataFrame
        ``footprint, other, population, share_of_footprint, share_of_other``: for each pair
        that shares people, how many, and which share of each side's population that is.
        Ordered by footprint, then people (most first). ``population`` sums to the total.
    """
    pop = pd.to_numeric(population).astype("float64").fillna(0.0)
    codes = pop.index.tolist()
    a = complete_membership(codes, membership).rename(columns={"weight": "wa"})
    b = complete_membership(codes, other).rename(columns={"footprint": "other", "weight": "wb"})
    pairs = a.merge(b, on="area_code")
    pairs["population"] = pairs["wa"] * pairs["wb"] * pairs["area_code"].map(pop).to_numpy()
    out = pairs.groupby(["footprint", "other"], as_index=False)["population"].sum()
    out = out[out["population"] > 0]
    fp_total = out.groupby("footprint")["population"].transform("sum")
    other_total = out.groupby("other")["population"].transform("sum")
    out = out.assign(
        share_of_footprint=out["population"] / fp_total,
        share_of_other=out["population"] / other_total,
    )
    out = out.sort_values(
        ["footprint", "population", "other"], ascending=[True, False, True], kind="mergesort"
    )
    return pd.DataFrame(out.reset_index(drop=True))


@dataclass(frozen=True)
class FootprintCapacity:
    """Need against today's capacity per footprint (:func:`capacity_by_footprint`)."""

    #: Indexed by footprint (:data:`UNASSIGNED` last): ``areas``, ``population_now``,
    #: ``population_horizon``; ``need_<m>_now``, ``need_<m>_horizon`` per need measure;
    #: per capacity measure ``capacity_<m>`` (NaN: no site of the footprint has that figure),
    #: ``population_with_capacity_<m>`` (people now whose site has it), ``gap_<m>_now``,
    #: ``gap_<m>_horizon``; ``shortfall_now``, ``shortfall_horizon``, ``status``.
    table: pd.DataFrame
    #: :func:`overlap` of the footprints with the catchments (``other``: the site id as text).
    pairs: pd.DataFrame
    #: Capacity (per measure; NaN: none known) of sites whose catchment holds nobody now.
    unattributed: dict[str, float]
    unattributed_sites: list[int]


def capacity_by_footprint(
    areas: pd.DataFrame,
    capacity: pd.DataFrame,
    membership: pd.DataFrame,
    *,
    need_measures: Sequence[str],
    capacity_measures: Sequence[str],
    horizon_year: int,
) -> FootprintCapacity:
    """Need now and at the horizon, today's capacity, the gap and the shortfall flags per
    footprint, from the areas of nearest-site catchments.

    Parameters
    ----------
    areas : pandas.DataFrame
        Indexed by area code: ``site_id`` (the area's site), ``population_now``,
        ``population_horizon`` and ``need_<m>_now``, ``need_<m>_horizon`` for every measure of
        ``need_measures``.
    capacity : pandas.DataFrame
        Indexed by site id: a column per measure of ``capacity_measures`` (NaN: unknown).
    membership : pandas.DataFrame
        ``area_code, footprint, weight``.
    need_measures, capacity_measures : sequence of str
        Every capacity measure is also a need measure.
    horizon_year : int

    Returns
    -------
    FootprintCapacity
        Capacity of each site goes to its areas in proportion to their people now (a site
        whose catchment holds nobody now is ``unattributed``). The gap of a measure is the
        need of the people whose site has that capacity figure minus the capacity attributed
        to the footprint (so the footprint gaps add up to the sites' gaps); the flags are
        :func:`spatial.capacity.shortfall_flags`. Need and people add up to the totals over
        ``areas``.
    """
    site = areas["site_id"].astype("int64")
    now = pd.to_numeric(areas["population_now"]).astype("float64").fillna(0.0)
    site_people = now.groupby(site).sum()
    attributed = site_people[site_people > 0].index
    share = now / site.map(site_people).where(site.isin(attributed))
    values = pd.DataFrame(
        {"population_now": now, "population_horizon": areas["population_horizon"]},
        index=areas.index,
    )
    for m in need_measures:
        values[f"need_{m}_now"] = areas[f"need_{m}_now"]
        values[f"need_{m}_horizon"] = areas[f"need_{m}_horizon"]
    for m in capacity_measures:
        cap = site.map(pd.to_numeric(capacity[m]).astype("float64"))
        known = cap.notna() & share.notna()
        values[f"known_{m}"] = known.astype("float64")
        values[f"capacity_{m}"] = (cap * share).where(known, 0.0)
        values[f"population_with_capacity_{m}"] = now.where(known, 0.0)
        values[f"covered_{m}_now"] = areas[f"need_{m}_now"].where(known, 0.0)
        values[f"covered_{m}_horizon"] = areas[f"need_{m}_horizon"].where(known, 0.0)
    sums = sum_by_footprint(values, membership)
    out = sums[["areas", "population_now", "population_horizon"]].copy()
    for m in need_measures:
        out[f"need_{m}_now"] = sums[f"need_{m}_now"]
        out[f"need_{m}_horizon"] = sums[f"need_{m}_horizon"]
    for m in capacity_measures:
        has = sums[f"known_{m}"] > 0
        out[f"capacity_{m}"] = sums[f"capacity_{m}"].where(has)
        out[f"population_with_capacity_{m}"] = sums[f"population_with_capacity_{m}"]
        out[f"gap_{m}_now"] = (sums[f"covered_{m}_now"] - sums[f"capacity_{m}"]).where(has)
        out[f"gap_{m}_horizon"] = (sums[f"covered_{m}_horizon"] - sums[f"capacity_{m}"]).where(has)
    flags = shortfall_flags(
        {m: out[f"gap_{m}_now"].to_numpy() for m in capacity_measures},
        {m: out[f"gap_{m}_horizon"].to_numpy() for m in capacity_measures},
        horizon_year=horizon_year,
    )
    out["shortfall_now"], out["shortfall_horizon"], out["status"] = flags
    catchments = pd.DataFrame(
        {"area_code": areas.index, "footprint": site.astype(str).to_numpy(), "weight": 1.0}
    )
    left = capacity[~capacity.index.isin(attributed)]
    return FootprintCapacity(
        table=out,
        pairs=overlap(membership, catchments, now),
        unattributed={m: float(pd.to_numeric(left[m]).sum(min_count=1)) for m in capacity_measures},
        unattributed_sites=sorted(int(i) for i in left.index),
    )


def _unassigned_last(frame: pd.DataFrame) -> pd.DataFrame:
    order = sorted(frame.index, key=lambda f: (f == UNASSIGNED, str(f)))
    return frame.reindex(order)
