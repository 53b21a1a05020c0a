"""What the readiness check asks the database: server and extension versions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

__all__ = ["ServerVersions", "server_versions"]


@dataclass(frozen=True)
class ServerVersions:
    """Versions of PostgreSQL and of the extensions Locus needs."""

    postgresql: str
    postgis: str
    proj: str
    pgrouting: str


async def server_versions(conn: AsyncConnection[Any]) -> ServerVersions:
    """One round trip: PostgreSQL, PostGIS, PROJ (as PostGIS links it) and pgRouting versions.

    Raises whatever psycopg raises when an extension is missing, so a database without
    PostGIS or pgRouting is reported not ready.
    """
    cur = await conn.execute(
        "SELECT current_setting('server_version'), postgis_lib_version(), "
        "postgis_proj_version(), pgr_version()"
    )
    row = await cur.fetchone()
    if row is None:  # a SELECT without FROM always returns one row
        raise RuntimeError("the version query returned no row")
    return ServerVersions(*(str(v) for v in row))
