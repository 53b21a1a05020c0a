"""Road networks as a :class:`~app.services.sources.TravelTimeSource` (drive, walk, cycle).

A network is identified by the active ``osm-network`` load that wrote it; its arrays (and the
contraction hierarchy, once built) are cached in memory and as ``.npz`` in
``settings.paths.cache_dir`` keyed by database, load id and mode, so a restart does not
rebuild it. The speeds stated with results are those of the stored network
(:func:`store.networks.network_speeds`), not the current settings; the settings decide only
the query-time rules (the access leg to the network and the snap limit).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from app.services.sources import BandPolygon, Isochrones, NoNetworkError, Reach, Times
from config.settings import Settings, TravelSettings
from spatial.catchment import isochrones
from spatial.modes import RoadMode, is_road_mode, mode_spec
from spatial.network import Network, SnappedPoints, snap_points
from spatial.traveltime import build_ch, travel_time_array
from store.connection import Database
from store.networks import (
    NetworkLoad,
    RoadSpeeds,
    active_network_load,
    network_edges,
    network_nodes,
    network_speeds,
)

__all__ = [
    "NoNetworkError",
    "RoadNetworkSource",
    "get_network",
    "road_metadata",
    "road_source",
    "road_speeds",
]

DRIVE_SPEEDS = "UK defaults by road class; OSM maxspeed where tagged"
_lock = threading.Lock()
_memory: dict[tuple[str, str, int], Network] = {}
_speeds: dict[tuple[str, int], dict[str, RoadSpeeds]] = {}


def _no_network() -> NoNetworkError:
    return NoNetworkError(
        "no road network is loaded: run `locus load osm-network <extract.osm.pbf>`"
    )


def _from_database(db: Database, mode: RoadMode, load_id: int) -> Network:
    with db.connection() as conn:
        nodes = network_nodes(conn, mode, load_id)
        if nodes.empty:
            raise NoNetworkError(f"no {mode} network loaded")
        edges = network_edges(conn, mode, load_id)
    return Network(
        mode=mode,
        node_osm_id=nodes["osm_id"].to_numpy(dtype=np.int64),
        node_x=nodes["x"].to_numpy(dtype=np.float64),
        node_y=nodes["y"].to_numpy(dtype=np.float64),
        seg_source=edges["source"].to_numpy(dtype=np.int64),
        seg_target=edges["target"].to_numpy(dtype=np.int64),
        seg_length_m=edges["length_m"].to_numpy(dtype=np.float64),
        seg_fwd_s=edges["cost_s"].to_numpy(dtype=np.float64),
        seg_bwd_s=edges["reverse_cost_s"].to_numpy(dtype=np.float64),
        seg_way_id=edges["osm_way_id"].to_numpy(dtype=np.int64),
        seg_highway=edges["highway"].to_numpy(dtype=object),
        seg_geometry=np.asarray(shapely.from_wkb([bytes(g) for g in edges["wkb"]]), dtype=object),
        metadata={"network_load_id": load_id, "mode": mode},
    )


def get_network(
    db: Database, mode: RoadMode, *, cache_dir: Path, load_id: int | None = None
) -> Network:
    """The graph of ``mode`` (with its contraction hierarchy) of network load ``load_id``
    (default: the active one), from memory, the ``.npz`` cache or the database.

    Raises
    ------
    NoNetworkError
        When no network (of that mode) is loaded.
    """
    if not is_road_mode(mode):
        raise ValueError(f"mode {mode!r} is not routed on a road network")
    if load_id is None:
        with db.connection() as conn:
            load = active_network_load(conn)
        if load is None:
            raise _no_network()
        load_id = load.load_id
    key = (db.settings.url, mode, load_id)
    with _lock:
        if key in _memory:
            return _memory[key]
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"network_{db.settings.name}_{load_id}_{mode}.npz"
        if path.exists():
            network = Network.load(path)
        else:
            network = _from_database(db, mode, load_id)
            build_ch(network)
            network.save(path)
        network.metadata["network_load_id"] = load_id
        _memory[key] = network
        return network


def road_speeds(db: Database, load_id: int) -> dict[str, RoadSpeeds]:
    """The speeds each mode's graph of network load ``load_id`` was built with (cached)."""
    key = (db.settings.url, load_id)
    with _lock:
        found = _speeds.get(key)
    if found is None:
        with db.connection() as conn:
            found = network_speeds(conn, load_id)
        with _lock:
            _speeds[key] = found
    return found


def _kmh(speeds: Mapping[str, RoadSpeeds], mode: str) -> float | None:
    found = speeds.get(mode)
    return round(found.mean_kmh, 2) if found is not None else None


