"""Stored analysis results: area-to-site travel times and catchment bands per mode.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql  # noqa: F401  (sa.dialects.postgresql)

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per derived product computed from the loaded data, with the newest load it saw:
    # a product is recomputed only when a newer load exists.
    op.create_table(
        "computations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("newest_load_id", sa.Integer, nullable=False),
        sa.Column("parameters", sa.dialects.postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("summary", sa.dialects.postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column(
            "finished_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "travel_times",
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("area_code", sa.Text, nullable=False),
        sa.Column("area_vintage", sa.Integer, nullable=False),
        sa.Column(
            "site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("seconds", sa.Float, nullable=False),
        # The network load the times were computed on: stale rows are recomputed, not served.
        sa.Column("network_load_id", sa.Integer, sa.ForeignKey("data_loads.id"), nullable=False),
        sa.PrimaryKeyConstraint(
            "mode", "area_code", "area_vintage", "site_id", name="pk_travel_times"
        ),
    )
    op.create_index("ix_travel_times_site", "travel_times", ["site_id", "mode"])

    op.create_table(
        "catchments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "site_id", sa.Integer, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("mode", sa.Text, nullable=False),
        sa.Column("band_min", sa.Integer, nullable=False),
        sa.Column("population", sa.Float),
        sa.Column("network_load_id", sa.Integer, sa.ForeignKey("data_loads.id"), nullable=False),
        sa.Column(
            "geom", Geometry("MULTIPOLYGON", srid=27700, spatial_index=False), nullable=False
        ),
        sa.UniqueConstraint("site_id", "mode", "band_min", name="uq_catchments_site_mode_band"),
    )
    op.create_index("ix_catchments_geom", "catchments", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    op.drop_table("catchments")
    op.drop_table("travel_times")
    op.drop_table("computations")
