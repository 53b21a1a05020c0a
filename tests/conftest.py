"""Shared fixtures: the real data folder and a throwaway, migrated PostGIS database.

The database is created fresh for each test session on the server named by
``LOCUS_DATABASE_URL`` (default: the local PostgreSQL), migrated to head, and dropped at the
end, so tests never touch the demo database.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import Engine, create_engine

from config.settings import Settings, get_settings, load_settings
from store.admin import create_database, drop_database, upgrade_head
from store.connection import Database, Purpose, database

if TYPE_CHECKING:
    from etl.loading import LoadSummary
    from spatial.transit import Timetable

# Tests check that a write is served at once: read the data version on every request.
os.environ.setdefault("LOCUS_TILE_VERSION_TTL_S", "0")

TRAFFORD = "E08000009"

#: (dataset, file under trafford/, allowed rejects: real errors in the published files).
TRAFFORD_BUNDLE: list[tuple[str, str, int]] = [
    ("lsoa21", "trafford_lsoa21.geojson", 0),
    ("lsoa11", "trafford_lsoa11.geojson", 0),
    ("midyear-sya", "mid-year_2024_population_estimates_lsoa.csv", 0),
    ("census2021-5yr", "2021_population_by_5_year_age_bands_lsoa_trafford.csv", 0),
    ("onspd", "trafford_postcodes.csv", 0),
    # 'M32 OXZ' (letter O), 'WA14 1', and GeoX/GeoY swapped on one row.
    ("council-assets", "trafford_land_and_building_assets.csv", 3),
    ("trafford-gp", "trafford_general_practices.csv", 0),
    ("trafford-pharmacies", "trafford_pharmacies.csv", 0),
    ("trafford-care-homes", "trafford_care_homes.csv", 0),
    # Crescent Dental Care is listed twice, identically.
    ("trafford-dentists", "trafford_dentists.csv", 1),
]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real public data folder (``LOCUS_DATABASE_URL``'s sibling setting ``LOCUS_DATA_DIR``)."""
    path = get_settings().paths.data_dir
    if not (path / "README.md").exists():
        pytest.fail(f"real data not found at {path}: set LOCUS_DATA_DIR")
    return path


def scratch_database_url(prefix: str = "locus_test") -> str:
    """A URL for a new, uniquely named database on the configured server (not created)."""
    base = urlsplit(get_settings().database.url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    return urlunsplit(base._replace(path=f"/{name}"))


def settings_for(database_url: str, **api: object) -> Settings:
    """Settings from the environment, pointed at ``database_url``, with API overrides
    (``anonymous_role="analyst"``, ``default_page_size=10``...)."""
    settings = load_settings().with_database(database_url)
    if api:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=api)})
    return settings


def database_for(url: str, *, purpose: Purpose = "batch") -> Database:
    """The process's :class:`store.connection.Database` on ``url`` (closed when dropped)."""
    return database(settings_for(url).database, purpose=purpose)


@contextmanager
def scratch_database(prefix: str = "locus_test") -> Iterator[tuple[str, Engine]]:
    """A new database (see :func:`scratch_database_url`), migrated to head: ``(url, engine)``.

    The engine serves code that still takes a SQLAlchemy engine (``etl`` loads); use
    :func:`database_for` for the data layer. The engine and this process's pools on the
    database are closed, and the database dropped, when the block ends.
    """
    url = scratch_database_url(prefix)
    settings = settings_for(url).database
    create_database(settings)
    engine = create_engine(url)
    try:
        upgrade_head(settings)
        yield url, engine
    finally:
        engine.dispose()
        drop_database(settings)


@contextmanager
def database_env(url: str) -> Iterator[str]:
    """Point ``LOCUS_DATABASE_URL`` (and the cached settings) at ``url`` inside the block."""
    previous = os.environ.get("LOCUS_DATABASE_URL")
    os.environ["LOCUS_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("LOCUS_DATABASE_URL", None)
        else:
            os.environ["LOCUS_DATABASE_URL"] = previous
        get_settings.cache_clear()


def load_trafford(
    settings: Settings, data_dir: Path, *, only: Collection[str] | None = None
) -> dict[str, LoadSummary]:
    """Load the real Trafford files of :data:`TRAFFORD_BUNDLE` (those in ``only`` if given)
    into ``settings.database``."""
    from etl.datasets import load_dataset

    return {
        name: load_dataset(
            settings, name, data_dir / "trafford" / rel, region=TRAFFORD, allow_rejects=allow
        )
        for name, rel, allow in TRAFFORD_BUNDLE
        if only is None or name in only
    }


def gtfs_timetable(path: Path, date: dt.date) -> Timetable:
    """The timetable of the GTFS feed at ``path`` for service ``date``, built from the file."""
    from etl.gtfs import read_gtfs
    from spatial.transit import build_timetable

    f = read_gtfs(path)
    return build_timetable(
        f.stops,
        f.trips,
        f.stop_times,
        f.routes,
        f.calendar,
        f.calendar_dates,
        date=date,
    )


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """A freshly created and migrated throwaway database; ``LOCUS_DATABASE_URL`` points at it."""
    with scratch_database() as (url, _), database_env(url):
        yield url


@pytest.fixture(scope="session")
def db(db_url: str) -> Database:
    """The data layer's :class:`Database` on the session's throwaway database."""
    return database_for(db_url)


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

    with scratch_database("locus_test_rutland") as (url, _):
        load_demo(settings_for(url), data_dir=data_dir)
        yield url


@pytest.fixture(scope="session")
def rutland_db(rutland_db_url: str) -> Database:
    """The data layer's :class:`Database` on the Rutland demo database."""
    return database_for(rutland_db_url)


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
    with database_env(rutland_db_url) as url:
        yield url
