"""What the register, co-location and scenario services share.

JSON-safe values for responses, WGS84 positions of stored points (through :mod:`spatial.crs`),
and the areas (with their population) the estate analyses count people in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from app.services.areas import area_table
from spatial.crs import bng_to_wgs84
from store.connection import Database

__all__ = ["AREA_VINTAGE", "clean", "estate_areas", "lonlat", "records"]

#: Census areas the estate analyses count people in (LSOA 2021).
AREA_VINTAGE = 2021


def clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf → None, numpy scalars → Python, containers recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT:
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-safe dicts."""
    return [clean(dict(r)) for r in frame.to_dict(orient="records")]


def lonlat(x: pd.Series, y: pd.Series) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """EPSG:27700 metres → WGS84 longitude, latitude (degrees, 6 decimals: ~0.1 m)."""
    lon, lat = bng_to_wgs84(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
    return np.round(np.asarray(lon, dtype=float), 6), np.round(np.asarray(lat, dtype=float), 6)


def estate_areas(db: Database) -> pd.DataFrame:
    """The :data:`AREA_VINTAGE` areas with population by age band, 65+, IMD decile and
    representative point (:func:`app.services.areas.area_table`)."""
    with db.connection() as conn:
        return area_table(conn, vintage=AREA_VINTAGE)
