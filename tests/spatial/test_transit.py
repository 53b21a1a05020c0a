"""Public transport (rRAPTOR) on the real Isle of Wight GTFS feed.

Journeys are checked against stop_times.txt read straight from the zip (not through the
reader under test), and the whole engine against a time-expanded Dijkstra.
2019-05-13 is a Monday (services 14, 26), 2019-05-14 a Tuesday (services 12, 14, 25).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from etl.gtfs import GtfsFeed, read_gtfs
from spatial.transit import (
    ALGORITHM,
    Timetable,
    active_services,
    build_timetable,
    transit_isochrone,
    transit_stop_times,
    transit_travel_time_matrix,
)

MONDAY = dt.date(2019, 5, 13)
TUESDAY = dt.date(2019, 5, 14)
SUNDAY = dt.date(2019, 5, 12)
WALK = 4.8 / 3.6  # m/s

# Stops (GTFS stop_id)
RYDE_BUS_STATION = "23000003001G"  # route 364 loop start
JOHN_STREET = "230000001970"  # third stop of the loop
MORRISONS = "230000003270"
SHANKLIN_BUS_STATION = "230000003100"
MERRIE_GARDENS = "230000002700"  # route 352 only
LANDGUARD_HOLIDAY_VILLAGE = "230000003040"  # routes 352 and 354
LANDGUARD_MANOR = "230000003200"  # route 354 only


def hms(text: str) -> int:
    h, m, s = (int(p) for p in text.split(":"))
    return h * 3600 + m * 60 + s


@pytest.fixture(scope="module")
def gtfs_zip(data_dir: Path) -> Path:
    return data_dir / "isle_of_wight" / "iow-bus-gtfs.zip"


@pytest.fixture(scope="module")
def raw_stop_times(gtfs_zip: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(trip_id, stop_id) -> (arrival, departure) seconds, straight from the zip."""
    with zipfile.ZipFile(gtfs_zip) as zf:
        text = zf.read("stop_times.txt").decode("utf-8-sig")
    return {
        (r["trip_id"], r["stop_id"]): (hms(r["arrival_time"]), hms(r["departure_time"]))
        for r in csv.DictReader(io.StringIO(text))
    }


@pytest.fixture(scope="module")
def feed(gtfs_zip: Path) -> GtfsFeed:
    return read_gtfs(gtfs_zip)


def _timetable(feed: GtfsFeed, date: dt.date) -> Timetable:
    return build_timetable(
        feed.stops,
        feed.trips,
        feed.stop_times,
        feed.routes,
        feed.calendar,
        feed.calendar_dates,
        date=date,
    )


@pytest.fixture(scope="module")
def monday(feed: GtfsFeed) -> Timetable:
    return _timetable(feed, MONDAY)


@pytest.fixture(scope="module")
def tuesday(feed: GtfsFeed) -> Timetable:
    return _timetable(feed, TUESDAY)


def _stop_point(tt: Timetable, stop_id: str) -> pd.DataFrame:
    i = tt.stop_index(stop_id)
    return pd.DataFrame({"id": [stop_id], "x": [tt.stop_x[i]], "y": [tt.stop_y[i]]})


def _one(tt: Timetable, a: str, b: str, depart_s: int, *, max_transfers: int | None = 8) -> float:
    """Travel time (s) from stop a to stop b leaving exactly at depart_s, no walking."""
    m = transit_travel_time_matrix(
        tt,
        _stop_point(tt, a),
        _stop_point(tt, b),
        window_start_s=depart_s,
        window_end_s=depart_s + 1,
        max_walk_m=0.0,
        walk_speed_m_s=WALK,
        max_transfers=max_transfers,
    )
    assert len(m) == 1
    return float(m["seconds_p50"].iloc[0])


