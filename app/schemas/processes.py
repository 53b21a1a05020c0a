"""OGC API Processes: process list and descriptions, execute requests, jobs and results."""

# Member names are the wire names the OGC API specifications use (numberMatched, jobID...).
# ruff: noqa: N815

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, RootModel

from app.schemas.common import DateTimeText, InputModel, JsonValue, Link, ResponseModel

__all__ = [
    "ExecuteRequest",
    "InputDescription",
    "JobList",
    "JobResults",
    "JobStatus",
    "OutputDescription",
    "ProcessDescription",
    "ProcessList",
    "ProcessSummary",
]

JobState = Literal["accepted", "running", "successful", "failed", "dismissed"]


class ProcessSummary(ResponseModel):
    """One process of ``GET /processes``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    title: str
    description: str
    version: str
    keywords: list[str]
    jobControlOptions: list[Literal["async-execute", "sync-execute", "dismiss"]]
    outputTransmission: list[Literal["value", "reference"]]
    required_role: Literal["viewer", "analyst", "admin"] = Field(
        alias="x-locus-required-role", description="role an API key needs to execute it"
    )
    result_formats: list[str] = Field(
        alias="x-locus-result-formats", description="f= values of /jobs/{jobId}/results"
    )
    links: list[Link]


class ProcessList(ResponseModel):
    """``GET /processes``."""

    processes: list[ProcessSummary]
    links: list[Link]


class InputDescription(ResponseModel):
    """One input of a process: JSON Schema and cardinality."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str
    description: str
    input_schema: dict[str, JsonValue] = Field(alias="schema", description="JSON Schema")
    minOccurs: int = Field(ge=0)
    maxOccurs: int = Field(ge=1)


class OutputDescription(ResponseModel):
    """One output of a process."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str
    output_schema: dict[str, JsonValue] = Field(alias="schema", description="JSON Schema")


class ProcessDescription(ProcessSummary):
    """``GET /processes/{processId}``: the summary with inputs and outputs."""

    inputs: dict[str, InputDescription]
    outputs: dict[str, OutputDescription]


class ExecuteRequest(InputModel):
    """``POST /processes/{processId}/execution`` body.

    ``inputs`` are checked against the process's input schema (``/processes/{processId}``);
    ``outputs``, ``response`` and ``subscriber`` are accepted and ignored (every process
    runs asynchronously and returns its outputs by value).
    """

    inputs: dict[str, JsonValue] | None = Field(default=None, description="process inputs")
    outputs: JsonValue = None
    response: JsonValue = None
    subscriber: JsonValue = None
    restricted: bool = Field(
        default=True, description="the job and its results visible to your organisation only"
    )


class JobStatus(ResponseModel):
    """A job's status document (``/jobs/{jobId}``; 201 body of an execute request)."""

    jobID: str = Field(json_schema_extra={"format": "uuid"})
    processID: str
    type: Literal["process"]
    status: JobState
    message: str | None
    progress: int | None = Field(ge=0, le=100)
    created: DateTimeText | None
    started: DateTimeText | None
    finished: DateTimeText | None
    updated: DateTimeText | None
    attempts: int = Field(ge=0)
    restricted: bool
    links: list[Link]


class JobList(ResponseModel):
    """``GET /jobs``: the caller's jobs, newest first, with a ``next`` link when full."""

    jobs: list[JobStatus]
    links: list[Link]


class JobResults(RootModel[dict[str, JsonValue]]):
    """``GET /jobs/{jobId}/results``: the outputs by id (see the process's ``outputs``)."""
