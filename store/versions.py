"""Versions of named, per-organisation records: scenarios, population projections, norm sets.

Saving a name again stores the next version (1, 2, ...) of that name for that organisation.
:func:`lock_next_version` is THE rule: an advisory lock per table, organisation and name, held
until the transaction ends, serialises concurrent saves so no two get the same version.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg import Connection, sql

__all__ = ["VersionedTable", "lock_next_version"]

#: The tables whose rows are versioned by ``(organisation, name)``.
VersionedTable = Literal["scenarios", "population_projections", "planning_norms"]
_TABLES: tuple[str, ...] = ("scenarios", "population_projections", "planning_norms")


def lock_next_version(
    conn: Connection[Any], table: VersionedTable, organisation: str | None, name: str
) -> int:
    """The next version of ``name`` for ``organisation`` in ``table``, holding until the
    transaction ends the lock that serialises saves of that name (call inside
    ``Database.transaction()``)."""
    if table not in _TABLES:
        raise ValueError(f"{table!r} is not a versioned table")
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%(key)s))",
        {"key": f"{table}|{organisation}|{name}"},
    )
    row = conn.execute(
        sql.SQL(
            "SELECT max(version) FROM {} WHERE name = %(name)s "
            "AND organisation IS NOT DISTINCT FROM %(org)s"
        ).format(sql.Identifier(table)),
        {"name": name, "org": organisation},
    ).fetchone()
    return int(row[0] or 0) + 1 if row else 1
