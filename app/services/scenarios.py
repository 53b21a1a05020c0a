"""Scenarios: the request that defines one, checking it, saving and versioning it.

:class:`ScenarioRequest` is THE body of ``POST /scenarios`` (its OpenAPI request schema).
This module resolves site references among the sites the caller may see (through
:mod:`store.estate`), checks the changes with :func:`spatial.scenario.validate_scenario` and
stores versions (:mod:`store.scenarios`). Evaluation is :mod:`app.services.scenario_evaluation`.

Site references
    A scenario names sites by ``sites.id`` (as text, e.g. ``"1234"``) or by a ``source_id``
    (e.g. the ODS code ``"C82077"``) when that code names exactly one visible site; on save
    every reference is rewritten to the ``sites.id`` so a stored definition is unambiguous.
    Travel times are keyed by ``sites.id`` too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from app.services.estate_common import clean, estate_areas
from spatial.crs import wgs84_to_bng
from spatial.kinds import KIND_PATTERN
from spatial.scenario import (
    ChangeCapacity,
    CloseSites,
    MoveService,
    OpenSite,
    Scenario,
    ScenarioError,
    validate_scenario,
)
from store import estate as estate_store
from store import scenarios as scenario_store
from store.access import Principal
from store.connection import Database
from store.versions import lock_next_version

__all__ = [
    "ScenarioChange",
    "ScenarioInputError",
    "ScenarioList",
    "ScenarioRecord",
    "ScenarioRequest",
    "baseline_sites",
    "check_scenario",
    "get_scenario",
    "list_scenarios",
    "population_long",
    "resolve_references",
    "save_scenario",
]

# ------------------------------------------------------------------------------- requests


def _id_text(value: Any) -> Any:
    # Site ids are bigints and often written as JSON numbers; references are text.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


#: A site id (``"1234"`` or 1234) or a source id (``"C82077"``).
SiteRef = Annotated[
    str,
    BeforeValidator(_id_text),
    Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$", examples=["C82077"]),
]
Text = Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")]
Kind = Annotated[str, Field(pattern=KIND_PATTERN)]
_CHANGE = ConfigDict(extra="forbid", allow_inf_nan=False)


class CloseSitesChange(BaseModel):
    """Close sites: they stop serving; their floor area, running cost and land are released."""

    model_config = _CHANGE
    type: Literal["close_sites"]
    site_ids: list[SiteRef] = Field(min_length=1, max_length=1000)


class OpenSiteChange(BaseModel):
    """Open a site at an existing building (``at_site_id``) or at a point (``x``, ``y`` in
    EPSG:27700 metres, or ``lon``, ``lat`` in WGS84 degrees); ``gia_m2``, ``land_ha`` and
    ``running_cost_gbp`` are what the opening adds."""

    model_config = _CHANGE
    type: Literal["open_site"]
    site_id: SiteRef = Field(description="the new site's id")
    name: Text = ""
    at_site_id: SiteRef | None = None
    x: float | None = Field(None, ge=-1_000_000, le=1_500_000, description="easting, m")
    y: float | None = Field(None, ge=-1_000_000, le=2_500_000, description="northing, m")
    lon: float | None = Field(None, ge=-180, le=180, description="longitude, degrees")
    lat: float | None = Field(None, ge=-90, le=90, description="latitude, degrees")
    kind: Kind | None = None
    gia_m2: float = Field(0.0, ge=0, le=1e7, description="floor area added, m²")
    land_ha: float = Field(0.0, ge=0, le=1e5, description="land added, ha")
    running_cost_gbp: float | None = Field(None, ge=0, le=1e10, description="£/year added")
    capacity: float | None = Field(None, ge=0, le=1e9)

    @model_validator(mode="after")
    def _one_position(self) -> OpenSiteChange:
        lonlat = (self.lon is not None, self.lat is not None)
        xy = (self.x is not None, self.y is not None)
        if any(lonlat) and any(xy):
            raise ValueError("give x, y (EPSG:27700) or lon, lat (WGS84), not both")
        if lonlat[0] != lonlat[1] or xy[0] != xy[1]:
            raise ValueError("a position needs both x and y (or both lon and lat)")
        return self


class MoveServiceChange(BaseModel):
    """Move a service from one site to another (existing or opened earlier in the scenario);
    with ``release_building`` the origin's floor area, cost and land are released."""

    model_config = _CHANGE
    type: Literal["move_service"]
    from_site_id: SiteRef
    to_site_id: SiteRef
    release_building: bool = True


