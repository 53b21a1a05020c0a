"""Planning: population projections, planning norm sets and capacity sizing.

People are persons; rates fractions a year (0.012 = +1.2 %); floor area m² (gross internal);
positions EPSG:27700 metres (``x``, ``y``) or WGS84 degrees (``lon``, ``lat``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator

from app.schemas.common import InputModel, ResponseModel
from spatial.capacity import DEFAULT_NORMS
from spatial.kinds import KIND_PATTERN
from spatial.modes import Mode
from spatial.projection import MAX_HORIZON_YEARS, parse_age_band

__all__ = [
    "DEFAULT_PERSONS_PER_DWELLING",
    "PERSONS_PER_DWELLING_SOURCE",
    "AgeProfile",
    "CapacityArea",
    "CapacityParams",
    "CapacityResult",
    "CapacitySite",
    "GrowthRate",
    "HousingSite",
    "NormList",
    "NormSet",
    "NormSetRecord",
    "NormSetRequest",
    "PopulationVintage",
    "PopulationVintages",
    "ProjectionAreaRow",
    "ProjectionAreas",
    "ProjectionList",
    "ProjectionRecord",
    "ProjectionRequest",
    "ProjectionTotal",
    "VintageRef",
    "default_norm_set",
]

#: People per new dwelling when a site does not say (ONS, as the source below states).
DEFAULT_PERSONS_PER_DWELLING = 2.36
PERSONS_PER_DWELLING_SOURCE = (
    "ONS, Families and households in the UK: 2021 — average household size 2.36 people"
)
_TEXT = r"^[^\x00]*$"
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
AreaCode = Annotated[str, Field(pattern=r"^[EW]01\d{6}$", examples=["E01013787"])]
LadCode = Annotated[str, Field(pattern=r"^[EWSN]\d{8}$", examples=["E06000017"])]
Year = Annotated[int, Field(ge=1900, le=2150)]
Kind = Annotated[str, Field(pattern=KIND_PATTERN, examples=["gp_practice"])]


def _band(value: str) -> str:
    parse_age_band(value)  # ValueError with the reason
    return value.strip()


def _check_profile(profile: dict[str, float]) -> dict[str, float]:
    total = sum(profile.values())
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"the age profile's shares sum to {total:g}, not 1")
    return profile


#: An age band label: '0-15', '65+', '7' or 'all' (0+).
AgeBand = Annotated[
    str, AfterValidator(_band), Field(max_length=20, examples=["65+", "0-15", "all"])
]
#: Age band label → share of new residents (shares sum to 1).
AgeProfile = Annotated[
    dict[AgeBand, Annotated[float, Field(ge=0, le=1)]],
    AfterValidator(_check_profile),
    Field(max_length=200),
]


# ----------------------------------------------------------------------------- projections


class VintageRef(InputModel):
    """A loaded population table: its ``source`` (``census2021``, ``ons-midyear``,
    ``ons-sape-mid2017``...) and, when it has several, the ``reference_date``."""

    source: str = Field(max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    reference_date: dt.date | None = None


class GrowthRate(InputModel):
    """An annual growth rate for an age band, in one year or every year, in one area or
    every area."""

    age_band: AgeBand = Field("all", description="'0-15', '65+', '7' or 'all'")
    year: Year | None = Field(None, description="the calendar year; null: every year")
    area_code: AreaCode | None = Field(None, description="an LSOA; null: every area")
    rate: float = Field(ge=-0.5, le=0.5, description="fraction a year: 0.012 = +1.2 %")


class NoGrowth(InputModel):
    """The base population unchanged (housing sites still add people)."""

    type: Literal["none"]


class RatesGrowth(InputModel):
    """Growth rates given by the user (:class:`GrowthRate`)."""

    type: Literal["rates"]
    rates: list[GrowthRate] = Field(min_length=1, max_length=100_000)


class TrendGrowth(InputModel):
    """The annual trend between two loaded vintages, per area (LSOA 2011 and 2021 compared
    through best-fit groups) and common age band. Defaults: ``newer`` is the base
    population's table, ``older`` the most recent other table covering the areas."""

    type: Literal["trend"]
    older: VintageRef | None = None
    newer: VintageRef | None = None
    constrained: bool = Field(
        True,
        description="each age band's total over the projected areas follows that band's "
        "trend over all of them (areas share it by their own trends); false: every area "
        "compounds its own trend",
    )


