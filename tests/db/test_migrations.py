"""Migrations go from an empty database to head and back to empty."""

from __future__ import annotations

from sqlalchemy import inspect, text

from store.admin import downgrade_base
from tests.conftest import scratch_database, settings_for

EXPECTED_TABLES = {
    "areas",
    "population",
    "deprivation",
    "sites",
    "postcodes",
    "network_nodes",
    "network_edges",
    "data_loads",
    "travel_times",
    "catchments",
    "computations",
    "organisations",
    "api_keys",
    "jobs",
}


def test_upgrade_to_head_and_downgrade_to_empty() -> None:
    with scratch_database("locus_migr") as (url, engine):
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        assert tables >= EXPECTED_TABLES
        gist = {
            (ix["name"])
            for t in ("areas", "sites", "postcodes", "network_edges", "network_nodes")
            for ix in inspector.get_indexes(t)
        }
        assert {"ix_areas_geom", "ix_sites_geom", "ix_network_edges_geom"} <= gist
        with engine.connect() as conn:
            srid = conn.execute(text("SELECT Find_SRID('public', 'sites', 'geom')")).scalar_one()
            assert srid == 27700

        downgrade_base(settings_for(url).database)
        inspector = inspect(engine)
        left = set(inspector.get_table_names()) - {"alembic_version"}
        assert left == set()
        with engine.connect() as conn:
            extensions = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
        assert "postgis" not in extensions
        assert "pgrouting" not in extensions