class ChangeCapacityChange(BaseModel):
    """Set a site's capacity (e.g. GP sessions, rooms); capacity <= 0 means it stops serving."""

    model_config = _CHANGE
    type: Literal["change_capacity"]
    site_id: SiteRef
    capacity: float = Field(ge=-1e9, le=1e9)


class GrowPopulationChange(BaseModel):
    """Multiply the population of some age bands (labels as in the population table) by
    ``factor`` (1.3 = +30 %), in ``area_codes`` or everywhere."""

    model_config = _CHANGE
    type: Literal["grow_population"]
    age_bands: list[Text] = Field(min_length=1, max_length=50)
    factor: float = Field(ge=0, le=100)
    area_codes: list[Text] | None = Field(None, max_length=50_000)


#: One change of a scenario, told apart by ``type``.
ScenarioChange = Annotated[
    CloseSitesChange
    | OpenSiteChange
    | MoveServiceChange
    | ChangeCapacityChange
    | GrowPopulationChange,
    Field(discriminator="type"),
]
_CHANGE_ADAPTER: TypeAdapter[Any] = TypeAdapter(ScenarioChange)
_CHANGE_TYPES = ("close_sites", "open_site", "move_service", "change_capacity", "grow_population")


class ScenarioRequest(BaseModel):
    """A scenario to save: a name (a new version when the organisation already has it), a
    description, the changes (applied in order) and whether only the organisation sees it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    description: str = Field("", max_length=5000, pattern=r"^[^\x00]*$")
    changes: list[ScenarioChange] = Field(default_factory=list, max_length=500)
    restricted: bool = Field(False, description="visible only to your organisation")
    version: int | None = Field(
        None, ge=1, description="ignored: saving assigns the next version of the name"
    )

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the scenario name is empty")
        return value.strip()

    @field_validator("changes", mode="before")
    @classmethod
    def _each_change(cls, value: Any) -> Any:
        """Every problem of every change in one message, each naming the change (``change 2
        (move_service): to_site_id: Field required``)."""
        if not isinstance(value, list):
            return value
        problems: list[str] = []
        for i, raw in enumerate(value, start=1):
            kind = raw.get("type") if isinstance(raw, dict) else None
            if not isinstance(raw, dict):
                problems.append(f"change {i}: must be an object")
            elif kind not in _CHANGE_TYPES:
                problems.append(f"change {i}: unknown type {kind!r}; known: {list(_CHANGE_TYPES)}")
            else:
                try:
                    _CHANGE_ADAPTER.validate_python(raw)
                except ValidationError as exc:
                    for e in exc.errors():
                        where = ".".join(str(p) for p in e["loc"][1:])
                        problems.append(f"change {i} ({kind}): {where or 'change'}: {e['msg']}")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def to_scenario(self) -> Scenario:
        """The :class:`spatial.scenario.Scenario` (``lon``/``lat`` turned into EPSG:27700)."""
        changes = []
        for change in self.changes:
            data = change.model_dump()
            if isinstance(change, OpenSiteChange):
                lon, lat = data.pop("lon"), data.pop("lat")
                if lon is not None and lat is not None:
                    data["x"], data["y"] = wgs84_to_bng(lon, lat)
            changes.append(data)
        return Scenario.from_dict(
            {"name": self.name, "description": self.description, "changes": changes}
        )


class ScenarioInputError(ValueError):
    """A scenario that cannot be saved or evaluated; ``problems`` name each change."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# ------------------------------------------------------------------------------- checking

_SITE_REF_FIELDS: dict[type[Any], tuple[str, ...]] = {
    CloseSites: ("site_ids",),
    OpenSite: ("at_site_id",),
    MoveService: ("from_site_id", "to_site_id"),
    ChangeCapacity: ("site_id",),
}


def resolve_references(scenario: Scenario, sites: pd.DataFrame) -> list[str]:
    """Rewrite site references (id or unique source_id) to ``sites.id`` text, in place.

    Returns the problems (unknown or ambiguous references), each naming the change.
    """
    ids = set(sites["id"].astype(str))
    by_source: dict[str, list[str]] = {}
    for sid, src in zip(sites["id"].astype(str), sites["source_id"].astype(str), strict=True):
        by_source.setdefault(src.upper(), []).append(sid)
    problems: list[str] = []

    def resolve(i: int, ch: Any, ref: Any) -> str:
        value = str(ref).strip()
        if value in ids:
            return value
        hits = by_source.get(value.upper(), [])
        if len(hits) == 1:
            return hits[0]
        label = f"change {i} ({ch.type})"
        if len(hits) > 1:
            problems.append(f"{label}: {value!r} names {len(hits)} sites; use a site id {hits}")
        else:
            problems.append(f"{label}: unknown site {value!r} (a site id or source id)")
        return value

    for i, ch in enumerate(scenario.changes, start=1):
        for name in _SITE_REF_FIELDS.get(type(ch), ()):
            value = getattr(ch, name)
            if value is None:
                continue
            if isinstance(value, list):
                setattr(ch, name, [resolve(i, ch, v) for v in value])
            else:
                setattr(ch, name, resolve(i, ch, value))
    return problems


