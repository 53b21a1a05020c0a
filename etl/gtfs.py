"""Read and validate a GTFS feed (a ``.zip`` or an unzipped folder) into pandas DataFrames.

:func:`read_gtfs` is pure file → data: it opens the feed, checks it and returns a
:class:`GtfsFeed` with times parsed to seconds after midnight and stops projected to British
National Grid (EPSG:27700). The database load is written around it elsewhere.

A broken feed is rejected as a whole with :class:`GtfsError` (a ``ValueError``); its
``problems`` list every defect found (up to :data:`MAX_PROBLEMS`), each naming the file, the row
(the line number in that file as a text editor shows it, the header being line 1) and the
problem. The checks follow the GTFS Schedule reference (https://gtfs.org/schedule/reference/):

* bounded reading (:class:`GtfsLimits`): the sizes and compression ratio the zip's headers
  declare are checked before anything is decompressed, then every member is counted while it
  is read (headers can lie) against the per-file and total sizes, the ratio, the rows and the
  header's columns, so a zip bomb is refused in seconds with little memory;
* a readable zip (not truncated, no bad CRC) holding stops.txt, routes.txt, trips.txt,
  stop_times.txt and calendar.txt and/or calendar_dates.txt, each UTF-8 with a header row;
* the required columns of each file, unique ids, numeric coordinates in range and in the area
  British National Grid covers;
* references: trips → routes and services, stop_times → trips and stops;
* times ``H:MM:SS`` (hours may exceed 24 but must stay below :data:`MAX_SERVICE_TIME_S`,
  48:00:00), first and last stop of a trip timed, and within a
  trip no arrival before the previous departure and no departure before its own arrival;
* calendars: valid ``YYYYMMDD`` dates, end not before start, weekday flags 0/1, and every
  service running on at least one day (weekday flags or an added date).

Untimed intermediate stops (allowed by GTFS) get times interpolated linearly between the
timed stops around them (flag ``interpolated``); consumers never see missing times.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from config.settings import TransitSettings
from etl.gtfs_archive import MAX_PROBLEMS, GtfsError, GtfsLimits, read_members
from spatial.crs import AREA_OF_USE, BNG, wgs84_to_bng

__all__ = [
    "MAX_PROBLEMS",
    "MAX_SERVICE_TIME_S",
    "FeedVintage",
    "GtfsError",
    "GtfsFeed",
    "GtfsLimits",
    "feed_vintage",
    "read_gtfs",
]

#: Service-day times must be below this (48:00:00). GTFS counts times from the service day's
#: noon minus 12 h and allows hours past 24 for trips after midnight; a time two days on is
#: an error in the feed, not a late trip.
MAX_SERVICE_TIME_S = 48 * 3600

REQUIRED_FILES = ("stops.txt", "routes.txt", "trips.txt", "stop_times.txt")
CALENDAR_FILES = ("calendar.txt", "calendar_dates.txt")
OPTIONAL_FILES = ("agency.txt", "feed_info.txt")
ALL_FILES = REQUIRED_FILES + CALENDAR_FILES + OPTIONAL_FILES
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "agency.txt": ("agency_name",),
    "stops.txt": ("stop_id", "stop_lat", "stop_lon"),
    "routes.txt": ("route_id",),
    "trips.txt": ("route_id", "service_id", "trip_id"),
    "stop_times.txt": ("trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"),
    "calendar.txt": ("service_id", *WEEKDAYS, "start_date", "end_date"),
    "calendar_dates.txt": ("service_id", "date", "exception_type"),
    "feed_info.txt": (),
}

_TIME_RE = re.compile(r"^\s*(\d{1,3}):([0-5]\d):([0-5]\d)\s*$")
_DATE_RE = re.compile(r"^\d{8}$")


@dataclass(frozen=True)
class FeedVintage:
    """What period a feed describes, and when it was published.

    Attributes
    ----------
    start_date, end_date : datetime.date
        Service period: from feed_info.txt (``feed_start_date``/``feed_end_date``) when given,
        otherwise the earliest calendar start / calendar_dates date and the latest calendar
        end / calendar_dates date.
    source : str
        ``"feed_info"`` or ``"calendar"``: where the dates came from.
    feed_version : str or None
        ``feed_info.feed_version`` when present.
    publisher : str or None
        ``feed_info.feed_publisher_name`` when present, else the agency names joined by ``"; "``.
    files_modified : datetime.datetime or None
        Latest modification time stamped on the feed's files in the zip (local time, naive).
    """

    start_date: dt.date
    end_date: dt.date
    source: str
    feed_version: str | None = None
    publisher: str | None = None
    files_modified: dt.datetime | None = None


@dataclass(frozen=True)
class GtfsFeed:
    """A validated GTFS feed: one DataFrame per file (all id columns are strings).

    Attributes
    ----------
    agency : pandas.DataFrame
        agency.txt as read (empty with no columns when the file is absent).
    stops : pandas.DataFrame
        stops.txt plus ``stop_lat``/``stop_lon`` as float (WGS84 degrees) and ``x``/``y``:
        British National Grid (EPSG:27700) easting/northing in metres (NaN for stops without
        coordinates, allowed for location types 3 and 4).
    routes, trips : pandas.DataFrame
        routes.txt and trips.txt as read (``route_type`` as Int64 when present).
    stop_times : pandas.DataFrame
        stop_times.txt sorted by trip and ``stop_sequence`` (int), plus ``arrival_s`` and
        ``departure_s`` (int64 seconds after midnight of the service day, may exceed 86,400)
        and ``interpolated`` (bool, True where GTFS left the time blank).
    calendar : pandas.DataFrame
        calendar.txt with weekday flags as int and ``start_date``/``end_date`` as
        ``datetime64`` (empty with these columns when the file is absent).
    calendar_dates : pandas.DataFrame
        calendar_dates.txt with ``date`` as ``datetime64`` and ``exception_type`` as int
        (1 = service added, 2 = removed); empty with these columns when absent.
    feed_info : pandas.DataFrame
        feed_info.txt as read (empty when absent).
    vintage : FeedVintage
        The period the feed covers; see :func:`feed_vintage`.
    path : str
        Where the feed was read from.
    """

    agency: pd.DataFrame
    stops: pd.DataFrame
    routes: pd.DataFrame
    trips: pd.DataFrame
    stop_times: pd.DataFrame
    calendar: pd.DataFrame
    calendar_dates: pd.DataFrame
    feed_info: pd.DataFrame
    vintage: FeedVintage
    path: str
    files_modified: dt.datetime | None = field(default=None, repr=False)


# ---------------------------------------------------------------------------- reading


def _read_csv(name: str, raw: bytes | bytearray, problems: list[str]) -> pd.DataFrame | None:
    """One GTFS file as all-string columns (blank = ''), header names stripped; None when it
    cannot be read (the problem recorded). An empty optional file reads as no columns."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        body, start = exc.object, exc.start  # the text after any byte-order mark
        line = body.count(b"\n", 0, start) + 1
        column = start - (body.rfind(b"\n", 0, start) + 1) + 1
        problems.append(
            f"{_row(name, line)}: not UTF-8 text (byte 0x{body[start]:02x} at byte {column} "
            "of the line; GTFS files must be UTF-8)"
        )
        return None
    if not text.strip():
        if name not in REQUIRED_FILES:
            return pd.DataFrame()
        problems.append(f"{name}: empty file (no header row)")
        return None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        problems.append(f"{name}: unreadable CSV ({exc})")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    for col in df.columns:
        df[col] = df[col].str.strip()
    # Line number in the file as an editor shows it (header is line 1).
    df["_line"] = np.arange(2, len(df) + 2, dtype=np.int64)
    return df


