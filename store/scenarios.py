"""Stored scenarios: versions per (organisation, name), read through the visibility rule.

A scenario row is visible under :func:`store.access.visible_rows` (``restricted`` scenarios
only to their organisation); one that is not visible reads as absent, so its existence is not
leaked. Saving takes an advisory lock on (organisation, name) so two saves of one name get
consecutive versions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, Connection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from store.access import Principal, visible_rows
from store.versions import visible_versions

__all__ = [
    "ScenarioRow",
    "get_scenario",
    "insert_scenario",
    "list_scenarios",
    "scenario_visible",
]

_COLUMNS = sql.SQL(
    "s.id, s.name, s.version, s.organisation, s.restricted, s.description, s.definition, "
    "s.created_by, s.created_at"
)


@dataclass(frozen=True)
class ScenarioRow:
    """One stored scenario version (``definition``: the :class:`spatial.scenario.Scenario`
    as a dict)."""

    id: int
    name: str
    version: int
    organisation: str | None
    restricted: bool
    description: str
    definition: dict[str, Any]
    created_by: str | None
    created_at: dt.datetime


def _row(row: dict[str, Any]) -> ScenarioRow:
    definition = row["definition"]
    if isinstance(definition, str):
        definition = json.loads(definition)
    return ScenarioRow(
        id=int(row["id"]),
        name=str(row["name"]),
        version=int(row["version"]),
        organisation=row["organisation"],
        restricted=bool(row["restricted"]),
        description=str(row["description"] or ""),
        definition=dict(definition),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def insert_scenario(
    conn: Connection[Any],
    principal: Principal,
    *,
    name: str,
    version: int,
    description: str,
    definition: dict[str, Any],
    restricted: bool,
) -> ScenarioRow:
    """Store one version for ``principal``'s organisation; ``restricted`` needs one."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "INSERT INTO scenarios AS s (name, version, organisation, restricted, description, "
            "definition, created_by) VALUES (%(name)s, %(version)s, %(org)s, %(restricted)s, "
            "%(description)s, %(definition)s, %(by)s) RETURNING "
            "s.id, s.name, s.version, s.organisation, s.restricted, s.description, "
            "s.definition, s.created_by, s.created_at",
            {
                "name": name,
                "version": version,
                "org": principal.organisation,
                "restricted": restricted and principal.organisation is not None,
                "description": description,
                "definition": Jsonb(definition),
                "by": principal.key_id,
            },
        )
        row = cur.fetchone()
    assert row is not None  # INSERT ... RETURNING returns the row
    return _row(row)


def list_scenarios(
    conn: Connection[Any],
    principal: Principal,
    *,
    name: str | None = None,
    latest_only: bool = False,
) -> list[ScenarioRow]:
    """Scenarios ``principal`` may see, by name then newest version first.

    ``latest_only`` keeps the newest *visible* version of each (organisation, name).
    """
    query, values = visible_versions(
        "scenarios", _COLUMNS, principal, name=name, latest_only=latest_only
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, values)
        return [_row(r) for r in cur.fetchall()]


def get_scenario(
    conn: Connection[Any], principal: Principal, scenario_id: int
) -> ScenarioRow | None:
    """Scenario ``scenario_id`` if ``principal`` may see it, else None."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL("SELECT {cols} FROM scenarios AS s WHERE s.id = %(id)s AND {vis}").format(
        cols=_COLUMNS, vis=vis
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {**params, "id": scenario_id})
        row = cur.fetchone()
    return _row(row) if row else None


async def scenario_visible(
    conn: AsyncConnection[Any], principal: Principal, scenario_id: int
) -> bool:
    """True when scenario ``scenario_id`` exists and ``principal`` may see it."""
    vis, params = visible_rows(principal, alias="s")
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM scenarios AS s WHERE s.id = %(id)s AND {vis})")
    cur = await conn.execute(query.format(vis=vis), {**params, "id": scenario_id})
    row = await cur.fetchone()
    return bool(row and row[0])
