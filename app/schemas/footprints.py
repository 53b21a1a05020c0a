"""Responses of the footprint endpoints (``/footprints``): area results added up by local
authority, MSOA, ward, NHS commissioner or an uploaded polygon set, and how footprints overlap
practice catchments.

Every answer states the footprint type's ``method`` (how each LSOA 2021 is assigned),
``total_population`` and ``total_areas`` (the footprints, ``(unassigned)`` included, add up
to them) and ``notes`` (e.g. LSOAs whose postcodes straddle wards).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.schemas.common import Metadata, ResponseModel
from spatial.modes import Mode

__all__ = [
    "CustomSet",
    "FootprintAccess",
    "FootprintAccessRow",
    "FootprintCatchments",
    "FootprintNeed",
    "FootprintNeedRow",
    "FootprintNeedSite",
    "FootprintOverlap",
    "FootprintPopulation",
    "FootprintPopulationRow",
    "FootprintProjection",
    "FootprintProjectionRow",
    "FootprintTotal",
    "FootprintType",
    "FootprintTypes",
    "FootprintUpload",
    "SiteCatchmentTotal",
]


class FootprintType(ResponseModel):
    """One footprint type."""

    footprint: str = Field(description="la, msoa, ward, commissioner or custom-<id>")
    label: str
    method: str = Field(description="how each LSOA 2021 is assigned to a footprint")


class CustomSet(ResponseModel):
    """An uploaded footprint set the caller may see."""

    footprint: str = Field(description="custom-<id>: the footprint type to ask for")
    id: int
    name: str
    organisation: str
    restricted: bool
    file_name: str
    features: int = Field(ge=0)
    notes: str | None
    created_at: str


class FootprintTypes(ResponseModel):
    """``GET /footprints``: the footprint types and the custom sets the caller may see."""

    types: list[FootprintType]
    custom: list[CustomSet]


class _Head(ResponseModel):
    code: str = Field(description="footprint code; '(unassigned)' for LSOAs none claims")
    name: str | None = Field(description="footprint name where one is loaded")
    postcodes: int | None = Field(
        default=None, description="ward: postcodes of the LSOAs given to the ward"
    )
    postcode_share: float | None = Field(
        default=None, description="ward: share of those postcodes lying in the ward"
    )


class FootprintPopulationRow(_Head):
    """One footprint's population."""

    areas: float = Field(ge=0, description="LSOAs counted (weights; whole LSOAs count 1)")
    population: float = Field(ge=0)
    by_age: dict[str, float] = Field(description="age band label → residents")


class _Answer(ResponseModel):
    footprint: str
    label: str
    method: str
    area_vintage: int
    total_areas: int = Field(ge=0)
    total_population: float = Field(ge=0, description="all loaded LSOAs")
    notes: list[str]
    metadata: Metadata


class FootprintPopulation(_Answer):
    """``GET /footprints/{footprint}/population``."""

    footprints: list[FootprintPopulationRow] = Field(
        description="population sums; they add up to total_population"
    )


class FootprintAccessRow(_Head):
    """One footprint's access to the nearest site."""

    areas: float = Field(ge=0)
    population: float = Field(ge=0)
    mean_minutes: float | None = Field(
        description="population-weighted mean minutes to the nearest site (people reached)"
    )
    population_within: float = Field(ge=0, description="people within `minutes`")
    share_within: float | None
    population_unreached: float = Field(ge=0, description="people reaching no site")


class FootprintAccess(_Answer):
    """``GET /footprints/{footprint}/access``."""

    kind: str
    mode: Mode
    minutes: float
    measure: str
    footprints: list[FootprintAccessRow]


class FootprintTotal(_Head):
    """A footprint's people (those in any catchment or in none)."""

    population: float = Field(ge=0)


class SiteCatchmentTotal(ResponseModel):
    """The people of one site's nearest-site catchment."""

    site_id: int | None = Field(description="None: LSOAs that reach no site")
    source_id: str | None
    site_name: str | None
    population: float = Field(ge=0)


class FootprintOverlap(ResponseModel):
    """People a footprint shares with a site's catchment."""

    code: str
    name: str | None
    site_id: int | None
    source_id: str | None
    site_name: str | None
    population: float = Field(ge=0)
    share_of_footprint: float = Field(ge=0, le=1, description="of the footprint's people")
    share_of_catchment: float = Field(ge=0, le=1, description="of the catchment's people")


