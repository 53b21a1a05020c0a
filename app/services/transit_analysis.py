"""The analysis questions (nearest, catchment, population within) answered by public transport.

:mod:`app.services.analysis` hands ``mode='transit'`` here. Times from a point are computed
on the fly on the active GTFS timetable (:mod:`app.services.transit`); times between areas and
sites come from the stored ``travel_times`` rows (mode ``transit``), computed with the same
window, percentile and walk model, which every result states in its metadata.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from app.services import transit
from app.services.analysis import (
    POPULATION_METHOD,
    AnalysisInputError,
    CatchmentSource,
    Origin,
    area_table,
    nearest_results,
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


def catchment_source(engine: Engine) -> CatchmentSource:
    """The active feed's timetable and isochrone options, loaded once for many sites.

    Raises
    ------
    NoFeedError
        When no GTFS feed is loaded (HTTP 503).
    """
    feed, timetable = transit.get_timetable(engine)
    return CatchmentSource(
        engine=engine,
        mode=transit.MODE,
        load_id=feed.load_id,
        metadata={
            **transit.parameters(engine, feed, timetable),
            "population_method": POPULATION_METHOD,
            "direction": (
                "populations: stored times from each area's representative point to the site; "
                "polygons: journeys departing the site in the window (walk legs straight-line "
                "x detour factor)"
            ),
        },
        timetable=timetable,
        options=transit.matrix_options(engine, timetable),
    )


def band_polygons(
    source: CatchmentSource, site: Any, bands_min: Sequence[int]
) -> tuple[list[tuple[int, Any, dict[str, Any]]], dict[str, Any]]:
    """Transit isochrones of a site: ``(band, polygon, {"stops_reached": n})`` and metadata."""
    opts = source.options
    iso = transit_isochrone(
        source.timetable,
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
    rows = [
        (int(row.band_s) // 60, row.geometry, {"stops_reached": int(row.n_stops)})
        for row in iso.itertuples()
    ]
    return rows, {**iso.attrs["metadata"], **source.metadata}


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
