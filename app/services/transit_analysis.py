"""The analysis questions (nearest, catchment, population within) answered by public transport.

:mod:`app.services.analysis` hands ``mode='transit'`` here. Times from a point are computed
on the fly on the active GTFS timetable (:mod:`app.services.transit`); times between areas and
sites come from the stored ``travel_times`` rows (mode ``transit``), computed with the same
window, percentile and walk model, which every result states in its metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from app.services import transit
from app.services.analysis import (
    POPULATION_METHOD,
    AnalysisInputError,
    Origin,
    _geojson_wgs84,
    area_table,
    area_times_to_site,
    nearest_results,
    population_breakdown,
    site_summary,
)
from app.services.traveltimes import site_points
from spatial.transit import transit_isochrone


def _point(origin: Origin) -> pd.DataFrame:
    return pd.DataFrame({"id": [0], "x": [origin.x], "y": [origin.y]})


def nearest_sites(engine: Engine, origin: Origin, *, kind: str, n: int) -> dict[str, Any]:
    """The ``n`` sites of ``kind`` with the least transit time from ``origin``."""
    transit.require_feed(engine)
    with engine.connect() as conn:
        sites = site_points(conn, kinds=[kind])
    if sites.empty:
        raise AnalysisInputError("kind", f"no located active sites of kind {kind!r}")
    targets = pd.DataFrame({"id": sites["id"], "x": sites["x"], "y": sites["y"]})
    frame, meta = transit.travel_times(engine, _point(origin), targets)
    times = frame["seconds"].to_numpy(dtype=float)
    lon, lat = origin.lonlat()
    result: dict[str, Any] = {
        "origin": {"lon": lon, "lat": lat, "postcode": origin.postcode, "snap_distance_m": None},
        "mode": transit.MODE,
        "kind": kind,
        "results": [],
        "metadata": meta,
    }
    result["results"] = nearest_results(sites, times, n)
    if not result["results"]:
        result["detail"] = (
            f"no {kind} reachable by public transport at the {meta['percentile']:g}th "
            f"percentile of departures {meta['window_start']}-{meta['window_end']}"
        )
    return result


def site_catchment(engine: Engine, site_id: int, *, bands_min: list[int]) -> dict[str, Any]:
    """Transit catchment bands of a site: isochrone polygons and the population per band."""
    feed, timetable = transit.get_timetable(engine)
    site, areas = area_times_to_site(engine, site_id, transit.MODE)
    opts = transit.matrix_options(engine, timetable)
    iso = transit_isochrone(
        timetable,
        (float(site.x), float(site.y)),
        bands_s=[b * 60 for b in bands_min],
        percentile=opts["percentiles"][0],
        window_start_s=opts["window_start_s"],
        window_end_s=opts["window_end_s"],
        step_s=opts["step_s"],
        max_walk_m=opts["max_walk_m"],
        walk_speed_m_s=opts["walk_speed_m_s"],
        detour_factor=opts["detour_factor"],
        max_transfers=opts["max_transfers"],
        transfer_slack_s=opts["transfer_slack_s"],
    )
    seconds = np.nan_to_num(areas["seconds"].to_numpy(dtype=float), nan=np.inf)
    features = []
    for row in iso.sort_values("band_s", ascending=False).itertuples():
        band = int(row.band_s) // 60
        props = {
            "band_min": band,
            "stops_reached": int(row.n_stops),
            **population_breakdown(areas, seconds <= band * 60.0),
        }
        features.append(
            {"type": "Feature", "geometry": _geojson_wgs84(row.geometry), "properties": props}
        )
    return {
        "type": "FeatureCollection",
        "features": features,
        "site": site_summary(site),
        "total_population": round(float(areas["population"].sum()), 1),
        "metadata": {
            **iso.attrs["metadata"],
            **transit.parameters(engine, feed, timetable),
            "population_method": POPULATION_METHOD,
            "direction": (
                "populations: stored times from each area's representative point to the site; "
                "polygons: journeys departing the site in the window (walk legs straight-line "
                "x detour factor)"
            ),
        },
    }


def population_within_point(
    engine: Engine, origin: Origin, *, minutes: float
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The area table with ``seconds`` by transit from each area to ``origin``, and metadata."""
    with engine.connect() as conn:
        areas = area_table(conn)
    starts = pd.DataFrame({"id": np.arange(len(areas)), "x": areas["x"], "y": areas["y"]})
    frame, meta = transit.travel_times(engine, starts, _point(origin))
    by_area = frame.set_index("from_id")["seconds"]
    areas["seconds"] = by_area.reindex(np.arange(len(areas))).to_numpy(dtype=float)
    return areas, meta
