"""``locus load osm``: an OSM extract becomes the routable networks (drive, walk, cycle).

The file is read once (:func:`etl.osm.read_osm`), one graph per mode is built by
:func:`spatial.network.build_network` with the configured speeds, and both tables
(``network_nodes``, ``network_edges``) are swapped in by the common atomic loader, so a newer
extract for the same region replaces the older network entirely.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyproj

from etl.loading import ODBL, LoadError, ParsedFile, Region
from etl.osm import OsmReadError, read_osm
from etl.readers.common import Progress, report
from spatial.network import Mode, build_network

MODES: tuple[Mode, ...] = ("drive", "walk", "cycle")


def _region_bbox_wgs84(region: Region) -> tuple[float, float, float, float] | None:
    if region.polygon is None:
        return None
    minx, miny, maxx, maxy = region.polygon.buffer(2000.0).bounds
    to_wgs = pyproj.Transformer.from_crs(27700, 4326, always_xy=True)
    lon0, lat0 = to_wgs.transform(minx, miny)
    lon1, lat1 = to_wgs.transform(maxx, maxy)
    return (lon0, lat0, lon1, lat1)


def parse_osm_network(
    path: Path,
    region: Region,
    progress: Progress | None = None,
    *,
    walk_speed_kmh: float = 4.8,
    cycle_speed_kmh: float = 15.0,
) -> ParsedFile:
    """Read an OSM extract and build the drive, walk and cycle networks as load tables."""
    try:
        extract = read_osm(path, bbox_wgs84=_region_bbox_wgs84(region))
    except OsmReadError as exc:
        raise LoadError(path, str(exc).split(": ", 1)[-1]) from exc
    if extract.ways.empty:
        raise LoadError(path, "no highway ways found (is this an OSM extract of the region?)")
    nodes: list[pd.DataFrame] = []
    edges: list[pd.DataFrame] = []
    notes: list[str] = []
    for mode in MODES:
        net = build_network(
            extract.ways,
            extract.nodes,
            mode=mode,
            walk_speed_kmh=walk_speed_kmh,
            cycle_speed_kmh=cycle_speed_kmh,
        )
        nodes.append(pd.DataFrame(net.nodes_frame()))
        edges.append(pd.DataFrame(net.edges_frame()))
        notes.append(
            f"{mode}: {net.n_nodes:,} nodes, {net.n_segments:,} edges "
            f"({net.metadata.get('dropped_nodes', 0):,} nodes outside the largest "
            "strongly connected component dropped)"
        )
        report(progress, len(nodes), len(MODES))
    timestamp = extract.metadata.get("timestamp") or extract.metadata.get("replication_timestamp")
    return ParsedFile(
        dataset="osm-network",
        path=path,
        licence=ODBL,
        tables={
            "network_nodes": pd.concat(nodes, ignore_index=True),
            "network_edges": pd.concat(edges, ignore_index=True),
        },
        rows_read=len(extract.ways),
        vintage=str(timestamp) if timestamp else _vintage_from_name(path),
        notes=notes,
    )


def _vintage_from_name(path: Path) -> str | None:
    """``rutland_2022-07-20.osm.pbf`` → ``2022-07-20`` (Geofabrik-style names)."""
    import re

    match = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    return match.group(1) if match else None
