"""Coordinate reference systems and the transforms between them, made once.

Geometry is stored in British National Grid (EPSG:27700, metres); GeoJSON is served in WGS84
longitude/latitude (EPSG:4326, axis order lon, lat as RFC 7946 asks). pyproj transformers are
costly to build (~10 ms) and safe to share, so each direction is built once here and every
layer calls these functions instead of making its own.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

__all__ = [
    "AREA_OF_USE",
    "BNG",
    "WGS84",
    "bng_to_wgs84",
    "in_area_of_use",
    "transformer",
    "wgs84_to_bng",
]

#: British National Grid (storage CRS), metres.
BNG = 27700
#: WGS84 geographic, degrees; used with always_xy (lon, lat).
WGS84 = 4326

#: Area of use (lon/lat degrees: west, south, east, north) of each projected CRS: points,
#: bboxes and tiles outside it are refused or clipped before they are projected.
AREA_OF_USE: dict[int, tuple[float, float, float, float]] = {BNG: (-10.0, 49.0, 3.0, 62.0)}


def in_area_of_use(lon: float, lat: float, srid: int = BNG) -> bool:
    """True when the WGS84 point (degrees) lies in the area of use of EPSG ``srid``."""
    west, south, east, north = AREA_OF_USE[srid]
    return west <= lon <= east and south <= lat <= north


@cache
def transformer(source: int, target: int) -> Transformer:
    """The shared ``always_xy`` transformer from EPSG ``source`` to EPSG ``target``."""
    return Transformer.from_crs(source, target, always_xy=True)


def wgs84_to_bng(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Longitude/latitude (degrees, EPSG:4326) to easting/northing (metres, EPSG:27700).

    Scalars give floats; arrays give float64 arrays.
    """
    x, y = transformer(WGS84, BNG).transform(lon, lat)
    return _same_kind(x), _same_kind(y)


def bng_to_wgs84(x: Any, y: Any) -> tuple[Any, Any]:
    """Easting/northing (metres, EPSG:27700) to longitude/latitude (degrees, EPSG:4326)."""
    lon, lat = transformer(BNG, WGS84).transform(x, y)
    return _same_kind(lon), _same_kind(lat)


def _same_kind(value: Any) -> float | npt.NDArray[np.float64]:
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value, dtype=np.float64)
