"""Public transport: GTFS timetables, rRAPTOR travel times over a departure window, isochrones.

Hand-written (numba) rather than a library: r5py needs a JVM and a whole R5 network build, and
no maintained pure-Python RAPTOR exposes the window, percentiles and walk model we need. The
algorithm is RAPTOR / rRAPTOR of Delling, Pajor & Werneck ("Round-Based Public Transit
Routing", ALENEX 2012; Transportation Science 49(3), 2015), validated against a plain
time-expanded Dijkstra (:mod:`spatial.transit.baseline`). Inputs are DataFrames (GTFS
tables as read by ``etl.gtfs``); nothing here reads files, settings or the database.
"""

from .baseline import TimeExpandedGraph
from .timetable import Timetable, active_services, build_timetable
from .travel_time import (
    ALGORITHM,
    WalkDistanceFn,
    transit_isochrone,
    transit_stop_times,
    transit_travel_time_matrix,
    walk_legs,
)

__all__ = [
    "ALGORITHM",
    "TimeExpandedGraph",
    "Timetable",
    "WalkDistanceFn",
    "active_services",
    "build_timetable",
    "transit_isochrone",
    "transit_stop_times",
    "transit_travel_time_matrix",
    "walk_legs",
]
