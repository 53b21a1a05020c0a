"""The inputs of an options appraisal: options, evaluation settings, weights and ranges.

:class:`AppraisalParams` is THE inputs of the ``options-appraisal`` process (and its OGC
description): every check that needs no database is here, so a bad weight, an unknown
criterion or too few options is a 400 naming the input before a job is queued. Criterion ids
come from :func:`app.services.appraisal_criteria.criteria_catalogue` for the request's modes
and bands; option ids are ``baseline``, ``scenario:<id>`` and ``hub-siting:<job id>``
(:func:`option_ids`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from app.services.appraisal_criteria import criteria_catalogue, default_weights
from app.services.scenario_evaluation import EvaluationParams
from spatial.appraisal import AppraisalError, Criterion, check_weights
from spatial.burden import DEFAULT_ROUTE_FACTOR, DEFAULT_VISITS_PER_PERSON_YEAR, VISIT_RATE_SOURCE
from spatial.kinds import KIND_PATTERN
from spatial.modes import Mode

__all__ = [
    "MAX_OPTIONS",
    "AppraisalInputError",
    "AppraisalParams",
    "CapacityCriteria",
    "CriterionId",
    "OptionId",
    "PercentRange",
    "RescoreRequest",
    "Uncertainty",
    "ValueRange",
    "option_ids",
    "weights_problems",
]

Kind = Annotated[str, Field(pattern=KIND_PATTERN)]
OPTION_PATTERN = r"^(baseline|scenario:[1-9][0-9]{0,18}|hub-siting:[0-9a-fA-F-]{36})$"
OptionId = Annotated[
    str, Field(pattern=OPTION_PATTERN, examples=["baseline", "scenario:12"], max_length=60)
]
CriterionId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_:]+$")]
MAX_OPTIONS = 20


class AppraisalInputError(ValueError):
    """An appraisal cannot run as asked; ``parameter`` names the input, ``problems`` each
    problem (unknown criteria, bad weights, options that are not there)."""

    def __init__(self, parameter: str, problems: Sequence[str]) -> None:
        self.parameter = parameter
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class PercentRange(BaseModel):
    """A criterion's uncertainty for every option: ``value × (1 - minus_pct/100)`` to
    ``value × (1 + plus_pct/100)`` (on ``|value|``, so the range always contains it)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    minus_pct: float = Field(ge=0, le=100, description="% below the value")
    plus_pct: float = Field(ge=0, le=1000, description="% above the value")


class ValueRange(BaseModel):
    """One option's range on one criterion, in the criterion's unit (overrides a
    percentage range). When it does not contain the computed value, the computed value is
    clipped into it for the Monte Carlo draws (noted)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    option: OptionId
    criterion: CriterionId
    low: float = Field(ge=-1e15, le=1e15)
    high: float = Field(ge=-1e15, le=1e15)

    @field_validator("high")
    @classmethod
    def _ordered(cls, value: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and value < low:
            raise ValueError(f"high ({value:g}) is below low ({low:g})")
        return value


class Uncertainty(BaseModel):
    """Ranges of the criteria values for a Monte Carlo of the ranks: per criterion as a
    percentage, or per option and criterion in the criterion's unit. Values without a range
    are fixed."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    criteria: dict[CriterionId, PercentRange] = Field(
        default_factory=dict, max_length=200, description="criterion id → percentage range"
    )
    values: list[ValueRange] = Field(default_factory=list, max_length=500)
    distribution: Literal["uniform", "triangular"] = Field(
        "triangular", description="uniform, or triangular with the computed value as its mode"
    )
    draws: int = Field(1000, ge=100, le=20000, description="Monte Carlo draws")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="random seed (the run reproduces)")


