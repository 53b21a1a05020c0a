"""Shared fixtures: the real data folder and a throwaway, migrated PostGIS database.

The database is created fresh for each test session on the server named by
``LOCUS_DATABASE_URL`` (default: the local PostgreSQL), migrated to head, and dropped at the
end, so tests never touch the demo database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from app.dbadmin import create_database, drop_database, upgrade_head
from app.settings import get_settings


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data folder (``LOCUS_DATABASE_URL``'s sibling setting ``LOCUS_DATA_DIR``)."""
    path = get_settings().data_dir
    if not (path / "README.md").exists():
        pytest.fail(f"real data not found at {path}: set LOCUS_DATA_DIR")
    return path


def scratch_database_url(prefix: str = "locus_test") -> str:
    """A URL for a new, uniquely named database on the configured server (not created)."""
    base = make_url(get_settings().database_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return base.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """A freshly created and migrated throwaway database; ``LOCUS_DATABASE_URL`` points at it."""
    url = scratch_database_url()
    create_database(url)
    previous = os.environ.get("LOCUS_DATABASE_URL")
    os.environ["LOCUS_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        upgrade_head(url)
        yield url
    finally:
        if previous is None:
            os.environ.pop("LOCUS_DATABASE_URL", None)
        else:
            os.environ["LOCUS_DATABASE_URL"] = previous
        get_settings.cache_clear()
        drop_database(url)


@pytest.fixture(scope="session")
def db_engine(db_url: str) -> Iterator[Engine]:
    """A SQLAlchemy engine on the session's throwaway database."""
    engine = create_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def rutland_db_url(data_dir: Path) -> Iterator[str]:
    """A database of its own with the real Rutland demo bundle loaded and computed.

    Loaded once per session through :func:`app.demo.load_demo`, exactly as `make demo` does;
    separate from ``db_url`` so tests that write synthetic rows there cannot change it.
    """
    from app.demo import load_demo

    url = scratch_database_url("locus_test_rutland")
    create_database(url)
    engine = create_engine(url)
    try:
        upgrade_head(url)
        load_demo(engine=engine, data_dir=data_dir)
        yield url
    finally:
        engine.dispose()
        drop_database(url)


@pytest.fixture(scope="session")
def rutland_engine(rutland_db_url: str) -> Iterator[Engine]:
    """An engine on the Rutland demo database."""
    engine = create_engine(rutland_db_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def rutland_env(rutland_db_url: str) -> Iterator[str]:
    """Point ``LOCUS_DATABASE_URL`` at the Rutland database for this module.

    For code that reads its settings from the environment as a worker process does (job
    tasks run in-process, worker subprocesses started by a test).
    """
    previous = os.environ.get("LOCUS_DATABASE_URL")
    os.environ["LOCUS_DATABASE_URL"] = rutland_db_url
    get_settings.cache_clear()
    try:
        yield rutland_db_url
    finally:
        if previous is None:
            os.environ.pop("LOCUS_DATABASE_URL", None)
        else:
            os.environ["LOCUS_DATABASE_URL"] = previous
        get_settings.cache_clear()
