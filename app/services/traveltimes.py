"""Travel-time sources by mode, and the stored area → site times computed on them.

:data:`SOURCES` is the registry: for every mode of :data:`spatial.modes.MODES`, the factory
of its :class:`~app.services.sources.TravelTimeSource` (the road network for drive, walk and
cycle; the GTFS timetable for transit), chosen by what the mode needs
(:attr:`spatial.modes.ModeSpec.needs`). Everything else asks :func:`travel_time_source`.

The stored matrix: every area's representative point to every located active site (restricted
ones too: reads filter them by the caller), computed by :func:`compute_area_site_times` on a
source and written in one transaction per mode (points beyond the snap limit are reported,
not moved). :func:`stored_metadata` states the model the stored times were computed with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from app.services.networks import road_source, road_speeds
from app.services.sources import NoNetworkError, TravelTimeSource
from app.services.transit import timetable_source
from config.settings import Settings
from spatial.modes import MODES, Mode, is_road_mode, mode_spec
from store.areas import area_points
from store.connection import Database
from store.feeds import active_feed
from store.networks import active_network_load, available_modes
from store.sites import all_site_points
from store.traveltimes import Computation, latest_computation, replace_travel_times

__all__ = [
    "LOAD_COMMAND",
    "PRODUCT_KIND",
    "SOURCES",
    "MatrixSummary",
    "ModeDetails",
    "compute_area_site_times",
    "missing_data_error",
    "mode_details",
    "product_kind",
    "stored_metadata",
    "stored_source_metadata",
    "travel_time_source",
]

SourceFactory = Callable[[Database, Settings, Mode], TravelTimeSource]


def _road(db: Database, settings: Settings, mode: Mode) -> TravelTimeSource:
    if not is_road_mode(mode):
        raise ValueError(f"mode {mode!r} is not routed on a road network")
    return road_source(db, settings, mode)


def _timetable(db: Database, settings: Settings, mode: Mode) -> TravelTimeSource:
    return timetable_source(db, settings)


#: Source factory per kind of data a mode needs.
_BY_NEED: dict[str, SourceFactory] = {"road network": _road, "GTFS feed": _timetable}
#: The registry: every mode's source factory.
SOURCES: dict[Mode, SourceFactory] = {m: _BY_NEED[mode_spec(m).needs] for m in MODES}
#: The ``computations`` kind recording the stored times of the modes with that data.
PRODUCT_KIND: dict[str, str] = {
    "road network": "area-site-travel-times",
    "GTFS feed": "transit-travel-times",
}
#: What to run when a mode's data is missing.
LOAD_COMMAND: dict[str, str] = {
    "road network": "locus load osm-network <extract.osm.pbf>",
    "GTFS feed": "locus load gtfs <feed.zip>",
}


def travel_time_source(db: Database, settings: Settings, mode: Mode) -> TravelTimeSource:
    """The :class:`~app.services.sources.TravelTimeSource` of ``mode`` on the loaded data.

    Raises
    ------
    NoNetworkError
        When the data the mode needs is not loaded (``NoFeedError`` for transit).
    """
    return SOURCES[mode](db, settings, mode)


def product_kind(mode: Mode) -> str:
    """The ``computations`` kind of the stored times of ``mode``."""
    return PRODUCT_KIND[mode_spec(mode).needs]


def missing_data_error(mode: Mode) -> NoNetworkError:
    """The error for ``mode`` when its data is not loaded (HTTP 503), saying what to load."""
    spec = mode_spec(mode)
    return NoNetworkError(
        f"mode {mode!r} needs a {spec.needs} and none is loaded: run `{LOAD_COMMAND[spec.needs]}`"
    )


# --------------------------------------------------------------------------- stored matrix


@dataclass
class MatrixSummary:
    """What a travel-time computation did, for the CLI and job results."""

    mode: str
    areas: int
    sites: int
    pairs: int
    unreachable_areas: list[str] = field(default_factory=list)
    unreachable_sites: list[int] = field(default_factory=list)
    network_load_id: int = 0


def compute_area_site_times(
    db: Database, source: TravelTimeSource
) -> tuple[MatrixSummary, dict[str, Any]]:
    """Compute and store the area → site times of ``source``'s mode (replacing the old ones).

    Returns the summary and the metadata of the computation (stored in ``computations``).
    Areas or sites beyond the snap limit, or that reach nothing, are listed as unreachable.
    """
    with db.connection() as conn:
        areas = area_points(conn)
        sites = all_site_points(conn)
    times = source.times(areas, sites)
    finite = np.isfinite(times.seconds)
    ii, jj = np.nonzero(finite)
    rows = pd.DataFrame(
        {
            "area_code": areas["code"].to_numpy()[ii],
            "area_vintage": areas["vintage"].to_numpy()[ii],
            "site_id": sites["id"].to_numpy()[jj],
            "seconds": times.seconds[ii, jj],
            "network_load_id": source.load_id,
        }
    )
    with db.transaction() as conn:
        pairs = replace_travel_times(conn, source.mode, rows)
    reach = source.reach(areas).reachable
    reached_areas = reach & (finite.any(axis=1) if len(sites) else True)
    reached_sites = finite.any(axis=0)
    summary = MatrixSummary(
        mode=source.mode,
        areas=len(areas),
        sites=len(sites),
        pairs=pairs,
        unreachable_areas=[str(c) for c in areas["code"].to_numpy()[~reached_areas]],
        unreachable_sites=[int(s) for s in sites["id"].to_numpy()[~reached_sites]],
        network_load_id=source.load_id,
    )
    return summary, times.metadata


def stored_source_metadata(stored: Computation | None, mode: Mode) -> dict[str, Any] | None:
    """The metadata ``mode``'s stored times were computed with, from its ``computations`` row.

    A row covering several modes holds ``{"modes": [...], "sources": [metadata, ...]}``; a
    row of one mode holds its metadata itself.
    """
    if stored is None:
        return None
    params = stored.parameters
    for meta in params.get("sources", [params]):
        if isinstance(meta, dict) and meta.get("mode") == mode:
            return dict(meta)
    return None


def stored_metadata(db: Database, mode: Mode) -> dict[str, Any]:
    """The model of the stored times of ``mode`` (network load and speeds, or feed, window,
    percentile and walk model), as computed by ``locus compute``.

    Raises
    ------
    NoNetworkError
        When the data ``mode`` needs is not loaded (HTTP 503).
    """
    with db.connection() as conn:
        if mode not in available_modes(conn):
            raise missing_data_error(mode)
        stored = latest_computation(conn, product_kind(mode))
    meta = stored_source_metadata(stored, mode)
    if meta is None:
        return {"mode": mode, "detail": f"no stored {mode} times yet: run `locus compute`"}
    meta["stored_times"] = "area representative point → site, computed by `locus compute`"
    return meta


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class ModeDetails:
    """A mode as ``/analysis/modes`` lists it: the registry entry and what is loaded for it.

    Road modes give the loaded network's load id and speeds (``speed_kmh``: the one speed of
    a walk or cycle graph, None for drive whose speed varies by road; ``mean_speed_kmh``:
    distance-weighted mean); transit gives the feed's load id and service period.
    """

    mode: Mode
    label: str
    needs: str
    speed_rule: str
    available: bool
    load_id: int | None = None
    speed_kmh: float | None = None
    mean_speed_kmh: float | None = None
    feed_period: str | None = None


def mode_details(db: Database) -> list[ModeDetails]:
    """Every mode of the registry with whether its data is loaded, and that data's speeds."""
    with db.connection() as conn:
        available = set(available_modes(conn))
        load = active_network_load(conn)
        feed = active_feed(conn)
    speeds = road_speeds(db, load.load_id) if load is not None else {}
    out = []
    for mode in MODES:
        spec = mode_spec(mode)
        details = ModeDetails(
            mode=mode,
            label=spec.label,
            needs=spec.needs,
            speed_rule=spec.speed_rule,
            available=mode in available,
        )
        own = speeds.get(mode)
        if is_road_mode(mode) and load is not None and own is not None:
            details = replace(
                details,
                load_id=load.load_id,
                speed_kmh=round(own.mean_kmh, 2) if own.uniform else None,
                mean_speed_kmh=round(own.mean_kmh, 2),
            )
        elif not is_road_mode(mode) and feed is not None:
            details = replace(
                details,
                load_id=feed.load_id,
                feed_period=f"{feed.start_date:%Y-%m-%d}/{feed.end_date:%Y-%m-%d}",
            )
        out.append(details)
    return out
