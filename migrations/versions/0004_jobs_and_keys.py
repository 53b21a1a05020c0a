"""Jobs and access control: organisations, API keys, OGC API Processes jobs, the job queue.

- ``organisations``: who owns restricted data, keys and jobs (``id`` is a short slug).
- ``api_keys``: only the SHA-256 of each key's secret is stored, under a public prefix id;
  ``role`` is viewer | analyst | admin; a revoked key keeps its row (``revoked_at``).
- ``jobs``: one row per OGC API Processes job, the single source of truth for its status,
  progress, message and results (so a job survives an API restart); ``procrastinate_job_id``
  links it to the queue row the worker runs.
- The procrastinate schema (tables, types, functions, triggers) is applied from the
  installed procrastinate package's own ``schema.sql``; the downgrade drops every
  ``procrastinate_*`` object so ``alembic downgrade base`` leaves an empty database. When
  procrastinate is upgraded, its own SQL migrations (``procrastinate schema --migrations``)
  go into a new Alembic revision.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JOB_STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
ROLES = ("viewer", "analyst", "admin")


def _procrastinate_schema() -> str:
    from procrastinate.schema import SchemaManager

    return SchemaManager.get_schema()


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'", name="ck_organisations_id"),
    )
    op.create_table(
        "api_keys",
        # The public part of a key ("locus_<id>_<secret>"): looked up, never secret.
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(
            "organisation",
            sa.Text,
            sa.ForeignKey("organisations.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("secret_sha256", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False, server_default=""),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(f"role IN {ROLES!r}", name="ck_api_keys_role"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("process_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="accepted"),
        sa.Column("progress", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("inputs", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("results", postgresql.JSONB),
        sa.Column(
            "organisation",
            sa.Text,
            sa.ForeignKey("organisations.id", ondelete="SET NULL"),
            index=True,
        ),
        sa.Column("restricted", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("api_key_id", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("procrastinate_job_id", sa.BigInteger, index=True),
        sa.CheckConstraint(f"status IN {JOB_STATUSES!r}", name="ck_jobs_status"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="ck_jobs_progress"),
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])

    # procrastinate's own schema, verbatim. Executed on the DBAPI connection without
    # parameters so psycopg sends it as one script (its "%" are literal, not placeholders).
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    raw.execute(_procrastinate_schema())


def downgrade() -> None:
    op.drop_table("jobs")
    op.drop_table("api_keys")
    op.drop_table("organisations")
    # Every procrastinate object, found in the catalogue so that whatever version's schema was
    # applied is removed completely: tables (with their triggers and indexes), then functions,
    # then types. Run on the DBAPI connection, like the upgrade (no parameter processing).
    raw = op.get_bind().connection.driver_connection
    assert raw is not None
    raw.execute(_DROP_PROCRASTINATE)


_DROP_PROCRASTINATE = """
        DO $$
        DECLARE r record;
        BEGIN
            FOR r IN SELECT c.relname FROM pg_class c
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     WHERE n.nspname = current_schema() AND c.relkind = 'r'
                       AND c.relname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', r.relname);
            END LOOP;
            FOR r IN SELECT p.oid::regprocedure AS sig FROM pg_proc p
                     JOIN pg_namespace n ON n.oid = p.pronamespace
                     WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', r.sig);
            END LOOP;
            FOR r IN SELECT t.typname FROM pg_type t
                     JOIN pg_namespace n ON n.oid = t.typnamespace
                     WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'c')
                       AND t.typname LIKE 'procrastinate\\_%'
            LOOP
                EXECUTE format('DROP TYPE IF EXISTS %I CASCADE', r.typname);
            END LOOP;
        END
        $$;
"""
