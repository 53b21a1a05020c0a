"""Public-transport travel-time matrices, per-stop reach times and isochrones over a window.

Method (as the DfT journey-time statistics, NHS Wales matrices and R5/r5py do): depart from
each origin at every ``step_s`` seconds in ``[window_start_s, window_end_s)``; for each
departure take the earliest arrival at each destination (rRAPTOR, see :mod:`._kernels`); the
travel time is arrival minus that departure; report chosen percentiles of the travel times
over the departures. Percentiles are *nearest-rank*: the ``ceil(p/100 · n)``-th smallest of the
``n`` departures' times (so the median of 180 departures is the 90th smallest); when that
one is unreachable the result is NaN.

A journey is: walk from the origin to a stop (access), one or more vehicles with at most one
walk between two vehicles (a transfer; staying at the stop is a zero walk) and a minimum
``transfer_slack_s`` between alighting and boarding, then walk to the destination (egress).
Walking the whole way (origin to destination) also counts. Every walk leg is at most
``max_walk_m`` metres at ``walk_speed_m_s``; its distance is the network walking distance when a
``walk_distance_fn`` is supplied, else the straight-line distance times ``detour_factor``.
Walk times are rounded to whole seconds. All coordinates are British National Grid
(EPSG:27700) metres; all times are seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from ._kernels import FloatArray, IntArray, _rraptor_matrix
from .baseline import TimeExpandedGraph, _finish_sorted
from .timetable import Timetable

WalkDistanceFn = Callable[[FloatArray, FloatArray], FloatArray]
"""``fn(from_xy, to_xy) -> metres``: walking distance for ``k`` point pairs, arrays (k, 2) of
EPSG:27700 coordinates in, (k,) metres out (``inf`` when not connected)."""

Engine = Literal["rraptor", "time-expanded-dijkstra"]
Points = pd.DataFrame | Literal["stops"]

ALGORITHM = (
    "rRAPTOR (Delling, Pajor & Werneck, Round-Based Public Transit Routing, "
    "Transportation Science 49(3), 2015; ALENEX 2012)"
)
_MAX_CELLS = 30_000_000  # float64 results held at once (origins x destinations x percentiles)


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _points(points: Points, timetable: Timetable, what: str) -> tuple[NDArray[Any], FloatArray]:
    """(ids, xy) from ``"stops"``, a DataFrame (id, x, y) or a GeoDataFrame of points."""
    if isinstance(points, str):
        if points != "stops":
            raise ValueError(f"{what} must be a DataFrame or 'stops', got {points!r}")
        return timetable.stop_ids, np.column_stack([timetable.stop_x, timetable.stop_y])
    if isinstance(points, gpd.GeoDataFrame):
        gdf = points
        if gdf.crs is not None and gdf.crs.to_epsg() != 27700:
            gdf = gdf.to_crs(27700)
        geom = gdf.geometry
        if not (geom.geom_type == "Point").all():
            raise ValueError(f"{what}: geometries must all be points")
        ids = gdf["id"].to_numpy() if "id" in gdf.columns else gdf.index.to_numpy()
        return ids, np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()]).astype(np.float64)
    missing = {"id", "x", "y"} - set(points.columns)
    if missing:
        raise ValueError(f"{what} needs columns id, x, y (EPSG:27700); missing {sorted(missing)}")
    xy = points[["x", "y"]].to_numpy(dtype=np.float64)
    if not np.isfinite(xy).all():
        raise ValueError(f"{what}: x, y must be finite EPSG:27700 coordinates")
    return points["id"].to_numpy(), xy


def walk_legs(
    from_xy: FloatArray,
    to_xy: FloatArray,
    *,
    max_walk_m: float,
    walk_speed_m_s: float,
    detour_factor: float,
    walk_distance_fn: WalkDistanceFn | None = None,
) -> tuple[IntArray, IntArray, IntArray]:
    """All walks of at most ``max_walk_m`` between two point sets.

    Parameters
    ----------
    from_xy, to_xy : numpy.ndarray, shape (n, 2) and (m, 2)
        EPSG:27700 coordinates, metres.
    max_walk_m : float
        Longest walk, metres (network distance, or straight line × detour factor).
    walk_speed_m_s : float
        Walking speed, metres per second.
    detour_factor : float
        Straight-line distance multiplier (>= 1) when no ``walk_distance_fn`` is given.
    walk_distance_fn : callable, optional
        Network walking distance in metres for point pairs, see :data:`WalkDistanceFn`.

    Returns
    -------
    i, j, seconds : numpy.ndarray of int64
        Index into ``from_xy``, index into ``to_xy`` and walk time in whole seconds, sorted by
        ``i`` then ``j``.
    """
    if len(from_xy) == 0 or len(to_xy) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    radius = max_walk_m if walk_distance_fn is not None else max_walk_m / detour_factor
    pairs = cKDTree(from_xy).sparse_distance_matrix(cKDTree(to_xy), radius, output_type="ndarray")
    i = pairs["i"].astype(np.int64)
    j = pairs["j"].astype(np.int64)
    if walk_distance_fn is None:
        dist = pairs["v"].astype(np.float64) * detour_factor
    else:
        dist = np.asarray(walk_distance_fn(from_xy[i], to_xy[j]), dtype=np.float64)
        if dist.shape != i.shape:
            raise ValueError("walk_distance_fn must return one distance per pair")
    ok = dist <= max_walk_m * (1 + 1e-12)
    seconds = np.floor(dist[ok] / walk_speed_m_s + 0.5).astype(np.int64)
    i, j = i[ok], j[ok]
    order = np.lexsort((j, i))
    return i[order], j[order], seconds[order]


def _csr(key: IntArray, n: int) -> IntArray:
    """CSR offsets for ``key`` sorted ascending with values in ``[0, n)``."""
    return np.searchsorted(key, np.arange(n + 1)).astype(np.int64)


def _transfers(timetable: Timetable, walk: dict[str, Any]) -> tuple[IntArray, IntArray, IntArray]:
    xy = np.column_stack([timetable.stop_x, timetable.stop_y])
    i, j, s = walk_legs(xy, xy, **walk)
    keep = i != j
    i, j, s = i[keep], j[keep], s[keep]
    return _csr(i, timetable.n_stops), j, s


def _departures(window_start_s: int, window_end_s: int, step_s: int) -> IntArray:
    if step_s <= 0:
        raise ValueError(f"step_s must be positive, got {step_s}")
    if window_end_s <= window_start_s:
        raise ValueError(
            f"window_end_s ({window_end_s}) must be after window_start_s ({window_start_s})"
        )
    return np.arange(window_start_s, window_end_s, step_s, dtype=np.int64)[::-1].copy()


def _pct_rank(percentiles: Sequence[float], n: int) -> IntArray:
    p = np.asarray(percentiles, dtype=np.float64)
    if len(p) == 0 or (p < 0).any() or (p > 100).any():
        raise ValueError(f"percentiles must be in [0, 100], got {list(percentiles)}")
    return np.clip(np.ceil(p / 100.0 * n).astype(np.int64) - 1, 0, n - 1)


def _check_walk(max_walk_m: float, walk_speed_m_s: float, detour_factor: float) -> None:
    if max_walk_m < 0:
        raise ValueError(f"max_walk_m must be >= 0, got {max_walk_m}")
    if walk_speed_m_s <= 0:
        raise ValueError(f"walk_speed_m_s must be positive, got {walk_speed_m_s}")
    if detour_factor < 1:
        raise ValueError(f"detour_factor must be >= 1, got {detour_factor}")


def _metadata(
    timetable: Timetable,
    *,
    departures: IntArray,
    window_start_s: int,
    window_end_s: int,
    step_s: int,
    percentiles: Sequence[float],
    max_walk_m: float,
    walk_speed_m_s: float,
    detour_factor: float,
    walk_distance_fn: WalkDistanceFn | None,
    max_transfers: int | None,
    transfer_slack_s: int,
    engine: str,
) -> dict[str, Any]:
    return {
        "mode": "transit",
        "service_date": timetable.service_date.isoformat(),
        "weekday": timetable.service_date.strftime("%A"),
        "window_start": _hms(window_start_s),
        "window_end": _hms(window_end_s),
        "window_start_s": window_start_s,
        "window_end_s": window_end_s,
        "step_s": step_s,
        "departures": len(departures),
        "percentiles": [float(p) for p in percentiles],
        "percentile_method": "nearest-rank over departures; NaN when that one is unreachable",
        "walk": "network" if walk_distance_fn is not None else "straight-line x detour factor",
        "detour_factor": None if walk_distance_fn is not None else detour_factor,
        "walk_speed_m_s": walk_speed_m_s,
        "max_walk_m": max_walk_m,
        "max_transfers": max_transfers,
        "transfer_slack_s": transfer_slack_s,
        "crs": "EPSG:27700",
        "units": "seconds",
        "algorithm": ALGORITHM if engine == "rraptor" else "time-expanded Dijkstra",
    }


def _run(
    timetable: Timetable,
    *,
    n_orig: int,
    acc: tuple[IntArray, IntArray, IntArray],
    egr: tuple[IntArray, IntArray, IntArray],
    direct: tuple[IntArray, IntArray, IntArray],
    tr: tuple[IntArray, IntArray, IntArray],
    departures: IntArray,
    step_s: int,
    n_rounds: int,
    transfer_slack_s: int,
    pct_rank: IntArray,
    engine: Engine,
) -> FloatArray:
    """Percentile travel times ``out[o, d, q]`` (seconds, NaN unreachable)."""
    n_dest = len(egr[0]) - 1
    out = np.empty((n_orig, n_dest, len(pct_rank)), dtype=np.float64)
    tt = timetable
    if engine == "rraptor":
        _rraptor_matrix(
            *acc,
            *egr,
            *direct,
            departures,
            step_s,
            n_rounds,
            transfer_slack_s,
            pct_rank,
            tt.pattern_stop_ptr,
            tt.pattern_stops,
            tt.pattern_board,
            tt.pattern_alight,
            tt.pattern_trip_ptr,
            tt.trip_time_ptr,
            tt.arrival_s,
            tt.departure_s,
            tt.stop_pattern_ptr,
            tt.stop_pattern,
            tt.stop_pattern_pos,
            *tr,
            out,
        )
        return out
    graph = TimeExpandedGraph(tt, *tr, transfer_slack_s=transfer_slack_s)
    for o in range(n_orig):
        a0, a1 = acc[0][o], acc[0][o + 1]
        ride = graph.earliest_rides(acc[1][a0:a1], acc[2][a0:a1], departures)
        d0, d1 = direct[0][o], direct[0][o + 1]
        _finish_sorted(ride, departures, *egr, direct[1][d0:d1], direct[2][d0:d1], pct_rank, out[o])
    return out


def transit_travel_time_matrix(
    timetable: Timetable,
    origins: Points,
    destinations: Points,
    *,
    window_start_s: int,
    window_end_s: int,
    step_s: int = 60,
    percentiles: Sequence[float] = (50,),
    max_walk_m: float,
    walk_speed_m_s: float,
    detour_factor: float = 1.3,
    max_transfers: int | None = 8,
    transfer_slack_s: int = 60,
    walk_distance_fn: WalkDistanceFn | None = None,
    engine: Engine = "rraptor",
) -> pd.DataFrame:
    """Public-transport travel times over a departure window, origins × destinations.

    Parameters
    ----------
    timetable : Timetable
        From :func:`build_timetable` for the service date wanted.
    origins, destinations : pandas.DataFrame or "stops"
        Points: a DataFrame with ``id``, ``x``, ``y`` (EPSG:27700 metres), a GeoDataFrame of
        points (``id`` column or the index; reprojected to EPSG:27700), or ``"stops"`` for
        every timetable stop (ids = GTFS ``stop_id``).
    window_start_s, window_end_s : int
        Departure window, seconds after midnight of the service date; departures at
        ``window_start_s, window_start_s + step_s, ...`` strictly before ``window_end_s``.
    step_s : int, default 60
        Seconds between departures.
    percentiles : sequence of float, default (50,)
        Percentiles (0-100) of travel time over the departures, nearest-rank.
    max_walk_m : float
        Longest single walk leg (access, transfer, egress or walk-only), metres.
    walk_speed_m_s : float
        Walking speed, metres per second (4.8 km/h = 1.333 m/s).
    detour_factor : float, default 1.3
        Walk distance = straight-line distance × this, when ``walk_distance_fn`` is None.
    max_transfers : int or None, default 8
        At most this many transfers (vehicles - 1); None for no limit.
    transfer_slack_s : int, default 60
        Minimum seconds between alighting (plus any walk) and boarding the next vehicle.
    walk_distance_fn : callable, optional
        Walking-network distance (metres) for point pairs, see :data:`WalkDistanceFn`.
    engine : {"rraptor", "time-expanded-dijkstra"}, default "rraptor"
        The reference time-expanded Dijkstra is for validation only (slow, no transfer
        limit: requires ``max_transfers=None``).

    Returns
    -------
    pandas.DataFrame
        Long format, one row per origin × destination: ``from_id``, ``to_id``,
        ``mode`` (``"transit"``), ``seconds_p<p>`` per percentile (float seconds, NaN when
        unreachable at that percentile) and ``seconds`` (the median, when 50 is requested).
        ``attrs["metadata"]`` states the window, percentiles, walk model (speed, detour
        factor or network), limits, service date and algorithm.

    Examples
    --------
    >>> m = transit_travel_time_matrix(tt, "stops", "stops", window_start_s=7 * 3600,
    ...     window_end_s=10 * 3600, max_walk_m=800, walk_speed_m_s=4.8 / 3.6)  # doctest: +SKIP
    """
    _check_walk(max_walk_m, walk_speed_m_s, detour_factor)
    if engine not in ("rraptor", "time-expanded-dijkstra"):
        raise ValueError(f"unknown engine {engine!r}")
    if engine == "time-expanded-dijkstra" and max_transfers is not None:
        raise ValueError("the time-expanded Dijkstra has no transfer limit: max_transfers=None")
    if max_transfers is not None and max_transfers < 0:
        raise ValueError(f"max_transfers must be >= 0 or None, got {max_transfers}")
    departures = _departures(window_start_s, window_end_s, step_s)
    pct_rank = _pct_rank(percentiles, len(departures))
    o_ids, o_xy = _points(origins, timetable, "origins")
    d_ids, d_xy = _points(destinations, timetable, "destinations")
    walk: dict[str, Any] = {
        "max_walk_m": max_walk_m,
        "walk_speed_m_s": walk_speed_m_s,
        "detour_factor": detour_factor,
        "walk_distance_fn": walk_distance_fn,
    }
    stop_xy = np.column_stack([timetable.stop_x, timetable.stop_y])
    tr = _transfers(timetable, walk)
    es, ed, esec = walk_legs(stop_xy, d_xy, **walk)
    by_dest = np.lexsort((es, ed))
    egr = (_csr(ed[by_dest], len(d_xy)), es[by_dest], esec[by_dest])
    # Each trip is used at most once in an earliest-arrival journey: n_trips rounds suffice.
    n_rounds = max(1, timetable.n_trips) if max_transfers is None else max_transfers + 1
    chunk = max(1, _MAX_CELLS // max(1, len(d_xy) * len(pct_rank)))
    frames: list[pd.DataFrame] = []
    for c0 in range(0, len(o_xy), chunk):
        c_xy = o_xy[c0 : c0 + chunk]
        ai, aj, asec = walk_legs(c_xy, stop_xy, **walk)
        di, dj, dsec = walk_legs(c_xy, d_xy, **walk)
        out = _run(
            timetable,
            n_orig=len(c_xy),
            acc=(_csr(ai, len(c_xy)), aj, asec),
            egr=egr,
            direct=(_csr(di, len(c_xy)), dj, dsec),
            tr=tr,
            departures=departures,
            step_s=step_s,
            n_rounds=n_rounds,
            transfer_slack_s=transfer_slack_s,
            pct_rank=pct_rank,
            engine=engine,
        )
        cols: dict[str, Any] = {
            "from_id": np.repeat(o_ids[c0 : c0 + chunk], len(d_ids)),
            "to_id": np.tile(d_ids, len(c_xy)),
            "mode": "transit",
        }
        for q, p in enumerate(percentiles):
            cols[f"seconds_p{p:g}"] = out[:, :, q].ravel()
        frames.append(pd.DataFrame(cols))
    if frames:
        result = pd.concat(frames, ignore_index=True)
    else:
        result = pd.DataFrame(
            {"from_id": [], "to_id": [], "mode": []}
            | {f"seconds_p{p:g}": np.zeros(0) for p in percentiles}
        )
    if any(float(p) == 50.0 for p in percentiles):
        result["seconds"] = result["seconds_p50"]
    result.attrs["metadata"] = _metadata(
        timetable,
        departures=departures,
        window_start_s=window_start_s,
        window_end_s=window_end_s,
        step_s=step_s,
        percentiles=percentiles,
        max_walk_m=max_walk_m,
        walk_speed_m_s=walk_speed_m_s,
        detour_factor=detour_factor,
        walk_distance_fn=walk_distance_fn,
        max_transfers=max_transfers,
        transfer_slack_s=transfer_slack_s,
        engine=engine,
    )
    return result


def transit_stop_times(
    timetable: Timetable,
    origin_xy: tuple[float, float],
    *,
    window_start_s: int,
    window_end_s: int,
    step_s: int = 60,
    percentiles: Sequence[float] = (50,),
    max_walk_m: float,
    walk_speed_m_s: float,
    detour_factor: float = 1.3,
    max_transfers: int | None = 8,
    transfer_slack_s: int = 60,
    walk_distance_fn: WalkDistanceFn | None = None,
) -> pd.DataFrame:
    """For one origin, the time to reach each stop by vehicle, as percentiles over a window.

    The time for a departure is the earliest arrival at the stop on a vehicle minus the
    departure time (walking from the origin straight to a stop does not count: the isochrone
    covers that walk separately). Parameters are as for :func:`transit_travel_time_matrix`;
    ``origin_xy`` is an EPSG:27700 (x, y) in metres.

    Returns
    -------
    pandas.DataFrame
        ``stop_id``, ``x``, ``y`` (EPSG:27700 metres) and ``seconds_p<p>`` per percentile
        (NaN where not reached), with ``attrs["metadata"]`` as for the matrix.
    """
    _check_walk(max_walk_m, walk_speed_m_s, detour_factor)
    departures = _departures(window_start_s, window_end_s, step_s)
    pct_rank = _pct_rank(percentiles, len(departures))
    walk: dict[str, Any] = {
        "max_walk_m": max_walk_m,
        "walk_speed_m_s": walk_speed_m_s,
        "detour_factor": detour_factor,
        "walk_distance_fn": walk_distance_fn,
    }
    stop_xy = np.column_stack([timetable.stop_x, timetable.stop_y])
    ai, aj, asec = walk_legs(np.asarray([origin_xy], dtype=np.float64), stop_xy, **walk)
    n = timetable.n_stops
    ident = np.arange(n, dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    n_rounds = max(1, timetable.n_trips) if max_transfers is None else max_transfers + 1
    out = _run(
        timetable,
        n_orig=1,
        acc=(_csr(ai, 1), aj, asec),
        egr=(np.arange(n + 1, dtype=np.int64), ident, np.zeros(n, dtype=np.int64)),
        direct=(np.zeros(2, dtype=np.int64), none, none),
        tr=_transfers(timetable, walk),
        departures=departures,
        step_s=step_s,
        n_rounds=n_rounds,
        transfer_slack_s=transfer_slack_s,
        pct_rank=pct_rank,
        engine="rraptor",
    )
    result = pd.DataFrame(
        {"stop_id": timetable.stop_ids, "x": timetable.stop_x, "y": timetable.stop_y}
    )
    for q, p in enumerate(percentiles):
        result[f"seconds_p{p:g}"] = out[0, :, q]
    result.attrs["metadata"] = _metadata(
        timetable,
        departures=departures,
        window_start_s=window_start_s,
        window_end_s=window_end_s,
        step_s=step_s,
        percentiles=percentiles,
        max_walk_m=max_walk_m,
        walk_speed_m_s=walk_speed_m_s,
        detour_factor=detour_factor,
        walk_distance_fn=walk_distance_fn,
        max_transfers=max_transfers,
        transfer_slack_s=transfer_slack_s,
        engine="rraptor",
    )
    return result


def transit_isochrone(
    timetable: Timetable,
    origin_xy: tuple[float, float],
    *,
    bands_s: Sequence[int] = (900, 1800, 2700, 3600),
    percentile: float = 50,
    window_start_s: int,
    window_end_s: int,
    step_s: int = 60,
    max_walk_m: float,
    walk_speed_m_s: float,
    detour_factor: float = 1.3,
    max_transfers: int | None = 8,
    transfer_slack_s: int = 60,
    quad_segs: int = 16,
) -> gpd.GeoDataFrame:
    """Areas reachable by public transport within each time band, at a percentile.

    Method: :func:`transit_stop_times` gives each stop's vehicle-arrival time ``t_s`` at the
    chosen percentile. Band ``T`` is the union of a disc around the origin of radius
    ``min(max_walk_m, T·v) / detour_factor`` and, for each stop with ``t_s <= T``, a disc of
    radius ``min(max_walk_m, (T - t_s)·v) / detour_factor`` (``v`` = walk speed): the places
    a walk with the remaining time budget reaches, straight-line × detour factor (a walk
    network is not used here). Bands nest by construction. Taking the percentile per stop and
    then walking is conservative where several stops serve one place (a percentile of a
    minimum is at most the minimum of the percentiles).

    Parameters
    ----------
    timetable : Timetable
        Trips of the service date.
    origin_xy : tuple of float
        Origin, EPSG:27700 (x, y) metres.
    bands_s : sequence of int, default (900, 1800, 2700, 3600)
        Band limits, seconds.
    percentile : float, default 50
        Percentile of travel time over the window's departures.
    window_start_s, window_end_s, step_s, max_walk_m, walk_speed_m_s, detour_factor, \
