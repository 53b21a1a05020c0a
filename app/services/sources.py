"""The one interface every travel-time analysis runs on: a :class:`TravelTimeSource`.

A source is what the times of one mode are computed on — the road network of the active
network load (``drive``, ``walk``, ``cycle``: :mod:`app.services.networks`) or the active GTFS
timetable (``transit``: :mod:`app.services.transit`) — loaded once and reused for many
queries. Nearest, catchments, population-within, the stored area → site matrix and the
catchments job ask a source the same four things, so none of them branches on the mode:

- :meth:`~TravelTimeSource.reach`: how points meet it (snap distance and reachability);
- :meth:`~TravelTimeSource.times`: the origins × targets matrix in seconds;
- :meth:`~TravelTimeSource.isochrones`: band polygons around a point;
- :attr:`~TravelTimeSource.metadata`: the model every result states (network load and its
  speeds, or feed, window and percentile).

:mod:`app.services.traveltimes` selects the implementation by mode (its registry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from spatial.modes import Mode

__all__ = [
    "BandPolygon",
    "Isochrones",
    "NoNetworkError",
    "Reach",
    "Times",
    "TravelTimeSource",
]


class NoNetworkError(LookupError):
    """The data a mode needs is not loaded: no road network of that mode, or no GTFS feed
    (:class:`app.services.transit.NoFeedError`). The message says what to load."""


@dataclass(frozen=True)
class Reach:
    """How points meet a source, parallel to the points given.

    ``snap_distance_m`` is the straight line to the network (None for a source that does not
    snap, e.g. a timetable with walking legs); ``reachable`` is False for a point beyond
    ``max_snap_distance_m``, which then gets no times (it is never moved).
    """

    reachable: npt.NDArray[np.bool_]
    snap_distance_m: npt.NDArray[np.float64] | None = None
    max_snap_distance_m: float | None = None


@dataclass(frozen=True)
class Times:
    """A travel-time matrix: ``seconds[i, j]`` from origin ``i`` to target ``j`` (inf where
    unreachable), and the metadata of this computation (the source's model plus anything
    the computation adds, e.g. the departures a timetable percentile was taken over)."""

    seconds: npt.NDArray[np.float64]
    metadata: dict[str, Any]


@dataclass(frozen=True)
class BandPolygon:
    """One isochrone: minutes, polygon (shapely, EPSG:27700; empty when nothing is reached)
    and source-specific properties (transit: ``stops_reached``)."""

    band_min: int
    geometry: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Isochrones:
    """Band polygons around one point; ``reachable`` False (``detail`` says why) when the
    point is beyond the snap limit. ``metadata``: how the polygons were drawn."""

    bands: list[BandPolygon]
    reachable: bool = True
    detail: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class TravelTimeSource(Protocol):
    """What the travel times of one mode are computed on (see the module docstring).

    Points are frames with ``x, y`` columns (EPSG:27700 metres); other columns are ignored.
    """

    @property
    def mode(self) -> Mode:
        """The travel mode."""
        ...

    @property
    def load_id(self) -> int:
        """The ``data_loads`` id of the network or feed (stored with every derived row)."""
        ...

    @property
    def metadata(self) -> dict[str, Any]:
        """The model stated with every result: load id, speeds, snapping or timetable
        window and percentile."""
        ...

    @property
    def reach_rule(self) -> str:
        """A phrase saying what "reachable" means here, for messages (``on the drive
        network``, ``at the 50th percentile of departures 07:00-10:00``)."""
        ...

    def reach(self, points: pd.DataFrame) -> Reach:
        """How each point meets the source (snap distance, reachable)."""
        ...

    def times(
        self, origins: pd.DataFrame, targets: pd.DataFrame, *, cutoff_s: float | None = None
    ) -> Times:
        """Seconds from each origin to each target (``len(origins) × len(targets)``); with
        ``cutoff_s``, times beyond it may be left uncomputed and are inf."""
        ...

    def isochrones(self, x: float, y: float, bands_min: Sequence[int]) -> Isochrones:
        """Band polygons reached from the point ``(x, y)`` within each of ``bands_min``."""
        ...
