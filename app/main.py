"""The Locus HTTP service: ``create_app()`` builds it, ``app`` is what uvicorn serves.

The lifespan opens one async psycopg pool (autocommit, ``statement_timeout`` set on every
connection through libpq ``options``) and keeps it on ``app.state.pool``; routes reach it
through :mod:`app.dependencies`. The pool opens without waiting, so ``/healthz`` answers even
when the database is down and ``/readyz`` reports it as a 503 problem.

Routers slot in per concern: OGC API Features (``routers.ogc``), vector tiles
(``routers.tiles``), health (``routers.health``); processes/jobs and API keys will be more
routers and a real ``dependencies.get_principal``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from app.errors import install_handlers
from app.routers import analysis, estate, health, ogc, processes, tiles, web
from app.settings import Settings, get_settings


def make_pool(settings: Settings) -> AsyncConnectionPool[Any]:
    """An unopened pool for ``settings.libpq_url`` with the statement timeout per connection.

    Sizes come from ``settings.pool_*``. JIT is off for API sessions: the planner's cost
    estimates for tile statements cross ``jit_above_cost``, and compiling then took ~600 ms
    of a tile that runs in 30 ms without it (measured, bench/api_load.py). Parallel query is
    off too: on two cores a Gather's worker start-up (~50 ms under load) cost more than the
    index scans it split, and the cores are better spent on concurrent requests. Plans are
    always custom: psycopg prepares a statement after 5 executions, and PostgreSQL's generic
    plan for a bbox query re-projected the bbox polygon for every row (an items page went
    from 12 ms to 1-3 s); planning these statements costs about a millisecond.
    """
    return AsyncConnectionPool(
        settings.libpq_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout_s,
        open=False,
        name="locus-api",
        kwargs={
            "autocommit": True,
            "application_name": "locus-api",
            "options": f"-c statement_timeout={int(settings.statement_timeout_ms)} -c jit=off"
            " -c max_parallel_workers_per_gather=0 -c plan_cache_mode=force_custom_plan",
        },
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool on start-up (without waiting for the database), close it on shutdown."""
    pool = make_pool(app.state.settings)
    await pool.open(wait=False)
    app.state.pool = pool
    app.state.started_at = time.time()
    try:
        yield
    finally:
        await pool.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI application for ``settings`` (default: ``get_settings()``)."""
    app = FastAPI(
        title="Locus",
        description=(
            "Open geospatial estate planning: OGC API Features (Part 1 Core, Part 2 CRS) and "
            "Mapbox vector tiles over sites, areas, postcodes and the travel network. "
            "Errors are RFC 9457 application/problem+json naming the parameter."
        ),
        version="0.1.0",
        openapi_url="/api",
        docs_url="/api.html",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings or get_settings()
    app.state.extent_cache = {}
    install_handlers(app)
    app.include_router(health.router)
    # Before the OGC router: both answer "/", the web router sends browsers the map.
    app.include_router(web.router)
    app.include_router(ogc.router)
    app.include_router(tiles.router)
    app.include_router(analysis.router)
    app.include_router(analysis.postcode_router)
    app.include_router(processes.router)
    app.include_router(estate.router)
    return app


app = create_app()