def population_long(areas: pd.DataFrame) -> pd.DataFrame:
    """Area table (wide age bands) as the long ``area_code, age_band, count`` table."""
    ages = [c for c in areas.columns if str(c)[:1].isdigit()]
    if not ages:
        return pd.DataFrame(
            {"area_code": areas["code"], "age_band": "all", "count": areas["population"]}
        )
    long = areas.melt(id_vars=["code"], value_vars=ages, var_name="age_band", value_name="count")
    return long.rename(columns={"code": "area_code"})[["area_code", "age_band", "count"]]


def baseline_sites(sites: pd.DataFrame, kinds: Sequence[str] | None) -> pd.DataFrame:
    """Every visible site (``active`` = serves the measured service, i.e. kind in ``kinds``)."""
    return pd.DataFrame(
        {
            "site_id": sites["id"].astype(str),
            "name": sites["name"],
            "kind": sites["kind"],
            "active": sites["kind"].isin(list(kinds)) if kinds else True,
            "gia_m2": sites["gia_m2"],
            "running_cost_gbp": sites["running_cost_gbp"],
            "land_ha": sites["land_ha"],
            "x": sites["x"],
            "y": sites["y"],
        }
    )


def check_scenario(db: Database, principal: Principal, request: ScenarioRequest) -> Scenario:
    """The scenario of ``request``, its site references resolved among the sites
    ``principal`` may see and checked against them and the population table.

    Raises :class:`ScenarioInputError` listing every problem (each naming the change).
    """
    try:
        scenario = request.to_scenario()
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    with db.connection() as conn:
        sites = estate_store.visible_sites(conn, principal)
    areas = estate_areas(db)
    problems = resolve_references(scenario, sites)
    if problems:
        raise ScenarioInputError(problems)
    try:
        validate_scenario(
            scenario,
            baseline_sites(sites, None),
            population=population_long(areas) if not areas.empty else None,
        )
    except ScenarioError as exc:
        raise ScenarioInputError(exc.problems) from None
    return scenario


# ------------------------------------------------------------------------------- storage


class ScenarioRecord(BaseModel):
    """A stored scenario version as the API shows it (``definition``: the scenario with every
    site reference rewritten to a site id)."""

    id: int
    name: str
    version: int
    organisation: str | None
    restricted: bool
    description: str
    created_at: dt.datetime
    definition: dict[str, Any]


class ScenarioList(BaseModel):
    """Scenarios the caller may see."""

    scenarios: list[ScenarioRecord]


def scenario_record(row: scenario_store.ScenarioRow) -> ScenarioRecord:
    """A stored scenario as the API shows it."""
    return ScenarioRecord(
        id=row.id,
        name=row.name,
        version=row.version,
        organisation=row.organisation,
        restricted=row.restricted,
        description=row.description,
        created_at=row.created_at,
        definition=clean(row.definition),
    )


def save_scenario(
    db: Database, principal: Principal, scenario: Scenario, *, restricted: bool
) -> ScenarioRecord:
    """Store ``scenario`` as the next version of its name for the caller's organisation."""
    with db.transaction() as conn:
        scenario.version = lock_next_version(
            conn, "scenarios", principal.organisation, scenario.name
        )
        row = scenario_store.insert_scenario(
            conn,
            principal,
            name=scenario.name,
            version=scenario.version,
            description=scenario.description,
            definition=scenario.to_dict(),
            restricted=restricted,
        )
    return scenario_record(row)


def list_scenarios(
    db: Database, principal: Principal, *, name: str | None = None, latest_only: bool = False
) -> list[ScenarioRecord]:
    """Scenarios the caller may see, optionally of one name / only the latest versions."""
    with db.connection() as conn:
        rows = scenario_store.list_scenarios(conn, principal, name=name, latest_only=latest_only)
    return [scenario_record(r) for r in rows]


def get_scenario(db: Database, principal: Principal, scenario_id: int) -> ScenarioRecord | None:
    """One scenario the caller may see (None otherwise: existence is not leaked)."""
    with db.connection() as conn:
        row = scenario_store.get_scenario(conn, principal, scenario_id)
    return scenario_record(row) if row else None