def test_timetable_for_a_date(feed: GtfsFeed, monday: Timetable, tuesday: Timetable) -> None:
    assert active_services(feed.calendar, feed.calendar_dates, date=TUESDAY) == {"12", "14", "25"}
    assert active_services(feed.calendar, feed.calendar_dates, date=MONDAY) == {"14", "26"}
    assert tuesday.n_stops == 315
    assert (tuesday.n_trips, tuesday.n_patterns) == (24, 13)
    assert monday.n_trips == 25
    sunday = _timetable(feed, SUNDAY)
    assert sunday.n_trips == 0
    # Before the calendar starts nothing runs.
    assert _timetable(feed, dt.date(2018, 5, 1)).n_trips == 0
    # Trips of a pattern are FIFO at every position.
    for p in range(tuesday.n_patterns):
        t0, t1 = tuesday.pattern_trip_ptr[p], tuesday.pattern_trip_ptr[p + 1]
        n = tuesday.pattern_stop_ptr[p + 1] - tuesday.pattern_stop_ptr[p]
        deps = np.stack(
            [tuesday.departure_s[tuesday.trip_time_ptr[t] + np.arange(n)] for t in range(t0, t1)]
        )
        assert (np.diff(deps, axis=0) >= 0).all()


def test_direct_trip_matches_timetable(
    monday: Timetable, raw_stop_times: dict[tuple[str, str], tuple[int, int]]
) -> None:
    # Trip 9956 (route 22): Morrisons 09:55:00 -> Shanklin Bus Station 10:06:00.
    dep_morrisons = raw_stop_times[("9956", MORRISONS)][1]
    arr_shanklin = raw_stop_times[("9956", SHANKLIN_BUS_STATION)][0]
    assert (dep_morrisons, arr_shanklin) == (hms("09:55:00"), hms("10:06:00"))
    # Leaving Morrisons at 09:50 we wait for the 09:55 bus and arrive at 10:06: 16 minutes.
    assert _one(monday, MORRISONS, SHANKLIN_BUS_STATION, hms("09:50:00")) == 960.0
    assert _one(monday, MORRISONS, SHANKLIN_BUS_STATION, dep_morrisons) == 660.0


def test_one_transfer_matches_timetable(
    monday: Timetable, raw_stop_times: dict[tuple[str, str], tuple[int, int]]
) -> None:
    # Merrie Gardens (route 22 only) to Landguard Manor (route 24 only): trip 9956 to
    # Landguard Holiday Village (arr 09:59:09), then trip 9982 from there (dep 10:25:21)
    # to Landguard Manor (arr 10:26:19).
    leave = raw_stop_times[("9956", MERRIE_GARDENS)][1]
    change_arr = raw_stop_times[("9956", LANDGUARD_HOLIDAY_VILLAGE)][0]
    change_dep = raw_stop_times[("9982", LANDGUARD_HOLIDAY_VILLAGE)][1]
    arrive = raw_stop_times[("9982", LANDGUARD_MANOR)][0]
    assert leave == hms("09:57:00")
    assert change_arr + 60 <= change_dep  # the 60 s transfer slack is met
    assert arrive == hms("10:26:19")
    assert _one(monday, MERRIE_GARDENS, LANDGUARD_MANOR, leave) == arrive - leave == 1759
    # Without a transfer it cannot be done.
    assert np.isnan(_one(monday, MERRIE_GARDENS, LANDGUARD_MANOR, leave, max_transfers=0))


def test_impossible_after_last_departure(
    tuesday: Timetable, raw_stop_times: dict[tuple[str, str], tuple[int, int]]
) -> None:
    # Route 37 (Ryde loop): the last departure from Ryde Bus Station is trip 10114 at 17:05.
    loop_trips = {str(t) for t in range(10114, 10124)}  # the route 37 trips
    deps = [
        d
        for (trip, stop), (_, d) in raw_stop_times.items()
        if stop == RYDE_BUS_STATION and trip in loop_trips
    ]
    assert max(deps) == hms("17:05:00")
    k = raw_stop_times[("10114", JOHN_STREET)][0] - hms("17:05:00")
    assert k == 278
    assert _one(tuesday, RYDE_BUS_STATION, JOHN_STREET, hms("17:05:00")) == 278.0
    assert np.isnan(_one(tuesday, RYDE_BUS_STATION, JOHN_STREET, hms("17:05:01")))


