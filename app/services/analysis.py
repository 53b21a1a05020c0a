"""The questions estates teams ask (nearest, catchment, access, 2SFCA, population within).

Each function takes the database, the settings and the caller (:class:`Principal`) plus plain
parameters already validated by the router, reads what it needs through :mod:`store` (every
site, and every figure derived from one, filtered by the one visibility rule), computes on a
:class:`~app.services.sources.TravelTimeSource` chosen by mode (no mode branches here) or on
the stored area → site times, and returns plain dicts ready for JSON. Population is counted
by representative point (:data:`app.services.areas.POPULATION_METHOD`).

Catchment bands have one implementation, :func:`catchment_bands`: the
``/analysis/catchment/{site_id}`` endpoint and the ``catchments`` process (which stores the
bands) both call it with a source from :func:`app.services.traveltimes.travel_time_source`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from app.services.areas import (
    POPULATION_METHOD,
    AnalysisInputError,
    Origin,
    area_table,
    population_breakdown,
)
from app.services.sources import TravelTimeSource
from app.services.traveltimes import mode_details, stored_metadata, travel_time_source
from config.settings import Settings
from spatial.access import access_gaps as rank_gaps
from spatial.access import nearest_and_count, two_step_fca
from spatial.crs import bng_to_wgs84
from spatial.kinds import kind_label
from spatial.modes import Mode
from store.access import Principal
from store.connection import Database
from store.sites import kind_counts, site_point, site_points
from store.traveltimes import access_by_area, min_times_to_sites, stored_times

__all__ = [
    "AREA_VINTAGE",
    "CatchmentBand",
    "SiteCatchment",
    "access_gaps",
    "access_map",
    "area_seconds_on_network",
    "catchment_bands",
    "floating_catchment",
    "modes_registry",
    "nearest_results",
    "nearest_sites",
    "population_within",
    "site_catchment",
    "site_kinds",
    "site_summary",
]

#: The census geography the analyses count people in (LSOA 2021).
AREA_VINTAGE = 2021


def _records(frame: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access records (``r.code``), typed loosely for mypy."""
    return list(frame.itertuples(index=False))


# --------------------------------------------------------------------------- modes, kinds


def modes_registry(db: Database) -> dict[str, Any]:
    """``modes``: the available mode names; ``registry``: every mode with its label, what it
    needs, its speed rule, whether it is available and the loaded data's speeds."""
    details = mode_details(db)
    return {
        "modes": [d.mode for d in details if d.available],
        "registry": [asdict(d) for d in details],
    }


def site_kinds(db: Database, principal: Principal) -> dict[str, Any]:
    """The kinds among the active sites the caller may see, with label and counts."""
    with db.connection() as conn:
        counts = kind_counts(conn, principal)
    return {
        "kinds": [
            {
                "kind": r.kind,
                "label": kind_label(r.kind),
                "count": int(r.sites),
                "located": int(r.located),
            }
            for r in _records(counts)
        ]
    }


# --------------------------------------------------------------------------- nearest


def nearest_sites(
    db: Database,
    settings: Settings,
    principal: Principal,
    origin: Origin,
    *,
    kind: str,
    mode: Mode,
    n: int,
) -> dict[str, Any]:
    """The ``n`` sites of ``kind`` the caller may see with the least travel time from
    ``origin`` by ``mode``."""
    source = travel_time_source(db, settings, mode)
    with db.connection() as conn:
        sites = site_points(conn, principal, kinds=[kind])
    if sites.empty:
        raise AnalysisInputError("kind", f"no located active sites of kind {kind!r}")
    point = origin.frame()
    reach = source.reach(point)
    distance = None if reach.snap_distance_m is None else float(reach.snap_distance_m[0])
    lon, lat = origin.lonlat()
    result: dict[str, Any] = {
        "origin": {
            "lon": lon,
            "lat": lat,
            "postcode": origin.postcode,
            "snap_distance_m": None if distance is None else round(distance, 1),
            "reachable": bool(reach.reachable[0]),
        },
        "mode": mode,
        "kind": kind,
        "results": [],
        "metadata": source.metadata,
    }
    if not reach.reachable[0]:
        result["detail"] = (
            f"the point is {distance or 0:.0f} m from the nearest {mode} edge, "
            f"beyond the {reach.max_snap_distance_m or 0:.0f} m limit: unreachable"
        )
        return result
    times = source.times(point, sites)
    result["metadata"] = times.metadata
    result["results"] = nearest_results(sites, times.seconds[0], n)
    if not result["results"]:
        result["detail"] = f"no {kind} reachable {source.reach_rule}"
    return result


