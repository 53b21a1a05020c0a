"""A compact, array-based timetable for one service date, built from GTFS DataFrames.

RAPTOR works on *routes* in its own sense: sets of trips that visit exactly the same sequence
of stops (with the same pickup/drop-off rules) and never overtake one another. GTFS
``route_id`` groups do not guarantee either, so trips are regrouped into such *patterns* here.
Everything the search needs is kept as flat numpy arrays (CSR layouts) so numba kernels can
walk it without Python objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from spatial.crs import wgs84_to_bng

DAY_S = 86_400
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class Timetable:
    """Trips running on one service date, as flat arrays.

    Stops are indexed ``0..n_stops-1``, patterns ``0..n_patterns-1`` and trips
    ``0..n_trips-1`` (trips of a pattern are contiguous and sorted by departure).

    Attributes
    ----------
    service_date : datetime.date
        The date the timetable is for; times are seconds after midnight of this date
        (trips of the previous service day running past midnight are included, shifted by
        -86,400 s).
    stop_ids : numpy.ndarray of object
        GTFS ``stop_id`` per stop index.
    stop_x, stop_y : numpy.ndarray of float64
        Stop coordinates, British National Grid (EPSG:27700), metres.
    pattern_route_ids : numpy.ndarray of object
        GTFS ``route_id`` of each pattern.
    pattern_stop_ptr : numpy.ndarray of int64
        CSR offsets (length ``n_patterns + 1``) into ``pattern_stops``.
    pattern_stops : numpy.ndarray of int64
        Stop index at each position of each pattern.
    pattern_board, pattern_alight : numpy.ndarray of bool
        Whether passengers may board / alight at each pattern position.
    pattern_trip_ptr : numpy.ndarray of int64
        CSR offsets (length ``n_patterns + 1``) into the trip arrays.
    trip_ids : numpy.ndarray of object
        GTFS ``trip_id`` per trip index.
    trip_time_ptr : numpy.ndarray of int64
        Offset of each trip's first stop event in ``arrival_s``/``departure_s``.
    arrival_s, departure_s : numpy.ndarray of int64
        Arrival and departure at each stop event, seconds after midnight.
    stop_pattern_ptr : numpy.ndarray of int64
        CSR offsets (length ``n_stops + 1``) into ``stop_pattern``/``stop_pattern_pos``.
    stop_pattern, stop_pattern_pos : numpy.ndarray of int64
        For each stop, the patterns serving it and the position within each (a pattern that
        loops lists the stop once per visit).
    """

    service_date: dt.date
    stop_ids: NDArray[np.object_]
    stop_x: FloatArray
    stop_y: FloatArray
    pattern_route_ids: NDArray[np.object_]
    pattern_stop_ptr: IntArray
    pattern_stops: IntArray
    pattern_board: BoolArray
    pattern_alight: BoolArray
    pattern_trip_ptr: IntArray
    trip_ids: NDArray[np.object_]
    trip_time_ptr: IntArray
    arrival_s: IntArray
    departure_s: IntArray
    stop_pattern_ptr: IntArray
    stop_pattern: IntArray
    stop_pattern_pos: IntArray

    @property
    def n_stops(self) -> int:
        """Number of stops."""
        return len(self.stop_ids)

    @property
    def n_patterns(self) -> int:
        """Number of RAPTOR routes (patterns)."""
        return len(self.pattern_route_ids)

    @property
    def n_trips(self) -> int:
        """Number of trips running on the service date."""
        return len(self.trip_ids)

    def stop_index(self, stop_id: str) -> int:
        """Index of a GTFS ``stop_id``; raises KeyError when absent."""
        hits = np.flatnonzero(self.stop_ids == stop_id)
        if len(hits) == 0:
            raise KeyError(f"stop_id {stop_id!r} not in timetable")
        return int(hits[0])


def _dates(col: pd.Series) -> pd.Series:
    out: pd.Series
    if pd.api.types.is_datetime64_any_dtype(col):
        out = col.dt.normalize()
    else:
        out = pd.to_datetime(col.astype(str), format="%Y%m%d")
    return out


def active_services(
    calendar: pd.DataFrame, calendar_dates: pd.DataFrame, *, date: dt.date
) -> set[str]:
    """Service ids running on a date: calendar weekday and date range, then exceptions.

    Parameters
    ----------
    calendar : pandas.DataFrame
        GTFS calendar.txt (``service_id``, weekday flags, ``start_date``, ``end_date`` as
        ``datetime64`` or ``YYYYMMDD`` strings); may be empty.
    calendar_dates : pandas.DataFrame
        GTFS calendar_dates.txt (``service_id``, ``date``, ``exception_type``: 1 added,
        2 removed); may be empty.
    date : datetime.date
        The service date.

    Returns
    -------
    set of str
        The active ``service_id`` values.
    """
    day = pd.Timestamp(date)
    active: set[str] = set()
    if len(calendar):
        flag = pd.to_numeric(calendar[_WEEKDAYS[date.weekday()]]).astype(int) == 1
        start, end = _dates(calendar["start_date"]), _dates(calendar["end_date"])
        runs = flag & (start <= day) & (end >= day)
        active = set(calendar.loc[runs, "service_id"].astype(str))
    if len(calendar_dates):
        on = _dates(calendar_dates["date"]) == day
        exc = pd.to_numeric(calendar_dates["exception_type"]).astype(int)
        active |= set(calendar_dates.loc[on & (exc == 1), "service_id"].astype(str))
        active -= set(calendar_dates.loc[on & (exc == 2), "service_id"].astype(str))
    return active


def _stop_xy(stops: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    if {"x", "y"} <= set(stops.columns):
        return (
            stops["x"].to_numpy(dtype=np.float64),
            stops["y"].to_numpy(dtype=np.float64),
        )
    x, y = wgs84_to_bng(
        pd.to_numeric(stops["stop_lon"]).to_numpy(dtype=np.float64),
        pd.to_numeric(stops["stop_lat"]).to_numpy(dtype=np.float64),
    )
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


def _seconds(st: pd.DataFrame, col: str) -> IntArray:
    if f"{col}_s" in st.columns:
        return st[f"{col}_s"].to_numpy(dtype=np.int64)
    parts = st[f"{col}_time"].astype(str).str.split(":", expand=True).astype(np.int64)
    return (parts[0] * 3600 + parts[1] * 60 + parts[2]).to_numpy(dtype=np.int64)


def _flags(st: pd.DataFrame, col: str) -> BoolArray:
    """True where pickup/drop-off is allowed (GTFS type blank, 0, 2 or 3; 1 = not allowed)."""
    if col not in st.columns:
        return np.ones(len(st), dtype=np.bool_)
    raw = pd.to_numeric(st[col].replace("", "0"), errors="coerce").fillna(0)
    out: BoolArray = (raw.to_numpy() != 1).astype(np.bool_)
    return out


def build_timetable(
    stops: pd.DataFrame,
    trips: pd.DataFrame,
    stop_times: pd.DataFrame,
    routes: pd.DataFrame,
    calendar: pd.DataFrame,
    calendar_dates: pd.DataFrame,
    *,
    date: dt.date,
) -> Timetable:
    """Build the RAPTOR timetable of the trips running on one date.

    Parameters
    ----------
    stops : pandas.DataFrame
        ``stop_id`` plus ``x``/``y`` (EPSG:27700 metres) or ``stop_lon``/``stop_lat`` (WGS84
        degrees, projected here). Every stop becomes a timetable stop.
    trips : pandas.DataFrame
        ``trip_id``, ``route_id``, ``service_id``.
    stop_times : pandas.DataFrame
        ``trip_id``, ``stop_id``, ``stop_sequence`` and either ``arrival_s``/``departure_s``
        (integer seconds after midnight) or ``arrival_time``/``departure_time`` (``H:MM:SS``,
        all filled); optional ``pickup_type``/``drop_off_type``.
    routes : pandas.DataFrame
        ``route_id`` (used to check trips' routes exist).
    calendar, calendar_dates : pandas.DataFrame
        GTFS calendars (either may be empty), see :func:`active_services`.
    date : datetime.date
        Service date. Trips of ``date`` and, for times after midnight (>= 24:00:00), of the
        day before are included.

    Returns
    -------
    Timetable
        Patterns, trips and stop events as flat arrays, times in seconds after midnight.

    Raises
    ------
    ValueError
        When stop_times refer to stops or trips not given, or trips to unknown routes.
    """
    stop_ids = stops["stop_id"].astype(str).to_numpy(dtype=object)
    x, y = _stop_xy(stops)
    stop_index = pd.Series(np.arange(len(stop_ids), dtype=np.int64), index=stop_ids)
    if stop_index.index.has_duplicates:
        raise ValueError("duplicate stop_id in stops")
    route_set = set(routes["route_id"].astype(str))
    trips = trips.assign(
        trip_id=trips["trip_id"].astype(str),
        route_id=trips["route_id"].astype(str),
        service_id=trips["service_id"].astype(str),
    )
    unknown_routes = set(trips["route_id"]) - route_set
    if unknown_routes:
        raise ValueError(f"trips refer to unknown route_id(s) {sorted(unknown_routes)[:5]}")

    today = active_services(calendar, calendar_dates, date=date)
    yesterday = active_services(calendar, calendar_dates, date=date - dt.timedelta(days=1))
    st = stop_times.assign(
        trip_id=stop_times["trip_id"].astype(str),
        stop_id=stop_times["stop_id"].astype(str),
        _arr=_seconds(stop_times, "arrival"),
        _dep=_seconds(stop_times, "departure"),
        _board=_flags(stop_times, "pickup_type"),
        _alight=_flags(stop_times, "drop_off_type"),
        _seq=pd.to_numeric(stop_times["stop_sequence"]).astype(np.int64),
    )
    missing_stops = set(st["stop_id"]) - set(stop_ids)
    if missing_stops:
        raise ValueError(f"stop_times refer to unknown stop_id(s) {sorted(missing_stops)[:5]}")
    missing_trips = set(st["trip_id"]) - set(trips["trip_id"])
    if missing_trips:
        raise ValueError(f"stop_times refer to unknown trip_id(s) {sorted(missing_trips)[:5]}")

    parts = []
    t_today = trips.loc[trips["service_id"].isin(today), ["trip_id", "route_id"]]
    parts.append(st[st["trip_id"].isin(t_today["trip_id"])].assign(_shift=0))
    t_prev = trips.loc[trips["service_id"].isin(yesterday), ["trip_id", "route_id"]]
    prev = st[st["trip_id"].isin(t_prev["trip_id"])]
    late = prev.groupby("trip_id")["_dep"].transform("max") >= DAY_S
    parts.append(prev[late].assign(_shift=DAY_S, trip_id=prev.loc[late, "trip_id"] + "@-1"))
    st = pd.concat(parts, ignore_index=True)
    st["_arr"] -= st["_shift"]
    st["_dep"] -= st["_shift"]
    route_of: dict[str, str] = dict(zip(trips["trip_id"], trips["route_id"], strict=True))
    st = st.sort_values(["trip_id", "_seq"], kind="stable").reset_index(drop=True)

    # One record per trip: its pattern key and its times.
    trip_col = st["trip_id"].to_numpy(dtype=object)
    starts: IntArray = (
        np.flatnonzero(np.r_[True, trip_col[1:] != trip_col[:-1]])
        if len(st)
        else np.zeros(0, dtype=np.int64)
    )
    bounds = np.r_[starts, len(st)].astype(np.int64)
    s_idx = stop_index.loc[st["stop_id"]].to_numpy(dtype=np.int64)
    arr_all = st["_arr"].to_numpy(dtype=np.int64)
    dep_all = st["_dep"].to_numpy(dtype=np.int64)
    board_all = st["_board"].to_numpy(dtype=np.bool_)
    alight_all = st["_alight"].to_numpy(dtype=np.bool_)
    groups: dict[tuple[str, bytes, bytes, bytes], list[int]] = {}
    for t in range(len(bounds) - 1):
        a, b = bounds[t], bounds[t + 1]
        if b - a < 2:
            continue  # a trip with one stop carries nobody anywhere
        tid = str(trip_col[a])
        key = (
            route_of[tid.removesuffix("@-1")],
            s_idx[a:b].tobytes(),
            board_all[a:b].tobytes(),
            alight_all[a:b].tobytes(),
        )
        groups.setdefault(key, []).append(t)

    # Split each group into non-overtaking patterns (FIFO at every position).
    patterns: list[tuple[str, list[int]]] = []
    for key, members in groups.items():
        members.sort(key=lambda t: (dep_all[bounds[t]], arr_all[bounds[t + 1] - 1]))
        subs: list[list[int]] = []
        for t in members:
            a, b = bounds[t], bounds[t + 1]
            for sub in subs:
                last = sub[-1]
                la, lb = bounds[last], bounds[last + 1]
                if np.all(dep_all[la:lb] <= dep_all[a:b]) and np.all(
                    arr_all[la:lb] <= arr_all[a:b]
                ):
                    sub.append(t)
                    break
            else:
                subs.append([t])
        patterns.extend((key[0], sub) for sub in subs)

    pattern_stop_ptr = [0]
    pattern_trip_ptr = [0]
    p_stops: list[IntArray] = []
    p_board: list[BoolArray] = []
    p_alight: list[BoolArray] = []
    trip_ids: list[str] = []
    trip_time_ptr: list[int] = []
    arr_parts: list[IntArray] = []
    dep_parts: list[IntArray] = []
    offset = 0
    for _, sub in patterns:
        a0, b0 = bounds[sub[0]], bounds[sub[0] + 1]
        p_stops.append(s_idx[a0:b0])
        p_board.append(board_all[a0:b0])
        p_alight.append(alight_all[a0:b0])
        pattern_stop_ptr.append(pattern_stop_ptr[-1] + int(b0 - a0))
        for t in sub:
            a, b = bounds[t], bounds[t + 1]
            trip_ids.append(str(trip_col[a]))
            trip_time_ptr.append(offset)
            arr_parts.append(arr_all[a:b])
            dep_parts.append(dep_all[a:b])
            offset += int(b - a)
        pattern_trip_ptr.append(pattern_trip_ptr[-1] + len(sub))

    def cat_i(parts_: list[IntArray]) -> IntArray:
        return np.concatenate(parts_).astype(np.int64) if parts_ else np.zeros(0, np.int64)

    def cat_b(parts_: list[BoolArray]) -> BoolArray:
        return np.concatenate(parts_).astype(np.bool_) if parts_ else np.zeros(0, np.bool_)

    pattern_stops = cat_i(p_stops)
    ptr = np.asarray(pattern_stop_ptr, dtype=np.int64)
    pat_of_pos = np.repeat(np.arange(len(patterns), dtype=np.int64), np.diff(ptr))
    pos_in_pat = np.arange(len(pattern_stops), dtype=np.int64) - ptr[pat_of_pos]
    order = np.lexsort((pos_in_pat, pat_of_pos, pattern_stops))
    counts = np.bincount(pattern_stops, minlength=len(stop_ids)).astype(np.int64)
    return Timetable(
        service_date=date,
        stop_ids=stop_ids,
        stop_x=x,
        stop_y=y,
        pattern_route_ids=np.asarray([p[0] for p in patterns], dtype=object),
        pattern_stop_ptr=ptr,
        pattern_stops=pattern_stops,
        pattern_board=cat_b(p_board),
        pattern_alight=cat_b(p_alight),
        pattern_trip_ptr=np.asarray(pattern_trip_ptr, dtype=np.int64),
        trip_ids=np.asarray(trip_ids, dtype=object),
        trip_time_ptr=np.asarray(trip_time_ptr, dtype=np.int64),
        arrival_s=cat_i(arr_parts),
        departure_s=cat_i(dep_parts),
        stop_pattern_ptr=np.r_[0, np.cumsum(counts)].astype(np.int64),
        stop_pattern=pat_of_pos[order],
        stop_pattern_pos=pos_in_pat[order],
    )