class FootprintCatchments(_Answer):
    """``GET /footprints/{footprint}/catchments``: which share of each footprint's people
    falls in each site's nearest-site catchment."""

    kind: str
    mode: Mode
    footprints: list[FootprintTotal]
    catchments: list[SiteCatchmentTotal]
    overlaps: list[FootprintOverlap]
    catchment_method: str = Field(description="how catchments are drawn")


class FootprintProjectionRow(_Head):
    """One footprint's projected people."""

    areas: float = Field(ge=0, description="LSOAs of the projection counted")
    population_base: float = Field(description="people in the projection's base year")
    population: float = Field(description="people in `year`")
    change: float = Field(description="population − population_base")
    housing: float = Field(description="of `population`, people added by housing sites")
    by_age_base: dict[str, float] = Field(description="age band → people in the base year")
    by_age: dict[str, float] = Field(description="age band → people in `year`")


class FootprintProjection(ResponseModel):
    """``GET /footprints/{footprint}/projection``: a stored projection's people per footprint
    (the projection's LSOAs, each counted once; ``(unassigned)`` holds those no footprint
    claims, so the rows add up to the projection's totals)."""

    footprint: str
    label: str
    method: str
    area_vintage: int
    projection: dict[str, Any] = Field(description="id, name, version, base_year, horizon_years")
    base_year: int
    year: int
    total_areas: int = Field(ge=0, description="LSOAs of the projection")
    total_population_base: float
    total_population: float = Field(description="the projection's people in `year`")
    total_housing: float
    total_by_age_base: dict[str, float]
    total_by_age: dict[str, float]
    footprints: list[FootprintProjectionRow]
    notes: list[str]
    metadata: Metadata


class FootprintNeedSite(ResponseModel):
    """A site whose catchment has people in the footprint."""

    site_id: int
    source_id: str | None
    name: str | None
    status: str | None = Field(description="the site's status in the job")
    population_now: float = Field(description="people now the footprint and catchment share")
    share_of_catchment: float = Field(
        ge=0, le=1, description="of the catchment's people now: the share of its capacity here"
    )
    share_of_footprint: float = Field(ge=0, le=1, description="of the footprint's people now")


class FootprintNeedRow(_Head):
    """One footprint's need against today's capacity."""

    areas: float = Field(ge=0)
    population_now: float
    population_horizon: float
    need_now: dict[str, float]
    need_horizon: dict[str, float]
    capacity: dict[str, float | None] = Field(
        description="attributed capacity today (null: no site of the footprint has the figure)"
    )
    population_with_capacity: dict[str, float] = Field(
        description="people now whose site has that capacity figure (the gap covers them)"
    )
    gap_now: dict[str, float | None]
    gap_horizon: dict[str, float | None]
    shortfall_now: bool | None = Field(description="null: no capacity figure is known")
    shortfall_horizon: bool | None
    status: str
    sites: list[FootprintNeedSite]


class FootprintNeed(ResponseModel):
    """``GET /footprints/{footprint}/need``: a capacity-sizing job's need and capacity added
    up by footprint (the rows add up to the job's totals)."""

    footprint: str
    label: str
    method: str
    area_vintage: int
    job_id: str
    service: str
    mode: str
    kinds: list[str]
    now_year: int
    horizon_year: int
    projection: dict[str, Any] | None
    norms: dict[str, Any] = Field(description="the job's norm set and numbers")
    need_measures: list[str]
    capacity_measures: list[str]
    total_areas: int = Field(ge=0, description="areas in the job's catchments")
    totals: dict[str, Any] = Field(
        description="the job's totals: population_now, population_horizon, need_now, "
        "need_horizon, capacity (sum over its sites of each known figure)"
    )
    outside_catchments: dict[str, float] = Field(
        description="people (now, horizon) of areas reaching no site: in no footprint row"
    )
    unattributed_capacity: dict[str, float | None] = Field(
        description="capacity of sites whose catchment holds nobody now (in no footprint row)"
    )
    unattributed_sites: list[int]
    capacity_attribution: str
    gap_rule: str
    footprints: list[FootprintNeedRow]
    notes: list[str]
    metadata: Metadata


class FootprintUpload(ResponseModel):
    """``POST /footprints/custom`` (201): the stored set."""

    id: int
    footprint: str = Field(description="custom-<id>")
    name: str
    organisation: str
    restricted: bool
    file_name: str
    features: int = Field(ge=1)
    code_field: str | None = Field(description="property the codes came from")
    name_field: str | None = Field(description="property the names came from")
    replaced: int | None = Field(description="id of the set of the same name it replaced")
    notes: list[str]
