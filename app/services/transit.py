"""Public transport: the active GTFS feed's timetable, its settings, and stored transit times.

The timetable is rebuilt from the ``gtfs_*`` rows of the newest active ``gtfs`` load (no file
needed) for one service date and cached in memory per (database, load, date). Travel times
follow the DfT journey-time statistics / NHS Wales method implemented in
:mod:`spatial.transit` (rRAPTOR over a departure window, a percentile over the departures);
every parameter is a ``LOCUS_TRANSIT_*`` setting, stored with the computed times in
``computations.parameters`` and returned in every result's metadata.

Walking legs (access, transfers, egress) use the walk network when one is loaded *and covers
the feed* (at least 90 % of the stops snap to it), otherwise straight-line distance × a detour
factor (the Isle of Wight, for one, has no usable road network).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from app.services.networks import NoNetworkError
from app.services.traveltimes import (
    MatrixSummary,
    area_points,
    replace_travel_times,
    site_points,
)
from config.settings import get_settings
from spatial.transit import Timetable, build_timetable, transit_travel_time_matrix

MODE = "transit"
TRANSIT_TIMES = "transit-travel-times"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SERVICE_DATE_RULE = "first Tuesday on or after the feed's start date"
MIN_NETWORK_COVERAGE = 0.9

_lock = threading.Lock()
_timetables: dict[tuple[str, int, dt.date], Timetable] = {}


class NoFeedError(NoNetworkError):
    """No GTFS feed is loaded (run ``locus load gtfs <feed.zip>``)."""


@dataclasses.dataclass(frozen=True)
class Feed:
    """The active feed: its load, service period and the date its timetable is built for."""

    load_id: int
    start_date: dt.date
    end_date: dt.date
    publisher: str | None
    service_date: dt.date


def default_service_date(start: dt.date) -> dt.date:
    """The first Tuesday on or after ``start``."""
    return start + dt.timedelta(days=(1 - start.weekday()) % 7)


def active_feed(conn: Connection) -> Feed | None:
    """The newest active GTFS load, or None."""
    row = conn.execute(
        text(
            "SELECT f.load_id, f.start_date, f.end_date, f.publisher FROM transit_feeds f "
            "JOIN data_loads d ON d.id = f.load_id WHERE d.status = 'active' "
            "ORDER BY f.load_id DESC LIMIT 1"
        )
    ).first()
    if row is None:
        return None
    configured = get_settings().transit.service_date
    return Feed(
        load_id=int(row.load_id),
        start_date=row.start_date,
        end_date=row.end_date,
        publisher=row.publisher,
        service_date=configured or default_service_date(row.start_date),
    )


def require_feed(engine: Engine) -> Feed:
    """The active feed; :class:`NoFeedError` (HTTP 503) when none is loaded."""
    with engine.connect() as conn:
        feed = active_feed(conn)
    if feed is None:
        raise NoFeedError(
            "mode 'transit' needs a public transport timetable and none is loaded: run "
            "`locus load gtfs <feed.zip>`"
        )
    return feed


def feed_frames(conn: Connection, load_id: int) -> dict[str, pd.DataFrame]:
    """The GTFS tables of a load as DataFrames in the shape :func:`build_timetable` takes."""

    def q(sql: str) -> pd.DataFrame:
        return pd.read_sql(text(sql), conn, params={"l": load_id})

    stops = q(
        "SELECT stop_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM transit_stops "
        "WHERE load_id = :l AND geom IS NOT NULL ORDER BY stop_id"
    )
    calendar = q(
        f"SELECT service_id, {', '.join(WEEKDAYS)}, start_date, end_date FROM gtfs_calendar "  # noqa: S608 (constant column names)
        "WHERE load_id = :l ORDER BY service_id"
    )
    calendar_dates = q(
        "SELECT service_id, date, exception_type FROM gtfs_calendar_dates WHERE load_id = :l"
    )
    for frame, cols in ((calendar, ("start_date", "end_date")), (calendar_dates, ("date",))):
        for col in cols:
            frame[col] = pd.to_datetime(frame[col])
    return {
        "stops": stops,
        "routes": q("SELECT route_id FROM gtfs_routes WHERE load_id = :l ORDER BY route_id"),
        "trips": q(
            "SELECT trip_id, route_id, service_id FROM gtfs_trips WHERE load_id = :l "
            "ORDER BY trip_id"
        ),
        "stop_times": q(
            "SELECT trip_id, stop_sequence, stop_id, arrival_s, departure_s, pickup_type, "
            "drop_off_type FROM gtfs_stop_times WHERE load_id = :l "
            "ORDER BY trip_id, stop_sequence"
        ),
        "calendar": calendar,
        "calendar_dates": calendar_dates,
    }


def get_timetable(engine: Engine, feed: Feed | None = None) -> tuple[Feed, Timetable]:
    """The active feed and its timetable for the service date (cached per load and date)."""
    feed = feed or require_feed(engine)
    key = (str(engine.url), feed.load_id, feed.service_date)
    with _lock:
        cached = _timetables.get(key)
        if cached is not None:
            return feed, cached
        with engine.connect() as conn:
            frames = feed_frames(conn, feed.load_id)
        timetable = build_timetable(
            frames["stops"],
            frames["trips"],
            frames["stop_times"],
            frames["routes"],
            frames["calendar"],
            frames["calendar_dates"],
            date=feed.service_date,
        )
        _timetables[key] = timetable
        return feed, timetable


# --------------------------------------------------------------------------- walking legs


WalkFn = Callable[[np.ndarray[Any, Any], np.ndarray[Any, Any]], np.ndarray[Any, Any]]


def _network_walk_fn(engine: Engine, timetable: Timetable) -> WalkFn | None:
    """Walking distance on the loaded walk network, when it covers the feed's stops."""
    from app.services.networks import get_network
    from spatial.network import snap_points
    from spatial.traveltime import travel_time_array

    try:
        network = get_network(engine, "walk")
    except NoNetworkError:
        return None
    settings = get_settings()
    speed = settings.travel.walk_speed_kmh / 3.6
    snap_m = settings.travel.max_snap_distance_m
    if timetable.n_stops == 0:
        return None
    stops = snap_points(
        network, timetable.stop_x, timetable.stop_y, max_distance_m=snap_m, access_speed_m_s=speed
    )
    if float(np.mean(stops.reachable)) < MIN_NETWORK_COVERAGE:
        return None

    def walk_m(from_xy: np.ndarray[Any, Any], to_xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if len(from_xy) == 0:
            return np.zeros(0)
        fu, fi = np.unique(from_xy, axis=0, return_inverse=True)
        tu, ti = np.unique(to_xy, axis=0, return_inverse=True)
        o = snap_points(network, fu[:, 0], fu[:, 1], max_distance_m=snap_m, access_speed_m_s=speed)
        d = snap_points(network, tu[:, 0], tu[:, 1], max_distance_m=snap_m, access_speed_m_s=speed)
        seconds = travel_time_array(network, o, d)
        out: np.ndarray[Any, Any] = seconds[fi.ravel(), ti.ravel()] * speed
        return out

    return walk_m


def _walk_model(engine: Engine, timetable: Timetable) -> tuple[WalkFn | None, str]:
    if not get_settings().transit.use_walk_network:
        return None, "straight-line x detour factor"
    fn = _network_walk_fn(engine, timetable)
    return fn, ("network" if fn is not None else "straight-line x detour factor")


# --------------------------------------------------------------------------- parameters


def parameters(engine: Engine, feed: Feed, timetable: Timetable) -> dict[str, Any]:
    """The parameters transit times are computed with (stored, and stated in results)."""
    s = get_settings().transit
    _, walk = _walk_model(engine, timetable)
    return {
        "mode": MODE,
        "feed_load_id": feed.load_id,
        "feed_period": f"{feed.start_date:%Y-%m-%d}/{feed.end_date:%Y-%m-%d}",
        "feed_publisher": feed.publisher,
        "service_date": feed.service_date.isoformat(),
        "service_date_rule": "LOCUS_TRANSIT_SERVICE_DATE" if s.service_date else SERVICE_DATE_RULE,
        "weekday": feed.service_date.strftime("%A"),
        "window_start": s.window_start,
        "window_end": s.window_end,
        "step_s": s.step_s,
        "percentile": s.percentile,
        "max_walk_m": s.max_walk_m,
        "walk_speed_m_s": round(get_settings().travel.walk_speed_kmh / 3.6, 6),
        "walk": walk,
        "detour_factor": s.detour_factor if walk != "network" else None,
        "max_transfers": s.max_transfers,
        "transfer_slack_s": s.transfer_slack_s,
    }


def matrix_options(engine: Engine, timetable: Timetable) -> dict[str, Any]:
    """Keyword arguments for :func:`spatial.transit.transit_travel_time_matrix`."""
    s = get_settings().transit
    fn, _ = _walk_model(engine, timetable)
    return {
        "window_start_s": s.window_start_s,
        "window_end_s": s.window_end_s,
        "step_s": s.step_s,
        "percentiles": (s.percentile,),
        "max_walk_m": s.max_walk_m,
        "walk_speed_m_s": round(get_settings().travel.walk_speed_kmh / 3.6, 6),
        "detour_factor": s.detour_factor,
        "max_transfers": s.max_transfers,
        "transfer_slack_s": s.transfer_slack_s,
        "walk_distance_fn": fn,
    }


def seconds_column() -> str:
    """The matrix column holding the configured percentile (e.g. ``seconds_p50``)."""
    return f"seconds_p{get_settings().transit.percentile:g}"


def travel_times(
    engine: Engine, origins: pd.DataFrame, destinations: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Transit times origins × destinations (``id, x, y`` EPSG:27700) with the configured
    window and percentile; returns the long frame (``seconds`` = that percentile) and the
    metadata (parameters plus the matrix's own metadata)."""
    feed, timetable = get_timetable(engine)
    frame = transit_travel_time_matrix(
        timetable, origins, destinations, **matrix_options(engine, timetable)
    )
    frame["seconds"] = frame[seconds_column()]
    meta = {**frame.attrs["metadata"], **parameters(engine, feed, timetable)}
    return frame, meta


# --------------------------------------------------------------------------- stored times


def compute_transit_times(engine: Engine) -> tuple[MatrixSummary, dict[str, Any]]:
    """Compute and store area → site transit times (replacing the previous ones)."""
    with engine.connect() as conn:
        areas = area_points(conn)
        sites = site_points(conn)
    origins = pd.DataFrame({"id": np.arange(len(areas)), "x": areas["x"], "y": areas["y"]})
    targets = pd.DataFrame({"id": sites["id"].to_numpy(), "x": sites["x"], "y": sites["y"]})
    frame, meta = travel_times(engine, origins, targets)
    ok = np.isfinite(frame["seconds"].to_numpy(dtype=float))
    hit = frame.loc[ok]
    idx = hit["from_id"].to_numpy(dtype=np.int64)
    site_ids = hit["to_id"].to_numpy(dtype=np.int64)
    with engine.begin() as conn:
        pairs = replace_travel_times(
            conn,
            MODE,
            area_codes=areas["code"].to_numpy()[idx],
            area_vintages=areas["vintage"].to_numpy()[idx],
            site_ids=site_ids,
            seconds=hit["seconds"].to_numpy(dtype=float),
            network_load_id=meta["feed_load_id"],
        )
    reached_areas = set(idx.tolist())
    reached_sites = set(site_ids.tolist())
    summary = MatrixSummary(
        mode=MODE,
        areas=len(areas),
        sites=len(sites),
        pairs=pairs,
        unreachable_areas=[str(c) for i, c in enumerate(areas["code"]) if i not in reached_areas],
        unreachable_sites=[int(s) for s in sites["id"] if int(s) not in reached_sites],
        network_load_id=int(meta["feed_load_id"]),
    )
    return summary, meta


def _stored(conn: Connection) -> Any:
    return conn.execute(
        text(
            "SELECT newest_load_id, parameters FROM computations WHERE kind = :k "
            "ORDER BY id DESC LIMIT 1"
        ),
        {"k": TRANSIT_TIMES},
    ).first()


def refresh_transit_times(engine: Engine, *, force: bool = False) -> list[MatrixSummary]:
    """Recompute stored transit times when a feed is loaded and the data or settings changed."""
    from app.services.compute import newest_load_id

    with engine.connect() as conn:
        feed = active_feed(conn)
        stored = _stored(conn)
    if feed is None:
        return []
    feed, timetable = get_timetable(engine, feed)
    wanted = parameters(engine, feed, timetable)
    newest = newest_load_id(engine)
    if (
        not force
        and stored is not None
        and int(stored.newest_load_id) >= newest
        and all(stored.parameters.get(k) == v for k, v in wanted.items())
    ):
        return []
    started = time.perf_counter()
    summary, meta = compute_transit_times(engine)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO computations (kind, newest_load_id, parameters, summary, seconds) "
                "VALUES (:k, :n, CAST(:p AS jsonb), CAST(:s AS jsonb), :sec)"
            ),
            {
                "k": TRANSIT_TIMES,
                "n": newest,
                "p": json.dumps(meta, default=str),
                "s": json.dumps([dataclasses.asdict(summary)]),
                "sec": time.perf_counter() - started,
            },
        )
    return [summary]


def stored_metadata(engine: Engine) -> dict[str, Any]:
    """Metadata of the stored transit times (window, percentile, walk model, feed).

    Raises :class:`NoFeedError` when no feed is loaded.
    """
    require_feed(engine)
    with engine.connect() as conn:
        stored = _stored(conn)
    if stored is None:
        return {
            "mode": MODE,
            "detail": "no stored transit times yet: run `locus compute`",
        }
    meta: dict[str, Any] = dict(stored.parameters)
    meta["stored_times"] = "area representative point → site, computed by `locus compute`"
    return meta