class ScenarioGrowth(InputModel):
    """The ``grow_population`` changes of a saved scenario, reached at the last horizon: each
    change's factor becomes the steady annual rate ``factor ** (1 / years) - 1`` for its age
    bands and areas (factors of changes to the same bands and areas multiply)."""

    type: Literal["scenario"]
    scenario_id: int = Field(ge=1, le=2**31 - 1, description="a saved scenario you can see")


Growth = Annotated[
    NoGrowth | RatesGrowth | TrendGrowth | ScenarioGrowth, Field(discriminator="type")
]


class HousingSite(InputModel):
    """A development site: where (a point as ``x, y`` or ``lon, lat``, or a GeoJSON Point,
    Polygon or MultiPolygon ``geometry`` in WGS84), dwellings completed per year, persons per
    dwelling and the age profile of its new residents."""

    site_id: Name
    name: str = Field("", max_length=200, pattern=_TEXT)
    x: float | None = Field(None, ge=0, le=700_000, description="easting, m")
    y: float | None = Field(None, ge=0, le=1_300_000, description="northing, m")
    lon: float | None = Field(None, ge=-9, le=2.5, description="longitude, degrees")
    lat: float | None = Field(None, ge=49, le=61, description="latitude, degrees")
    geometry: dict[str, Any] | None = Field(
        None, description="GeoJSON Point, Polygon or MultiPolygon (WGS84)"
    )
    dwellings: dict[Year, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        min_length=1, description="calendar year → dwellings completed in it"
    )
    persons_per_dwelling: float | None = Field(
        None, gt=0, le=20, description=f"default {DEFAULT_PERSONS_PER_DWELLING}"
    )
    age_profile: AgeProfile | None = Field(
        None, description="age band → share of new residents; default: the area's own"
    )

    @model_validator(mode="after")
    def _one_position(self) -> HousingSite:
        given = [
            (self.x is not None or self.y is not None),
            (self.lon is not None or self.lat is not None),
            self.geometry is not None,
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one of x, y (EPSG:27700), lon, lat or geometry")
        if given[0] and (self.x is None or self.y is None):
            raise ValueError("a position needs both x and y")
        if given[1] and (self.lon is None or self.lat is None):
            raise ValueError("a position needs both lon and lat")
        return self


class ProjectionRequest(InputModel):
    """A projection to make and save (a new version when the organisation has the name)."""

    name: Name
    description: str = Field("", max_length=5000, pattern=_TEXT)
    restricted: bool = Field(False, description="visible only to your organisation")
    horizons: list[Year] = Field(
        min_length=1,
        max_length=20,
        description=f"horizon years, after the base year (at most {MAX_HORIZON_YEARS} after)",
    )
    base: VintageRef | None = Field(
        None, description="the base population table; default: each area's latest"
    )
    lad_codes: list[LadCode] | None = Field(
        None, max_length=400, description="local authorities projected; default: every area"
    )
    growth: Growth = Field(default_factory=lambda: NoGrowth(type="none"))
    housing: list[HousingSite] = Field(default_factory=list, max_length=10_000)
    persons_per_dwelling: float = Field(
        DEFAULT_PERSONS_PER_DWELLING,
        gt=0,
        le=20,
        description=f"people per new dwelling when a site does not say "
        f"({PERSONS_PER_DWELLING_SOURCE})",
    )
    age_profile: AgeProfile | None = Field(
        None,
        description="age profile of new residents when a site does not say; default: the "
        "current age profile of the area they move into",
    )

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the projection name is empty")
        return value.strip()

    @field_validator("horizons")
    @classmethod
    def _sorted(cls, value: list[int]) -> list[int]:
        return sorted(set(value))


class ProjectionTotal(ResponseModel):
    """People in one year and age band over every area of a projection."""

    year: int
    age_band: str
    count: float
    housing: float = Field(description="of which added by housing sites")


class ProjectionRecord(ResponseModel):
    """A stored projection version: the request as saved (``definition``), how it was made
    (``metadata``: the base table, the vintages a trend compared, where housing went) and,
    on ``GET /planning/projections/{id}``, the totals per year and age band."""

    id: int
    name: str
    version: int
    organisation: str | None
    restricted: bool
    description: str
    created_at: dt.datetime
    base_year: int
    horizon_years: list[int]
    definition: dict[str, Any]
    metadata: dict[str, Any]
    totals: list[ProjectionTotal] | None = None


class ProjectionList(ResponseModel):
    """Projections the caller may see."""

    projections: list[ProjectionRecord]


class ProjectionAreaRow(ResponseModel):
    """People of one area, age band and year."""

    area_code: str
    age_band: str
    year: int
    count: float
    housing: float


class ProjectionAreas(ResponseModel):
    """The rows of a projection (one year or all)."""

    projection_id: int
    rows: list[ProjectionAreaRow]


class PopulationVintage(ResponseModel):
    """A loaded population table a projection can start from or compare."""

    source: str
    reference_date: dt.date
    area_vintage: int = Field(description="LSOA boundary vintage of its area codes")
    areas: int
    people: float
    bands: int = Field(description="distinct age bands")
    sexes: list[str]


class PopulationVintages(ResponseModel):
    """Every loaded population table, newest first."""

    vintages: list[PopulationVintage]


# ----------------------------------------------------------------------------- norms


class NormValue(InputModel):
    """One number of a norm set with its unit, source and basis."""

    value: float = Field(ge=0, le=1e9)
    unit: str = Field("", max_length=300, pattern=_TEXT)
    source: str = Field(min_length=1, max_length=2000, pattern=_TEXT)
    basis: Literal["published", "derived", "assumption"] = "assumption"


class BedDayRate(InputModel):
    """Bed days a year per 1,000 people of an age band."""

    age_band: AgeBand
    value: float = Field(ge=0, le=1e6)
    source: str = Field(min_length=1, max_length=2000, pattern=_TEXT)
    basis: Literal["published", "derived", "assumption"] = "assumption"


class PrimaryCareNormSet(InputModel):
    """Primary care norms (see :mod:`spatial.capacity`)."""

    patients_per_gp_fte: NormValue
    clinical_rooms_per_gp_fte: NormValue
    gia_m2_per_1000_patients: NormValue

    @field_validator("patients_per_gp_fte")
    @classmethod
    def _positive(cls, value: NormValue) -> NormValue:
        if value.value <= 0:
            raise ValueError("patients per GP FTE must be above 0")
        return value


class BedNormSet(InputModel):
    """Bed norms: bed days per 1,000 people by age band (covering every age), target
    occupancy (0-1) and average length of stay (days)."""

    bed_days_per_1000: list[BedDayRate] = Field(min_length=1, max_length=200)
    target_occupancy: NormValue
    average_length_of_stay_days: NormValue

    @model_validator(mode="after")
    def _sane(self) -> BedNormSet:
        if not 0 < self.target_occupancy.value <= 1:
            raise ValueError("target_occupancy must be above 0 and at most 1")
        if self.average_length_of_stay_days.value <= 0:
            raise ValueError("average_length_of_stay_days must be above 0")
        covered: set[int] = set()
        for rate in self.bed_days_per_1000:
            lo, hi = parse_age_band(rate.age_band)
            covered |= set(range(lo, (hi if hi is not None else 120) + 1))
        missing = sorted(set(range(0, 121)) - covered)
        if missing:
            raise ValueError(f"bed_days_per_1000 leaves out age {missing[0]}")
        return self


class NormSet(InputModel):
    """A planning norm set: primary care and bed norms, each number with its source."""

    primary_care: PrimaryCareNormSet
    beds: BedNormSet


class NormSetRequest(NormSet):
    """A norm set to save (a new version when the organisation has the name)."""

    name: Name
    description: str = Field("", max_length=5000, pattern=_TEXT)
    restricted: bool = Field(False, description="visible only to your organisation")


class NormSetRecord(ResponseModel):
    """A norm set: the built-in default (``id`` null, ``builtin`` true) or a stored version."""

    id: int | None
    name: str
    version: int
    builtin: bool
    organisation: str | None
    restricted: bool
    description: str
    created_at: dt.datetime | None
    definition: dict[str, Any] = Field(description="primary_care and beds, as saved")


class NormList(ResponseModel):
    """The built-in norm set first, then the stored ones the caller may see."""

    norms: list[NormSetRecord]


# ----------------------------------------------------------------------------- capacity

_DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    "primary_care": ("gp_practice",),
    "beds": ("hospital", "community_hospital"),
}