class CapacityCriteria(BaseModel):
    """Add the capacity shortfall criteria: need of each option's catchments (by the norm
    set) against the serving sites' capacity as the ``capacity-sizing`` process reads it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    service: Literal["primary_care", "beds"] = Field(
        description="primary_care: shortfall in GP FTE; beds: in beds"
    )
    norms_id: int | None = Field(
        None, ge=1, le=2**63 - 1, description="a stored norm set; none: the built-in default"
    )
    projection_id: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        description="a stored projection: people now (its base year) and at the horizon; "
        "none: the latest loaded population, shortfall now only",
    )
    horizon_year: int | None = Field(
        None, ge=1900, le=2150, description="default: the projection's last horizon"
    )

    @field_validator("horizon_year")
    @classmethod
    def _needs_projection(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and info.data.get("projection_id") is None:
            raise ValueError("a horizon year needs a projection (projection_id)")
        return value


def _capacity_args(capacity: CapacityCriteria | None) -> dict[str, Any]:
    if capacity is None:
        return {}
    return {
        "capacity_service": capacity.service,
        "capacity_horizon": capacity.projection_id is not None,
    }


def _drive() -> list[Mode]:
    return ["drive"]


def weights_problems(weights: Mapping[str, float], ids: Sequence[str]) -> list[str]:
    """The problems of ``weights`` over criteria ``ids`` (none: they are usable)."""
    try:
        check_weights(weights, ids)
    except AppraisalError as exc:
        return exc.problems
    return []


class AppraisalParams(BaseModel):
    """Inputs of the ``options-appraisal`` process (schema at /processes/options-appraisal).

    Options are ``baseline`` (with ``include_baseline``), ``scenario:<id>`` for each of
    ``scenario_ids`` and ``hub-siting:<job id>`` for each of ``hub_siting_jobs``; at least
    two in all. Criteria ids come from ``modes`` and ``bands`` (GET /appraisals/criteria).
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    title: str = Field("Options appraisal", min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    include_baseline: bool = Field(True, description="appraise today's estate as an option")
    hub_siting_jobs: list[uuid.UUID] = Field(
        default_factory=list, max_length=10, description="ids of successful hub-siting jobs"
    )
    scenario_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        default_factory=list, max_length=MAX_OPTIONS, description="ids of saved scenarios"
    )
    kinds: list[Kind] = Field(
        default_factory=lambda: ["gp_practice"],
        min_length=1,
        max_length=20,
        description="site kinds providing the service whose access is measured",
    )
    modes: list[Mode] = Field(default_factory=_drive, min_length=1, max_length=4)
    bands: list[int] = Field(
        default_factory=lambda: [10, 20, 30],
        min_length=1,
        max_length=10,
        description="travel-time bands, whole minutes (1-120)",
    )
    threshold_min: float = Field(20.0, gt=0, le=180, description="access threshold, minutes")
    cost_per_m2: float | None = Field(
        None, gt=0, le=10000, description="£/m²/year where a site has no running cost"
    )
    receipt_per_ha: float | None = Field(
        None, ge=0, le=1e9, description="£ per hectare of land released (capital receipt)"
    )
    visits_per_person_year: float = Field(
        DEFAULT_VISITS_PER_PERSON_YEAR,
        ge=0,
        le=100,
        description=f"journeys to the service per resident per year (default: {VISIT_RATE_SOURCE})",
    )
    route_factor: float = Field(
        DEFAULT_ROUTE_FACTOR, ge=1, le=3, description="route distance / straight-line distance"
    )
    capacity: CapacityCriteria | None = Field(
        None,
        description="add the criteria capacity_shortfall_now (and, with a projection, "
        "capacity_shortfall_horizon); none: no capacity criteria",
    )
    weights: dict[CriterionId, float] | None = Field(
        None,
        max_length=200,
        description="criterion id → weight (>= 0, not all 0; normalised to sum 1; criteria "
        "not named get 0). Default: equal weights on the headline criteria",
    )
    uncertainty: Uncertainty | None = Field(
        None, description="ranges for a Monte Carlo of the ranks (none: no Monte Carlo)"
    )

    @field_validator("hub_siting_jobs")
    @classmethod
    def _unique_jobs(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("a hub-siting job is listed twice")
        return value

    @field_validator("scenario_ids")
    @classmethod
    def _options(cls, value: list[int], info: ValidationInfo) -> list[int]:
        if len(set(value)) != len(value):
            dup = sorted({v for v in value if value.count(v) > 1})
            raise ValueError(f"scenario ids {dup} are listed twice")
        n = int(bool(info.data.get("include_baseline", True)))
        n += len(info.data.get("hub_siting_jobs") or []) + len(value)
        if n < 2:
            raise ValueError(
                f"an appraisal needs at least two options (baseline, scenario_ids, "
                f"hub_siting_jobs); got {n}"
            )
        if n > MAX_OPTIONS:
            raise ValueError(f"at most {MAX_OPTIONS} options, got {n}")
        return value

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: list[int]) -> list[int]:
        if any(b < 1 or b > 120 for b in value):
            raise ValueError("each band must be between 1 and 120 minutes")
        return sorted(set(value))

    def catalogue(self) -> list[Criterion]:
        """The criteria of these modes and bands (and capacity)."""
        return criteria_catalogue(
            self.modes, self.bands, self.threshold_min, **_capacity_args(self.capacity)
        )

    def default_weights(self) -> dict[str, float]:
        """The default weights of these modes (and capacity)."""
        return default_weights(self.modes, **_capacity_args(self.capacity))

    @field_validator("weights")
    @classmethod
    def _weights(
        cls, value: dict[str, float] | None, info: ValidationInfo
    ) -> dict[str, float] | None:
        if value is None or not {"modes", "bands", "threshold_min"} <= set(info.data):
            return value
        ids = [
            c.id
            for c in criteria_catalogue(
                info.data["modes"],
                info.data["bands"],
                info.data["threshold_min"],
                **_capacity_args(info.data.get("capacity")),
            )
        ]
        problems = weights_problems(value, ids)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("uncertainty")
    @classmethod
    def _ranges(cls, value: Uncertainty | None, info: ValidationInfo) -> Uncertainty | None:
        if value is None or not {"modes", "bands", "threshold_min"} <= set(info.data):
            return value
        ids = {
            c.id
            for c in criteria_catalogue(
                info.data["modes"],
                info.data["bands"],
                info.data["threshold_min"],
                **_capacity_args(info.data.get("capacity")),
            )
        }
        options = set(
            option_ids(
                bool(info.data.get("include_baseline", True)),
                info.data.get("scenario_ids") or [],
                info.data.get("hub_siting_jobs") or [],
            )
        )
        problems = [f"unknown criterion {c!r}" for c in value.criteria if c not in ids]
        for i, r in enumerate(value.values):
            if r.criterion not in ids:
                problems.append(f"values[{i}]: unknown criterion {r.criterion!r}")
            if r.option not in options:
                problems.append(
                    f"values[{i}]: option {r.option!r} is not one of the options {sorted(options)}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return value

    def evaluation(self, scenario_id: int) -> EvaluationParams:
        """The scenario-evaluation inputs every option is evaluated with."""
        return EvaluationParams(
            scenario_id=scenario_id,
            kinds=self.kinds,
            modes=self.modes,
            bands=self.bands,
            threshold_min=self.threshold_min,
            cost_per_m2=self.cost_per_m2,
            receipt_per_ha=self.receipt_per_ha,
        )


def option_ids(
    include_baseline: bool, scenario_ids: Sequence[int], hub_siting_jobs: Sequence[Any]
) -> list[str]:
    """The option ids of an appraisal, in appraisal order."""
    return (
        (["baseline"] if include_baseline else [])
        + [f"scenario:{i}" for i in scenario_ids]
        + [f"hub-siting:{j}" for j in hub_siting_jobs]
    )


class RescoreRequest(BaseModel):
    """Other weights and/or ranges for a finished appraisal (no re-evaluation)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    weights: dict[CriterionId, float] | None = Field(
        None, max_length=200, description="criterion id → weight (default: the appraisal's)"
    )
    uncertainty: Uncertainty | None = None
