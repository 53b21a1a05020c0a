"""Read an OpenStreetMap PBF extract into the tables the routing core needs.

Uses pyosmium (libosmium) because it streams PBF quickly and resolves way node locations
with its own index; nothing else in the stack reads PBF. Output is plain pandas/geopandas:

* ``ways``: one row per ``highway=*`` way, with the routing tags and the node refs as an
  ``int64`` array per way;
* ``nodes``: the coordinates (EPSG:27700, metres) of every node those ways reference;
* ``health``: health and amenity points (``amenity`` in hospital/clinic/doctors/pharmacy/
  dentist, any ``healthcare=*``, and ``building=hospital``) as points in EPSG:27700; polygon
  features (closed ways, multipolygons) are reduced to their centroid.

A missing, truncated or corrupt file raises :class:`OsmReadError` (a ``ValueError``) naming
the file and the reason; nothing is returned half-read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely

from spatial.crs import BNG, wgs84_to_bng

__all__ = ["HEALTH_AMENITIES", "ROUTING_TAGS", "OsmExtract", "OsmReadError", "read_osm"]

#: Way tags kept for routing (absent tags are ``None``).
ROUTING_TAGS: tuple[str, ...] = (
    "highway",
    "maxspeed",
    "oneway",
    "oneway:bicycle",
    "junction",
    "access",
    "motor_vehicle",
    "motorcar",
    "vehicle",
    "foot",
    "bicycle",
    "service",
    "area",
    "name",
)

#: ``amenity`` values treated as health sites.
HEALTH_AMENITIES: frozenset[str] = frozenset(
    {"hospital", "clinic", "doctors", "pharmacy", "dentist"}
)


class OsmReadError(ValueError):
    """The OSM file is missing, truncated or corrupt (message names the file and reason)."""


@dataclass
class OsmExtract:
    """Everything read from one OSM extract.

    Attributes
    ----------
    ways : pandas.DataFrame
        ``osm_id`` (int64), ``nodes`` (``numpy.ndarray`` of int64 node ids per way) and one
        column per tag in :data:`ROUTING_TAGS` (string or ``None``).
    nodes : pandas.DataFrame
        ``osm_id`` (int64), ``x``, ``y`` (float64, EPSG:27700 metres), ``lon``, ``lat``
        (WGS84) for every node referenced by a way in ``ways``.
    health : geopandas.GeoDataFrame
        ``osm_id``, ``osm_type`` (``node``/``way``/``relation``), ``name``, ``amenity``,
        ``healthcare``, ``building``, point geometry in EPSG:27700.
    source : pathlib.Path
        The file read.
    """

    ways: pd.DataFrame
    nodes: pd.DataFrame
    health: gpd.GeoDataFrame
    source: Path
    metadata: dict[str, Any] = field(default_factory=dict)


def _is_health(tags: Any) -> bool:
    return bool(
        tags.get("amenity") in HEALTH_AMENITIES
        or "healthcare" in tags
        or tags.get("building") == "hospital"
    )


def read_osm(
    path: str | Path,
    *,
    bbox_wgs84: tuple[float, float, float, float] | None = None,
) -> OsmExtract:
    """Read highway ways, their node coordinates and health points from an OSM PBF file.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.osm.pbf`` (or any format libosmium reads) file.
    bbox_wgs84 : tuple of float, optional
        ``(min_lon, min_lat, max_lon, max_lat)``; keeps ways with at least one node inside
        (whole ways are kept, so the graph is not cut mid-road) and health points inside.

    Returns
    -------
    OsmExtract
        Ways, node coordinates (EPSG:27700) and health points (EPSG:27700).

    Raises
    ------
    OsmReadError
        If the file is missing, empty, truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise OsmReadError(f"{path.name}: file not found ({path})")
    if path.stat().st_size == 0:
        raise OsmReadError(f"{path.name}: file is empty")

    way_ids: list[int] = []
    way_nodes: list[np.ndarray] = []
    tag_cols: dict[str, list[str | None]] = {t: [] for t in ROUTING_TAGS}
    node_loc: dict[int, tuple[float, float]] = {}
    health_rows: list[dict[str, Any]] = []
    invalid_locations = 0

    try:
        fp = (
            osmium.FileProcessor(str(path))
            .with_locations()
            .with_areas(osmium.filter.KeyFilter("amenity", "healthcare", "building"))
            .with_filter(osmium.filter.KeyFilter("highway", "amenity", "healthcare", "building"))
        )
        obj: Any  # pyosmium yields a union of OSM object types; is_way() etc. narrow it
        for obj in fp:
            if obj.is_way():
                tags = obj.tags
                if "highway" not in tags:
                    continue
                refs = []
                ok = True
                for n in obj.nodes:
                    loc = n.location
                    if not loc.valid():
                        ok = False
                        break
                    refs.append(n.ref)
                    node_loc[n.ref] = (loc.lon, loc.lat)
                if not ok or len(refs) < 2:
                    invalid_locations += 1
                    continue
                way_ids.append(obj.id)
                way_nodes.append(np.asarray(refs, dtype=np.int64))
                for t in ROUTING_TAGS:
                    tag_cols[t].append(tags.get(t))
            elif obj.is_node():
                if _is_health(obj.tags) and obj.location.valid():
                    health_rows.append(_health_row(obj.tags, obj.id, "node"))
                    health_rows[-1]["lon"] = obj.location.lon
                    health_rows[-1]["lat"] = obj.location.lat
            elif obj.is_area() and _is_health(obj.tags):
                try:
                    wkb = osmium.geom.WKBFactory().create_multipolygon(obj)
                except RuntimeError:
                    continue
                c = shapely.from_wkb(wkb).centroid
                osm_type = "way" if obj.from_way() else "relation"
                row = _health_row(obj.tags, obj.orig_id(), osm_type)
                row["lon"] = c.x
                row["lat"] = c.y
                health_rows.append(row)
    except (RuntimeError, OSError) as exc:  # libosmium reports format errors as RuntimeError
        raise OsmReadError(f"{path.name}: cannot read OSM data ({exc})") from exc

    if not way_ids and not health_rows:
        raise OsmReadError(f"{path.name}: no highway ways or health features found")

    ways = pd.DataFrame({"osm_id": np.asarray(way_ids, dtype=np.int64)})
    ways["nodes"] = pd.Series(way_nodes, dtype=object)
    for t in ROUTING_TAGS:
        ways[t] = pd.Series(tag_cols[t], dtype=object)

    ids = np.fromiter(node_loc.keys(), dtype=np.int64, count=len(node_loc))
    lonlat = np.array(list(node_loc.values()), dtype=np.float64).reshape(-1, 2)
    x, y = wgs84_to_bng(lonlat[:, 0], lonlat[:, 1])
    nodes = pd.DataFrame({"osm_id": ids, "x": x, "y": y, "lon": lonlat[:, 0], "lat": lonlat[:, 1]})

    health = pd.DataFrame(
        health_rows,
        columns=["osm_id", "osm_type", "name", "amenity", "healthcare", "building", "lon", "lat"],
    )
    if bbox_wgs84 is not None:
        w, s, e, n = bbox_wgs84
        inside = (
            (nodes["lon"] >= w) & (nodes["lon"] <= e) & (nodes["lat"] >= s) & (nodes["lat"] <= n)
        )
        inside_ids = set(nodes.loc[inside, "osm_id"].tolist())
        keep = np.fromiter(
            (any(int(r) in inside_ids for r in refs) for refs in ways["nodes"]),
            dtype=bool,
            count=len(ways),
        )
        ways = ways.loc[keep].reset_index(drop=True)
        used: Any = np.unique(np.concatenate(ways["nodes"].tolist())) if len(ways) else []
        nodes = nodes.loc[nodes["osm_id"].isin(used)].reset_index(drop=True)
        health = health.loc[
            (health["lon"] >= w)
            & (health["lon"] <= e)
            & (health["lat"] >= s)
            & (health["lat"] <= n)
        ].reset_index(drop=True)

    hx, hy = wgs84_to_bng(health["lon"].to_numpy(float), health["lat"].to_numpy(float))
    health_gdf = gpd.GeoDataFrame(
        health.drop(columns=["lon", "lat"]),
        geometry=shapely.points(np.asarray(hx), np.asarray(hy)),
        crs=BNG,
    )
    return OsmExtract(
        ways=ways,
        nodes=nodes,
        health=health_gdf,
        source=path,
        metadata={
            "file": path.name,
            "highway_ways": len(ways),
            "nodes": len(nodes),
            "health_features": len(health_gdf),
            "ways_skipped_missing_nodes": invalid_locations,
            "bbox_wgs84": bbox_wgs84,
        },
    )


def _health_row(tags: Any, osm_id: int, osm_type: str) -> dict[str, Any]:
    return {
        "osm_id": int(osm_id),
        "osm_type": osm_type,
        "name": tags.get("name"),
        "amenity": tags.get("amenity"),
        "healthcare": tags.get("healthcare"),
        "building": tags.get("building"),
    }
