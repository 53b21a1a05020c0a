"""Liveness (``/healthz``, the process) and readiness (``/readyz``, the database)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.dependencies import PoolDep
from app.errors import RETRY_AFTER_S, DatabaseUnavailable, problem
from app.schemas.health import Liveness, Readiness
from app.schemas.openapi import problems
from store.health import server_versions

router = APIRouter(tags=["Health"])

#: Seconds /readyz waits for a connection before reporting the database down.
READY_TIMEOUT_S = 3.0


@router.get(
    "/healthz",
    summary="Process liveness",
    response_model=Liveness,
    response_model_exclude_unset=True,
)
async def healthz(request: Request) -> dict[str, Any]:
    """200 while the process serves requests; never touches the database."""
    return {"status": "ok", "uptime_s": round(time.time() - request.app.state.started_at, 1)}


@router.get(
    "/readyz",
    summary="Readiness: database round trip and versions",
    response_model=Readiness,
    responses=problems(503),
)
async def readyz(request: Request, pool: PoolDep) -> Response:
    """Database round trip with PostgreSQL, PostGIS, PROJ and pgRouting versions; 503 if down."""
    started = time.perf_counter()
    try:
        async with pool.connection(timeout=READY_TIMEOUT_S) as conn:
            versions = await server_versions(conn)
    except Exception as exc:  # any failure to reach or query the database means not ready
        return problem(
            request,
            status=503,
            title=DatabaseUnavailable.title,
            detail=f"database check failed: {type(exc).__name__}",
            slug=DatabaseUnavailable.slug,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return JSONResponse(
        {
            "status": "ready",
            "database": {"round_trip_ms": round((time.perf_counter() - started) * 1000, 2)},
            "versions": asdict(versions),
        }
    )
