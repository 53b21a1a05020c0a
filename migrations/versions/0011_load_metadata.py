"""What each load was built with: ``data_loads.metadata``.

Most loads are their file and nothing else, but a road network is built from an OSM extract
*at the configured walking and cycling speeds* (``LOCUS_WALK_SPEED_KMH``,
``LOCUS_CYCLE_SPEED_KMH``). The load records them (``{"walk_speed_kmh": 4.8,
"cycle_speed_kmh": 15.0, "networks": {mode: ...}}``) so every result computed on that network
can state its speeds, and the same extract loaded at another speed is a new load, not
"unchanged".

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE data_loads ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb")
    op.execute(
        "COMMENT ON COLUMN data_loads.metadata IS 'Parameters the rows were built with besides "
        "the file (road networks: walk_speed_kmh, cycle_speed_kmh, per-mode build details)'"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE data_loads DROP COLUMN IF EXISTS metadata")
