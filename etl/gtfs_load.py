"""``locus load gtfs <feed.zip>``: a validated GTFS feed becomes the ``transit_*``/``gtfs_*`` rows.

The feed is read and checked by :func:`etl.gtfs.read_gtfs` within the configured limits
(``LOCUS_TRANSIT_GTFS_MAX_*``: a zip bomb is refused before it is decompressed); any defect
refuses the whole load (:class:`etl.loading.LoadError` listing every problem with its file and
row), so a broken feed changes nothing. A feed with no stop in ``--region`` is refused too (it
would become a second active feed for a place it does not serve) unless
``--allow-outside-region`` asks for it. A good feed is handed to the common atomic loader as
one table per GTFS file (keyed by the load id), its service period kept as the load's vintage
(``YYYY-MM-DD/YYYY-MM-DD``). The timetable for any date is rebuilt from these rows by
:mod:`app.services.transit` without the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from config.settings import Settings
from etl.gtfs import WEEKDAYS, GtfsError, GtfsFeed, GtfsLimits, read_gtfs
from etl.loading import OGL, LoadError, ParsedFile, Region, Reject
from etl.readers.common import Progress, report
from spatial.crs import bng_to_wgs84

__all__ = ["TABLES", "feed_tables", "parse_gtfs"]

#: Tables a GTFS load writes (all keyed by ``load_id``).
TABLES = (
    "transit_feeds",
    "transit_stops",
    "gtfs_routes",
    "gtfs_trips",
    "gtfs_stop_times",
    "gtfs_calendar",
    "gtfs_calendar_dates",
)


def _col(df: pd.DataFrame, name: str, default: Any = None) -> pd.Series:
    if name in df.columns:
        return df[name].replace("", default)
    return pd.Series([default] * len(df), index=df.index, dtype=object)


def _flag(df: pd.DataFrame, name: str) -> np.ndarray[Any, Any]:
    raw = pd.to_numeric(_col(df, name, "0"), errors="coerce").fillna(0)
    return raw.astype(np.int64).to_numpy()


def feed_tables(feed: GtfsFeed) -> dict[str, pd.DataFrame]:
    """The load tables of a validated feed (no ``load_id``; the loader adds it)."""
    stops = feed.stops
    xy_ok = np.isfinite(stops["x"].to_numpy(dtype=float)) & np.isfinite(
        stops["y"].to_numpy(dtype=float)
    )
    geoms = np.full(len(stops), None, dtype=object)
    geoms[xy_ok] = shapely.points(
        stops["x"].to_numpy(dtype=float)[xy_ok], stops["y"].to_numpy(dtype=float)[xy_ok]
    )
    vintage = feed.vintage
    agencies = (
        [
            {k: v for k, v in row.items() if v not in ("", None)}
            for row in feed.agency.astype(str).to_dict(orient="records")
        ]
        if len(feed.agency.columns)
        else []
    )
    routes = feed.routes
    st = feed.stop_times
    cal = feed.calendar
    cd = feed.calendar_dates
    return {
        "transit_feeds": pd.DataFrame(
            {
                "start_date": [vintage.start_date],
                "end_date": [vintage.end_date],
                "vintage_source": [vintage.source],
                "feed_version": [vintage.feed_version],
                "publisher": [vintage.publisher],
                "files_modified": [vintage.files_modified],
                "agencies": [agencies],
                "n_stops": [len(stops)],
                "n_routes": [len(routes)],
                "n_trips": [len(feed.trips)],
                "n_stop_times": [len(st)],
            }
        ),
        "transit_stops": pd.DataFrame(
            {
                "stop_id": stops["stop_id"].astype(str).to_numpy(),
                "code": _col(stops, "stop_code").to_numpy(),
                "name": _col(stops, "stop_name").to_numpy(),
                "geom": geoms,
            }
        ),
        "gtfs_routes": pd.DataFrame(
            {
                "route_id": routes["route_id"].astype(str).to_numpy(),
                "agency_id": _col(routes, "agency_id").to_numpy(),
                "short_name": _col(routes, "route_short_name").to_numpy(),
                "long_name": _col(routes, "route_long_name").to_numpy(),
                "route_type": (
                    routes["route_type"].astype(object).where(routes["route_type"].notna(), None)
                    if "route_type" in routes.columns
                    else None
                ),
            }
        ),
        "gtfs_trips": feed.trips[["trip_id", "route_id", "service_id"]].astype(str),
        "gtfs_stop_times": pd.DataFrame(
            {
                "trip_id": st["trip_id"].astype(str).to_numpy(),
                "stop_sequence": st["stop_sequence"].to_numpy(dtype=np.int64),
                "stop_id": st["stop_id"].astype(str).to_numpy(),
                "arrival_s": st["arrival_s"].to_numpy(dtype=np.int64),
                "departure_s": st["departure_s"].to_numpy(dtype=np.int64),
                "pickup_type": _flag(st, "pickup_type"),
                "drop_off_type": _flag(st, "drop_off_type"),
                "interpolated": st["interpolated"].to_numpy(dtype=bool),
            }
        ),
        "gtfs_calendar": pd.DataFrame(
            {
                "service_id": cal["service_id"].astype(str).to_numpy(),
                **{d: cal[d].to_numpy(dtype=np.int64) for d in WEEKDAYS},
                "start_date": cal["start_date"].dt.date.to_numpy(),
                "end_date": cal["end_date"].dt.date.to_numpy(),
            }
        ),
        "gtfs_calendar_dates": pd.DataFrame(
            {
                "service_id": cd["service_id"].astype(str).to_numpy(),
                "date": cd["date"].dt.date.to_numpy(),
                "exception_type": cd["exception_type"].to_numpy(dtype=np.int64),
            }
        ),
    }


def _outside_region(feed: GtfsFeed, region: Region) -> str:
    """Why a feed none of whose stops lies in the region is refused, with both extents."""
    assert region.polygon is not None
    stops = feed.stops
    minx, miny, maxx, maxy = region.polygon.bounds
    lons, lats = bng_to_wgs84(np.array([minx, maxx]), np.array([miny, maxy]))
    return (
        f"stops.txt: none of the feed's {int(stops['stop_lat'].notna().sum())} located stops "
        f"lies in region {region.key} (stops: longitude {stops['stop_lon'].min():.3f}.."
        f"{stops['stop_lon'].max():.3f}, latitude {stops['stop_lat'].min():.3f}.."
        f"{stops['stop_lat'].max():.3f}; region: longitude {lons[0]:.3f}..{lons[1]:.3f}, "
        f"latitude {lats[0]:.3f}..{lats[1]:.3f}); a feed wholly outside the region is refused "
        "(--allow-outside-region loads it anyway)"
    )


def parse_gtfs(
    path: Path,
    region: Region,
    progress: Progress | None = None,
    *,
    settings: Settings,
    allow_outside_region: bool = False,
) -> ParsedFile:
    """Read and validate a GTFS feed into load tables.

    The feed is read within the limits of ``settings.transit`` (``gtfs_max_*``). A feed
    partly inside ``region`` loads (trips cross its edge; the stops outside are noted); one
    with no stop inside it is refused unless ``allow_outside_region``. A region given as a
    local authority code with no areas loaded cannot be checked (noted).

    Raises
    ------
    LoadError
        When the feed is unreadable, passes a limit, fails validation or lies wholly outside
        the region: one reject per problem, each naming the GTFS file and row (line number,
        header = 1).
    """
    try:
        feed = read_gtfs(path, GtfsLimits.from_settings(settings.transit))
    except GtfsError as exc:
        # LoadError names the file itself: drop the reader's own "<file>: " before a problem.
        prefix = f"{path.name}: "
        raise LoadError(path, [Reject(None, p.removeprefix(prefix)) for p in exc.problems]) from exc
    report(progress, 1, 2)
    tables = feed_tables(feed)
    v = feed.vintage
    notes = [
        f"{len(feed.agency)} agencies ({v.publisher or 'unnamed'}), {len(feed.routes)} routes, "
        f"{len(feed.trips)} trips, {len(feed.stops)} stops, {len(feed.stop_times)} stop times",
        f"service period {v.start_date:%Y-%m-%d} to {v.end_date:%Y-%m-%d} (from {v.source})",
    ]
    interpolated = int(feed.stop_times["interpolated"].sum())
    if interpolated:
        notes.append(f"{interpolated} untimed stop times interpolated")
    geoms = tables["transit_stops"]["geom"].to_numpy(dtype=object)
    located = ~shapely.is_missing(geoms)
    if region.key and region.polygon is None:
        notes.append(f"region {region.key} has no areas loaded: stops not checked against it")
    elif region.polygon is not None and located.any():
        outside = int((~region.contains(geoms[located])).sum())
        if outside == int(located.sum()):
            if not allow_outside_region:
                raise LoadError(path, [Reject(None, _outside_region(feed, region))])
            notes.append(
                f"no stop lies in region {region.key}: loaded as asked (--allow-outside-region)"
            )
        elif outside:
            notes.append(f"{outside} stops lie outside region {region.key} (kept: trips cross it)")
    report(progress, 2, 2)
    return ParsedFile(
        dataset="gtfs",
        path=path,
        licence=OGL,
        tables=tables,
        rows_read=sum(len(t) for t in tables.values()) - 1,
        vintage=f"{v.start_date:%Y-%m-%d}/{v.end_date:%Y-%m-%d}",
        notes=notes,
    )
