"""Footprints and the national estate benchmark.

- ``postcodes`` gains the administrative codes Code-Point Open and the ONS Postcode Directory
  publish with each postcode (``lad_code``, ``ward_code``, ``ward_name``): wards are built from
  postcodes (an LSOA goes to the ward holding most of its postcodes), so the codes must be kept.
- ``eric_returns``: every row of the ERIC Site Data sheet for all of England (one per trust
  site, plus each trust's AGGREGATE row of the sites it does not list one by one), with the
  figures the benchmark derives its KPIs from. The ``sites`` table holds only the ERIC sites of
  a region (located, for analyses); a benchmark needs every trust as its peer group.
- ``footprint_sets`` / ``footprint_polygons``: custom footprints an organisation uploads
  (GeoJSON or GeoPackage polygons), ``restricted`` and ``organisation`` as every other
  organisation-owned row, so :func:`store.access.visible_rows` applies unchanged.

Revision ID: 0012_footprints_benchmark
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0012_footprints_benchmark"
down_revision = "0011"
branch_labels = None
depends_on = None

BNG = 27700


def upgrade() -> None:
    op.add_column("postcodes", sa.Column("lad_code", sa.Text))
    op.add_column("postcodes", sa.Column("ward_code", sa.Text))
    op.add_column("postcodes", sa.Column("ward_name", sa.Text))

    op.create_table(
        "eric_returns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("organisation_code", sa.Text, nullable=False),
        sa.Column("organisation_name", sa.Text, nullable=False),
        sa.Column("organisation_type", sa.Text, nullable=False),
        sa.Column("commissioning_region", sa.Text),
        sa.Column("site_code", sa.Text, nullable=False),
        sa.Column("site_name", sa.Text, nullable=False),
        sa.Column("site_type", sa.Text, nullable=False),
        # The trust's AGGREGATE row: the sites it returns together, not one site.
        sa.Column("aggregate", sa.Boolean, nullable=False),
        sa.Column("gia_m2", sa.Float),
        sa.Column("occupied_m2", sa.Float),
        sa.Column("running_cost_gbp", sa.Float),
        sa.Column("backlog_high_gbp", sa.Float),
        sa.Column("backlog_significant_gbp", sa.Float),
        sa.Column("backlog_moderate_gbp", sa.Float),
        sa.Column("backlog_low_gbp", sa.Float),
        sa.Column("pre_1948_pct", sa.Float),
        sa.Column("empty_pct", sa.Float),
        sa.Column("under_used_pct", sa.Float),
        sa.Column("energy_cost_gbp", sa.Float),
        sa.Column(
            "load_id", sa.Integer, sa.ForeignKey("data_loads.id"), nullable=False, index=True
        ),
        sa.UniqueConstraint("organisation_code", "site_code", name="uq_eric_returns_site"),
    )

    op.create_table(
        "footprint_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("organisation", sa.Text, nullable=False),
        sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("sha256", sa.Text, nullable=False),
        sa.Column("features", sa.Integer, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("organisation", "name", name="uq_footprint_sets_name"),
    )
    op.create_table(
        "footprint_polygons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "set_id",
            sa.Integer,
            sa.ForeignKey("footprint_sets.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        # The feature's number in the uploaded file (1-based): the order overlaps resolve in.
        sa.Column("feature", sa.Integer, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=BNG, spatial_index=False), nullable=False),
        sa.UniqueConstraint("set_id", "code", name="uq_footprint_polygons_code"),
    )
    op.create_index(
        "ix_footprint_polygons_geom", "footprint_polygons", ["geom"], postgresql_using="gist"
    )


def downgrade() -> None:
    op.drop_table("footprint_polygons")
    op.drop_table("footprint_sets")
    op.drop_table("eric_returns")
    for column in ("ward_name", "ward_code", "lad_code"):
        op.drop_column("postcodes", column)
