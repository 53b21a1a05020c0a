"""Planning core: population projections, planning norms, GP registered list sizes.

- ``population_projections``: one row per (organisation, name, version), versioned exactly
  like ``scenarios`` (0005): saving a name the organisation already has creates
  ``version + 1`` and earlier versions stay, so a capacity result always refers to the exact
  projection it used. ``definition`` is the request as saved (method, rates, housing sites,
  horizons); ``metadata`` says what it was built from (the base population's source and
  date, the vintages a trend compared, how housing sites were placed). ``restricted``
  projections are their organisation's only (:func:`store.access.visible_rows`).
- ``population_projection_rows``: the projected people per (area, age band, year), the base
  year included, so a version never changes when newer data is loaded; ``housing`` is the
  part of ``count`` added by housing sites. Deleted with their projection.
- ``planning_norms``: user-saved parameter sets (patients per GP, rooms, floor area, bed days
  by age, occupancy...) with each number's source, versioned the same way. The built-in
  default set lives in code (:data:`spatial.capacity.DEFAULT_NORMS`), not here.
- ``gp_registrations``: patients registered at each GP practice (dataset
  ``gp-registrations``), written by the load pipeline like every file (``load_id``).

Revision ID: planning_core
Revises: 0012_footprints_benchmark
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "planning_core"
down_revision = "0012_footprints_benchmark"
branch_labels = None
depends_on = None


def _versioned(table: str, *extra: sa.Column) -> None:  # type: ignore[type-arg]
    """A table of named versions per organisation (the ``scenarios`` pattern)."""
    op.create_table(
        table,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column(
            "organisation",
            sa.Text,
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            index=True,
        ),
        sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("definition", postgresql.JSONB, nullable=False),
        *extra,
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("version >= 1", name=f"ck_{table}_version"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name=f"ck_{table}_name"),
    )
    op.execute(
        f"ALTER TABLE {table} ADD CONSTRAINT uq_{table}_org_name_version "
        "UNIQUE NULLS NOT DISTINCT (organisation, name, version)"
    )
    op.create_index(f"ix_{table}_name", table, ["name"])


def upgrade() -> None:
    _versioned(
        "population_projections",
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("base_year", sa.Integer, nullable=False),
        sa.Column("horizon_years", postgresql.ARRAY(sa.Integer), nullable=False),
    )
    op.create_table(
        "population_projection_rows",
        sa.Column(
            "projection_id",
            sa.BigInteger,
            sa.ForeignKey("population_projections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("area_code", sa.Text, nullable=False),
        sa.Column("area_vintage", sa.Integer, nullable=False),
        sa.Column("age_lower", sa.Integer, nullable=False),
        sa.Column("age_upper", sa.Integer),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("housing", sa.Float, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint(
            "projection_id", "area_code", "age_lower", "year", name="pk_population_projection_rows"
        ),
        sa.CheckConstraint("count >= 0", name="ck_population_projection_rows_count"),
        sa.CheckConstraint("housing >= 0", name="ck_population_projection_rows_housing"),
    )
    op.execute(
        "COMMENT ON COLUMN population_projection_rows.housing IS "
        "'People of count added by the housing sites of the projection'"
    )
    _versioned("planning_norms")
    op.create_table(
        "gp_registrations",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("practice_code", sa.Text, nullable=False, index=True),
        sa.Column("practice_name", sa.Text),
        sa.Column("postcode", sa.Text),
        sa.Column("registered_patients", sa.Float, nullable=False),
        sa.Column("reference_date", sa.Date),
        sa.Column("attributes", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column(
            "load_id", sa.Integer, sa.ForeignKey("data_loads.id"), nullable=False, index=True
        ),
        sa.CheckConstraint("registered_patients >= 0", name="ck_gp_registrations_patients"),
    )


def downgrade() -> None:
    for table in (
        "gp_registrations",
        "planning_norms",
        "population_projection_rows",
        "population_projections",
    ):
        op.drop_table(table)
