"""Responses of the analysis endpoints (``/analysis/*``) and the postcode lookup.

Every result states ``metadata``: the speeds and snapping rules of the network it was
computed on (road modes) or the timetable window, percentile and walk model (transit).
Times are seconds (0.1 s) and minutes (0.1 min); populations are usual residents (Census
2021), counted by representative point.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas.common import Metadata, ResponseModel
from app.schemas.geojson import Feature, FeatureCollection, PolygonalGeometry
from spatial.modes import Mode

__all__ = [
    "AccessArea",
    "AccessGapRow",
    "AccessGaps",
    "AccessMap",
    "Catchment",
    "CatchmentBand",
    "CatchmentBandProperties",
    "CatchmentSite",
    "FloatingCatchment",
    "FloatingCatchmentArea",
    "KindCount",
    "Kinds",
    "ModeEntry",
    "Modes",
    "Nearest",
    "NearestOrigin",
    "NearestSite",
    "PopulationBreakdown",
    "PopulationOrigin",
    "PopulationWithin",
    "PostcodeLocation",
]


class ModeEntry(ResponseModel):
    """One travel mode of the registry (:mod:`spatial.modes`) and what is loaded for it."""

    mode: Mode
    label: str
    needs: str = Field(description="the data that makes the mode available")
    speed_rule: str = Field(description="how travel speed is decided")
    available: bool
    load_id: int | None = Field(description="the network or GTFS load in use")
    speed_kmh: float | None = Field(
        description="walk/cycle: the speed the loaded graph was built with, km/h"
    )
    mean_speed_kmh: float | None = Field(
        description="distance-weighted mean speed of the loaded graph, km/h"
    )
    feed_period: str | None = Field(description="transit: the feed's service period")


class Modes(ResponseModel):
    """``GET /analysis/modes``: the mode registry and which modes have data loaded."""

    modes: list[Mode] = Field(description="road modes with a network; transit with a GTFS feed")
    registry: list[ModeEntry] = Field(description="every mode Locus knows, available or not")


class KindCount(ResponseModel):
    """A site kind the caller can see."""

    kind: str
    label: str
    count: int = Field(description="active sites of this kind the caller can see")
    located: int = Field(description="of which located (with a point)")


class Kinds(ResponseModel):
    """``GET /analysis/kinds``: the site kinds among the sites the caller can see."""

    kinds: list[KindCount]


class NearestOrigin(ResponseModel):
    """Where a nearest-site search starts, and how it reached the network."""

    lon: float
    lat: float
    postcode: str | None = Field(description="the postcode given, normalised")
    snap_distance_m: float | None = Field(
        description="metres to the nearest edge of the mode's network (null for transit)"
    )
    reachable: bool | None = Field(
        default=None, description="false when beyond the snap limit (road modes only)"
    )


class NearestSite(ResponseModel):
    """One site in a nearest-site answer."""

    site_id: int
    source_id: str | None
    name: str | None
    kind: str
    seconds: float = Field(ge=0)
    minutes: float = Field(ge=0)


class Nearest(ResponseModel):
    """``GET /analysis/nearest``: the sites of a kind with the least travel time."""

    origin: NearestOrigin
    mode: Mode
    kind: str
    results: list[NearestSite] = Field(description="nearest first; unreachable sites omitted")
    metadata: Metadata
    detail: str | None = Field(default=None, description="why there are no results")


class PopulationBreakdown(ResponseModel):
    """Population of a set of areas, by age band and by IMD 2019 decile."""

    population: float = Field(ge=0, description="usual residents")
    areas: int = Field(ge=0, description="areas counted")
    by_age: dict[str, float] = Field(description="age band label (0-15 ... 65+) → residents")
    by_imd_decile: dict[str, float] = Field(
        description="IMD decile 1 (most deprived) to 10 → residents; always all ten"
    )
    imd_unknown: float = Field(ge=0, description="residents of areas with no IMD decile")


class CatchmentBandProperties(PopulationBreakdown):
    """Properties of one catchment band: its limit and the population within it."""

    band_min: int = Field(ge=1, description="band limit, minutes")
    stops_reached: int | None = Field(default=None, description="transit only: stops reached")


class CatchmentBand(Feature[PolygonalGeometry, CatchmentBandProperties]):
    """One band: the isochrone (WGS84) and the population whose representative point is
    within the band's time of the site."""


class CatchmentSite(ResponseModel):
    """The site a catchment is drawn around."""

    site_id: int
    source_id: str | None
    name: str | None
    kind: str
    lon: float
    lat: float


class Catchment(FeatureCollection[CatchmentBand]):
    """``GET /analysis/catchment/{site_id}``: the catchment bands, widest first."""

    site: CatchmentSite
    total_population: float = Field(ge=0, description="residents of every area counted")
    metadata: Metadata


class AccessArea(ResponseModel):
    """One area (LSOA 2021) of an access map."""

    code: str
    seconds: float | None = Field(description="to the nearest site; null when unreachable")
    sites_within: int = Field(ge=0, description="sites within the minutes asked")


class AccessMap(ResponseModel):
    """``GET /analysis/access``: time from every area to its nearest site of a kind."""

    kind: str
    mode: Mode
    minutes: float
    areas: list[AccessArea]
    metadata: Metadata


class AccessGapRow(ResponseModel):
    """One area ranked by need combined with poor access."""

    rank: int = Field(ge=1)
    code: str
    name: str | None
    seconds: float | None = Field(description="to the nearest site; null when unreachable")
    imd_decile: int = Field(ge=1, le=10)
    pop_65_plus_share: float = Field(ge=0, le=1)
    access_2sfca: float = Field(ge=0, description="sites per 1,000 people within 30 minutes")
    need: float
    poor_access: float
    score: float


class AccessGaps(ResponseModel):
    """``GET /analysis/access-gaps``: areas with the worst access weighted by need."""

    kind: str
    mode: Mode
    rows: list[AccessGapRow]
    method: str
    metadata: Metadata


class FloatingCatchmentArea(ResponseModel):
    """One area's 2SFCA score."""

    code: str
    access: float = Field(ge=0, description="sites per `per` people")
    population: float = Field(ge=0)


class FloatingCatchment(ResponseModel):
    """``GET /analysis/floating-catchment``: 2SFCA (or E2SFCA) accessibility per area."""

    kind: str
    mode: Mode
    minutes: float
    method: Literal["2SFCA", "E2SFCA"]
    supply: str
    per: int
    bands: list[tuple[float, float]] = Field(
        description="(band limit in seconds, weight) pairs of the distance decay"
    )
    areas: list[FloatingCatchmentArea]
    metadata: Metadata


class PopulationOrigin(ResponseModel):
    """The point a population-within answer is measured from."""

    lon: float
    lat: float
    postcode: str | None


class PopulationWithin(PopulationBreakdown):
    """``GET /analysis/population-within``: residents within T minutes of a point or sites."""

    minutes: float
    mode: Mode
    total_population: float = Field(ge=0)
    metadata: Metadata
    origin: PopulationOrigin | None = Field(default=None, description="when a point was given")
    site_ids: list[int] | None = Field(default=None, description="when sites were given")


class PostcodeLocation(ResponseModel):
    """``GET /postcodes/{postcode}``: a postcode's stored point (newest vintage)."""

    postcode: str
    lon: float
    lat: float
    easting: float = Field(description="EPSG:27700 metres")
    northing: float = Field(description="EPSG:27700 metres")
    lsoa21: str | None
    source: str
    vintage: str | None
