"""Fixtures for the ETL tests: a database of their own with the Rutland bundle loaded.

The ETL tests replace loads (a newer epraccur, then the original again: a practice removed
and re-added gets a new id); they run in their own throwaway database so the shared session
database the API and analysis tests use keeps its sites and computed travel times.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.demo import RUTLAND, RUTLAND_BUNDLE
from etl.datasets import load_dataset
from etl.loading import LoadSummary
from tests.conftest import scratch_database

__all__ = ["RUTLAND"]


@pytest.fixture(scope="session")
def db_engine() -> Iterator[Engine]:
    """A freshly migrated database for the ETL tests only, dropped at the end."""
    with scratch_database("locus_test_etl") as (_, engine):
        yield engine


@pytest.fixture(scope="session")
def rutland(db_engine: Engine, data_dir: Path) -> dict[str, LoadSummary]:
    """The Rutland bundle without the road network, loaded once per session."""
    return {
        item.dataset: load_dataset(
            db_engine, item.dataset, data_dir / item.path, region=item.region
        )
        for item in RUTLAND_BUNDLE
        if item.dataset != "osm-network"
    }
