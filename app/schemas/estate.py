"""The estate register, asset uploads, the co-location finder and scenarios.

Money is £ (running cost £/year), floor area m², land hectares; positions WGS84.
"""

# Member names are the wire names the OGC API specifications use (numberMatched, jobID...).
# ruff: noqa: N815

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from app.schemas.common import Metadata, ResponseModel, Scalar
from spatial.modes import Mode

__all__ = [
    "Cluster",
    "ClusterMember",
    "Colocation",
    "ColocationMetadata",
    "ComparedJob",
    "EstateRegister",
    "RegisterSite",
    "RegisterSummary",
    "ScenarioComparison",
    "TableChanges",
    "UploadResult",
]

# ------------------------------------------------------------------------------- register


class RegisterSite(ResponseModel):
    """One site of the estate register with its derived figures (null where unknown)."""

    id: int
    source: str
    source_id: str | None
    name: str | None
    kind: str
    owner: str | None
    owner_type: str | None
    status: str
    tenure: str | None
    postcode: str | None
    restricted: bool
    gia_m2: float | None = Field(description="gross internal floor area, m²")
    land_ha: float | None
    running_cost_gbp: float | None = Field(description="£ per year")
    backlog_gbp: float | None
    cost_per_m2_gbp: float | None
    backlog_per_m2_gbp: float | None
    pre_1948_share: float | None
    empty_pct: float | None
    under_used_pct: float | None
    not_suitable_pct: float | None
    occupied_share: float | None
    land_not_delivering_ha: float | None
    flag_empty: bool
    flag_under_used: bool
    flag_not_suitable: bool
    flag_surplus_land: bool
    utilisation_flags: str = Field(description="the raised flags, ';'-joined ('' if none)")
    lon: float | None
    lat: float | None


class RegisterSummary(ResponseModel):
    """Totals over every matching site (not only the page)."""

    sites: int = Field(ge=0)
    by_owner_type: dict[str, int]
    by_kind: dict[str, int]
    gia_m2: float
    running_cost_gbp: float
    backlog_gbp: float
    flagged_sites: int = Field(ge=0)
    cost_per_m2_gbp: float | None = Field(description="floor-area-weighted running cost, £/m²")


class EstateRegister(ResponseModel):
    """``GET /estate/sites``: a page of the register, the summary and the definitions used."""

    numberMatched: int = Field(ge=0)
    numberReturned: int = Field(ge=0)
    sites: list[RegisterSite]
    summary: RegisterSummary
    definitions: dict[str, str] = Field(description="how each derived figure is computed")


# ------------------------------------------------------------------------------- uploads


class TableChanges(ResponseModel):
    """How an upload changed one table against the upload it replaced."""

    added: int = Field(ge=0)
    removed: int = Field(ge=0)
    changed: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    examples: dict[str, list[str]] = Field(description="a few keys per kind of change")


class UploadResult(ResponseModel):
    """``POST /estate/assets`` (201): the load that now holds the organisation's assets."""

    dataset: str = Field(description="assets:<organisation>")
    status: Literal["loaded", "unchanged"]
    load_id: int
    rows_read: int = Field(ge=0)
    rows_loaded: int = Field(ge=0)
    superseded_loads: list[int] = Field(description="load ids this upload replaced")
    changes: dict[str, TableChanges] = Field(description="table → changes")
    organisation: str
    restricted: bool
    notes: list[str]


# ------------------------------------------------------------------------------- co-location


class ClusterMember(ResponseModel):
    """One building of a co-location cluster."""

    site_id: int
    source_id: str | None
    name: str | None
    owner: str | None
    owner_type: str | None
    kind: str | None
    tenure: str | None
    gia_m2: float | None
    running_cost_gbp: float | None
    running_cost_estimated: bool = Field(description="running cost from the £/m² rate")
    land_ha: float | None
    separation: float | None = Field(description="from the seed: metres or seconds")
    is_seed: bool
    lon: float | None
    lat: float | None


class Cluster(ResponseModel):
    """A ranked co-location cluster: a host building and every site near it.

    Besides the members listed, a cluster has one number per population band
    (``pop_within_<band><unit>``, e.g. ``pop_within_1200m`` or ``pop_within_900s``) and one
    per age band of the outer band's population (``0-15`` ... ``65+``).
    """

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, float | None] = Field(init=False)

    cluster_id: int
    rank: int = Field(ge=1)
    seed_site_id: str = Field(description="the host building's site id")
    seed_name: str | None
    x: float = Field(description="seed easting, EPSG:27700 metres")
    y: float = Field(description="seed northing, EPSG:27700 metres")
    lon: float
    lat: float
    n_buildings: int = Field(ge=1)
    n_owners: int = Field(ge=1)
    owners: str = Field(description="'; '-joined")
    owner_types: str
    kinds: str
    n_kinds: int = Field(ge=0)
    site_ids: list[int]
    combined_gia_m2: float | None
    gia_known_sites: int = Field(ge=0)
    combined_running_cost_gbp: float | None
    running_cost_known_sites: int = Field(ge=0)
    running_cost_estimated_sites: int = Field(ge=0)
    freehold_gia_m2: float | None
    freehold_sites: int = Field(ge=0)
    land_ha: float | None
    deprived_share: float | None = Field(description="share in IMD deciles 1-2")
    population_outer: float | None = Field(description="residents within the outer band")
    score: float
    score_formula: str
    score_components: dict[str, float | None] = Field(description="component → 0..1")
    imd_profile: dict[str, float | None] = Field(description="IMD decile → residents")
    members: list[ClusterMember]


class ColocationMetadata(ResponseModel):
    """How a co-location run was made."""

    method: Literal["distance", "network"]
    threshold: float
    threshold_unit: Literal["m", "s"]
    mode: Mode | None
    population_bands: list[float]
    population_band_unit: Literal["m", "s"]
    cost_per_m2_gbp: float | None = Field(description="£/m²/year for sites without a cost")
    sites_considered: int = Field(ge=0)
    areas: int = Field(ge=0)
    weights: dict[str, float]
    score_formula: str
    host_tenures: list[str]
    notes: list[str]
    travel_times: Metadata | None = Field(
        default=None, description="network runs: the travel model (network load, speeds)"
    )


class Colocation(ResponseModel):
    """``GET /estate/colocation``: clusters ranked by score, with how they were found."""

    numberMatched: int = Field(ge=0)
    clusters: list[Cluster]
    metadata: ColocationMetadata


# ------------------------------------------------------------------------------- scenarios

# Scenario bodies and records are defined once, with the service that checks them:
# app.services.scenarios (ScenarioRequest, ScenarioRecord, ScenarioList).


class ComparedJob(ResponseModel):
    """One side of a comparison: the evaluation job and the column naming its scenario."""

    job: str = Field(description="job id of the scenario-evaluation")
    scenario: str = Field(description="the column of this scenario in rows")


class ScenarioComparison(ResponseModel):
    """``GET /scenarios/compare``: two evaluations side by side (estate rows: mode estate).

    Each row has ``mode``, ``metric``, ``baseline``, one member per scenario (named as in
    ``a.scenario`` and ``b.scenario``) and ``difference``.
    """

    a: ComparedJob
    b: ComparedJob
    columns: list[str]
    rows: list[dict[str, Scalar]]
