"""Liveness (``/healthz``) and readiness (``/readyz``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.schemas.common import ResponseModel

__all__ = ["DatabaseCheck", "Liveness", "Readiness", "Versions"]


class Liveness(ResponseModel):
    """``GET /healthz``: the process serves requests."""

    status: Literal["ok"]
    uptime_s: float = Field(ge=0, description="seconds since start-up")


class DatabaseCheck(ResponseModel):
    """The database round trip of a readiness check."""

    round_trip_ms: float = Field(ge=0)


class Versions(ResponseModel):
    """Versions of the database and its extensions."""

    postgresql: str
    postgis: str
    proj: str
    pgrouting: str


class Readiness(ResponseModel):
    """``GET /readyz``: the database answered; 503 problem+json otherwise."""

    status: Literal["ready"]
    database: DatabaseCheck
    versions: Versions
