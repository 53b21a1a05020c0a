"""The growth steps of a projection: the user's rates, a trend between two loaded tables,
housing sites — each turned from the request into the tables :mod:`spatial.projection` and
:mod:`spatial.housing` take, with the metadata saying what it used.

Every problem is a :class:`ProjectionInputError` naming the request member and each item
(a rate, a table, a site), so nothing half-built is ever saved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pydantic import ValidationError
from shapely.geometry import shape

from app.schemas.planning import (
    DEFAULT_PERSONS_PER_DWELLING,
    PERSONS_PER_DWELLING_SOURCE,
    GrowthRate,
    HousingSite,
    ProjectionRequest,
    TrendGrowth,
    VintageRef,
)
from app.services.areas import age_label
from app.services.estate_common import AREA_VINTAGE
from spatial.crs import wgs84_to_bng
from spatial.housing import housing_additions, place_sites
from spatial.projection import ProjectionError, parse_age_band, trend_rates, vintage_groups
from store import estate as estate_store
from store import planning as store

__all__ = [
    "GROWTH_METHOD",
    "HOUSING_METHOD",
    "ProjectionInputError",
    "housing",
    "rates_frame",
    "table_of",
    "trend",
]

HOUSING_METHOD = (
    "a point adds to the LSOA containing it; a polygon is apportioned to the LSOAs it "
    "overlaps by share of its area (a part outside every loaded LSOA is not added); people "
    "arrive in the year their dwellings are completed (completions after the base year) "
    "and are not themselves grown"
)
GROWTH_METHOD = {
    "none": "no growth: every area and age band as in the base",
    "rates": (
        "count(year) = base × Π (1 + rate of each calendar year after the base year up to "
        "it); the most specific rate applies (the area's, then the narrowest band, then the "
        "year's)"
    ),
    "scenario": (
        "the scenario's grow_population factors reached at the last horizon: a constant "
        "annual rate factor ** (1 / years to the last horizon) − 1 per changed age band and "
        "area, applied as user rates"
    ),
    "trend": (
        "constant annual rate (newer / older) ** (1 / years between) − 1 per area group and "
        "common age band, applied to every year after the base year"
    ),
}


class ProjectionInputError(ValueError):
    """A projection request that cannot be built; ``problems`` name each item, ``parameter``
    the request member at fault."""

    def __init__(self, problems: Sequence[str], parameter: str) -> None:
        self.problems = list(problems)
        self.parameter = parameter
        super().__init__("; ".join(self.problems))


def table_of(vintages: pd.DataFrame, ref: VintageRef, parameter: str) -> dict[str, Any]:
    """The loaded table ``ref`` names (its latest date when none is given)."""
    rows = vintages[vintages["source"] == ref.source]
    if ref.reference_date is not None:
        rows = rows[rows["reference_date"] == ref.reference_date]
    if rows.empty:
        known = ", ".join(f"{s} {d}" for s, d in vintages[["source", "reference_date"]].values)
        raise ProjectionInputError(
            [
                f"no population table {ref.source} {ref.reference_date or ''} is loaded; "
                f"loaded: {known or 'none'}"
            ],
            parameter,
        )
    row = rows.sort_values(["reference_date", "area_vintage"], ascending=False).iloc[0]
    return {
        "source": str(row["source"]),
        "reference_date": row["reference_date"],
        "area_vintage": int(row["area_vintage"]),
    }


# ----------------------------------------------------------------------------- growth


def scenario_rates(
    changes: Sequence[Mapping[str, Any]], base_year: int, last_year: int, scenario_id: int
) -> list[GrowthRate]:
    """Steady annual rates that reach a scenario's ``grow_population`` factors by ``last_year``.

    Factors of changes that cover the same people multiply: a change to an age band
    everywhere and one to that band (or to every age, ``all``) in an area give that area
    the product. Age bands are matched by label (``all`` covers every band).
    """
    parameter = "growth.scenario_id"
    factors: dict[tuple[str, str | None], float] = {}
    for change in changes:
        if change.get("type") != "grow_population":
            continue
        for band in change["age_bands"]:
            for area in change.get("area_codes") or [None]:
                key = (str(band), area)
                factors[key] = factors.get(key, 1.0) * float(change["factor"])
    if not factors:
        raise ProjectionInputError(
            [f"scenario {scenario_id} has no grow_population change"], parameter
        )
    # The projection applies only the most specific rate of an area and band, so each rate
    # carries every factor that covers it: its own, its band's everywhere, and 'all' ages.
    combined = {
        (band, area): float(
            np.prod(
                [f for (b, a), f in factors.items() if a in (None, area) and b in ("all", band)]
            )
        )
        for band, area in factors
    }
    factors = combined
    years = last_year - base_year
    if years < 1:
        raise ProjectionInputError(
            [f"a scenario's growth needs a horizon after the base year {base_year}"], parameter
        )
    problems: list[str] = []
    rates: list[GrowthRate] = []
    for (band, area), factor in factors.items():
        rate = factor ** (1 / years) - 1
        try:
            rates.append(GrowthRate(age_band=band, year=None, area_code=area, rate=rate))
        except ValidationError:
            problems.append(
                f"scenario {scenario_id}: age band {band!r}"
                + (f" in {area}" if area else "")
                + f": factor {factor:g} over {years} years is {rate:+.1%} a year (outside ±50%)"
            )
    if problems:
        raise ProjectionInputError(problems[:50], parameter)
    if ("all", None) not in factors:  # bands and areas the scenario leaves alone: unchanged
        rates.append(GrowthRate(age_band="all", year=None, area_code=None, rate=0.0))
    return rates


def rates_frame(rates: Sequence[GrowthRate], base: pd.DataFrame) -> pd.DataFrame:
    problems: list[str] = []
    rows = []
    seen: dict[tuple[Any, ...], int] = {}
    known = set(base["area_code"])
    for i, r in enumerate(rates, start=1):
        lo, hi = parse_age_band(r.age_band)
        key = (r.area_code, lo, hi, r.year)
        if key in seen:
            problems.append(f"rate {i}: the same area, age band and year as rate {seen[key]}")
        seen.setdefault(key, i)
        if r.area_code is not None and r.area_code not in known:
            problems.append(f"rate {i}: area {r.area_code} is not in the base population")
        rows.append(
            (
                r.area_code,
                lo,
                np.nan if hi is None else float(hi),
                np.nan if r.year is None else float(r.year),
                r.rate,
            )
        )
    if problems:
        raise ProjectionInputError(problems[:50], "growth.rates")
    return pd.DataFrame(rows, columns=["area_code", "age_lower", "age_upper", "year", "rate"])


def trend(
    conn: Any,
    growth: TrendGrowth,
    base: pd.DataFrame,
    base_meta: dict[str, Any],
    vintages: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, Any]]:
    newer = (
        table_of(vintages, growth.newer, "growth.newer")
        if growth.newer
        else table_of(
            vintages,
            VintageRef(
                source=base_meta["source"],
                reference_date=dt.date.fromisoformat(base_meta["reference_date"]),
            ),
            "growth.newer",
        )
    )
    if growth.older is not None:
        older = table_of(vintages, growth.older, "growth.older")
    else:
        earlier = vintages[vintages["reference_date"] < newer["reference_date"]]
        if earlier.empty:
            raise ProjectionInputError(
                [
                    f"no population table older than {newer['source']} {newer['reference_date']} "
                    "is loaded to take a trend from (load e.g. sape-mid2017 or census2021)"
                ],
                "growth.older",
            )
        older = table_of(
            vintages,
            VintageRef(
                source=str(earlier.iloc[0]["source"]),
                reference_date=earlier.iloc[0]["reference_date"],
            ),
            "growth.older",
        )
    years = (newer["reference_date"] - older["reference_date"]).days / 365.25
    if years <= 0:
        raise ProjectionInputError(
            ["the older table must be dated before the newer one"], "growth.older"
        )
    rows = {
        side: store.population_rows(
            conn,
            source=t["source"],
            reference_date=t["reference_date"],
            area_vintage=t["area_vintage"],
        )
        for side, t in (("older", older), ("newer", newer))
    }
    vint = (older["area_vintage"], newer["area_vintage"])
    boundary = None
    if vint[0] == vint[1]:
        codes = sorted(set(rows["older"]["area_code"]) | set(rows["newer"]["area_code"]))
        same = {c: i for i, c in enumerate(codes)}
        groups = {"older": same, "newer": same}
    else:
        lo, hi = min(vint), max(vint)
        pairs = store.best_fit_pairs(conn, older=lo, newer=hi)
        g_lo, g_hi = vintage_groups(pairs)
        groups = {
            side: (g_lo if t["area_vintage"] == lo else g_hi)
            for side, t in (("older", older), ("newer", newer))
        }
        boundary = (
            f"LSOA {lo} and {hi} compared through {len(set(g_hi.values()))} best-fit groups "
            "(each area paired with the other vintage's area holding its representative "
            "point; connected pairs compared as one)"
        )
    base_groups = groups["newer"] if newer["area_vintage"] == AREA_VINTAGE else groups["older"]
    wanted = {base_groups[c] for c in base["area_code"].unique() if c in base_groups}
    missing = sorted(set(base["area_code"]) - set(base_groups))
    if missing:
        raise ProjectionInputError(
            [
                f"{len(missing)} base area(s) have no counterpart in the trend's tables "
                f"(e.g. {missing[0]}): choose tables covering them, or other lad_codes"
            ],
            "growth",
        )
    for side in ("older", "newer"):
        r = rows[side]
        rows[side] = r[r["area_code"].map(groups[side]).isin(wanted)]
    trend, notes = trend_rates(
        rows["older"],
        rows["newer"],
        years_between=years,
        older_group=groups["older"],
        newer_group=groups["newer"],
    )
    controls = None
    if growth.constrained:
        one = {c: 0 for side in ("older", "newer") for c in rows[side]["area_code"]}
        whole, _ = trend_rates(
            rows["older"], rows["newer"], years_between=years, older_group=one, newer_group=one
        )
        controls = whole[["age_lower", "age_upper", "rate"]]
    area_group = pd.DataFrame({"area_code": sorted(set(base["area_code"]))})
    area_group["group"] = area_group["area_code"].map(base_groups)
    rates = area_group.merge(trend, on="group")[["area_code", "age_lower", "age_upper", "rate"]]
    rates = rates.assign(year=np.nan)
    bands = trend[["age_lower", "age_upper"]].drop_duplicates()
    labels = [age_label(int(a), None if pd.isna(b) else int(b)) for a, b in bands.values]
    fast = trend[
        (trend["age_lower"] == 0) & trend["age_upper"].isna() & (trend["rate"].abs() > 0.05)
    ]
    areas_of: dict[int, list[str]] = {}
    for code, g in base_groups.items():
        areas_of.setdefault(g, []).append(code)
    warnings = [
        f"LSOA {', '.join(sorted(areas_of.get(int(g), ['?'])))}: {float(r):+.1%} a year between "
        "the two tables; a one-off change (a new estate, a barracks) extrapolates poorly: "
        "consider growth rates instead"
        for g, r in fast[["group", "rate"]].itertuples(index=False, name=None)
        if int(g) in areas_of
    ]
    meta = {
        "older": {
            **older,
            "reference_date": older["reference_date"].isoformat(),
            "people": round(float(rows["older"]["count"].sum()), 1),
        },
        "newer": {
            **newer,
            "reference_date": newer["reference_date"].isoformat(),
            "people": round(float(rows["newer"]["count"].sum()), 1),
        },
        "years_between": round(years, 3),
        "boundaries": boundary or f"both on LSOA {vint[0]}",
        "bands": labels,
        "area_groups": int(trend["group"].nunique()),
        "constrained": growth.constrained,
        "control_rates": None
        if controls is None
        else {
            age_label(int(a), None if pd.isna(b) else int(b)): round(float(r), 6)
            for a, b, r in controls.itertuples(index=False, name=None)
        },
        "overall_rate": round(
            float((rows["newer"]["count"].sum() / rows["older"]["count"].sum()) ** (1 / years) - 1),
            6,
        )
        if rows["older"]["count"].sum() > 0
        else None,
        "notes": notes
        + warnings
        + (
            ["the older table has no age bands: one all-ages rate per area group"]
            if labels == ["0+"]
            else []
        ),
    }
    return rates, controls, meta


# ----------------------------------------------------------------------------- housing


def _bng(site: HousingSite, problems: list[str]) -> Any:
    if site.x is not None and site.y is not None:
        return shapely.Point(site.x, site.y)
    if site.lon is not None and site.lat is not None:
        x, y = wgs84_to_bng(site.lon, site.lat)
        return shapely.Point(float(x), float(y))
    try:
        geom = shape(site.geometry or {})
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        problems.append(f"site {site.site_id}: the geometry is not valid GeoJSON")
        return None
    if geom.geom_type not in ("Point", "Polygon", "MultiPolygon"):
        problems.append(
            f"site {site.site_id}: a {geom.geom_type}; give a Point, Polygon or MultiPolygon"
        )
        return None
    lon, lat = shapely.get_coordinates(geom).T
    if not (np.all((lon >= -9) & (lon <= 2.5)) and np.all((lat >= 49) & (lat <= 61))):
        problems.append(f"site {site.site_id}: coordinates outside the UK (WGS84 expected)")
        return None
    geom = shapely.transform(geom, lambda c: np.column_stack(wgs84_to_bng(c[:, 0], c[:, 1])))
    if not geom.is_valid:
        problems.append(f"site {site.site_id}: invalid geometry ({shapely.is_valid_reason(geom)})")
        return None
    return geom


def _profile(profile: dict[str, float] | None) -> pd.DataFrame | None:
    if profile is None:
        return None
    bands = [parse_age_band(k) for k in profile]
    return pd.DataFrame(
        {
            "age_lower": [b[0] for b in bands],
            "age_upper": [np.nan if b[1] is None else float(b[1]) for b in bands],
            "share": list(profile.values()),
        }
    )


def housing(
    conn: Any, request: ProjectionRequest, base: pd.DataFrame, base_year: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    problems: list[str] = []
    seen: set[str] = set()
    sites, completions = [], []
    ppd: dict[str, float] = {}
    profiles: dict[str, pd.DataFrame] = {}
    for site in request.housing:
        if site.site_id in seen:
            problems.append(f"site {site.site_id}: listed twice")
            continue
        seen.add(site.site_id)
        geom = _bng(site, problems)
        if geom is None:
            continue
        sites.append({"site_id": site.site_id, "geometry": geom})
        completions += [(site.site_id, int(y), float(n)) for y, n in site.dwellings.items()]
        ppd[site.site_id] = site.persons_per_dwelling or request.persons_per_dwelling
        profile = _profile(site.age_profile or request.age_profile)
        if profile is not None:
            profiles[site.site_id] = profile
    areas = estate_store.area_polygons(
        conn, vintage=AREA_VINTAGE, codes=sorted(base["area_code"].unique())
    )
    frame = pd.DataFrame(sites, columns=["site_id", "geometry"])
    placement, unplaced, more = place_sites(
        frame,
        pd.DataFrame({"area_code": areas["area_code"], "geometry": areas.geometry.to_numpy()}),
    )
    problems += more
    if problems:
        raise ProjectionInputError(problems[:50], "housing")
    comp = pd.DataFrame(completions, columns=["site_id", "year", "dwellings"])
    try:
        added, summary = housing_additions(
            placement,
            comp,
            ppd,
            base,
            base_year=base_year,
            years=request.horizons,
            profiles=profiles,
        )
    except ProjectionError as exc:
        raise ProjectionInputError(exc.problems, "housing") from None
    meta = {
        "sites": len(sites),
        "method": HOUSING_METHOD,
        "persons_per_dwelling_default": request.persons_per_dwelling,
        "persons_per_dwelling_source": PERSONS_PER_DWELLING_SOURCE
        if request.persons_per_dwelling == DEFAULT_PERSONS_PER_DWELLING
        else "given in the request",
        "age_profile_default": "given in the request"
        if request.age_profile
        else "the current age profile of the area new residents move into (the base population)",
        "placement": {
            sid: [
                {"area_code": c, "share": round(float(s), 6)}
                for c, s in g[["area_code", "share"]].values
            ]
            for sid, g in placement.groupby("site_id")
        },
        "unplaced_share": {k: round(v, 6) for k, v in unplaced.items()},
        "people_by_site": summary["people_by_site"],
        "dwellings_before_base_year": summary["dwellings_before_base"],
    }
    return added, meta
