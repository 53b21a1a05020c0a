"""Feature collections: the registry of served tables (:mod:`.registry`) and their SQL
(:mod:`.queries`: items, features, counts, extents, the data version; :mod:`.tiles`: vector
tiles within their limits)."""

from store.features.queries import (
    AREA_OF_USE,
    PRECISION,
    ItemsPage,
    ItemsQuery,
    clip_to_area_of_use,
    count_items,
    data_version,
    fetch_extent,
    fetch_item,
    fetch_items,
)
from store.features.registry import (
    ATTRIBUTION,
    CRS84,
    CRS_SRID,
    EPSG_27700,
    REGISTRY,
    SRID_CRS,
    Collection,
    Property,
    PropertyType,
    TileParts,
)
from store.features.tiles import (
    MVT_BUFFER,
    MVT_EXTENT,
    WEB_MERCATOR_WIDTH,
    TileLayer,
    TileLimits,
    fetch_tile,
    tile_lonlat_bounds,
    tolerance,
)

__all__ = [
    "AREA_OF_USE",
    "ATTRIBUTION",
    "CRS84",
    "CRS_SRID",
    "EPSG_27700",
    "MVT_BUFFER",
    "MVT_EXTENT",
    "PRECISION",
    "REGISTRY",
    "SRID_CRS",
    "WEB_MERCATOR_WIDTH",
    "Collection",
    "ItemsPage",
    "ItemsQuery",
    "Property",
    "PropertyType",
    "TileLayer",
    "TileLimits",
    "TileParts",
    "clip_to_area_of_use",
    "count_items",
    "data_version",
    "fetch_extent",
    "fetch_item",
    "fetch_items",
    "fetch_tile",
    "tile_lonlat_bounds",
    "tolerance",
]
