"""Housing growth: development sites (points or polygons) → people per area, age band, year.

A point adds to the area containing it (the lowest code on a shared boundary); a polygon is
apportioned to the areas it overlaps by share of its area, and a part outside every loaded
area is reported as unplaced, not added. Dwellings completed in a year add ``dwellings ×
persons per dwelling`` people from that year on (completions in or before the base year are
in the base population already). New residents follow the site's age profile, else the
current age mix of the area they move into. :func:`spatial.projection.project` adds these
people after growth (they are not themselves grown).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from spatial.projection import ProjectionError, band_contains, band_label

__all__ = ["housing_additions", "place_sites"]


def place_sites(
    sites: pd.DataFrame, areas: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, float], list[str]]:
    """Where each development site's people go: area shares.

    Parameters
    ----------
    sites : pandas.DataFrame
        ``site_id`` and ``geometry`` (shapely Point, Polygon or MultiPolygon, EPSG:27700).
    areas : pandas.DataFrame
        ``area_code`` and ``geometry`` (polygons, EPSG:27700).

    Returns
    -------
    (pandas.DataFrame, dict, list of str)
        ``site_id, area_code, share`` (a point: share 1 in the area containing it, the
        lowest code on a shared boundary; a polygon: its area's share in each area it
        overlaps); the unplaced share of each polygon partly outside every area; problems
        (sites in no area at all, empty geometries), each naming the site.
    """
    geoms = areas["geometry"].to_numpy(dtype=object)
    codes = areas["area_code"].astype(str).to_numpy()
    tree = shapely.STRtree(geoms)
    rows: list[tuple[str, str, float]] = []
    unplaced: dict[str, float] = {}
    problems: list[str] = []
    for site_id, geom in sites[["site_id", "geometry"]].itertuples(index=False):
        sid = str(site_id)
        if geom is None or shapely.is_empty(geom):
            problems.append(f"site {sid}: no geometry")
            continue
        hits = tree.query(geom, predicate="intersects")
        if geom.geom_type == "Point":
            if len(hits) == 0:
                problems.append(f"site {sid}: the point lies in no loaded area")
                continue
            rows.append((sid, str(min(codes[hits])), 1.0))
            continue
        area = float(geom.area)
        if area <= 0:
            problems.append(f"site {sid}: the polygon has no area")
            continue
        shares = {
            str(codes[h]): float(shapely.intersection(geom, geoms[h]).area) / area for h in hits
        }
        shares = {c: s for c, s in shares.items() if s > 1e-9}
        placed = sum(shares.values())
        if placed <= 1e-9:
            problems.append(f"site {sid}: the polygon lies in no loaded area")
            continue
        if placed < 1 - 1e-6:
            unplaced[sid] = 1.0 - placed
        rows += [(sid, c, min(s, 1.0)) for c, s in sorted(shares.items())]
    placement = pd.DataFrame(rows, columns=["site_id", "area_code", "share"])
    return placement, unplaced, problems


def _profile_shares(
    bands: pd.DataFrame, profile: pd.DataFrame | None, site: str
) -> npt.NDArray[np.float64]:
    """Share of new residents in each base band (``age_lower, age_upper, count``).

    Without a profile, the bands' own shares (the area's current age mix; equal shares when
    the area has nobody). With one (``age_lower, age_upper, share``), each profile band's
    share is split over the base bands inside it in proportion to their people.
    """
    counts = bands["count"].to_numpy(dtype=float)
    if profile is None:
        total = counts.sum()
        return counts / total if total > 0 else np.full(len(bands), 1.0 / max(len(bands), 1))
    out = np.zeros(len(bands))
    covered = np.zeros(len(bands), dtype=bool)
    for lo, hi, share in profile[["age_lower", "age_upper", "share"]].itertuples(index=False):
        inside = band_contains(lo, hi, bands["age_lower"], bands["age_upper"])
        if not inside.any():
            raise ProjectionError(
                [
                    f"site {site}: age profile band {band_label(lo, hi)} holds no band of "
                    "the population"
                ]
            )
        covered |= inside
        weights = counts * inside
        weights = weights / weights.sum() if weights.sum() > 0 else inside / inside.sum()
        out += float(share) * weights
    if not covered.all():
        missing = bands.loc[~covered, ["age_lower", "age_upper"]].itertuples(index=False)
        raise ProjectionError(
            [
                f"site {site}: the age profile leaves out population band(s) "
                + ", ".join(band_label(lo, hi) for lo, hi in missing)
            ]
        )
    return out


def housing_additions(
    placement: pd.DataFrame,
    completions: pd.DataFrame,
    persons_per_dwelling: Mapping[str, float],
    base: pd.DataFrame,
    *,
    base_year: int,
    years: Sequence[int],
    profiles: Mapping[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """People that housing sites add to each area and age band by each horizon year.

    Parameters
    ----------
    placement : pandas.DataFrame
        ``site_id, area_code, share`` from :func:`place_sites`.
    completions : pandas.DataFrame
        ``site_id, year, dwellings`` (dwellings completed in that calendar year).
    persons_per_dwelling : mapping
        Site id → people per new dwelling.
    base : pandas.DataFrame
        The base population ``area_code, age_lower, age_upper, count``: its bands are the
        bands people are added in and, without a site profile, its age mix theirs.
    base_year : int
        Completions in or before it are already counted in the base (left out, reported).
    years : sequence of int
        Horizon years.
    profiles : mapping, optional
        Site id → ``age_lower, age_upper, share`` (shares summing to 1).

    Returns
    -------
    (pandas.DataFrame, dict)
        ``area_code, age_lower, age_upper, year, count`` (people added, cumulative to each
        year) and a summary: people added by site and year, dwellings left out as already
        built.
    """
    profiles = profiles or {}
    done = completions[completions["year"] <= base_year]
    todo = completions[completions["year"] > base_year]
    all_bands = base.groupby(["age_lower", "age_upper"], dropna=False)["count"].sum().reset_index()
    rows: list[pd.DataFrame] = []
    by_site: dict[str, dict[int, float]] = {}
    for site_id, site_rows in todo.groupby("site_id"):
        sid = str(site_id)
        ppd = float(persons_per_dwelling[sid])
        dwell = site_rows.groupby("year")["dwellings"].sum()
        people = {int(y): float(dwell[dwell.index <= y].sum()) * ppd for y in years}
        by_site[sid] = people
        for code, share in placement.loc[
            placement["site_id"] == sid, ["area_code", "share"]
        ].itertuples(index=False):
            bands = base.loc[base["area_code"] == code, ["age_lower", "age_upper", "count"]]
            if bands.empty:
                bands = all_bands
            mix = _profile_shares(bands.reset_index(drop=True), profiles.get(sid), sid)
            for year, persons in people.items():
                rows.append(
                    pd.DataFrame(
                        {
                            "area_code": code,
                            "age_lower": bands["age_lower"].to_numpy(),
                            "age_upper": bands["age_upper"].to_numpy(dtype=float),
                            "year": year,
                            "count": persons * float(share) * mix,
                        }
                    )
                )
    columns = ["area_code", "age_lower", "age_upper", "year", "count"]
    if rows:
        added = pd.concat(rows, ignore_index=True)
        added = (
            added.groupby(["area_code", "age_lower", "year"], as_index=False)
            .agg(age_upper=("age_upper", "first"), count=("count", "sum"))
            .loc[:, columns]
        )
    else:
        added = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    summary = {
        "people_by_site": by_site,
        "dwellings_before_base": {
            str(s): float(d) for s, d in done.groupby("site_id")["dwellings"].sum().items()
        },
    }
    return added, summary
