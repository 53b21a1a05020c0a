"""The requests of ``bench/api_load.py``: items pages and tiles over Rutland, by workload.

A workload is a set of named groups of URL paths (:data:`bench.support.http_load.Groups`); a
client draws a group uniformly, then a path of it. Items pages also carry what they ask for,
so the bench can count the expected features in SQL over the base tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.support.http_load import Groups

# Rutland (E06000017) in lon/lat, a little generous.
RUTLAND = (-0.83, 52.52, -0.42, 52.77)
TILE_LAYERS = (("areas", 8), ("sites", 8), ("network_edges", 11))
ZOOMS = range(8, 15)


def _tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def rutland_tiles(z: int) -> list[tuple[int, int]]:
    """The tiles covering Rutland at zoom ``z``."""
    x0, y0 = _tile_xy(RUTLAND[0], RUTLAND[3], z)
    x1, y1 = _tile_xy(RUTLAND[2], RUTLAND[1], z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def tile_groups(prefix: str, template: str, layers: tuple[tuple[str, int], ...]) -> Groups:
    """Every tile over Rutland at zooms 8-14 per layer (from its minimum zoom), by zoom."""
    groups: Groups = {}
    for layer, minzoom in layers:
        for z in ZOOMS:
            if z < minzoom:
                continue
            for x, y in rutland_tiles(z):
                path = template.format(layer=layer, z=z, x=x, y=y)
                groups.setdefault(f"{prefix} z{z}", []).append(path)
    return groups


@dataclass(frozen=True)
class ItemsRequest:
    """One items page: the URL path and what it asks for (to count independently in SQL)."""

    path: str
    collection: str
    offset: int
    bbox: tuple[float, float, float, float] | None
    bbox_srid: int


#: Items pages per collection: sites (37 located in Rutland) and areas (54) fit on one page;
#: postcodes (1,026) and network edges (27,033) give full pages of 100.
COLLECTION_OFFSETS = {
    "sites": (0,),
    "areas": (0,),
    "postcodes": (0, 100, 300, 500),
    "network_edges": (0, 500, 2000),
}


def items_requests(collections: tuple[str, ...]) -> list[ItemsRequest]:
    """Pages of 100 features of ``collections`` with varied bboxes and offsets."""
    w, s, e, n = RUTLAND
    boxes: list[tuple[tuple[float, float, float, float] | None, int]] = [(None, 4326)]
    # Halves and quadrants of Rutland in CRS84, and two BNG boxes (Oakham, Uppingham).
    mx, my = (w + e) / 2, (s + n) / 2
    boxes += [
        ((w, s, mx, n), 4326),
        ((mx, s, e, n), 4326),
        ((w, my, e, n), 4326),
        ((w, s, e, my), 4326),
        ((w, s, mx, my), 4326),
        ((mx, my, e, n), 4326),
        ((480000.0, 304000.0, 490000.0, 314000.0), 27700),
        ((482000.0, 294000.0, 492000.0, 304000.0), 27700),
    ]
    out = []
    for collection in collections:
        for bbox, srid in boxes:
            for offset in COLLECTION_OFFSETS[collection]:
                query = f"limit=100&offset={offset}"
                if bbox is not None:
                    query += "&bbox=" + ",".join(f"{v:g}" for v in bbox)
                    if srid == 27700:
                        query += "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/27700"
                out.append(
                    ItemsRequest(
                        f"/collections/{collection}/items?{query}", collection, offset, bbox, srid
                    )
                )
    return out


def expected_items(conninfo: str, req: ItemsRequest) -> int:
    """numberReturned computed over the base tables (not through the API's SQL)."""
    table, where = {
        "sites": ("sites", "geom IS NOT NULL AND NOT restricted"),
        "areas": ("areas", "TRUE"),
        "postcodes": ("postcodes", "TRUE"),
        "network_edges": ("network_edges", "TRUE"),
    }[req.collection]
    params: list[Any] = []
    if req.bbox is not None:
        if req.bbox_srid == 4326:
            env = "ST_Transform(ST_Segmentize(ST_MakeEnvelope(%s,%s,%s,%s,4326), %s), 27700)"
            params = [*req.bbox, max(req.bbox[2] - req.bbox[0], req.bbox[3] - req.bbox[1]) / 32]
        else:
            env = "ST_MakeEnvelope(%s,%s,%s,%s,27700)"
            params = list(req.bbox)
        where += f" AND ST_Intersects(geom, {env})"
    with psycopg.connect(conninfo) as conn:
        # Fixed table names and predicates from this file; the bbox values are bound.
        query = f"SELECT count(*) FROM {table} WHERE {where}"  # noqa: S608
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return max(0, min(100, int(row[0]) - req.offset))


def build_workloads() -> tuple[dict[str, Groups], dict[str, list[ItemsRequest]]]:
    """Groups of paths per workload, and the items requests each must check in SQL."""
    items = {
        "items-100": items_requests(("sites", "areas")),
        "items-100-full": items_requests(("postcodes", "network_edges")),
    }
    groups: dict[str, Groups] = {
        w: {f"items {r.collection}": [] for r in reqs} for w, reqs in items.items()
    }
    for w, reqs in items.items():
        for r in reqs:
            groups[w][f"items {r.collection}"].append(r.path)
    layer_tiles = tile_groups(
        "tiles", "/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}", TILE_LAYERS
    )
    catchment_tiles = {
        **tile_groups(
            "tiles catchments",
            "/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}",
            (("catchments", 0),),
        ),
        **tile_groups("tiles all-layers", "/tiles/WebMercatorQuad/{z}/{x}/{y}", (("", 0),)),
    }
    groups["tiles-z8-14"] = layer_tiles
    groups["catchments-tiles"] = catchment_tiles
    # Mixed: half the requests items pages, half tiles (groups are drawn uniformly).
    mixed_items = {f"{g} {i}": paths for g, paths in groups["items-100"].items() for i in range(7)}
    groups["catchments-mixed"] = {**catchment_tiles, **mixed_items}
    groups["soak"] = {**catchment_tiles, **mixed_items, **layer_tiles}
    items["catchments-mixed"] = items["items-100"]
    items["soak"] = items["items-100"]
    return groups, items
