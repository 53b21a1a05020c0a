"""``locus load osm-network``: an OSM extract becomes the routable networks (drive, walk, cycle).

The file is read once (:func:`etl.osm.read_osm`), one graph per road mode
(:data:`spatial.modes.ROAD_MODES`) is built by :func:`spatial.network.build_network` at the
configured speeds (``settings.travel``: ``LOCUS_WALK_SPEED_KMH``, ``LOCUS_CYCLE_SPEED_KMH``),
and both tables (``network_nodes``, ``network_edges``) are swapped in by the common atomic
loader, so a newer extract for the same region replaces the older network entirely.

The speeds are the load's parameters (:func:`network_parameters`): recorded in
``data_loads.metadata`` with each mode's build details, so a result computed on the network
can state them, and loading the same extract at another speed rebuilds the network.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from config.settings import TravelSettings
from etl.loading import ODBL, LoadError, ParsedFile, Region
from etl.osm import OsmReadError, read_osm
from etl.readers.common import Progress, report, require_file
from spatial.crs import bng_to_wgs84
from spatial.modes import ROAD_MODES
from spatial.network import build_network

__all__ = ["network_parameters", "parse_osm_network"]


def network_parameters(travel: TravelSettings) -> dict[str, Any]:
    """The settings a road network is built with: ``walk_speed_kmh``, ``cycle_speed_kmh``.

    Drive speeds come from the road class and ``maxspeed`` tags (:mod:`spatial.network`),
    recorded per mode in the load's ``networks`` metadata.
    """
    return {
        "walk_speed_kmh": float(travel.walk_speed_kmh),
        "cycle_speed_kmh": float(travel.cycle_speed_kmh),
    }


def _region_bbox_wgs84(region: Region) -> tuple[float, float, float, float] | None:
    if region.polygon is None:
        return None
    minx, miny, maxx, maxy = region.polygon.buffer(2000.0).bounds
    lon0, lat0 = bng_to_wgs84(minx, miny)
    lon1, lat1 = bng_to_wgs84(maxx, maxy)
    return (lon0, lat0, lon1, lat1)


def parse_osm_network(
    path: Path,
    region: Region,
    progress: Progress | None = None,
    *,
    travel: TravelSettings,
) -> ParsedFile:
    """Read an OSM extract and build the road networks as load tables.

    Parameters
    ----------
    path
        An ``.osm.pbf`` extract.
    region
        Ways are kept within 2 km of the region's outline (all when it has none).
    progress
        Called after each mode's network is built.
    travel
        The walking and cycling speeds to build with (``settings.travel``); they are the
        load's :attr:`~etl.loading.ParsedFile.parameters`.

    Raises
    ------
    LoadError
        When the file is missing, larger than ``LOCUS_LOAD_MAX_FILE_MB``, unreadable or has
        no highway ways.
    """
    require_file(path)
    try:
        extract = read_osm(path, bbox_wgs84=_region_bbox_wgs84(region))
    except OsmReadError as exc:
        raise LoadError(path, str(exc).split(": ", 1)[-1]) from exc
    if extract.ways.empty:
        raise LoadError(path, "no highway ways found (is this an OSM extract of the region?)")
    parameters = network_parameters(travel)
    nodes: list[pd.DataFrame] = []
    edges: list[pd.DataFrame] = []
    notes: list[str] = []
    networks: dict[str, dict[str, Any]] = {}
    for mode in ROAD_MODES:
        net = build_network(
            extract.ways,
            extract.nodes,
            mode=mode,
            walk_speed_kmh=parameters["walk_speed_kmh"],
            cycle_speed_kmh=parameters["cycle_speed_kmh"],
        )
        nodes.append(pd.DataFrame(net.nodes_frame()))
        edges.append(pd.DataFrame(net.edges_frame()))
        networks[mode] = dict(net.metadata)
        notes.append(
            f"{mode}: {net.n_nodes:,} nodes, {net.n_segments:,} edges "
            f"({net.metadata.get('dropped_nodes', 0):,} nodes outside the largest "
            "strongly connected component dropped)"
        )
        report(progress, len(nodes), len(ROAD_MODES))
    notes.append(
        f"built at walk {parameters['walk_speed_kmh']:g} km/h, "
        f"cycle {parameters['cycle_speed_kmh']:g} km/h"
    )
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
        parameters=parameters,
        metadata={"networks": networks},
    )


def _vintage_from_name(path: Path) -> str | None:
    """``rutland_2022-07-20.osm.pbf`` → ``2022-07-20`` (Geofabrik-style names)."""
    match = re.search(r"(\d{4}-\d{2}-\d{2})", path.name)
    return match.group(1) if match else None