def road_metadata(
    mode: RoadMode, load: NetworkLoad, speeds: Mapping[str, RoadSpeeds], travel: TravelSettings
) -> dict[str, Any]:
    """The model of times on a road network, stated with every result.

    Speeds are the stored network's (``walk_speed_kmh``, ``cycle_speed_kmh``: the speed its
    walk and cycle graphs were built with; ``mean_speed_kmh``: this mode's distance-weighted
    mean); the access leg and snap limit are the query-time settings.
    """
    own = speeds.get(mode)
    return {
        "mode": mode,
        "network_load_id": load.load_id,
        "network_vintage": load.vintage,
        "speed_rule": mode_spec(mode).speed_rule,
        "walk_speed_kmh": _kmh(speeds, "walk"),
        "cycle_speed_kmh": _kmh(speeds, "cycle"),
        "mean_speed_kmh": round(own.mean_kmh, 2) if own is not None else None,
        "drive_speeds": DRIVE_SPEEDS,
        "access_leg": f"straight line to the nearest edge at {travel.walk_speed_kmh} km/h",
        "max_snap_distance_m": travel.max_snap_distance_m,
    }


@dataclass
class RoadNetworkSource:
    """Times on the road network of one mode (see :class:`~app.services.sources.TravelTimeSource`).

    The graph is read (or built) on first use, so a source made only for its metadata costs
    two small queries.
    """

    db: Database
    mode: RoadMode
    load: NetworkLoad
    speeds: dict[str, RoadSpeeds]
    travel: TravelSettings
    cache_dir: Path
    _network: Network | None = field(default=None, repr=False)

    @property
    def load_id(self) -> int:
        """The network load's ``data_loads`` id."""
        return self.load.load_id

    @property
    def metadata(self) -> dict[str, Any]:
        """See :func:`road_metadata`."""
        return road_metadata(self.mode, self.load, self.speeds, self.travel)

    @property
    def reach_rule(self) -> str:
        """Reachable means: on this mode's network."""
        return f"on the {self.mode} network"

    @property
    def network(self) -> Network:
        """The routable graph (loaded on first use)."""
        if self._network is None:
            self._network = get_network(
                self.db, self.mode, cache_dir=self.cache_dir, load_id=self.load_id
            )
        return self._network

    def snap(self, points: pd.DataFrame) -> SnappedPoints:
        """``points`` (``x, y``) snapped to the network with the configured limits."""
        return snap_points(
            self.network,
            points["x"].to_numpy(dtype=np.float64),
            points["y"].to_numpy(dtype=np.float64),
            ids=np.arange(len(points)),
            max_distance_m=self.travel.max_snap_distance_m,
            access_speed_m_s=self.travel.walk_speed_m_s,
        )

    def reach(self, points: pd.DataFrame) -> Reach:
        """Snap distance and reachability of each point."""
        snapped = self.snap(points)
        return Reach(
            reachable=np.asarray(snapped.reachable, dtype=bool),
            snap_distance_m=np.asarray(snapped.snap_distance_m, dtype=np.float64),
            max_snap_distance_m=self.travel.max_snap_distance_m,
        )

    def times(
        self, origins: pd.DataFrame, targets: pd.DataFrame, *, cutoff_s: float | None = None
    ) -> Times:
        """Seconds origins × targets on the network (access legs included; inf unreachable
        or beyond ``cutoff_s``)."""
        seconds = travel_time_array(
            self.network, self.snap(origins), self.snap(targets), cutoff_s=cutoff_s
        )
        return Times(np.asarray(seconds, dtype=np.float64), self.metadata)

    def isochrones(self, x: float, y: float, bands_min: Sequence[int]) -> Isochrones:
        """Reachable edges cut at each band time, buffered and unioned."""
        origin = self.snap(pd.DataFrame({"x": [x], "y": [y]}))
        polygons = isochrones(self.network, origin, bands_min=list(bands_min))
        bands = [
            BandPolygon(int(band), geom)
            for band, geom in zip(polygons["band_min"], polygons.geometry, strict=True)
        ]
        metadata = {
            "direction": "from each area's representative point to the site",
            "isochrone_method": "reachable edges cut at the band time, buffered and unioned",
        }
        if bool(origin.reachable[0]):
            return Isochrones(bands, metadata=metadata)
        detail = (
            f"the site is {origin.snap_distance_m[0]:.0f} m from the nearest {self.mode} edge, "
            f"beyond the {self.travel.max_snap_distance_m:.0f} m snap limit"
        )
        return Isochrones(bands, reachable=False, detail=detail, metadata=metadata)


def road_source(db: Database, settings: Settings, mode: RoadMode) -> RoadNetworkSource:
    """The road-network source of ``mode`` on the active network load.

    Raises
    ------
    NoNetworkError
        When no road network, or none of ``mode``, is loaded.
    """
    with db.connection() as conn:
        load = active_network_load(conn)
    if load is None:
        raise _no_network()
    speeds = road_speeds(db, load.load_id)
    if mode not in speeds:
        raise NoNetworkError(
            f"the loaded road network (load {load.load_id}) has no {mode} graph: reload it "
            "with `locus load osm-network <extract.osm.pbf>`"
        )
    return RoadNetworkSource(
        db=db,
        mode=mode,
        load=load,
        speeds=speeds,
        travel=settings.travel,
        cache_dir=settings.paths.cache_dir,
    )
