"""Routable road networks per mode (drive / walk / cycle) as flat arrays.

Hand-written rather than taken from osmnx because the engine needs (a) UK speed rules and
access rules that are stated in every result, (b) a compact CSR graph in flat numpy arrays
that numba kernels (``spatial.traveltime``) can use directly and that caches to one ``.npz``,
and (c) snapping to the nearest *edge* with a timed access leg, which osmnx does not do.

Model
-----
The ways are cut at *intersection nodes* (way ends and nodes shared by two or more ways of the
mode), so each **segment** is an undirected road piece between two graph nodes, carrying the
full polyline geometry (EPSG:27700). Each segment yields up to two **directed edges**
(forward = segment's source → target, backward = target → source), absent when one-way
rules or access forbid that direction. Only the **largest strongly connected component** is
kept (so every node can reach every other); ``metadata["dropped_nodes"]`` and
``metadata["dropped_segments"]`` report what was removed.

UK default drive speeds (mph), used when a way has no numeric ``maxspeed``
--------------------------------------------------------------------------
=================  ===  =================  ===
motorway            70  motorway_link       50
trunk               60  trunk_link          40
primary             50  primary_link        30
secondary           45  secondary_link      30
tertiary            40  tertiary_link       25
unclassified        30  residential         25
living_street       10  service             15
road                20  service=parking_aisle / driveway / drive-through: 10
=================  ===  =================  ===

A numeric ``maxspeed`` (``"30 mph"``, ``"50"`` = km/h, ``"50 km/h"``) is used as the speed
where tagged. UK national-limit values (``national``, ``GB:nsl_single`` = 60 mph,
``GB:nsl_dual`` = 70 mph, ``GB:motorway`` = 70 mph, ``GB:nsl_restricted``/``GB:urban`` =
30 mph) are limits rather than typical speeds, so they only cap the class default
(``min(default, limit)``). Walk uses one speed (default 4.8 km/h) and cycle one speed
(default 15 km/h) on every permitted way, both directions for walk.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from spatial.modes import RoadMode

__all__ = [
    "DEFAULT_DRIVE_SPEEDS_MPH",
    "MPH",
    "ContractionHierarchy",
    "Mode",
    "Network",
    "SnappedPoints",
    "build_network",
    "network_from_arrays",
    "parse_maxspeed_kmh",
    "snap_points",
]

#: The mode of one graph: the road modes of the registry (:mod:`spatial.modes`).
Mode = RoadMode
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Kilometres per hour in one mile per hour.
MPH = 1.609344

#: UK default drive speeds by ``highway`` class, miles per hour.
DEFAULT_DRIVE_SPEEDS_MPH: dict[str, float] = {
    "motorway": 70.0,
    "motorway_link": 50.0,
    "trunk": 60.0,
    "trunk_link": 40.0,
    "primary": 50.0,
    "primary_link": 30.0,
    "secondary": 45.0,
    "secondary_link": 30.0,
    "tertiary": 40.0,
    "tertiary_link": 25.0,
    "unclassified": 30.0,
    "residential": 25.0,
    "living_street": 10.0,
    "service": 15.0,
    "road": 20.0,
}
_MINOR_SERVICE = {"parking_aisle", "driveway", "drive-through"}
_MINOR_SERVICE_MPH = 10.0

_WALK_HIGHWAYS = frozenset(
    {
        "footway", "path", "pedestrian", "steps", "living_street", "residential",
        "unclassified", "service", "track", "tertiary", "tertiary_link", "secondary",
        "secondary_link", "primary", "primary_link", "road", "bridleway", "cycleway",
        "crossing", "corridor",
    }
)  # fmt: skip
_WALK_IF_ALLOWED = frozenset({"trunk", "trunk_link", "motorway", "motorway_link"})
_CYCLE_HIGHWAYS = frozenset(
    {
        "cycleway", "path", "bridleway", "track", "residential", "unclassified", "service",
        "living_street", "tertiary", "tertiary_link", "secondary", "secondary_link",
        "primary", "primary_link", "trunk", "trunk_link", "road",
    }
)  # fmt: skip
_CYCLE_IF_ALLOWED = frozenset({"footway", "pedestrian", "steps", "crossing"})
_YES = frozenset({"yes", "permissive", "designated", "destination", "customers", "official"})
_NO = frozenset(
    {"no", "private", "agricultural", "forestry", "emergency", "delivery", "use_sidepath"}
)
_NSL_MPH = {
    "national": 60.0,
    "gb:nsl_single": 60.0,
    "uk:nsl_single": 60.0,
    "gb:nsl_dual": 70.0,
    "uk:nsl_dual": 70.0,
    "gb:motorway": 70.0,
    "uk:motorway": 70.0,
    "gb:nsl_restricted": 30.0,
    "uk:nsl_restricted": 30.0,
    "gb:urban": 30.0,
    "uk:urban": 30.0,
}
_NUM_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*$")


def parse_maxspeed_kmh(value: str | None) -> tuple[float | None, bool]:
    """Parse an OSM ``maxspeed`` value.

    Parameters
    ----------
    value : str or None
        The tag value, e.g. ``"30 mph"``, ``"50"`` (km/h), ``"GB:nsl_single"``.

    Returns
    -------
    tuple of (float or None, bool)
        Speed in km/h (``None`` if absent or unparseable, e.g. ``"signals"``) and whether it
        is a national-limit value (a cap, not a typical speed). With several values
        (``"30;40"``) the lowest is used.
    """
    if value is None or not isinstance(value, str):
        return None, False
    best: float | None = None
    nsl = False
    for part in value.split(";"):
        p = part.strip().lower()
        if p in _NSL_MPH:
            v = _NSL_MPH[p] * MPH
            is_nsl = True
        else:
            m = _NUM_RE.match(p)
            if not m:
                continue
            v = float(m.group(1)) * (MPH if m.group(2) == "mph" else 1.0)
            is_nsl = False
        if v > 0 and (best is None or v < best):
            best, nsl = v, is_nsl
    return best, nsl


def _first_tag(row: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = row.get(k)
        if isinstance(v, str):
            return v
    return None


def _oneway(row: Mapping[str, Any], *, mode: Mode) -> tuple[bool, bool]:
    if mode == "walk":
        return True, True
    ow = row.get("oneway")
    if mode == "cycle" and isinstance(row.get("oneway:bicycle"), str):
        ow = row.get("oneway:bicycle")
    ow = ow.lower() if isinstance(ow, str) else None
    if ow in {"yes", "true", "1"}:
        return True, False
    if ow in {"-1", "reverse"}:
        return False, True
    if ow in {"no", "false", "0"}:
        return True, True
    if row.get("junction") in {"roundabout", "circular"}:
        return True, False
    if mode == "drive" and row.get("highway") == "motorway":
        return True, False
    return True, True


def _way_rule(
    row: Mapping[str, Any],
    *,
    mode: Mode,
    drive_speeds_mph: Mapping[str, float],
    walk_speed_kmh: float,
    cycle_speed_kmh: float,
    use_maxspeed: bool,
) -> tuple[bool, bool, float]:
    """(forward allowed, backward allowed, speed km/h) for one way; speed 0 = excluded."""
    hw = row.get("highway")
    if not isinstance(hw, str) or row.get("area") == "yes":
        return False, False, 0.0
    if mode == "drive":
        if hw not in drive_speeds_mph:
            return False, False, 0.0
        tag = _first_tag(row, ("motorcar", "motor_vehicle", "vehicle", "access"))
        if tag is not None and tag in _NO:
            return False, False, 0.0
        speed = drive_speeds_mph[hw] * MPH
        if hw == "service" and row.get("service") in _MINOR_SERVICE:
            speed = min(speed, _MINOR_SERVICE_MPH * MPH)
        if use_maxspeed:
            ms, nsl = parse_maxspeed_kmh(row.get("maxspeed"))
            if ms is not None:
                speed = min(speed, ms) if nsl else ms
    elif mode == "walk":
        tag = _first_tag(row, ("foot", "access"))
        if hw in _WALK_IF_ALLOWED:
            if row.get("foot") not in _YES:
                return False, False, 0.0
        elif hw not in _WALK_HIGHWAYS or (tag is not None and tag in _NO):
            return False, False, 0.0
        speed = walk_speed_kmh
    else:
        tag = _first_tag(row, ("bicycle", "vehicle", "access"))
        if hw in _CYCLE_IF_ALLOWED:
            if row.get("bicycle") not in _YES:
                return False, False, 0.0
        elif hw not in _CYCLE_HIGHWAYS or (tag is not None and tag in _NO):
            return False, False, 0.0
        speed = cycle_speed_kmh
    fwd, bwd = _oneway(row, mode=mode)
    return fwd, bwd, speed


@dataclass
class SnappedPoints:
    """Points snapped to the nearest network segment.

    Attributes
    ----------
    ids : numpy.ndarray
        The caller's point ids (object or int array).
    x, y : numpy.ndarray
        Input coordinates, EPSG:27700 metres.
    segment : numpy.ndarray of int64
        Nearest segment index (``-1`` where unreachable).
    fraction : numpy.ndarray of float64
        Position of the snapped point along the segment's geometry, 0 at its source node,
        1 at its target node.
    snap_distance_m : numpy.ndarray of float64
        Straight-line distance from the point to the snapped point, metres.
    access_s : numpy.ndarray of float64
        Access leg time, seconds (``snap_distance_m / access_speed_m_s``).
    reachable : numpy.ndarray of bool
        ``False`` when the nearest segment is farther than ``max_distance_m`` — such points
        get no travel times; they are never moved to the network.
    """

    ids: npt.NDArray[Any]
    x: FloatArray
    y: FloatArray
    segment: IntArray
    fraction: FloatArray
    snap_distance_m: FloatArray
    access_s: FloatArray
    reachable: npt.NDArray[np.bool_]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def to_frame(self) -> pd.DataFrame:
        """The snap report: one row per point (``id``, ``segment``, ``fraction``,
        ``snap_distance_m``, ``access_s``, ``reachable``)."""
        return pd.DataFrame(
            {
                "id": self.ids,
                "segment": self.segment,
                "fraction": self.fraction,
                "snap_distance_m": self.snap_distance_m,
                "access_s": self.access_s,
                "reachable": self.reachable,
            }
        )


@dataclass
class ContractionHierarchy:
    """A contraction hierarchy in rank order (flat CSR arrays).

    Built and queried by :mod:`spatial.traveltime` (``build_ch``); defined here because a
    :class:`Network` caches its hierarchy and saves it with itself.

    Attributes
    ----------
    rank : numpy.ndarray of int64
        Rank of each original node (0 = contracted first).
    order : numpy.ndarray of int64
        Original node id of each rank (inverse of ``rank``).
    up_ptr, up_adj, up_w : numpy.ndarray
        Upward graph: edges ``r -> h`` with ``h > r`` (rank ids), seconds.
    dn_ptr, dn_adj, dn_w : numpy.ndarray
        Downward graph stored at the lower end: for node ``r``, edges ``h -> r`` with
        ``h > r``, seconds.
    build_seconds : float
        Wall time of the preprocessing, seconds.
    """

    rank: IntArray
    order: IntArray
    up_ptr: IntArray
    up_adj: IntArray
    up_w: FloatArray
    dn_ptr: IntArray
    dn_adj: IntArray
    dn_w: FloatArray
    build_seconds: float = 0.0

    @property
    def n_shortcut_edges(self) -> int:
        """Number of edges in the hierarchy (original + shortcuts)."""
        return len(self.up_adj) + len(self.dn_adj)

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays for caching with :meth:`Network.save`."""
        return {
            "rank": self.rank,
            "order": self.order,
            "up_ptr": self.up_ptr,
            "up_adj": self.up_adj,
            "up_w": self.up_w,
            "dn_ptr": self.dn_ptr,
            "dn_adj": self.dn_adj,
            "dn_w": self.dn_w,
            "build_seconds": np.array(self.build_seconds),
        }

    @classmethod
    def from_arrays(cls, a: dict[str, npt.NDArray[Any]]) -> ContractionHierarchy:
        """Inverse of :meth:`to_arrays`."""
        return cls(
            rank=a["rank"],
            order=a["order"],
            up_ptr=a["up_ptr"],
            up_adj=a["up_adj"],
            up_w=a["up_w"],
            dn_ptr=a["dn_ptr"],
            dn_adj=a["dn_adj"],
            dn_w=a["dn_w"],
            build_seconds=float(a["build_seconds"]),
        )


