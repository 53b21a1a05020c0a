"""Alembic environment: the database URL comes from ``LOCUS_DATABASE_URL`` (app settings).

GeoAlchemy2's alembic helpers render geometry columns and their spatial indexes explicitly.
"""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import create_engine, pool

from config.settings import get_settings


def _url() -> str:
    return context.config.attributes.get("database_url") or get_settings().database.url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        literal_binds=True,
        include_object=alembic_helpers.include_object,
        process_revision_directives=alembic_helpers.writer,
        render_item=alembic_helpers.render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            include_object=alembic_helpers.include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