def nearest_results(
    sites: pd.DataFrame, times: np.ndarray[Any, Any], n: int
) -> list[dict[str, Any]]:
    """The ``n`` sites with the least finite time (seconds), nearest first, as result rows.

    ``times`` is parallel to ``sites`` (``id, source_id, name, kind``); unreachable (infinite or
    NaN) sites are never listed; ties keep the order of ``sites``.
    """
    rows: list[dict[str, Any]] = []
    order = np.argsort(np.nan_to_num(times, nan=np.inf), kind="stable")
    for j in order[:n]:
        if not np.isfinite(times[j]):
            break
        rows.append(
            {
                "site_id": int(sites["id"].iloc[j]),
                "source_id": sites["source_id"].iloc[j],
                "name": sites["name"].iloc[j],
                "kind": sites["kind"].iloc[j],
                "seconds": round(float(times[j]), 1),
                "minutes": round(float(times[j]) / 60.0, 1),
            }
        )
    return rows


# --------------------------------------------------------------------------- catchments


def site_summary(site: Any) -> dict[str, Any]:
    """A catchment result's ``site`` member: ids, name, kind and WGS84 ``lon``/``lat``."""
    lon, lat = Origin(site.x, site.y).lonlat()
    return {
        "site_id": site.id,
        "source_id": site.source_id,
        "name": site.name,
        "kind": site.kind,
        "lon": lon,
        "lat": lat,
    }


@dataclass(frozen=True)
class CatchmentBand:
    """One band of a site's catchment.

    ``geometry`` is the isochrone (shapely Polygon or MultiPolygon, EPSG:27700; empty when
    nothing is reached), ``population`` the :func:`population_breakdown` of the areas whose
    representative point is within ``band_min`` minutes of the site, ``extra`` source-specific
    properties (transit: ``stops_reached``).
    """

    band_min: int
    geometry: Any
    population: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def multipolygon(self) -> Any:
        """The polygon as a shapely MultiPolygon (EPSG:27700), as stored in ``catchments``."""
        geom = self.geometry
        if geom is None or geom.is_empty:
            return shapely.MultiPolygon()
        if isinstance(geom, shapely.MultiPolygon):
            return geom
        if isinstance(geom, shapely.Polygon):
            return shapely.MultiPolygon([geom])
        raise TypeError(f"band {self.band_min}: expected a polygon, got {geom.geom_type}")


@dataclass(frozen=True)
class SiteCatchment:
    """The catchment bands of one site by one mode, widest band first.

    ``reachable`` is False (with the reason in ``detail``) when the site is beyond the snap
    limit of the mode's network: its bands are then empty.
    """

    site_id: int
    mode: str
    load_id: int
    bands: list[CatchmentBand]
    metadata: dict[str, Any]
    reachable: bool = True
    detail: str | None = None


def catchment_bands(
    source: TravelTimeSource,
    site: Any,
    areas: pd.DataFrame,
    seconds: np.ndarray[Any, Any],
    *,
    bands_min: Sequence[int],
) -> SiteCatchment:
    """Catchment bands of one site: the isochrone polygon and the population of each band.

    Parameters
    ----------
    source : TravelTimeSource
        The mode's network or timetable (:func:`app.services.traveltimes.travel_time_source`),
        loaded once and reused across sites.
    site : object
        The site: ``id``, ``x``, ``y`` (EPSG:27700 metres).
    areas : pandas.DataFrame
        The :func:`~app.services.areas.area_table` of the areas counted.
    seconds : numpy.ndarray
        Travel time in seconds from each area (row of ``areas``) to the site; NaN or inf
        where unreachable.
    bands_min : sequence of int
        Band limits in minutes.

    Returns
    -------
    SiteCatchment
        One :class:`CatchmentBand` per distinct band, widest first; the metadata states the
        source's model, how polygons were drawn and how population is counted.
    """
    iso = source.isochrones(float(site.x), float(site.y), bands_min)
    within = np.nan_to_num(np.asarray(seconds, dtype=float), nan=np.inf)
    bands = [
        CatchmentBand(
            band.band_min,
            band.geometry,
            population_breakdown(areas, within <= band.band_min * 60.0),
            band.extra,
        )
        for band in sorted(iso.bands, key=lambda b: -b.band_min)
    ]
    return SiteCatchment(
        site_id=int(site.id),
        mode=source.mode,
        load_id=source.load_id,
        bands=bands,
        metadata={**iso.metadata, **source.metadata, "population_method": POPULATION_METHOD},
        reachable=iso.reachable,
        detail=iso.detail,
    )