class CapacityParams(BaseModel):
    """Inputs of the ``capacity-sizing`` process."""

    model_config = {"extra": "forbid"}

    service: Literal["primary_care", "beds"] = Field(
        "primary_care", description="which norms size the need"
    )
    kinds: list[Kind] | None = Field(
        None,
        min_length=1,
        max_length=20,
        description="site kinds whose catchments are sized (default: gp_practice for "
        "primary_care; hospital, community_hospital for beds)",
    )
    mode: Mode = Field("drive", description="catchments: each area to its quickest site")
    projection_id: int | None = Field(
        None, ge=1, description="a stored projection; none: need now only"
    )
    horizon_year: int | None = Field(
        None, ge=1900, le=2150, description="default: the projection's last horizon"
    )
    norms_id: int | None = Field(
        None, ge=1, description="a stored norm set; none: the built-in default"
    )

    @property
    def site_kinds(self) -> list[str]:
        """The kinds whose sites are sized."""
        return list(self.kinds) if self.kinds else list(_DEFAULT_KINDS[self.service])


def default_norm_set() -> NormSet:
    """The built-in norm set, validated by the same model as a user's."""
    return NormSet.model_validate(
        {k: v for k, v in DEFAULT_NORMS.items() if k in ("primary_care", "beds")}
    )


