"""Database administration: create or drop a database, migrate it, list its loads.

Creating and dropping run on the server's ``postgres`` maintenance database with psycopg;
migrations run Alembic (``migrations/``), the only user of SQLAlchemy, which Alembic needs.
"""

from __future__ import annotations

from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row

from config.settings import REPO_ROOT, DatabaseSettings
from store.connection import Database, close_databases

__all__ = [
    "alembic_config",
    "create_database",
    "downgrade_base",
    "drop_database",
    "load_history",
    "upgrade_head",
]


def _maintenance_conninfo(settings: DatabaseSettings) -> str:
    """The same server and credentials, on the ``postgres`` database."""
    return make_conninfo(settings.libpq_url, dbname="postgres")


def create_database(settings: DatabaseSettings) -> str | None:
    """Create the database of ``settings`` when missing; return its name if created."""
    name = settings.name
    with psycopg.connect(_maintenance_conninfo(settings), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": name}
        ).fetchone()
        if exists:
            return None
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(settings: DatabaseSettings) -> None:
    """Drop the database of ``settings``: this process's pools on it are closed and other
    sessions ended first."""
    close_databases(settings.url)
    name = settings.name
    with psycopg.connect(_maintenance_conninfo(settings), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %(name)s AND pid <> pg_backend_pid()",
            {"name": name},
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def alembic_config(settings: DatabaseSettings) -> Config:
    """An Alembic config for this repository's migrations, pointed at ``settings.url``."""
    cfg = Config(str(REPO_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    cfg.attributes["database_url"] = settings.url
    return cfg


def upgrade_head(settings: DatabaseSettings) -> None:
    """``alembic upgrade head`` on the database of ``settings``."""
    command.upgrade(alembic_config(settings), "head")


def downgrade_base(settings: DatabaseSettings) -> None:
    """``alembic downgrade base`` on the database of ``settings``."""
    command.downgrade(alembic_config(settings), "base")


def load_history(db: Database) -> list[dict[str, Any]]:
    """Every data load, newest first: id, dataset, region, file_name, vintage, rows_loaded,
    rows_rejected, status and changes (per table: added, removed, changed)."""
    with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, dataset, region, file_name, vintage, rows_loaded, rows_rejected,"
            " status, changes FROM data_loads ORDER BY id DESC"
        )
        return cur.fetchall()
