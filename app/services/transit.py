"""Public transport as a :class:`~app.services.sources.TravelTimeSource`: the GTFS timetable.

The timetable is rebuilt from the ``gtfs_*`` rows of the newest active ``gtfs`` load (no file
needed) for one service date and cached in memory per (database, load, date). Travel times
follow the DfT journey-time statistics / NHS Wales method implemented in
:mod:`spatial.transit` (rRAPTOR over a departure window, a percentile over the departures);
every parameter is a ``LOCUS_TRANSIT_*`` setting, stored with the computed times in
``computations.parameters`` and returned in every result's metadata.

Walking legs (access, transfers, egress) use the walk network when one is loaded *and covers
the feed* (at least 90 % of the stops snap to it), otherwise straight-line distance × a detour
factor (the Isle of Wight, for one, has no usable road network). On the network, walking
distance is measured at the walk graph's own speed, and the metadata names that network load.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.services.networks import get_network, road_speeds
from app.services.sources import BandPolygon, Isochrones, NoNetworkError, Reach, Times
from config.settings import Settings
from spatial.modes import Mode
from spatial.network import Network, snap_points
from spatial.transit import (
    Timetable,
    build_timetable,
    transit_isochrone,
    transit_travel_time_matrix,
)
from spatial.traveltime import travel_time_array
from store.connection import Database
from store.feeds import FeedLoad, active_feed, feed_frames
from store.networks import active_network_load

__all__ = [
    "SERVICE_DATE_RULE",
    "Feed",
    "NoFeedError",
    "TimetableSource",
    "default_service_date",
    "get_timetable",
    "require_feed",
    "timetable_source",
]

MODE: Mode = "transit"
SERVICE_DATE_RULE = "first Tuesday on or after the feed's start date"
MIN_NETWORK_COVERAGE = 0.9
STRAIGHT_LINE = "straight-line x detour factor"

_lock = threading.Lock()
_timetables: dict[tuple[str, int, dt.date], Timetable] = {}
_walks: dict[tuple[Any, ...], WalkModel] = {}


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


def _feed(found: FeedLoad, settings: Settings) -> Feed:
    return Feed(
        load_id=found.load_id,
        start_date=found.start_date,
        end_date=found.end_date,
        publisher=found.publisher,
        service_date=settings.transit.service_date or default_service_date(found.start_date),
    )


def require_feed(db: Database, settings: Settings) -> Feed:
    """The active feed; :class:`NoFeedError` (HTTP 503) when none is loaded."""
    with db.connection() as conn:
        found = active_feed(conn)
    if found is None:
        raise NoFeedError(
            "mode 'transit' needs a public transport timetable and none is loaded: run "
            "`locus load gtfs <feed.zip>`"
        )
    return _feed(found, settings)


def get_timetable(
    db: Database, settings: Settings, feed: Feed | None = None
) -> tuple[Feed, Timetable]:
    """The active feed and its timetable for the service date (cached per load and date)."""
    feed = feed or require_feed(db, settings)
    key = (db.settings.url, feed.load_id, feed.service_date)
    with _lock:
        cached = _timetables.get(key)
        if cached is not None:
            return feed, cached
        with db.connection() as conn:
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


@dataclasses.dataclass(frozen=True)
class WalkModel:
    """How walking legs are measured: a network distance function, or None (straight line)."""

    fn: WalkFn | None
    network_load_id: int | None = None
    network_speed_kmh: float | None = None

    @property
    def label(self) -> str:
        """``network`` or the straight-line rule."""
        return "network" if self.fn is not None else STRAIGHT_LINE


def _network_walk_fn(network: Network, speed_m_s: float, snap_m: float) -> WalkFn:
    """Walking distance in metres on ``network``, whose edges were timed at ``speed_m_s``:
    access legs are timed at that speed too, so seconds × speed is the distance."""

    def walk_m(from_xy: np.ndarray[Any, Any], to_xy: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        if len(from_xy) == 0:
            return np.zeros(0)
        fu, fi = np.unique(from_xy, axis=0, return_inverse=True)
        tu, ti = np.unique(to_xy, axis=0, return_inverse=True)
        o = snap_points(
            network, fu[:, 0], fu[:, 1], max_distance_m=snap_m, access_speed_m_s=speed_m_s
        )
        d = snap_points(
            network, tu[:, 0], tu[:, 1], max_distance_m=snap_m, access_speed_m_s=speed_m_s
        )
        seconds = travel_time_array(network, o, d)
        out: np.ndarray[Any, Any] = seconds[fi.ravel(), ti.ravel()] * speed_m_s
        return out

    return walk_m


def walk_model(db: Database, settings: Settings, feed: Feed, timetable: Timetable) -> WalkModel:
    """The walk network when enabled, loaded and covering the feed's stops; else straight
    line (cached per feed, network load and settings)."""
    if not settings.transit.use_walk_network or timetable.n_stops == 0:
        return WalkModel(None)
    with db.connection() as conn:
        load = active_network_load(conn)
    speeds = road_speeds(db, load.load_id) if load is not None else {}
    if load is None or "walk" not in speeds:
        return WalkModel(None)
    snap_m = settings.travel.max_snap_distance_m
    key = (db.settings.url, feed.load_id, feed.service_date, load.load_id, snap_m)
    with _lock:
        cached = _walks.get(key)
    if cached is not None:
        return cached
    try:
        network = get_network(db, "walk", cache_dir=settings.paths.cache_dir, load_id=load.load_id)
    except NoNetworkError:
        return WalkModel(None)
    speed_m_s = speeds["walk"].mean_kmh / 3.6
    stops = snap_points(
        network,
        timetable.stop_x,
        timetable.stop_y,
        max_distance_m=snap_m,
        access_speed_m_s=speed_m_s,
    )
    model = WalkModel(None)
    if float(np.mean(stops.reachable)) >= MIN_NETWORK_COVERAGE:
        model = WalkModel(
            _network_walk_fn(network, speed_m_s, snap_m),
            network_load_id=load.load_id,
            network_speed_kmh=round(speeds["walk"].mean_kmh, 2),
        )
    with _lock:
        _walks[key] = model
    return model


# --------------------------------------------------------------------------- parameters


def parameters(settings: Settings, feed: Feed, walk: WalkModel) -> dict[str, Any]:
    """The parameters transit times are computed with (stored, and stated in results)."""
    s = settings.transit
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
        "walk_speed_m_s": round(settings.travel.walk_speed_m_s, 6),
        "walk": walk.label,
        "detour_factor": s.detour_factor if walk.fn is None else None,
        "walk_network_load_id": walk.network_load_id,
        "walk_network_speed_kmh": walk.network_speed_kmh,
        "max_transfers": s.max_transfers,
        "transfer_slack_s": s.transfer_slack_s,
    }


def matrix_options(settings: Settings, walk: WalkModel) -> dict[str, Any]:
    """Keyword arguments for :func:`spatial.transit.transit_travel_time_matrix`."""
    s = settings.transit
    return {
        "window_start_s": s.window_start_s,
        "window_end_s": s.window_end_s,
        "step_s": s.step_s,
        "percentiles": (s.percentile,),
        "max_walk_m": s.max_walk_m,
        "walk_speed_m_s": round(settings.travel.walk_speed_m_s, 6),
        "detour_factor": s.detour_factor,
        "max_transfers": s.max_transfers,
        "transfer_slack_s": s.transfer_slack_s,
        "walk_distance_fn": walk.fn,
    }


# --------------------------------------------------------------------------- the source


@dataclasses.dataclass(frozen=True)
class TimetableSource:
    """Times on the active GTFS timetable (see :class:`~app.services.sources.TravelTimeSource`).

    Points do not snap: they reach stops on foot (``max_walk_m``), so every point is
    "reachable" and a point far from any stop simply gets no finite times.
    """

    settings: Settings
    feed: Feed
    timetable: Timetable
    walk: WalkModel
    mode: Mode = MODE

    @property
    def load_id(self) -> int:
        """The feed's ``data_loads`` id."""
        return self.feed.load_id

    @property
    def metadata(self) -> dict[str, Any]:
        """See :func:`parameters`."""
        return parameters(self.settings, self.feed, self.walk)

    @property
    def options(self) -> dict[str, Any]:
        """The matrix options (window, percentile, walk model)."""
        return matrix_options(self.settings, self.walk)

    @property
    def reach_rule(self) -> str:
        """Reachable means: within the window at the configured percentile."""
        s = self.settings.transit
        return (
            f"by public transport at the {s.percentile:g}th percentile of departures "
            f"{s.window_start}-{s.window_end}"
        )

    def reach(self, points: pd.DataFrame) -> Reach:
        """Every point: walking legs, not snapping, connect it to the timetable."""
        return Reach(reachable=np.ones(len(points), dtype=bool))

    def times(
        self, origins: pd.DataFrame, targets: pd.DataFrame, *, cutoff_s: float | None = None
    ) -> Times:
        """Seconds origins × targets at the configured percentile over the window (inf where
        unreachable or beyond ``cutoff_s``)."""
        frame = transit_travel_time_matrix(
            self.timetable, _positional(origins), _positional(targets), **self.options
        )
        seconds = np.full((len(origins), len(targets)), np.inf)
        column = frame[f"seconds_p{self.settings.transit.percentile:g}"].to_numpy(dtype=float)
        seconds[frame["from_id"].to_numpy(dtype=np.int64), frame["to_id"].to_numpy(np.int64)] = (
            np.nan_to_num(column, nan=np.inf)
        )
        if cutoff_s is not None:
            seconds[seconds > cutoff_s] = np.inf
        return Times(seconds, {**frame.attrs["metadata"], **self.metadata})

    def isochrones(self, x: float, y: float, bands_min: Sequence[int]) -> Isochrones:
        """Journeys departing the point in the window; walk legs straight line × detour."""
        opts = self.options
        iso = transit_isochrone(
            self.timetable,
            (float(x), float(y)),
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
        bands = [
            BandPolygon(int(row.band_s) // 60, row.geometry, {"stops_reached": int(row.n_stops)})
            for row in iso.itertuples()
        ]
        metadata = {
            **iso.attrs["metadata"],
            "direction": (
                "populations: stored times from each area's representative point to the site; "
                "polygons: journeys departing the site in the window (walk legs straight-line "
                "x detour factor)"
            ),
        }
        return Isochrones(bands, metadata=metadata)


def _positional(points: pd.DataFrame) -> pd.DataFrame:
    """``id`` (row position), ``x``, ``y``: the matrix's ids index the result array."""
    return pd.DataFrame(
        {"id": np.arange(len(points)), "x": points["x"].to_numpy(), "y": points["y"].to_numpy()}
    )


def timetable_source(db: Database, settings: Settings) -> TimetableSource:
    """The source on the active feed's timetable, with its walk model.

    Raises
    ------
    NoFeedError
        When no GTFS feed is loaded (HTTP 503).
    """
    feed, timetable = get_timetable(db, settings)
    return TimetableSource(
        settings=settings,
        feed=feed,
        timetable=timetable,
        walk=walk_model(db, settings, feed, timetable),
    )