@dataclass
class Network:
    """A directed road graph for one mode, as flat arrays (EPSG:27700, seconds, metres).

    Attributes
    ----------
    mode : str
        ``"drive"``, ``"walk"`` or ``"cycle"`` (or any label for synthetic graphs).
    node_osm_id, node_x, node_y : numpy.ndarray
        Node table, indexed by node id ``0..n_nodes-1`` (``node_osm_id`` is ``-1`` for
        synthetic graphs).
    seg_source, seg_target, seg_length_m, seg_fwd_s, seg_bwd_s : numpy.ndarray
        Segment table; ``seg_fwd_s``/``seg_bwd_s`` are the travel times in seconds source →
        target / target → source, ``-1`` where not traversable that way.
    seg_way_id, seg_highway, seg_geometry : numpy.ndarray
        OSM way id, ``highway`` class and LineString (source → target) per segment.
    indptr, indices, weights, csr_edge : numpy.ndarray
        CSR adjacency of directed edges: out-edges of node ``u`` are
        ``indices[indptr[u]:indptr[u+1]]`` with ``weights`` seconds (float64) and
        ``csr_edge`` the directed edge id.
    edge_source, edge_target, edge_seconds, edge_segment, edge_forward : numpy.ndarray
        Directed edge table: edge ``e`` runs along segment ``edge_segment[e]``, forward
        (source → target) when ``edge_forward[e]``.
    metadata : dict
        Mode, speeds used, counts, dropped parts.
    """

    mode: str
    node_osm_id: IntArray
    node_x: FloatArray
    node_y: FloatArray
    seg_source: IntArray
    seg_target: IntArray
    seg_length_m: FloatArray
    seg_fwd_s: FloatArray
    seg_bwd_s: FloatArray
    seg_way_id: IntArray
    seg_highway: npt.NDArray[Any]
    seg_geometry: npt.NDArray[Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    edge_source: IntArray = field(init=False)
    edge_target: IntArray = field(init=False)
    edge_seconds: FloatArray = field(init=False)
    edge_segment: IntArray = field(init=False)
    edge_forward: npt.NDArray[np.bool_] = field(init=False)
    indptr: IntArray = field(init=False)
    indices: IntArray = field(init=False)
    weights: FloatArray = field(init=False)
    csr_edge: IntArray = field(init=False)
    _ch: ContractionHierarchy | None = field(init=False, default=None, repr=False)
    _tree: Any = field(init=False, default=None, repr=False)
    cache: dict[Any, Any] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        segs = np.arange(len(self.seg_source), dtype=np.int64)
        f = self.seg_fwd_s >= 0
        b = self.seg_bwd_s >= 0
        self.edge_source = np.concatenate([self.seg_source[f], self.seg_target[b]])
        self.edge_target = np.concatenate([self.seg_target[f], self.seg_source[b]])
        self.edge_seconds = np.concatenate([self.seg_fwd_s[f], self.seg_bwd_s[b]])
        self.edge_segment = np.concatenate([segs[f], segs[b]])
        self.edge_forward = np.concatenate(
            [np.ones(int(f.sum()), dtype=bool), np.zeros(int(b.sum()), dtype=bool)]
        )
        order = np.lexsort((self.edge_target, self.edge_source))
        n = self.n_nodes
        counts = np.bincount(self.edge_source, minlength=n)
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        self.indices = self.edge_target[order].astype(np.int64)
        self.weights = self.edge_seconds[order].astype(np.float64)
        self.csr_edge = order.astype(np.int64)

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_x)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return len(self.edge_source)

    @property
    def n_segments(self) -> int:
        """Number of undirected segments (road pieces between nodes)."""
        return len(self.seg_source)

    # ------------------------------------------------------------------ tables
    def nodes_frame(self) -> gpd.GeoDataFrame:
        """Node table: ``mode, node_id, osm_id, geom`` (Point, EPSG:27700)."""
        return gpd.GeoDataFrame(
            {
                "mode": self.mode,
                "node_id": np.arange(self.n_nodes, dtype=np.int64),
                "osm_id": self.node_osm_id,
            },
            geometry=gpd.GeoSeries(shapely.points(self.node_x, self.node_y), crs=27700),
            crs=27700,
        ).rename_geometry("geom")

    def edges_frame(self) -> gpd.GeoDataFrame:
        """Database edge table, **one row per segment** with pgRouting-style costs.

        Columns ``mode, edge_id, source, target, length_m, cost_s, reverse_cost_s,
        osm_way_id, highway, geom`` (LineString, EPSG:27700, drawn source → target).
        ``cost_s`` is the time source → target and ``reverse_cost_s`` target → source, in
        seconds, ``-1`` when not traversable that way (pgRouting skips negative costs), so
        the table can be passed straight to ``pgr_dijkstra(..., directed => true)``.
        ``edge_id`` is the segment index (the ``segment`` reported by snapping).
        """
        return gpd.GeoDataFrame(
            {
                "mode": self.mode,
                "edge_id": np.arange(self.n_segments, dtype=np.int64),
                "source": self.seg_source,
                "target": self.seg_target,
                "length_m": self.seg_length_m,
                "cost_s": self.seg_fwd_s,
                "reverse_cost_s": self.seg_bwd_s,
                "osm_way_id": self.seg_way_id,
                "highway": self.seg_highway,
            },
            geometry=gpd.GeoSeries(self.seg_geometry, crs=27700),
            crs=27700,
        ).rename_geometry("geom")

    # ------------------------------------------------------------------ caching
    def save(self, path: str | Path) -> Path:
        """Save to a compressed ``.npz`` (arrays, geometry as coordinate runs, metadata).

        The contraction hierarchy is stored too once it has been built, so a load is
        ready to query. Key the file by the network load id (``network_<load>_<mode>.npz``).
        """
        import json

        path = Path(path)
        coords = shapely.get_coordinates(self.seg_geometry)
        ncoords = shapely.get_num_coordinates(self.seg_geometry).astype(np.int64)
        arrays: dict[str, Any] = {
            "node_osm_id": self.node_osm_id,
            "node_x": self.node_x,
            "node_y": self.node_y,
            "seg_source": self.seg_source,
            "seg_target": self.seg_target,
            "seg_length_m": self.seg_length_m,
            "seg_fwd_s": self.seg_fwd_s,
            "seg_bwd_s": self.seg_bwd_s,
            "seg_way_id": self.seg_way_id,
            "seg_highway": self.seg_highway.astype(str),
            "geom_coords": coords,
            "geom_ncoords": ncoords,
            "meta": np.array(json.dumps({"mode": self.mode, **self.metadata}, default=str)),
        }
        if self._ch is not None:
            for k, v in self._ch.to_arrays().items():
                arrays["ch_" + k] = v
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Load a network saved by :meth:`save` (including its CH if one was saved)."""
        import json

        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            ncoords = z["geom_ncoords"]
            idx = np.repeat(np.arange(len(ncoords)), ncoords)
            geoms = shapely.linestrings(z["geom_coords"], indices=idx)
            net = cls(
                mode=meta.pop("mode"),
                node_osm_id=z["node_osm_id"],
                node_x=z["node_x"],
                node_y=z["node_y"],
                seg_source=z["seg_source"],
                seg_target=z["seg_target"],
                seg_length_m=z["seg_length_m"],
                seg_fwd_s=z["seg_fwd_s"],
                seg_bwd_s=z["seg_bwd_s"],
                seg_way_id=z["seg_way_id"],
                seg_highway=z["seg_highway"].astype(object),
                seg_geometry=np.asarray(geoms, dtype=object),
                metadata=meta,
            )
            ch_keys = [k for k in z.files if k.startswith("ch_")]
            if ch_keys:
                net._ch = ContractionHierarchy.from_arrays({k[3:]: z[k] for k in ch_keys})
        return net

    # ------------------------------------------------------------------ helpers
    def segment_tree(self) -> shapely.STRtree:
        """STRtree over segment geometries (built once, cached)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.seg_geometry)
        tree: shapely.STRtree = self._tree
        return tree


