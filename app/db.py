"""SQLAlchemy engines for code that has not moved to :mod:`store` yet (to be deleted).

The API and the data layer use :mod:`store.connection` (one connection configuration for
every path). What still takes an engine: ``etl.datasets.load_dataset``,
``app.services.compute.refresh_computations``, ``routers.analysis``, ``routers.estate`` and
``jobs.tasks``; when they take a :class:`store.connection.Database`, this module goes.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine

from config.settings import get_settings


@lru_cache
def engine_for(url: str) -> Engine:
    """A pooled engine for ``url`` (cached so a process has one pool per database)."""
    return create_engine(url, pool_pre_ping=True, future=True)


def get_engine() -> Engine:
    """The engine for ``LOCUS_DATABASE_URL``."""
    return engine_for(get_settings().database.url)