def area_seconds_on_network(
    source: TravelTimeSource, areas: pd.DataFrame, sites: pd.DataFrame
) -> np.ndarray[Any, Any]:
    """Travel times computed now (not stored): seconds, areas × sites (inf: unreachable).

    From each area's representative point (``areas``: ``x, y``) to each site (``sites``:
    ``x, y``) on ``source``, as the stored ``travel_times`` are computed.
    """
    return source.times(areas, sites).seconds


def site_catchment(
    db: Database,
    settings: Settings,
    principal: Principal,
    site_id: int,
    *,
    mode: Mode,
    bands_min: list[int],
) -> dict[str, Any]:
    """Catchment bands of a site the caller may see: isochrone polygons and the population
    in each band (from the stored area → site times)."""
    with db.connection() as conn:
        site = site_point(conn, principal, site_id)
        if site is None:
            raise AnalysisInputError("site_id", f"no located site with id {site_id}")
        areas = area_table(conn, vintage=AREA_VINTAGE)
        times = stored_times(
            conn, principal, mode=mode, site_ids=[site_id], area_vintage=AREA_VINTAGE
        )
    areas = areas.merge(
        times.rename(columns={"from_id": "code"})[["code", "seconds"]], on="code", how="left"
    )
    source = travel_time_source(db, settings, mode)
    result = catchment_bands(
        source, site, areas, areas["seconds"].to_numpy(dtype=float), bands_min=bands_min
    )
    features = [
        {
            "type": "Feature",
            "geometry": _geojson_wgs84(band.geometry),
            "properties": {"band_min": band.band_min, **band.extra, **band.population},
        }
        for band in result.bands
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "site": site_summary(site),
        "total_population": round(float(areas["population"].sum()), 1),
        "metadata": result.metadata,
    }