max_transfers, transfer_slack_s
        As for :func:`transit_travel_time_matrix` (seconds, metres, metres per second).
    quad_segs : int, default 16
        Segments per quarter circle of the discs.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per band: ``band_s``, ``percentile``, ``n_stops`` (stops reached in time) and
        the polygon, EPSG:27700; ``attrs["metadata"]`` states the window, percentile and walk
        model.
    """
    if not bands_s or any(b <= 0 for b in bands_s):
        raise ValueError(f"bands_s must be positive seconds, got {list(bands_s)}")
    times = transit_stop_times(
        timetable,
        origin_xy,
        window_start_s=window_start_s,
        window_end_s=window_end_s,
        step_s=step_s,
        percentiles=(percentile,),
        max_walk_m=max_walk_m,
        walk_speed_m_s=walk_speed_m_s,
        detour_factor=detour_factor,
        max_transfers=max_transfers,
        transfer_slack_s=transfer_slack_s,
    )
    t_s = times[f"seconds_p{percentile:g}"].to_numpy()
    xy = times[["x", "y"]].to_numpy()
    rows: list[dict[str, Any]] = []
    previous: BaseGeometry = shapely.Polygon()
    origin = shapely.Point(origin_xy)
    for band in sorted(bands_s):
        radius0 = min(max_walk_m, band * walk_speed_m_s) / detour_factor
        discs = [origin.buffer(radius0, quad_segs=quad_segs)]
        reached = np.flatnonzero(np.isfinite(t_s) & (t_s <= band))
        radii = np.minimum(max_walk_m, (band - t_s[reached]) * walk_speed_m_s) / detour_factor
        pts = shapely.points(xy[reached])
        discs.extend(shapely.buffer(pts, radii, quad_segs=quad_segs)[radii > 0])
        area = shapely.union_all([previous, *discs])
        rows.append(
            {
                "band_s": int(band),
                "percentile": float(percentile),
                "n_stops": len(reached),
                "geometry": area,
            }
        )
        previous = area
    gdf = gpd.GeoDataFrame(rows, geometry="geometry", crs=27700)
    meta = dict(times.attrs["metadata"])
    meta["isochrone_method"] = (
        "union of walk discs around the origin and each stop reached, radius = remaining "
        "budget x walk speed (capped at max_walk_m) / detour factor"
    )
    gdf.attrs["metadata"] = meta
    return gdf