def build_network(
    ways: pd.DataFrame,
    node_xy: pd.DataFrame,
    *,
    mode: Mode,
    drive_speeds_mph: Mapping[str, float] | None = None,
    walk_speed_kmh: float = 4.8,
    cycle_speed_kmh: float = 15.0,
    use_maxspeed: bool = True,
) -> Network:
    """Build a routable graph for one mode from OSM highway ways.

    Parameters
    ----------
    ways : pandas.DataFrame
        ``osm_id``, ``nodes`` (int64 array of node refs per way) and the routing tags
        (``highway``, ``maxspeed``, ``oneway``, ``junction``, ``access``, ``motor_vehicle``,
        ``motorcar``, ``vehicle``, ``foot``, ``bicycle``, ``service``, ``area``), as
        :func:`etl.osm.read_osm` returns.
    node_xy : pandas.DataFrame
        ``osm_id``, ``x``, ``y`` — node coordinates in EPSG:27700 metres.
    mode : spatial.modes.RoadMode
        Travel mode.
    drive_speeds_mph : mapping, optional
        Overrides of :data:`DEFAULT_DRIVE_SPEEDS_MPH` (mph per ``highway`` class); a class
        missing from the final table is not driveable.
    walk_speed_kmh : float, default 4.8
        Walking speed, km/h.
    cycle_speed_kmh : float, default 15.0
        Cycling speed, km/h.
    use_maxspeed : bool, default True
        Use ``maxspeed`` tags (see module docstring) for drive.

    Returns
    -------
    Network
        The largest strongly connected component of the mode's graph, simplified to
        intersection nodes; ``metadata`` states speeds used and what was dropped.
    """
    speeds_mph = dict(DEFAULT_DRIVE_SPEEDS_MPH)
    if drive_speeds_mph:
        speeds_mph.update(drive_speeds_mph)
    records: list[dict[str, Any]] = [
        {str(k): v for k, v in r.items()} for r in ways.to_dict("records")
    ]
    rules = [
        _way_rule(
            r,
            mode=mode,
            drive_speeds_mph=speeds_mph,
            walk_speed_kmh=walk_speed_kmh,
            cycle_speed_kmh=cycle_speed_kmh,
            use_maxspeed=use_maxspeed,
        )
        for r in records
    ]
    kept = [i for i, (f, b, s) in enumerate(rules) if s > 0 and (f or b)]
    if not kept:
        raise ValueError(f"no {mode} ways in the input")

    node_index = pd.Index(node_xy["osm_id"].to_numpy(np.int64))
    xs = node_xy["x"].to_numpy(np.float64)
    ys = node_xy["y"].to_numpy(np.float64)
    way_refs = [np.asarray(records[i]["nodes"], dtype=np.int64) for i in kept]
    all_refs = np.concatenate(way_refs)
    uniq, counts = np.unique(all_refs, return_counts=True)
    ends = np.concatenate([np.array([r[0], r[-1]]) for r in way_refs])
    is_inter = pd.Index(np.union1d(uniq[counts > 1], ends))

    s_src: list[int] = []
    s_tgt: list[int] = []
    s_coords: list[FloatArray] = []
    s_way: list[int] = []
    s_hw: list[str] = []
    s_fwd: list[bool] = []
    s_bwd: list[bool] = []
    s_speed: list[float] = []
    for i, refs in zip(kept, way_refs, strict=True):
        pos = node_index.get_indexer(refs)
        if (pos < 0).any():
            raise ValueError(f"way {records[i]['osm_id']} references nodes without coordinates")
        xy = np.column_stack([xs[pos], ys[pos]])
        cut = np.flatnonzero(is_inter.get_indexer(refs) >= 0)
        f, b, sp = rules[i]
        for a, z in itertools.pairwise(cut):
            if refs[a] == refs[z]:
                continue  # self-loop: never on a shortest path
            s_src.append(int(refs[a]))
            s_tgt.append(int(refs[z]))
            s_coords.append(xy[a : z + 1])
            s_way.append(int(records[i]["osm_id"]))
            s_hw.append(str(records[i]["highway"]))
            s_fwd.append(f)
            s_bwd.append(b)
            s_speed.append(sp)

    osm_nodes, inv = np.unique(np.array(s_src + s_tgt, dtype=np.int64), return_inverse=True)
    m = len(s_src)
    src = inv[:m].astype(np.int64)
    tgt = inv[m:].astype(np.int64)
    geoms = np.asarray(
        shapely.linestrings(
            np.concatenate(s_coords), indices=np.repeat(np.arange(m), [len(c) for c in s_coords])
        ),
        dtype=object,
    )
    length = shapely.length(geoms).astype(np.float64)
    speed_ms = np.asarray(s_speed) / 3.6
    secs = length / speed_ms
    fwd_s = np.where(np.asarray(s_fwd), secs, -1.0)
    bwd_s = np.where(np.asarray(s_bwd), secs, -1.0)

    # largest strongly connected component
    n = len(osm_nodes)
    es = np.concatenate([src[fwd_s >= 0], tgt[bwd_s >= 0]])
    et = np.concatenate([tgt[fwd_s >= 0], src[bwd_s >= 0]])
    g = csr_matrix((np.ones(len(es)), (es, et)), shape=(n, n))
    n_comp, labels = connected_components(g, directed=True, connection="strong")
    big = np.argmax(np.bincount(labels))
    keep_node = labels == big
    keep_seg = keep_node[src] & keep_node[tgt]
    new_id = np.full(n, -1, dtype=np.int64)
    new_id[keep_node] = np.arange(int(keep_node.sum()))
    pos = node_index.get_indexer(osm_nodes[keep_node])

    if mode == "drive":
        speeds_meta: dict[str, Any] = {
            "drive_speeds_mph": speeds_mph,
            "minor_service_mph": _MINOR_SERVICE_MPH,
            "use_maxspeed": use_maxspeed,
        }
    elif mode == "walk":
        speeds_meta = {"walk_speed_kmh": walk_speed_kmh}
    else:
        speeds_meta = {"cycle_speed_kmh": cycle_speed_kmh}
    return Network(
        mode=mode,
        node_osm_id=osm_nodes[keep_node].astype(np.int64),
        node_x=xs[pos],
        node_y=ys[pos],
        seg_source=new_id[src[keep_seg]],
        seg_target=new_id[tgt[keep_seg]],
        seg_length_m=length[keep_seg],
        seg_fwd_s=fwd_s[keep_seg],
        seg_bwd_s=bwd_s[keep_seg],
        seg_way_id=np.asarray(s_way, dtype=np.int64)[keep_seg],
        seg_highway=np.asarray(s_hw, dtype=object)[keep_seg],
        seg_geometry=geoms[keep_seg],
        metadata={
            **speeds_meta,
            "component": "largest strongly connected component",
            "components": int(n_comp),
            "dropped_nodes": int(n - keep_node.sum()),
            "dropped_segments": int(m - keep_seg.sum()),
            "ways_used": len(kept),
        },
    )