def _row(name: str, line: object) -> str:
    return f"{name} row {line}"


def _check_columns(name: str, df: pd.DataFrame, problems: list[str]) -> bool:
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in df.columns]
    if missing:
        problems.append(f"{name}: missing required column(s) {', '.join(missing)}")
        return False
    return True


def _check_unique(name: str, df: pd.DataFrame, cols: list[str], problems: list[str]) -> None:
    dup = df[df.duplicated(cols, keep="first")]
    for line, *vals in dup[["_line", *cols]].itertuples(index=False):
        key = ", ".join(f"{c} {v!r}" for c, v in zip(cols, vals, strict=True))
        problems.append(f"{_row(name, line)}: duplicate {key}")
    for col in cols:
        blank = df[df[col] == ""]
        for line in blank["_line"]:
            problems.append(f"{_row(name, line)}: {col} is empty")


def _check_refs(
    name: str,
    df: pd.DataFrame,
    col: str,
    known: set[str],
    target: str,
    problems: list[str],
) -> None:
    bad = df[~df[col].isin(known)]
    for line, val in bad[["_line", col]].itertuples(index=False):
        problems.append(f"{_row(name, line)}: unknown {col} {val!r} (not in {target})")


def _parse_times(name: str, df: pd.DataFrame, col: str, problems: list[str]) -> np.ndarray:
    """Seconds after midnight as float (NaN for blank); malformed values become problems."""
    values = df[col].to_numpy(dtype=object)
    out = np.full(len(values), np.nan)
    parts = df[col].str.extract(_TIME_RE)
    ok = parts[0].notna().to_numpy()
    h = pd.to_numeric(parts[0][ok]).to_numpy(dtype=np.float64)
    m = pd.to_numeric(parts[1][ok]).to_numpy(dtype=np.float64)
    s = pd.to_numeric(parts[2][ok]).to_numpy(dtype=np.float64)
    out[ok] = h * 3600 + m * 60 + s
    lines = df["_line"].to_numpy()
    bad = ~ok & (values != "")
    for line, val in zip(lines[bad], values[bad], strict=True):
        problems.append(f"{_row(name, line)}: malformed {col} {val!r} (expected H:MM:SS)")
    late = out >= MAX_SERVICE_TIME_S  # NaN compares False
    for line, val in zip(lines[late], values[late], strict=True):
        problems.append(
            f"{_row(name, line)}: {col} {val!r} is not before {_fmt(MAX_SERVICE_TIME_S)} "
            "(hours past 24 are for trips after midnight, not days later)"
        )
    return out


