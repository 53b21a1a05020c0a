"""Fixtures for the ETL tests: a database of their own with the Rutland bundle loaded.

The ETL tests replace loads (a newer epraccur, then the original again: a practice removed
and re-added gets a new id); they run in their own throwaway database so the shared session
database the API and analysis tests use keeps its sites and computed travel times.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.demo import RUTLAND, RUTLAND_BUNDLE
from config.settings import Settings
from etl.datasets import load_dataset
from etl.loading import LoadSummary
from store.connection import Database, close_databases, database
from tests.conftest import scratch_database, settings_for

__all__ = ["RUTLAND", "fetch"]


def _named(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    """Rows as named tuples; repeated or odd column names (``count``, ``?column?``) become
    ``_1``, ``_2``... (psycopg's ``namedtuple_row`` refuses them)."""
    row = namedtuple("Row", [c.name for c in cursor.description or []], rename=True)
    return row._make


def fetch(db: Database, query: str, params: Mapping[str, Any] | None = None) -> list[Any]:
    """The rows of ``query`` (named tuples), for the tests' assertions."""
    with db.connection() as conn, conn.cursor(row_factory=_named) as cur:
        cur.execute(query, params)
        return cur.fetchall()


@pytest.fixture(scope="session")
def etl_settings() -> Iterator[Settings]:
    """Settings on a freshly migrated database for the ETL tests only, dropped at the end."""
    with scratch_database("locus_test_etl") as (url, _):
        try:
            yield settings_for(url)
        finally:
            close_databases(url)  # the pools' connections, before the database is dropped


@pytest.fixture(scope="session")
def etl_db(etl_settings: Settings) -> Database:
    """The ETL tests' database (the pool loads use)."""
    return database(etl_settings.database, purpose="batch")


@pytest.fixture(scope="session")
def rutland(etl_settings: Settings, data_dir: Path) -> dict[str, LoadSummary]:
    """The Rutland bundle without the road network, loaded once per session."""
    return {
        item.dataset: load_dataset(
            etl_settings, item.dataset, data_dir / item.path, region=item.region
        )
        for item in RUTLAND_BUNDLE
        if item.dataset != "osm-network"
    }