def network_from_arrays(
    *,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    source: npt.ArrayLike,
    target: npt.ArrayLike,
    fwd_seconds: npt.ArrayLike,
    bwd_seconds: npt.ArrayLike,
    mode: str = "synthetic",
    highway: npt.ArrayLike | None = None,
) -> Network:
    """Build a :class:`Network` from plain arrays (straight-line segment geometry).

    Parameters
    ----------
    x, y : array_like
        Node coordinates, EPSG:27700 metres.
    source, target : array_like of int
        Segment end nodes.
    fwd_seconds, bwd_seconds : array_like of float
        Seconds source → target and target → source; ``-1`` = not traversable.
    mode : str
        Label stored on the network.
    highway : array_like, optional
        Road class label per segment.

    Returns
    -------
    Network
        No component filtering is done; the caller guarantees connectivity.
    """
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    s = np.asarray(source, dtype=np.int64)
    t = np.asarray(target, dtype=np.int64)
    coords = np.empty((2 * len(s), 2))
    coords[0::2, 0] = xa[s]
    coords[0::2, 1] = ya[s]
    coords[1::2, 0] = xa[t]
    coords[1::2, 1] = ya[t]
    geoms = np.asarray(
        shapely.linestrings(coords, indices=np.repeat(np.arange(len(s)), 2)), dtype=object
    )
    hw = (
        np.asarray(highway, dtype=object)
        if highway is not None
        else np.full(len(s), "synthetic", dtype=object)
    )
    return Network(
        mode=mode,
        node_osm_id=np.full(len(xa), -1, dtype=np.int64),
        node_x=xa,
        node_y=ya,
        seg_source=s,
        seg_target=t,
        seg_length_m=np.hypot(xa[t] - xa[s], ya[t] - ya[s]),
        seg_fwd_s=np.asarray(fwd_seconds, dtype=np.float64),
        seg_bwd_s=np.asarray(bwd_seconds, dtype=np.float64),
        seg_way_id=np.full(len(s), -1, dtype=np.int64),
        seg_highway=hw,
        seg_geometry=geoms,
        metadata={"source": "arrays"},
    )


