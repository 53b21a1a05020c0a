"""The Locus HTTP service: ``create_app(settings)`` builds it, ``app`` is what uvicorn serves.

The app keeps its :class:`config.settings.Settings` on ``app.state.settings`` (routes read
them through :data:`app.dependencies.SettingsDep`, never as a global). The lifespan opens one
async psycopg pool (:func:`store.connection.async_pool`: the one connection configuration)
and keeps it on ``app.state.pool``; routes reach it through :mod:`app.dependencies`. Vector
tiles and the response cache live on ``app.state.tiles`` (:class:`app.services.tiles.
TileService`, with a small pool of its own so tiles never hold the connections items need). The pool
opens without waiting, so ``/healthz`` answers even when the database is down and
``/readyz`` reports it as a 503 problem.

Routers slot in per concern: OGC API Features (``routers.ogc``), vector tiles
(``routers.tiles``), health (``routers.health``), analysis, processes and jobs, estate, and
the web map. Two app-wide dependencies run before any route's own parameters:
:func:`app.dependencies.reject_nul_bytes` refuses a NUL character in any query or path
parameter, and :func:`app.auth.current_principal` checks any API key that is sent, so a
malformed, unknown or revoked key is a 401 on every route, including those that answer
anonymous callers the same as keyed ones (``/processes``, ``/postcodes``, ``/healthz``...);
routes that need the caller get the same, once-verified principal (FastAPI caches a
dependency per request). Links and ``Location`` headers are on the configured base URL, never
on ``Host`` (:mod:`app.links`).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from app.auth import current_principal
from app.dependencies import reject_nul_bytes
from app.errors import install_handlers
from app.guards import install_guards
from app.links import install_links
from app.routers import (
    analysis,
    appraisal,
    benchmark,
    estate,
    footprints,
    health,
    ogc,
    planning,
    processes,
    tiles,
    web,
)
from app.schemas.openapi import install_openapi
from app.services.tiles import TileService
from config.settings import Settings, get_settings
from store.connection import async_pool


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Open the pool on start-up (without waiting for the database), close it on shutdown."""
    pool = async_pool(app.state.settings.database, purpose="interactive")
    await pool.open(wait=False)
    app.state.pool = pool
    # Tiles render on a small pool of their own (app.services.tiles).
    app.state.tiles = TileService(app.state.settings, pool)
    await app.state.tiles.open()
    app.state.started_at = time.time()
    try:
        yield
    finally:
        await app.state.tiles.close()
        await pool.close()


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application for ``settings``."""
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
        dependencies=[Depends(reject_nul_bytes), Depends(current_principal)],
    )
    app.state.settings = settings
    app.state.extent_cache = {}
    install_handlers(app)
    install_guards(app)
    install_links(app)
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
    app.include_router(appraisal.router)
    app.include_router(benchmark.router)
    app.include_router(footprints.router)
    app.include_router(planning.router)
    return app


#: The app uvicorn serves (``uvicorn app.main:app``): an entry point, so it reads the settings.
app = create_app(get_settings())
