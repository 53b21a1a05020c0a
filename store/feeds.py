"""GTFS feeds as loaded by ``locus load gtfs``: the active feed and its timetable tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg import Connection, sql
from psycopg.rows import dict_row

from store.connection import read_frame

__all__ = ["WEEKDAYS", "FeedLoad", "active_feed", "feed_frames"]

#: The ``gtfs_calendar`` day columns, Monday first.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class FeedLoad:
    """The ``data_loads`` id of a feed and its service period and publisher."""

    load_id: int
    start_date: dt.date
    end_date: dt.date
    publisher: str | None


def active_feed(conn: Connection[Any]) -> FeedLoad | None:
    """The newest active GTFS load, or None when no feed is loaded."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT f.load_id, f.start_date, f.end_date, f.publisher FROM transit_feeds f "
            "JOIN data_loads d ON d.id = f.load_id WHERE d.status = 'active' "
            "ORDER BY f.load_id DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return None
    return FeedLoad(
        load_id=int(row["load_id"]),
        start_date=row["start_date"],
        end_date=row["end_date"],
        publisher=row["publisher"],
    )


def feed_frames(conn: Connection[Any], load_id: int) -> dict[str, pd.DataFrame]:
    """The GTFS tables of a load in the shape :func:`spatial.transit.build_timetable` takes.

    Keys ``stops`` (``stop_id, x, y``, EPSG:27700), ``routes``, ``trips``, ``stop_times``,
    ``calendar`` and ``calendar_dates`` (dates as ``datetime64``).
    """
    params = {"l": load_id}

    def q(query: str | sql.Composed) -> pd.DataFrame:
        return read_frame(conn, query, params)

    stops = q(
        "SELECT stop_id, ST_X(geom) AS x, ST_Y(geom) AS y FROM transit_stops "
        "WHERE load_id = %(l)s AND geom IS NOT NULL ORDER BY stop_id"
    )
    calendar = q(
        sql.SQL(
            "SELECT service_id, {days}, start_date, end_date FROM gtfs_calendar "
            "WHERE load_id = %(l)s ORDER BY service_id"
        ).format(days=sql.SQL(", ").join(sql.Identifier(d) for d in WEEKDAYS))
    )
    calendar_dates = q(
        "SELECT service_id, date, exception_type FROM gtfs_calendar_dates WHERE load_id = %(l)s"
    )
    for frame, cols in ((calendar, ("start_date", "end_date")), (calendar_dates, ("date",))):
        for col in cols:
            frame[col] = pd.to_datetime(frame[col])
    return {
        "stops": stops.astype({"x": "float64", "y": "float64"}) if len(stops) else stops,
        "routes": q("SELECT route_id FROM gtfs_routes WHERE load_id = %(l)s ORDER BY route_id"),
        "trips": q(
            "SELECT trip_id, route_id, service_id FROM gtfs_trips WHERE load_id = %(l)s "
            "ORDER BY trip_id"
        ),
        "stop_times": q(
            "SELECT trip_id, stop_sequence, stop_id, arrival_s, departure_s, pickup_type, "
            "drop_off_type FROM gtfs_stop_times WHERE load_id = %(l)s "
            "ORDER BY trip_id, stop_sequence"
        ),
        "calendar": calendar,
        "calendar_dates": calendar_dates,
    }
