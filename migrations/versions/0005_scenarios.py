"""Scenarios: named, stored, versioned sets of changes to the baseline estate.

- ``scenarios``: one row per (organisation, name, version). Saving a scenario under a name
  that already exists for the same organisation creates ``version + 1``; earlier versions are
  kept, so a job result always refers to the exact definition it evaluated. ``definition`` is
  the JSON form of :class:`spatial.scenario.Scenario` (changes, population growth).
  ``organisation`` NULL means a scenario saved anonymously / publicly; ``restricted`` scenarios
  are visible to their organisation only (same rule as restricted sites).
- The uniqueness of (organisation, name, version) is enforced with ``NULLS NOT DISTINCT``
  (PostgreSQL 15) so public scenarios are versioned too.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scenarios",
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
        sa.Column("created_by", sa.Text),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("version >= 1", name="ck_scenarios_version"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 200", name="ck_scenarios_name"),
    )
    op.execute(
        "ALTER TABLE scenarios ADD CONSTRAINT uq_scenarios_org_name_version "
        "UNIQUE NULLS NOT DISTINCT (organisation, name, version)"
    )
    op.create_index("ix_scenarios_name", "scenarios", ["name"])


def downgrade() -> None:
    op.drop_table("scenarios")