class CapacitySite(ResponseModel):
    """One site's catchment: people, need now and at the horizon, today's capacity (null
    where unknown, with where each figure came from), the gap (need − capacity: positive is a
    shortfall) and the flags."""

    site_id: int
    source_id: str | None
    name: str | None
    kind: str
    lon: float | None
    lat: float | None
    areas: int = Field(description="LSOAs whose quickest site this is")
    population_now: float
    population_horizon: float
    need_now: dict[str, float]
    need_horizon: dict[str, float]
    capacity: dict[str, float | None]
    capacity_sources: dict[str, str]
    gap_now: dict[str, float | None]
    gap_horizon: dict[str, float | None]
    shortfall_now: bool | None = Field(description="null: no capacity figure is known")
    shortfall_horizon: bool | None
    status: str = Field(
        description="'shortfall now', 'shortfall by <year>', 'sufficient' or 'capacity unknown'"
    )


class CapacityArea(ResponseModel):
    """An area of a catchment (for footprint sums and maps)."""

    area_code: str
    site_id: int
    seconds: float
    population_now: float
    population_horizon: float
    need_now: dict[str, float] | None = Field(
        default=None,
        description="the area's need now by measure (its site's need is the sum over its "
        "areas); null in results stored before need was kept per area",
    )
    need_horizon: dict[str, float] | None = None


class CapacityResult(ResponseModel):
    """Results of the ``capacity-sizing`` process."""

    service: str
    mode: str
    kinds: list[str]
    now_year: int
    horizon_year: int
    projection: dict[str, Any] | None
    norms: dict[str, Any] = Field(description="id, name, version, builtin and the numbers used")
    sites: list[CapacitySite]
    areas: list[CapacityArea]
    unassigned: dict[str, float] = Field(
        description="people (now, horizon) of areas reaching no site of the kinds"
    )
    summary: dict[str, Any]
    metadata: dict[str, Any]
