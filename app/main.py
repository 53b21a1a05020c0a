"""The Locus HTTP service: ``create_app()`` builds it, ``app`` is what uvicorn serves.

The lifespan opens one async psycopg pool (:func:`store.connection.async_pool`: the one
connection configuration) and keeps it on ``app.state.pool``; routes reach it
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

from fastapi import FastAPI

from app.errors import install_handlers
from app.guards import install_guards
from app.routers import analysis, estate, health, ogc, processes, tiles, web
from app.schemas.openapi import install_openapi
from config.settings import Settings, get_settings
from store.connection import async_pool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool on start-up (without waiting for the database), close it on shutdown."""
    pool = async_pool(app.state.settings.database, purpose="interactive")
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
    install_guards(app)
    install_openapi(app)
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
