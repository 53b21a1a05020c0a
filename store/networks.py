"""Road networks as loaded by ``locus load osm-network``, and which travel modes have data.

A network load writes one graph per road mode (``network_nodes``, ``network_edges``); the
newest active ``osm-network`` load is the one routed on. Its speeds are read back from the
edges themselves (``length_m / cost_s``), so what results state is what the stored network
was built with, whatever the settings are now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from psycopg import Connection
from psycopg.rows import dict_row

from spatial.modes import MODES, ROAD_MODES, Mode, is_road_mode
from store.connection import read_frame
from store.feeds import active_feed

__all__ = [
    "NetworkLoad",
    "RoadSpeeds",
    "active_network_load",
    "available_modes",
    "network_edges",
    "network_nodes",
    "network_speeds",
]


@dataclass(frozen=True)
class NetworkLoad:
    """The ``data_loads`` row of a road network: id, region, file and OSM vintage."""

    load_id: int
    region: str
    file_name: str
    vintage: str | None


@dataclass(frozen=True)
class RoadSpeeds:
    """Speeds of one mode's stored graph, km/h, over its traversable edge directions.

    ``mean_kmh`` is distance-weighted (total length / total time). Walk and cycle graphs use
    one speed on every edge, so their minimum, mean and maximum agree: that is the speed the
    network was built with.
    """

    mode: str
    mean_kmh: float
    min_kmh: float
    max_kmh: float
    edges: int

    @property
    def uniform(self) -> bool:
        """True when every edge has the same speed (to 0.01 km/h)."""
        return self.max_kmh - self.min_kmh < 0.01


def active_network_load(conn: Connection[Any]) -> NetworkLoad | None:
    """The newest active ``osm-network`` load (several regions: the newest), or None."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            "SELECT id, region, file_name, vintage FROM data_loads "
            "WHERE dataset = 'osm-network' AND status = 'active' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return None
    return NetworkLoad(
        load_id=int(row["id"]),
        region=str(row["region"]),
        file_name=str(row["file_name"]),
        vintage=row["vintage"],
    )


def network_speeds(conn: Connection[Any], load_id: int) -> dict[str, RoadSpeeds]:
    """Per mode of network load ``load_id``: the speeds its edges were built with."""
    frame = read_frame(
        conn,
        "WITH d AS (SELECT mode, length_m, cost_s AS s FROM network_edges "
        "WHERE load_id = %(l)s AND cost_s > 0 AND length_m > 0 "
        "UNION ALL SELECT mode, length_m, reverse_cost_s FROM network_edges "
        "WHERE load_id = %(l)s AND reverse_cost_s > 0 AND length_m > 0) "
        "SELECT mode, 3.6 * sum(length_m) / sum(s) AS mean_kmh, "
        "3.6 * min(length_m / s) AS min_kmh, 3.6 * max(length_m / s) AS max_kmh, "
        "count(*) AS edges FROM d GROUP BY mode ORDER BY mode",
        {"l": load_id},
    )
    return {
        str(r["mode"]): RoadSpeeds(
            mode=str(r["mode"]),
            mean_kmh=float(r["mean_kmh"]),
            min_kmh=float(r["min_kmh"]),
            max_kmh=float(r["max_kmh"]),
            edges=int(r["edges"]),
        )
        for r in frame.to_dict("records")
    }


def network_nodes(conn: Connection[Any], mode: str, load_id: int) -> pd.DataFrame:
    """Nodes of one mode's graph: ``node_id, osm_id`` (-1 when none), ``x, y`` (EPSG:27700)."""
    return read_frame(
        conn,
        "SELECT node_id, coalesce(osm_id, -1) AS osm_id, ST_X(geom) AS x, ST_Y(geom) AS y "
        "FROM network_nodes WHERE mode = %(m)s AND load_id = %(l)s ORDER BY node_id",
        {"m": mode, "l": load_id},
    )


def network_edges(conn: Connection[Any], mode: str, load_id: int) -> pd.DataFrame:
    """Edges (one per segment) of one mode's graph, ordered by ``edge_id``.

    Columns ``source, target, length_m, cost_s, reverse_cost_s`` (seconds, -1: not that
    way), ``osm_way_id`` (-1 when none), ``highway`` ('' when none), ``wkb`` (LineString,
    EPSG:27700).
    """
    return read_frame(
        conn,
        "SELECT source, target, length_m, cost_s, reverse_cost_s, "
        "coalesce(osm_way_id, -1) AS osm_way_id, coalesce(highway, '') AS highway, "
        "ST_AsBinary(geom) AS wkb FROM network_edges WHERE mode = %(m)s AND load_id = %(l)s "
        "ORDER BY edge_id",
        {"m": mode, "l": load_id},
    )


def available_modes(conn: Connection[Any]) -> list[Mode]:
    """The travel modes with data loaded, in :data:`spatial.modes.MODES` order.

    A road mode when the active network load has a graph of it, ``transit`` when a GTFS feed
    is loaded.
    """
    load = active_network_load(conn)
    road: set[str] = set()
    if load is not None:
        # One index probe per mode (primary key mode, node_id), not a scan of every node.
        cur = conn.execute(
            "SELECT m FROM unnest(%(modes)s::text[]) AS m WHERE EXISTS (SELECT 1 FROM "
            "network_nodes n WHERE n.mode = m AND n.load_id = %(l)s)",
            {"modes": list(ROAD_MODES), "l": load.load_id},
        )
        road = {str(r[0]) for r in cur.fetchall()}
    feed = active_feed(conn) is not None
    return [m for m in MODES if (m in road if is_road_mode(m) else feed)]
