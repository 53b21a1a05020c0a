"""Public transport: GTFS feeds, their stops and the timetable rows needed to rebuild them.

Storage choice: the parsed GTFS tables are kept as typed rows (``gtfs_*``), keyed by the
``data_loads`` id of the feed load, rather than the original zip as ``bytea`` or one JSONB
document per table. Rows are what the timetable builder needs (times already in seconds,
dates as dates), they can be queried and checked in SQL (e.g. trips per route, services on a
date), and they scale to national feeds (millions of stop_times) where a single JSONB or
bytea value would not; a re-load swaps them atomically like every other load. Only the
columns the timetable and the API use are kept; the feed's sha256 in ``data_loads`` identifies
the original file.

- ``transit_feeds``: one row per feed load: service period (the vintage), publisher, agencies.
- ``transit_stops``: GTFS stops as points in EPSG:27700 (NULL for stops without coordinates).
- ``gtfs_routes``, ``gtfs_trips``, ``gtfs_stop_times``, ``gtfs_calendar``,
  ``gtfs_calendar_dates``: the timetable.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _load_fk() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "load_id",
        sa.Integer,
        sa.ForeignKey("data_loads.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    op.create_table(
        "transit_feeds",
        _load_fk(),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("vintage_source", sa.Text, nullable=False),
        sa.Column("feed_version", sa.Text),
        sa.Column("publisher", sa.Text),
        sa.Column("files_modified", sa.DateTime),
        sa.Column("agencies", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("n_stops", sa.Integer, nullable=False),
        sa.Column("n_routes", sa.Integer, nullable=False),
        sa.Column("n_trips", sa.Integer, nullable=False),
        sa.Column("n_stop_times", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("load_id", name="pk_transit_feeds"),
        sa.CheckConstraint("end_date >= start_date", name="ck_transit_feeds_dates"),
    )
    op.create_table(
        "transit_stops",
        sa.Column("stop_id", sa.Text, nullable=False),
        sa.Column("code", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("geom", Geometry("POINT", srid=27700, spatial_index=False)),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "stop_id", name="pk_transit_stops"),
    )
    op.create_index("ix_transit_stops_geom", "transit_stops", ["geom"], postgresql_using="gist")
    op.create_table(
        "gtfs_routes",
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("agency_id", sa.Text),
        sa.Column("short_name", sa.Text),
        sa.Column("long_name", sa.Text),
        sa.Column("route_type", sa.Integer),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "route_id", name="pk_gtfs_routes"),
    )
    op.create_table(
        "gtfs_trips",
        sa.Column("trip_id", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("service_id", sa.Text, nullable=False),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "trip_id", name="pk_gtfs_trips"),
    )
    op.create_table(
        "gtfs_stop_times",
        sa.Column("trip_id", sa.Text, nullable=False),
        sa.Column("stop_sequence", sa.Integer, nullable=False),
        sa.Column("stop_id", sa.Text, nullable=False),
        # seconds after midnight of the service day (may exceed 86,400)
        sa.Column("arrival_s", sa.Integer, nullable=False),
        sa.Column("departure_s", sa.Integer, nullable=False),
        sa.Column("pickup_type", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("drop_off_type", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("interpolated", sa.Boolean, nullable=False, server_default=sa.false()),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "trip_id", "stop_sequence", name="pk_gtfs_stop_times"),
    )
    op.create_table(
        "gtfs_calendar",
        sa.Column("service_id", sa.Text, nullable=False),
        *(sa.Column(day, sa.SmallInteger, nullable=False) for day in WEEKDAYS),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "service_id", name="pk_gtfs_calendar"),
    )
    op.create_table(
        "gtfs_calendar_dates",
        sa.Column("service_id", sa.Text, nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("exception_type", sa.SmallInteger, nullable=False),
        _load_fk(),
        sa.PrimaryKeyConstraint("load_id", "service_id", "date", name="pk_gtfs_calendar_dates"),
        sa.CheckConstraint("exception_type IN (1, 2)", name="ck_gtfs_calendar_dates_type"),
    )


def downgrade() -> None:
    for table in (
        "gtfs_calendar_dates",
        "gtfs_calendar",
        "gtfs_stop_times",
        "gtfs_trips",
        "gtfs_routes",
        "transit_stops",
        "transit_feeds",
    ):
        op.drop_table(table)
