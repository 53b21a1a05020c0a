"""Database administration: create or drop a database, migrate it (Alembic)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import sql
from sqlalchemy.engine import make_url

from config.settings import REPO_ROOT


def _maintenance_conninfo(url: str) -> tuple[str, str]:
    parsed = make_url(url)
    name = parsed.database or "locus"
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), name


def create_database(url: str) -> str | None:
    """Create the database of ``url`` when missing; return its name if created."""
    admin, name = _maintenance_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return None
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(url: str) -> None:
    """Drop the database of ``url`` (ending its other sessions first)."""
    admin, name = _maintenance_conninfo(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def alembic_config(url: str) -> Config:
    """An Alembic config for this repository's migrations, pointed at ``url``."""
    cfg = Config(str(Path(REPO_ROOT) / "alembic.ini"))
    cfg.set_main_option("script_location", str(Path(REPO_ROOT) / "migrations"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade_head(url: str) -> None:
    """``alembic upgrade head`` on ``url``."""
    command.upgrade(alembic_config(url), "head")


def downgrade_base(url: str) -> None:
    """``alembic downgrade base`` on ``url``."""
    command.downgrade(alembic_config(url), "base")