def _parse_dates(name: str, df: pd.DataFrame, col: str, problems: list[str]) -> pd.Series:
    raw = df[col]
    parsed = pd.to_datetime(raw.where(raw.str.match(_DATE_RE)), format="%Y%m%d", errors="coerce")
    for line, val in df.loc[parsed.isna(), ["_line", col]].itertuples(index=False):
        problems.append(f"{_row(name, line)}: bad {col} {val!r} (expected YYYYMMDD)")
    return parsed


def _parse_int(
    name: str,
    df: pd.DataFrame,
    col: str,
    problems: list[str],
    *,
    allowed: set[int] | None = None,
    blank: int | None = None,
) -> pd.Series:
    raw = df[col]
    if blank is not None:
        raw = raw.where(raw != "", str(blank))
    num = pd.to_numeric(raw, errors="coerce")
    bad = num.isna() | (num != num.round())
    if allowed is not None:
        bad |= ~num.isin(list(allowed))
    expect = f"one of {sorted(allowed)}" if allowed is not None else "an integer"
    for line, val in df.loc[bad, ["_line", col]].itertuples(index=False):
        problems.append(f"{_row(name, line)}: bad {col} {val!r} (expected {expect})")
    return num.fillna(0).astype(np.int64)


def _interpolate_times(arr: np.ndarray, dep: np.ndarray, trip_start: np.ndarray) -> np.ndarray:
    """Fill NaN arrival/departure pairs linearly by position between timed stops of each trip."""
    filled = np.isnan(arr) & np.isnan(dep)
    arr = np.where(np.isnan(arr), dep, arr)
    dep = np.where(np.isnan(dep), arr, dep)
    if filled.any():
        n = len(arr)
        idx = np.arange(n)
        group = np.cumsum(trip_start) - 1
        for g in np.unique(group[filled]):
            sel = idx[group == g]
            known = ~np.isnan(arr[sel])
            if known.sum() < 2:
                continue
            arr[sel] = np.interp(sel, sel[known], arr[sel][known])
            dep[sel] = np.where(np.isnan(dep[sel]), arr[sel], dep[sel])
    return np.stack([arr, dep])


