"""Versions of named, per-organisation records: scenarios, population projections, norm sets.

Saving a name again stores the next version (1, 2, ...) of that name for that organisation.
:func:`lock_next_version` is THE rule: an advisory lock per table, organisation and name, held
until the transaction ends, serialises concurrent saves so no two get the same version.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg import Connection, sql

from store.access import Principal, visible_rows

__all__ = ["VersionedTable", "lock_next_version", "visible_versions"]

#: The tables whose rows are versioned by ``(organisation, name)``.
VersionedTable = Literal["scenarios", "population_projections", "planning_norms"]
_TABLES: tuple[str, ...] = ("scenarios", "population_projections", "planning_norms")


def _checked(table: str) -> sql.Identifier:
    if table not in _TABLES:
        raise ValueError(f"{table!r} is not a versioned table")
    return sql.Identifier(table)


def visible_versions(
    table: VersionedTable,
    columns: sql.Composable,
    principal: Principal,
    *,
    name: str | None = None,
    latest_only: bool = False,
) -> tuple[sql.Composed, dict[str, Any]]:
    """The statement and parameters listing the ``columns`` (of alias ``s``) of the rows of
    ``table`` that ``principal`` may see, by name then newest version first; ``latest_only``
    keeps the newest *visible* version of each (organisation, name)."""
    vis, params = visible_rows(principal, alias="s")
    where: list[sql.Composable] = [vis]
    values: dict[str, Any] = dict(params)
    if name is not None:
        where.append(sql.SQL("s.name = %(name)s"))
        values["name"] = name
    query = sql.SQL(
        "SELECT {cols}, rank() OVER (PARTITION BY s.organisation, s.name "
        "ORDER BY s.version DESC) AS newest FROM {t} AS s WHERE {where}"
    ).format(cols=columns, t=_checked(table), where=sql.SQL(" AND ").join(where))
    if latest_only:
        query = sql.SQL("SELECT * FROM ({q}) AS v WHERE v.newest = 1").format(q=query)
    ordered = sql.SQL("SELECT * FROM ({q}) AS o ORDER BY o.name, o.version DESC, o.id DESC")
    return ordered.format(q=query), values


def lock_next_version(
    conn: Connection[Any], table: VersionedTable, organisation: str | None, name: str
) -> int:
    """The next version of ``name`` for ``organisation`` in ``table``, holding until the
    transaction ends the lock that serialises saves of that name (call inside
    ``Database.transaction()``)."""
    identifier = _checked(table)
    conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%(key)s))",
        {"key": f"{table}|{organisation}|{name}"},
    )
    row = conn.execute(
        sql.SQL(
            "SELECT max(version) FROM {} WHERE name = %(name)s "
            "AND organisation IS NOT DISTINCT FROM %(org)s"
        ).format(identifier),
        {"name": name, "org": organisation},
    ).fetchone()
    return int(row[0] or 0) + 1 if row else 1