def test_window_percentiles_by_hand(tuesday: Timetable) -> None:
    # Hourly loop (09:00, 10:00, ...), 278 s from Ryde Bus Station to John Street. Leaving
    # at 09:00 + m minutes (m = 0..59) takes 278 s for m = 0 and 278 + 3600 - 60 m otherwise:
    # sorted, 278 + 60 i for i = 0..59. Nearest rank: p50 is the 30th, p90 the 54th.
    m = transit_travel_time_matrix(
        tuesday,
        _stop_point(tuesday, RYDE_BUS_STATION),
        _stop_point(tuesday, JOHN_STREET),
        window_start_s=hms("09:00:00"),
        window_end_s=hms("10:00:00"),
        percentiles=(0, 50, 90, 100),
        max_walk_m=0.0,
        walk_speed_m_s=WALK,
        max_transfers=0,
    )
    row = m.iloc[0]
    assert (row.seconds_p0, row.seconds_p50, row.seconds_p90, row.seconds_p100) == (
        278.0,
        278.0 + 29 * 60,
        278.0 + 53 * 60,
        278.0 + 59 * 60,
    )
    assert row.seconds == row.seconds_p50
    assert row["mode"] == "transit"
    meta = m.attrs["metadata"]
    assert meta["window_start"] == "09:00:00"
    assert meta["window_end"] == "10:00:00"
    assert meta["departures"] == 60
    assert meta["step_s"] == 60
    assert meta["service_date"] == "2019-05-14"
    assert meta["weekday"] == "Tuesday"
    assert meta["percentiles"] == [0.0, 50.0, 90.0, 100.0]
    assert meta["walk"] == "straight-line x detour factor"
    assert meta["detour_factor"] == 1.3
    assert meta["walk_speed_m_s"] == WALK
    assert meta["algorithm"] == ALGORITHM
    assert "Delling" in ALGORITHM


def test_rraptor_equals_time_expanded_dijkstra(monday: Timetable) -> None:
    kw = {
        "window_start_s": hms("09:00:00"),
        "window_end_s": hms("10:30:00"),
        "percentiles": (0, 50, 90),
        "max_walk_m": 800.0,
        "walk_speed_m_s": WALK,
        "max_transfers": None,
    }
    fast = transit_travel_time_matrix(monday, "stops", "stops", **kw)
    slow = transit_travel_time_matrix(
        monday, "stops", "stops", engine="time-expanded-dijkstra", **kw
    )
    assert len(fast) == 315 * 315
    for col in ("seconds_p0", "seconds_p50", "seconds_p90"):
        np.testing.assert_array_equal(fast[col].to_numpy(), slow[col].to_numpy())
    # Non-trivial: many pairs reached, and transfers matter for some of them.
    reached = int(fast["seconds_p0"].notna().sum())
    assert reached > 10_000
    direct = transit_travel_time_matrix(monday, "stops", "stops", **(kw | {"max_transfers": 0}))
    assert int(direct["seconds_p0"].notna().sum()) < reached
    # Diagonal: a stop to itself is 0 s.
    diag = fast[fast.from_id == fast.to_id]
    assert (diag["seconds_p50"] == 0).all()


