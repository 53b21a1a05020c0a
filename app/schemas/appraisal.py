"""Response and request bodies of ``/appraisals`` (the options appraisal) for the OpenAPI.

The process inputs are :class:`app.services.appraisal.AppraisalParams`
(``POST /processes/options-appraisal/execution``); these models describe what the typed
routes answer: the criteria catalogue, a finished appraisal and a re-ranking.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AppraisalResult",
    "CriteriaList",
    "CriterionInfo",
    "HubSitingScenarioRequest",
    "MatrixRow",
    "MonteCarlo",
    "OptionInfo",
    "Ranking",
    "RankingRow",
    "Sensitivity",
    "SensitivityRow",
]


class CriterionInfo(BaseModel):
    """One criterion: its id (what weights and ranges name), label, unit, which direction is
    better, its group and definition, and its weight (default weight in the catalogue; the
    normalised weight used in an appraisal)."""

    id: str = Field(examples=["mean_time_min:drive"])
    label: str
    unit: str
    direction: Literal["lower", "higher"]
    group: str = Field(examples=["access", "equity", "travel burden", "estate"])
    description: str
    weight: float


class CriteriaList(BaseModel):
    """The criteria of an appraisal over some modes and bands."""

    criteria: list[CriterionInfo]
    normalisation: str
    notes: list[str]


class OptionInfo(BaseModel):
    """One option of an appraisal."""

    id: str = Field(examples=["baseline", "scenario:12", "hub-siting:3f1c…"])
    label: str
    kind: Literal["baseline", "scenario", "hub-siting"]
    scenario_id: int | None
    hub_siting_job: str | None
    evaluation: str = Field(description="where its figures come from")
    changes: int
    description: str


class MatrixRow(BaseModel):
    """An option's raw values (criterion id → value in the criterion's unit; null: unknown)."""

    option: str
    label: str
    values: dict[str, float | None]


class RankingRow(BaseModel):
    """An option's score (0-1), rank (1 = best), Pareto status and normalised values."""

    option: str
    score: float
    rank: int
    dominated: bool
    dominated_by: list[str]
    normalised: dict[str, float]


class SensitivityRow(BaseModel):
    """How far one criterion's weight can move (others rescaled proportionally) before the
    top option changes; null when no weight in that direction changes it."""

    criterion: str
    weight: float
    increase_to: float | None
    new_top_if_increased: str | None
    decrease_to: float | None
    new_top_if_decreased: str | None
    min_change: float | None


class Sensitivity(BaseModel):
    """Weight sensitivity per criterion and the smallest change overall."""

    criteria: list[SensitivityRow]
    min_change: float | None
    min_change_criterion: str | None


class MonteCarlo(BaseModel):
    """Ranks over random draws of the values within their ranges."""

    draws: int
    seed: int
    distribution: Literal["uniform", "triangular"]
    first_share: dict[str, float] = Field(description="option → share (0-1) of draws ranked 1st")
    mean_rank: dict[str, float]
    rank_counts: dict[str, list[int]] = Field(description="option → draws with rank 1, 2, …")


class Ranking(BaseModel):
    """Scores, ranks, the Pareto set, weight sensitivity and (with ranges) Monte Carlo."""

    normalisation: str
    weights: dict[str, float] = Field(description="normalised weights (sum 1)")
    top: str
    rows: list[RankingRow]
    sensitivity: Sensitivity
    monte_carlo: MonteCarlo | None
    notes: list[str]
    flip_rule: str


class AppraisalResult(BaseModel):
    """A finished options appraisal (the job's results without each option's full
    evaluation, which ``/jobs/{jobId}/results`` carries under ``evaluations``)."""

    job_id: str
    title: str
    options: list[OptionInfo]
    criteria: list[CriterionInfo]
    dropped_criteria: list[str]
    matrix: list[MatrixRow]
    ranking: Ranking
    details: dict[str, Any] = Field(
        description="option → per mode: mean time by IMD decile, who loses access by age "
        "band and IMD decile, concentration index; and the estate figures"
    )
    assumptions: dict[str, Any]
    notes: list[str]
    metadata: dict[str, Any]
    links: list[dict[str, str]]


class HubSitingScenarioRequest(BaseModel):
    """Save a hub-siting job's result as a scenario."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    job_id: uuid.UUID = Field(description="a successful hub-siting job")
    name: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[^\x00]+$")
    description: str | None = Field(None, max_length=5000, pattern=r"^[^\x00]*$")
    restricted: bool = Field(False, description="visible only to your organisation")
