"""Foundation schema: provenance, areas, population, deprivation, sites, postcodes, networks.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BNG = 27700


def _geom(kind: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("geom", Geometry(kind, srid=BNG, spatial_index=False), nullable=nullable)


def _load_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "load_id", sa.Integer, sa.ForeignKey("data_loads.id"), nullable=False, index=True
    )


def _gist(table: str, column: str = "geom") -> None:
    op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pgrouting")

    op.create_table(
        "data_loads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("dataset", sa.Text, nullable=False),
        sa.Column("region", sa.Text, nullable=False, server_default=""),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("vintage", sa.Text),
        sa.Column("rows_read", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_loaded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_rejected", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rejects", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        # active: the rows now in the tables; superseded: replaced by a newer load of the
        # same dataset and region (its rows removed, its record kept).
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("licence", sa.Text, nullable=False),
        sa.Column("message", sa.Text),
        sa.CheckConstraint("status IN ('active', 'superseded')", name="ck_data_loads_status"),
    )
    op.create_index("ix_data_loads_dataset_region", "data_loads", ["dataset", "region"])

    op.create_table(
        "areas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("vintage", sa.Integer, nullable=False),
        sa.Column("lad_code", sa.Text, index=True),
        _geom("MULTIPOLYGON"),
        sa.Column("rep_point", Geometry("POINT", srid=BNG, spatial_index=False), nullable=False),
        _load_fk(),
        sa.UniqueConstraint("code", "vintage", name="uq_areas_code_vintage"),
        sa.CheckConstraint("level IN ('lsoa', 'msoa')", name="ck_areas_level"),
    )
    _gist("areas")
    _gist("areas", "rep_point")

    op.create_table(
        "population",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("area_code", sa.Text, nullable=False, index=True),
        sa.Column("vintage", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sex", sa.Text, nullable=False, server_default="all"),
        sa.Column("age_lower", sa.Integer, nullable=False),
        sa.Column("age_upper", sa.Integer),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("reference_date", sa.Date, nullable=False),
        _load_fk(),
        sa.CheckConstraint("sex IN ('all', 'female', 'male')", name="ck_population_sex"),
        sa.CheckConstraint("count >= 0", name="ck_population_count"),
    )

    op.create_table(
        "deprivation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("area_code", sa.Text, nullable=False, index=True),
        sa.Column("vintage", sa.Integer, nullable=False, server_default="2011"),
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("decile", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        _load_fk(),
        sa.CheckConstraint("decile BETWEEN 1 AND 10", name="ck_deprivation_decile"),
    )

    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, index=True),
        sa.Column("owner", sa.Text),
        sa.Column("owner_type", sa.Text),
        sa.Column("status", sa.Text, nullable=False, server_default="active"),
        sa.Column("opened_on", sa.Date),
        sa.Column("closed_on", sa.Date),
        sa.Column("tenure", sa.Text),
        sa.Column("gia_m2", sa.Float),
        sa.Column("land_ha", sa.Float),
        sa.Column("running_cost_gbp", sa.Float),
        sa.Column("backlog_gbp", sa.Float),
        sa.Column("postcode", sa.Text),
        sa.Column("located_by", sa.Text),
        sa.Column("organisation", sa.Text),
        sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("attributes", postgresql.JSONB, nullable=False, server_default="{}"),
        _geom("POINT", nullable=True),
        _load_fk(),
        sa.UniqueConstraint("source", "source_id", name="uq_sites_source_id"),
        sa.CheckConstraint("status IN ('active', 'closed')", name="ck_sites_status"),
    )
    _gist("sites")

    op.create_table(
        "postcodes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("postcode", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("vintage", sa.Text, nullable=False),
        sa.Column("lsoa21", sa.Text),
        _geom("POINT"),
        _load_fk(),
        sa.UniqueConstraint("postcode", "source", name="uq_postcodes_postcode_source"),
    )
    op.create_index("ix_postcodes_postcode", "postcodes", ["postcode"])
    _gist("postcodes")

    op.create_table(
        "network_nodes",
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("node_id", sa.BigInteger, nullable=False),
        sa.Column("osm_id", sa.BigInteger),
        _geom("POINT"),
        _load_fk(),
        sa.PrimaryKeyConstraint("mode", "node_id", name="pk_network_nodes"),
    )
    _gist("network_nodes")

    op.create_table(
        "network_edges",
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("edge_id", sa.BigInteger, nullable=False),
        sa.Column("source", sa.BigInteger, nullable=False),
        sa.Column("target", sa.BigInteger, nullable=False),
        sa.Column("length_m", sa.Float, nullable=False),
        # pgRouting convention: seconds source->target and target->source, -1 when closed.
        sa.Column("cost_s", sa.Float, nullable=False),
        sa.Column("reverse_cost_s", sa.Float, nullable=False),
        sa.Column("osm_way_id", sa.BigInteger),
        sa.Column("highway", sa.Text),
        _geom("LINESTRING"),
        _load_fk(),
        sa.PrimaryKeyConstraint("mode", "edge_id", name="pk_network_edges"),
    )
    _gist("network_edges")


def downgrade() -> None:
    for table in (
        "network_edges",
        "network_nodes",
        "postcodes",
        "sites",
        "deprivation",
        "population",
        "areas",
        "data_loads",
    ):
        op.drop_table(table)
    op.execute("DROP EXTENSION IF EXISTS pgrouting")
    op.execute("DROP EXTENSION IF EXISTS postgis")