def _geojson_wgs84(geom: Any) -> dict[str, Any]:
    """GeoJSON (WGS84, 6 decimals ≈ 0.1 m) of an EPSG:27700 geometry, reprojected in bulk."""
    if geom is None or geom.is_empty:
        return {"type": "MultiPolygon", "coordinates": []}

    def to_wgs84(coords: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        lon, lat = bng_to_wgs84(coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 6)

    mapped: dict[str, Any] = shapely.geometry.mapping(shapely.transform(geom, to_wgs84))
    return mapped


# --------------------------------------------------------------------------- stored times


def access_map(
    db: Database, principal: Principal, *, kind: str, mode: Mode, minutes: float
) -> dict[str, Any]:
    """Per area (LSOA 2021): seconds to the nearest site of ``kind`` the caller may see and
    the number of such sites within ``minutes``."""
    metadata = stored_metadata(db, mode)
    with db.connection() as conn:
        rows = access_by_area(
            conn,
            principal,
            kind=kind,
            mode=mode,
            within_s=minutes * 60.0,
            area_vintage=AREA_VINTAGE,
        )
    return {
        "kind": kind,
        "mode": mode,
        "minutes": minutes,
        "areas": [
            {
                "code": r.code,
                "seconds": None if pd.isna(r.seconds) else round(float(r.seconds), 1),
                "sites_within": int(r.sites_within),
            }
            for r in _records(rows)
        ],
        "metadata": metadata,
    }


def population_within(
    db: Database,
    settings: Settings,
    principal: Principal,
    *,
    minutes: float,
    mode: Mode,
    origin: Origin | None = None,
    site_ids: list[int] | None = None,
) -> dict[str, Any]:
    """Population (by age band and IMD decile) within ``minutes`` of a point (times computed
    now) or of any of ``site_ids`` the caller may see (stored times)."""
    limit = minutes * 60.0
    with db.connection() as conn:
        areas = area_table(conn, vintage=AREA_VINTAGE)
        if site_ids:
            for sid in site_ids:
                if site_point(conn, principal, sid) is None:
                    raise AnalysisInputError("site_ids", f"no located site with id {sid}")
            times = min_times_to_sites(
                conn, principal, mode=mode, site_ids=site_ids, area_vintage=AREA_VINTAGE
            )
            areas = areas.merge(times, on="code", how="left")
    if site_ids:
        metadata = stored_metadata(db, mode)
    elif origin is not None:
        found = travel_time_source(db, settings, mode).times(areas, origin.frame())
        areas["seconds"] = found.seconds[:, 0]
        metadata = found.metadata
    else:
        raise AnalysisInputError("lon", "a point, a postcode or site_ids is needed")
    seconds = np.nan_to_num(areas["seconds"].to_numpy(dtype=float), nan=np.inf)
    result = population_breakdown(areas, seconds <= limit)
    result.update(
        {
            "minutes": minutes,
            "mode": mode,
            "total_population": round(float(areas["population"].sum()), 1),
            "metadata": {**metadata, "population_method": POPULATION_METHOD},
        }
    )
    if origin is not None:
        lon, lat = origin.lonlat()
        result["origin"] = {"lon": lon, "lat": lat, "postcode": origin.postcode}
    if site_ids:
        result["site_ids"] = site_ids
    return result


def _kind_times(db: Database, principal: Principal, *, kind: str, mode: Mode) -> pd.DataFrame:
    """Stored area → site times to active sites of ``kind`` the caller may see:
    ``from_id, to_id, seconds``."""
    with db.connection() as conn:
        times = stored_times(
            conn, principal, mode=mode, kinds=[kind], active_only=True, area_vintage=AREA_VINTAGE
        )
    return times[["from_id", "to_id", "seconds"]]


def _areas(db: Database) -> pd.DataFrame:
    with db.connection() as conn:
        return area_table(conn, vintage=AREA_VINTAGE)


def floating_catchment(
    db: Database,
    principal: Principal,
    *,
    kind: str,
    mode: Mode,
    minutes: float,
    enhanced: bool,
) -> dict[str, Any]:
    """2SFCA (or E2SFCA with Luo & Qi's decay bands scaled to ``minutes``): sites per 1,000,
    over the sites of ``kind`` the caller may see."""
    metadata = stored_metadata(db, mode)
    areas = _areas(db)
    times = _kind_times(db, principal, kind=kind, mode=mode)
    demand = areas.set_index("code")["population"].astype(float)
    supply = pd.Series(1.0, index=sorted(times["to_id"].unique()))
    limit = minutes * 60.0
    # E2SFCA: weights 1, 0.68, 0.22 in three equal sub-bands of the catchment (Luo & Qi 2009).
    bands = [(limit / 3, 1.0), (2 * limit / 3, 0.68), (limit, 0.22)] if enhanced else None
    scores = two_step_fca(times, demand, supply, catchment_s=limit, bands=bands)
    return {
        "kind": kind,
        "mode": mode,
        "minutes": minutes,
        "method": "E2SFCA" if enhanced else "2SFCA",
        "supply": "sites (1 per site)",
        "per": 1000,
        "bands": scores.attrs["bands"],
        "areas": [
            {"code": r.area_id, "access": round(float(r.access), 9), "population": r.demand}
            for r in _records(scores)
        ],
        "metadata": metadata,
    }


def access_gaps(
    db: Database, principal: Principal, *, kind: str, mode: Mode, limit: int
) -> dict[str, Any]:
    """Areas ranked by need (IMD decile, share 65+) combined with poor access (time, 2SFCA)
    to the sites of ``kind`` the caller may see."""
    metadata = stored_metadata(db, mode)
    areas = _areas(db)
    times = _kind_times(db, principal, kind=kind, mode=mode)
    if times.empty:
        raise AnalysisInputError("kind", f"no stored {mode} times to sites of kind {kind!r}")
    nearest = nearest_and_count(times, area_ids=areas["code"].tolist(), thresholds_min=(15,))
    demand = areas.set_index("code")["population"].astype(float)
    fca = two_step_fca(
        times, demand, pd.Series(1.0, index=sorted(times["to_id"].unique())), catchment_s=1800.0
    )
    table = areas[["code", "name", "population", "pop_65_plus", "imd_decile"]].copy()
    table["share_65plus"] = (table["pop_65_plus"] / table["population"].replace(0, np.nan)).fillna(
        0.0
    )
    table["nearest_s"] = table["code"].map(nearest.set_index("area_id")["nearest_s"])
    table["access"] = table["code"].map(fca.set_index("area_id")["access"])
    table["imd_decile"] = table["imd_decile"].fillna(5)
    ranked = rank_gaps(table)
    rows = [
        {
            "rank": int(r.gap_rank),
            "code": r.code,
            "name": r.name,
            "seconds": None if pd.isna(r.nearest_s) else round(float(r.nearest_s), 1),
            "imd_decile": int(r.imd_decile),
            "pop_65_plus_share": round(float(r.share_65plus), 4),
            "access_2sfca": round(float(r.access), 6),
            "need": round(float(r.need), 4),
            "poor_access": round(float(r.poor_access), 4),
            "score": round(float(r.gap_score), 4),
        }
        for r in _records(ranked.head(limit))
    ]
    return {
        "kind": kind,
        "mode": mode,
        "rows": rows,
        "method": (
            "score = need × poor_access; need = mean percentile rank of (11 − IMD decile) and "
            "share aged 65+; poor_access = mean percentile rank of time to the nearest site and "
            "of low 2SFCA (30 min) sites per 1,000 people; areas without an IMD decile take 5"
        ),
        "metadata": metadata,
    }