def _stop_times(st: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    name = "stop_times.txt"
    seq = pd.to_numeric(st["stop_sequence"], errors="coerce")
    bad_seq = seq.isna() | (seq < 0) | (seq != seq.round())
    for line, val in st.loc[bad_seq, ["_line", "stop_sequence"]].itertuples(index=False):
        problems.append(f"{_row(name, line)}: bad stop_sequence {val!r} (expected integer >= 0)")
    st = st.assign(stop_sequence=seq.fillna(-1).astype(np.int64))
    _check_unique(name, st, ["trip_id", "stop_sequence"], problems)
    arr = _parse_times(name, st, "arrival_time", problems)
    dep = _parse_times(name, st, "departure_time", problems)
    order = np.lexsort((st["stop_sequence"].to_numpy(), st["trip_id"].to_numpy()))
    st = st.iloc[order].reset_index(drop=True)
    arr, dep = arr[order], dep[order]
    trip = st["trip_id"].to_numpy()
    lines = st["_line"].to_numpy()
    start = np.ones(len(st), dtype=bool)
    start[1:] = trip[1:] != trip[:-1]
    end = np.ones(len(st), dtype=bool)
    end[:-1] = start[1:]
    untimed_end = (start | end) & np.isnan(arr) & np.isnan(dep)
    raw_blank = (st["arrival_time"] == "") & (st["departure_time"] == "")
    for line in lines[untimed_end & raw_blank.to_numpy()]:
        problems.append(f"{_row(name, line)}: first/last stop of a trip has no time")
    interpolated = (np.isnan(arr) & np.isnan(dep)) & ~untimed_end
    arr, dep = _interpolate_times(arr, dep, start)
    # Within a trip: departure >= own arrival; arrival >= previous departure.
    own = dep < arr
    for line, a, d in zip(lines[own], arr[own], dep[own], strict=True):
        problems.append(
            f"{_row(name, line)}: departure_time {_fmt(d)} before its arrival_time {_fmt(a)}"
        )
    prev = np.zeros(len(st), dtype=bool)
    prev[1:] = ~start[1:] & (arr[1:] < dep[:-1])
    for i in np.flatnonzero(prev):
        problems.append(
            f"{_row(name, lines[i])}: times out of order in trip {trip[i]!r}: arrival "
            f"{_fmt(arr[i])} before the previous stop's departure {_fmt(dep[i - 1])} "
            f"(row {lines[i - 1]})"
        )
    st["arrival_s"] = np.nan_to_num(arr, nan=-1).astype(np.int64)
    st["departure_s"] = np.nan_to_num(dep, nan=-1).astype(np.int64)
    st["interpolated"] = interpolated
    return st


def _fmt(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _stops(stops: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    name = "stops.txt"
    _check_unique(name, stops, ["stop_id"], problems)
    ltype = (
        pd.to_numeric(
            stops["location_type"].where(stops["location_type"] != "", "0"), errors="coerce"
        )
        if "location_type" in stops.columns
        else pd.Series(0, index=stops.index)
    )
    needs_xy = ~ltype.isin([3, 4])
    lat = pd.to_numeric(stops["stop_lat"], errors="coerce")
    lon = pd.to_numeric(stops["stop_lon"], errors="coerce")
    bad = pd.Series(False, index=stops.index)
    for col, num, limit in (("stop_lat", lat, 90), ("stop_lon", lon, 180)):
        nan = needs_xy & ~np.isfinite(num)  # blank, text, nan, inf, 1e400
        wide = needs_xy & ~nan & (num.abs() > limit)
        for line, val, n in zip(stops["_line"][nan], stops[col][nan], num[nan], strict=True):
            what = "not a finite number" if np.isinf(n) else "not a number"
            problems.append(f"{_row(name, line)}: {col} {val!r} is {what}")
        for line, val in stops.loc[wide, ["_line", col]].itertuples(index=False):
            problems.append(f"{_row(name, line)}: {col} {val!r} is out of range -{limit}..{limit}")
        bad |= nan | wide
    # Stops are kept in British National Grid: a point outside its area of use cannot be.
    west, south, east, north = AREA_OF_USE[BNG]
    away = needs_xy & ~bad & ~(lon.between(west, east) & lat.between(south, north))
    for line, la, lo in stops.loc[away, ["_line", "stop_lat", "stop_lon"]].itertuples(index=False):
        problems.append(
            f"{_row(name, line)}: stop_lat {la!r}, stop_lon {lo!r} lie outside Great Britain "
            f"(British National Grid covers longitude {west:g}..{east:g}, latitude "
            f"{south:g}..{north:g})"
        )
    stops = stops.assign(stop_lat=lat, stop_lon=lon)
    x, y = wgs84_to_bng(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
    stops["x"] = np.asarray(x, dtype=np.float64)
    stops["y"] = np.asarray(y, dtype=np.float64)
    return stops


def _calendar(
    cal: pd.DataFrame, cal_dates: pd.DataFrame, problems: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if len(cal.columns):
        name = "calendar.txt"
        _check_unique(name, cal, ["service_id"], problems)
        for day in WEEKDAYS:
            cal[day] = _parse_int(name, cal, day, problems, allowed={0, 1})
        cal["start_date"] = _parse_dates(name, cal, "start_date", problems)
        cal["end_date"] = _parse_dates(name, cal, "end_date", problems)
        backwards = cal["end_date"] < cal["start_date"]
        for line, sid, s, e in cal.loc[
            backwards, ["_line", "service_id", "start_date", "end_date"]
        ].itertuples(index=False):
            problems.append(
                f"{_row(name, line)}: service {sid!r} ends ({e:%Y-%m-%d}) before it "
                f"starts ({s:%Y-%m-%d})"
            )
    else:
        cal = pd.DataFrame(
            {
                c: pd.Series(dtype=object if c == "service_id" else np.int64)
                for c in ("service_id", *WEEKDAYS)
            }
        ).assign(
            start_date=pd.Series(dtype="datetime64[ns]"),
            end_date=pd.Series(dtype="datetime64[ns]"),
            _line=pd.Series(dtype=np.int64),
        )
    if len(cal_dates.columns):
        name = "calendar_dates.txt"
        cal_dates["date"] = _parse_dates(name, cal_dates, "date", problems)
        cal_dates["exception_type"] = _parse_int(
            name, cal_dates, "exception_type", problems, allowed={1, 2}
        )
        _check_unique(name, cal_dates, ["service_id", "date"], problems)
    else:
        cal_dates = pd.DataFrame(
            {
                "service_id": pd.Series(dtype=object),
                "date": pd.Series(dtype="datetime64[ns]"),
                "exception_type": pd.Series(dtype=np.int64),
                "_line": pd.Series(dtype=np.int64),
            }
        )
    # A calendar row that runs on no weekday must be rescued by added dates.
    added = set(cal_dates.loc[cal_dates["exception_type"] == 1, "service_id"])
    no_days = (cal[list(WEEKDAYS)].sum(axis=1) == 0) & ~cal["service_id"].isin(added)
    for line, sid in cal.loc[no_days, ["_line", "service_id"]].itertuples(index=False):
        problems.append(
            f"calendar.txt row {line}: service {sid!r} runs on no day (all weekday flags 0 "
            "and no dates added in calendar_dates.txt)"
        )
    return cal, cal_dates


def feed_vintage(feed: GtfsFeed) -> FeedVintage:
    """The period a feed covers and its publication stamp.

    Parameters
    ----------
    feed : GtfsFeed
        A feed from :func:`read_gtfs`.

    Returns
    -------
    FeedVintage
        Dates from feed_info.txt when it gives them, else from the calendars.
    """
    return _vintage(
        feed.feed_info, feed.calendar, feed.calendar_dates, feed.agency, feed.files_modified
    )


def _vintage(
    info: pd.DataFrame,
    cal: pd.DataFrame,
    cal_dates: pd.DataFrame,
    agency: pd.DataFrame,
    files_modified: dt.datetime | None,
) -> FeedVintage:
    def first(col: str) -> str | None:
        if col in info.columns and len(info) and info[col].iloc[0] != "":
            return str(info[col].iloc[0])
        return None

    publisher = first("feed_publisher_name")
    if publisher is None and "agency_name" in agency.columns and len(agency):
        publisher = "; ".join(agency["agency_name"].astype(str))
    start, end = first("feed_start_date"), first("feed_end_date")
    if start and end and _DATE_RE.match(start) and _DATE_RE.match(end):
        return FeedVintage(
            start_date=dt.datetime.strptime(start, "%Y%m%d").date(),
            end_date=dt.datetime.strptime(end, "%Y%m%d").date(),
            source="feed_info",
            feed_version=first("feed_version"),
            publisher=publisher,
            files_modified=files_modified,
        )
    starts = [*cal["start_date"].dropna(), *cal_dates["date"].dropna()]
    ends = [*cal["end_date"].dropna(), *cal_dates["date"].dropna()]
    return FeedVintage(
        start_date=min(starts).date(),
        end_date=max(ends).date(),
        source="calendar",
        feed_version=first("feed_version"),
        publisher=publisher,
        files_modified=files_modified,
    )


def read_gtfs(path: str | Path, limits: GtfsLimits | None = None) -> GtfsFeed:
    """Read and validate a GTFS feed.

    Parameters
    ----------
    path : str or pathlib.Path
        A GTFS ``.zip`` (members may sit in one sub-folder) or a folder of ``.txt`` files.
    limits : GtfsLimits, optional
        Size, ratio, row and column bounds; default those of ``TransitSettings()`` (the
        ``LOCUS_TRANSIT_GTFS_MAX_*`` environment or their defaults).

    Returns
    -------
    GtfsFeed
        DataFrames per file; times in seconds after midnight, stops in EPSG:27700 metres.

    Raises
    ------
    GtfsError
        When the file is not a readable zip, passes a limit, or any validation check fails;
        ``problems`` lists each defect with file, row (line number, header = 1) and what is
        wrong.
    """
    path = Path(path)
    if limits is None:
        limits = GtfsLimits.from_settings(TransitSettings())
    raw, modified = read_members(path, set(ALL_FILES), limits)
    problems: list[str] = []
    missing = [f for f in REQUIRED_FILES if f not in raw]
    if not any(f in raw for f in CALENDAR_FILES):
        missing.append("calendar.txt or calendar_dates.txt")
    if missing:
        raise GtfsError(path, [f"missing required file {m}" for m in missing])

    frames: dict[str, pd.DataFrame] = {}
    unreadable: set[str] = set()
    for name in ALL_FILES:
        df = _read_csv(name, raw[name], problems) if name in raw else pd.DataFrame()
        if df is None:
            unreadable.add(name)
        frames[name] = pd.DataFrame() if df is None else df
    present = set(raw)
    raw.clear()  # the bytes are parsed: free them before the checks
    checked = [  # every file checked (no short-circuit), so all missing columns are listed
        _check_columns(name, frames[name], problems)
        for name in frames
        if name in present
        and name not in unreadable
        and (name in REQUIRED_FILES or len(frames[name].columns))
    ]
    columns_ok = all(checked)
    if problems or not columns_ok:
        raise GtfsError(path, problems)

    stops = _stops(frames["stops.txt"], problems)
    routes = frames["routes.txt"]
    _check_unique("routes.txt", routes, ["route_id"], problems)
    if "route_type" in routes.columns:
        routes["route_type"] = pd.to_numeric(routes["route_type"], errors="coerce").astype("Int64")
    cal, cal_dates = _calendar(frames["calendar.txt"], frames["calendar_dates.txt"], problems)
    trips = frames["trips.txt"]
    _check_unique("trips.txt", trips, ["trip_id"], problems)
    _check_refs("trips.txt", trips, "route_id", set(routes["route_id"]), "routes.txt", problems)
    services = set(cal["service_id"]) | set(cal_dates["service_id"])
    _check_refs(
        "trips.txt", trips, "service_id", services, "calendar.txt/calendar_dates.txt", problems
    )
    st = frames["stop_times.txt"]
    _check_refs("stop_times.txt", st, "trip_id", set(trips["trip_id"]), "trips.txt", problems)
    _check_refs("stop_times.txt", st, "stop_id", set(stops["stop_id"]), "stops.txt", problems)
    st = _stop_times(st, problems)
    if len(st) == 0:
        problems.append("stop_times.txt: no rows")
    if problems:
        raise GtfsError(path, problems)

    vintage = _vintage(frames["feed_info.txt"], cal, cal_dates, frames["agency.txt"], modified)

    def drop(df: pd.DataFrame) -> pd.DataFrame:
        return df.drop(columns="_line", errors="ignore")

    return GtfsFeed(
        agency=drop(frames["agency.txt"]),
        stops=drop(stops),
        routes=drop(routes),
        trips=drop(trips),
        stop_times=drop(st),
        calendar=drop(cal),
        calendar_dates=drop(cal_dates),
        feed_info=drop(frames["feed_info.txt"]),
        vintage=vintage,
        path=str(path),
        files_modified=modified,
    )
