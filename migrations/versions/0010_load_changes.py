"""What each load changed: ``data_loads.changes``.

A newer file of sites, areas or postcodes now updates the rows of the load it replaces in
place (matched on their natural key, keeping their ids); the comparison is recorded per table
as ``{"added", "removed", "changed", "unchanged", "examples": {...}}`` so the estates lead who
reloads ODS, ONS and ERIC every quarter can see what changed (``locus loads``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE data_loads ADD COLUMN changes jsonb NOT NULL DEFAULT '{}'::jsonb")
    op.execute(
        "COMMENT ON COLUMN data_loads.changes IS 'Per table: rows added, removed, changed and "
        "unchanged against the replaced load, with examples'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE data_loads DROP COLUMN IF EXISTS changes")
