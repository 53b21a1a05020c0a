"""Where people are: origins (a point or a postcode) and the area table with its population.

Population in a catchment is counted **by representative point**: an area is inside a band
when the travel time between its representative point and the site is within the band, and
its whole population (Census 2021 age bands) counts — so band totals reconcile exactly with
the census totals of the areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from psycopg import Connection

from etl.readers.common import normalise_postcode
from spatial.crs import AREA_OF_USE, BNG, bng_to_wgs84, in_area_of_use, wgs84_to_bng
from store.areas import area_features, population_by_age, postcode_point
from store.connection import Database

__all__ = [
    "POPULATION_METHOD",
    "AnalysisInputError",
    "Origin",
    "age_label",
    "area_table",
    "origin_from_lonlat",
    "origin_from_postcode",
    "population_breakdown",
    "postcode_lookup",
]

POPULATION_METHOD = (
    "representative point: an area counts wholly in a band when the travel time between its "
    "representative point and the site is within the band (totals reconcile with the census)"
)


class AnalysisInputError(ValueError):
    """A parameter names something that does not exist or cannot be used (site, postcode,
    kind); ``parameter`` names it."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter = parameter


@dataclass(frozen=True)
class Origin:
    """A point in EPSG:27700 with how it was given (lon/lat or postcode)."""

    x: float
    y: float
    postcode: str | None = None

    def lonlat(self) -> tuple[float, float]:
        """WGS84 longitude and latitude, 6 decimals (≈ 0.1 m)."""
        lon, lat = bng_to_wgs84(self.x, self.y)
        return round(float(lon), 6), round(float(lat), 6)

    def frame(self) -> pd.DataFrame:
        """The point as a one-row ``id, x, y`` frame (what travel-time sources take)."""
        return pd.DataFrame({"id": [0], "x": [self.x], "y": [self.y]})


def origin_from_lonlat(lon: float, lat: float) -> Origin:
    """An :class:`Origin` from WGS84 longitude/latitude.

    Raises
    ------
    AnalysisInputError
        Naming ``lon`` when the point is outside British National Grid's area of use.
    """
    if not in_area_of_use(lon, lat):
        west, south, east, north = AREA_OF_USE[BNG]
        raise AnalysisInputError(
            "lon",
            f"the point ({lon}, {lat}) is outside Great Britain's grid (EPSG:27700 covers "
            f"longitude {west} to {east}, latitude {south} to {north})",
        )
    x, y = wgs84_to_bng(lon, lat)
    return Origin(float(x), float(y))


def postcode_lookup(db: Database, postcode: str) -> dict[str, Any]:
    """The stored point of a postcode (newest vintage first).

    Raises
    ------
    AnalysisInputError
        When the postcode is not in any loaded postcode file.
    """
    pc = normalise_postcode(postcode)
    with db.connection() as conn:
        found = postcode_point(conn, pc)
    if found is None:
        raise AnalysisInputError("postcode", f"postcode {pc!r} is not in the loaded postcode data")
    origin = Origin(found.x, found.y, found.postcode)
    lon, lat = origin.lonlat()
    return {
        "postcode": found.postcode,
        "lon": lon,
        "lat": lat,
        "easting": round(origin.x, 1),
        "northing": round(origin.y, 1),
        "lsoa21": found.lsoa21,
        "source": found.source,
        "vintage": found.vintage,
    }


def origin_from_postcode(db: Database, postcode: str) -> Origin:
    """An :class:`Origin` at a stored postcode's point (:class:`AnalysisInputError` if none)."""
    found = postcode_lookup(db, postcode)
    return Origin(float(found["easting"]), float(found["northing"]), found["postcode"])


def age_label(lower: int, upper: int | None) -> str:
    """``0-15`` style label for an age band (``65+`` when open-ended)."""
    return f"{lower}+" if upper is None else f"{lower}-{upper}"


def area_table(conn: Connection[Any], *, vintage: int = 2021) -> pd.DataFrame:
    """Areas of a vintage with population by age band, 65+, IMD decile and representative point.

    Columns: ``code, name, x, y, population, pop_65_plus, imd_decile`` and one column per age
    band label (e.g. ``0-15`` … ``65+``), from the latest population source of each area.
    """
    areas = area_features(conn, vintage=vintage)
    bands = population_by_age(conn, vintage=vintage)
    if not bands.empty:
        bands["band"] = [
            age_label(int(lo), None if pd.isna(up) else int(up))
            for lo, up in zip(bands["age_lower"], bands["age_upper"], strict=True)
        ]
        order = bands.drop_duplicates("band").sort_values("age_lower")["band"].tolist()
        wide = bands.pivot_table(index="area_code", columns="band", values="n", aggfunc="sum")
        wide = wide.reindex(columns=order).fillna(0.0)
        areas = areas.merge(wide, left_on="code", right_index=True, how="left")
    areas["population"] = areas["population"].fillna(0.0)
    return areas


def _age_columns(areas: pd.DataFrame) -> list[str]:
    return [c for c in areas.columns if c[:1].isdigit()]


def population_breakdown(areas: pd.DataFrame, mask: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Population of the masked areas, by age band and by IMD decile."""
    chosen = areas.loc[mask]
    by_age = {c: round(float(chosen[c].sum()), 1) for c in _age_columns(areas)}
    deciles = chosen["imd_decile"].fillna(0).astype(int)
    by_imd = {
        str(d): round(float(chosen.loc[deciles == d, "population"].sum()), 1) for d in range(1, 11)
    }
    return {
        "population": round(float(chosen["population"].sum()), 1),
        "areas": len(chosen),
        "by_age": by_age,
        # Deciles 1 (most deprived) to 10, always all ten; people in areas with no IMD 2019
        # decile (not even a best-fit LSOA 2011 one, migration 0009) are counted apart.
        "by_imd_decile": by_imd,
        "imd_unknown": round(float(chosen.loc[deciles == 0, "population"].sum()), 1),
    }