def test_walk_only_and_walk_network(tuesday: Timetable) -> None:
    # Two points 100 m apart far from any stop (in the sea south of the island).
    pts = pd.DataFrame({"id": ["a", "b"], "x": [450_000.0, 450_100.0], "y": [60_000.0] * 2})
    kw = {
        "window_start_s": hms("07:00:00"),
        "window_end_s": hms("10:00:00"),
        "max_walk_m": 800.0,
        "walk_speed_m_s": 1.25,
    }
    m = transit_travel_time_matrix(tuesday, pts.iloc[[0]], pts.iloc[[1]], **kw)
    assert m["seconds"].iloc[0] == 104.0  # 100 m x 1.3 / 1.25 m/s
    calls: list[int] = []

    def network(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        calls.append(len(a))
        return np.hypot(*(a - b).T) * 3.0

    m = transit_travel_time_matrix(
        tuesday, pts.iloc[[0]], pts.iloc[[1]], walk_distance_fn=network, **kw
    )
    assert calls
    assert m["seconds"].iloc[0] == 240.0
    assert m.attrs["metadata"]["walk"] == "network"
    assert m.attrs["metadata"]["detour_factor"] is None
    m = transit_travel_time_matrix(
        tuesday, pts.iloc[[0]], pts.iloc[[1]], **(kw | {"max_walk_m": 50.0})
    )
    assert np.isnan(m["seconds"].iloc[0])
    # A GeoDataFrame in WGS84 is reprojected; ids come from the id column.
    gdf = gpd.GeoDataFrame(
        {"id": ["a", "b"]}, geometry=gpd.points_from_xy(pts.x, pts.y), crs=27700
    ).to_crs(4326)
    m = transit_travel_time_matrix(tuesday, gdf, gdf, **kw)
    assert list(m.from_id) == ["a", "a", "b", "b"]
    assert m["seconds"].tolist() == [0.0, 104.0, 104.0, 0.0]


def test_bad_arguments(tuesday: Timetable) -> None:
    kw = {"window_start_s": 3600, "max_walk_m": 100.0, "walk_speed_m_s": 1.0}
    with pytest.raises(ValueError, match="window_end_s"):
        transit_travel_time_matrix(tuesday, "stops", "stops", window_end_s=3600, **kw)
    with pytest.raises(ValueError, match="max_transfers=None"):
        transit_travel_time_matrix(
            tuesday, "stops", "stops", window_end_s=7200, engine="time-expanded-dijkstra", **kw
        )
    with pytest.raises(ValueError, match="percentiles"):
        transit_travel_time_matrix(
            tuesday, "stops", "stops", window_end_s=7200, percentiles=(120,), **kw
        )
    with pytest.raises(ValueError, match="detour_factor"):
        transit_travel_time_matrix(
            tuesday, "stops", "stops", window_end_s=7200, detour_factor=0.5, **kw
        )
    with pytest.raises(ValueError, match="id, x, y"):
        transit_travel_time_matrix(
            tuesday, pd.DataFrame({"x": [1.0]}), "stops", window_end_s=7200, **kw
        )


def test_stop_times_and_isochrone(tuesday: Timetable) -> None:
    i = tuesday.stop_index(RYDE_BUS_STATION)
    origin = (float(tuesday.stop_x[i]), float(tuesday.stop_y[i]))
    kw = {
        "window_start_s": hms("09:00:00"),
        "window_end_s": hms("10:00:00"),
        "max_walk_m": 0.0,
        "walk_speed_m_s": WALK,
    }
    times = transit_stop_times(tuesday, origin, percentiles=(50,), **kw)
    by_id = times.set_index("stop_id")["seconds_p50"]
    assert by_id[JOHN_STREET] == 278.0 + 29 * 60  # as in the window test
    assert np.isnan(by_id[MORRISONS])  # another town, other routes
    iso = transit_isochrone(
        tuesday,
        origin,
        bands_s=(900, 1800, 2700),
        percentile=50,
        **(kw | {"max_walk_m": 800.0}),
    )
    assert list(iso.band_s) == [900, 1800, 2700]
    assert iso.crs.to_epsg() == 27700
    geoms = list(iso.geometry)
    assert geoms[1].contains(geoms[0])
    assert geoms[2].contains(geoms[1])
    assert list(iso.n_stops) == sorted(iso.n_stops)
    assert iso.n_stops.iloc[-1] > 0
    # Band 1 at least the walk disc: 800 m / 1.3 radius around the origin.
    disc = shapely.Point(origin).buffer(800 / 1.3, quad_segs=16)
    assert geoms[0].buffer(1e-6).contains(disc)
    assert geoms[2].area > geoms[0].area
    meta = iso.attrs["metadata"]
    assert meta["percentiles"] == [50.0]
    assert meta["window_start"] == "09:00:00"
    assert "walk discs" in meta["isochrone_method"]


def test_synthetic_overtaking_after_midnight_and_exceptions() -> None:
    # Three stops 10 km apart on one route; the 08:05 express overtakes the 08:00 stopper,
    # so RAPTOR needs them in separate patterns. A Monday trip runs past midnight.
    stops = pd.DataFrame(
        {"stop_id": ["A", "B", "C"], "x": [0.0, 10_000.0, 20_000.0], "y": [0.0, 0.0, 0.0]}
    )
    routes = pd.DataFrame({"route_id": ["r"]})
    trips = pd.DataFrame(
        {
            "route_id": ["r", "r", "r"],
            "service_id": ["wk", "wk", "mon"],
            "trip_id": ["slow", "fast", "late"],
        }
    )
    stop_times = pd.DataFrame(
        {
            "trip_id": ["slow"] * 3 + ["fast"] * 3 + ["late"] * 2,
            "stop_id": ["A", "B", "C", "A", "B", "C", "A", "B"],
            "stop_sequence": [1, 2, 3, 1, 2, 3, 1, 2],
            "arrival_time": [
                "08:00:00", "08:30:00", "09:00:00",
                "08:05:00", "08:15:00", "08:25:00",
                "24:30:00", "25:00:00",
            ],
            "departure_time": [
                "08:00:00", "08:30:00", "09:00:00",
                "08:05:00", "08:15:00", "08:25:00",
                "24:30:00", "25:00:00",
            ],
        }
    )  # fmt: skip
    calendar = pd.DataFrame(
        {
            "service_id": ["wk", "mon"],
            "monday": [1, 1], "tuesday": [1, 0], "wednesday": [1, 0], "thursday": [1, 0],
            "friday": [1, 0], "saturday": [0, 0], "sunday": [0, 0],
            "start_date": ["20190101", "20190101"],
            "end_date": ["20191231", "20191231"],
        }
    )  # fmt: skip
    calendar_dates = pd.DataFrame(
        {"service_id": ["wk"], "date": ["20190515"], "exception_type": [2]}
    )
    args = (stops, trips, stop_times, routes, calendar, calendar_dates)
    tue = build_timetable(*args, date=TUESDAY)
    assert (tue.n_trips, tue.n_patterns) == (3, 3)  # slow, fast split; late (shifted)
    assert sorted(tue.trip_ids) == ["fast", "late@-1", "slow"]
    kw = {"max_walk_m": 0.0, "walk_speed_m_s": WALK}
    a, c, b = _stop_point(tue, "A"), _stop_point(tue, "C"), _stop_point(tue, "B")
    m = transit_travel_time_matrix(
        tue, a, c, window_start_s=hms("08:00:00"), window_end_s=hms("08:00:01"), **kw
    )
    assert m["seconds"].iloc[0] == 1500.0  # the express, not the stopper (3600 s)
    m = transit_travel_time_matrix(
        tue, a, b, window_start_s=hms("00:20:00"), window_end_s=hms("00:20:01"), **kw
    )
    assert m["seconds"].iloc[0] == 2400.0  # Monday's 24:30 trip, at 00:30 on Tuesday
    # Wednesday 2019-05-15: the weekday service is removed by calendar_dates.
    assert active_services(calendar, calendar_dates, date=dt.date(2019, 5, 15)) == set()
    assert build_timetable(*args, date=dt.date(2019, 5, 15)).n_trips == 0