def snap_points(
    network: Network,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    ids: npt.ArrayLike | None = None,
    max_distance_m: float = 1000.0,
    access_speed_m_s: float = 4.8 / 3.6,
) -> SnappedPoints:
    """Snap points to the nearest network segment (not node).

    The point is projected onto the nearest segment geometry (shapely ``STRtree``); travel
    from the point starts with an access leg (straight line at ``access_speed_m_s``) and then
    runs along the two partial edges to the segment's end nodes (where direction allows).

    Parameters
    ----------
    network : Network
        The graph to snap to.
    x, y : array_like
        Point coordinates, EPSG:27700 metres.
    ids : array_like, optional
        Point ids (default ``0..n-1``).
    max_distance_m : float, default 1000
        Points farther than this from every segment are reported ``reachable=False``.
    access_speed_m_s : float, default 4.8/3.6
        Speed of the access leg, metres per second (walking).

    Returns
    -------
    SnappedPoints
        Segment, fraction, snap distance (m), access time (s) and reachable flag per point.
    """
    xa = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ya = np.atleast_1d(np.asarray(y, dtype=np.float64))
    id_arr = np.arange(len(xa)) if ids is None else np.asarray(ids)
    if len(id_arr) != len(xa) or len(ya) != len(xa):
        raise ValueError("x, y and ids must have the same length")
    if not np.all(np.isfinite(xa) & np.isfinite(ya)):
        raise ValueError("point coordinates must be finite (EPSG:27700 metres)")
    pts = shapely.points(xa, ya)
    tree = network.segment_tree()
    seg = np.full(len(xa), -1, dtype=np.int64)
    if len(xa):
        q_idx, t_idx = tree.query_nearest(pts, all_matches=False)
        seg[q_idx] = t_idx
    lines = network.seg_geometry[seg]
    dist = shapely.distance(pts, lines).astype(np.float64)
    along = shapely.line_locate_point(lines, pts)
    seglen = shapely.length(lines)
    frac = np.clip(np.where(seglen > 0, along / np.where(seglen > 0, seglen, 1.0), 0.0), 0, 1)
    reachable = dist <= max_distance_m
    return SnappedPoints(
        ids=id_arr,
        x=xa,
        y=ya,
        segment=np.where(reachable, seg, -1).astype(np.int64),
        fraction=np.where(reachable, frac, math.nan).astype(np.float64),
        snap_distance_m=dist,
        access_s=(dist / access_speed_m_s).astype(np.float64),
        reachable=reachable.astype(bool),
        metadata={"max_distance_m": max_distance_m, "access_speed_m_s": access_speed_m_s},
    )
