"""Who may see a row: the caller (:class:`Principal`) and the one visibility rule.

Sites, estate assets, scenarios, jobs and every result derived from a site carry
``restricted`` and ``organisation``. A row with ``restricted`` false is open data, visible to
everyone; a restricted row is visible only to callers of its own organisation. Every query in
:mod:`store` that returns such rows, or figures computed from them, includes
:func:`visible_rows`; nothing else writes this predicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from psycopg import sql

__all__ = [
    "ANONYMOUS",
    "ROLES",
    "Principal",
    "Role",
    "visible_rows",
]

#: Roles of an API key, least to most powerful.
Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
_RANK = {"anonymous": 0, "viewer": 1, "analyst": 2, "admin": 3}


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation and role from an API key, or anonymous."""

    organisation: str | None = None
    role: Literal["anonymous", "viewer", "analyst", "admin"] = "anonymous"
    key_id: str | None = None

    @property
    def authenticated(self) -> bool:
        """True for a caller with a valid key."""
        return self.role != "anonymous"

    def has_role(self, minimum: Role) -> bool:
        """True when this principal's role is ``minimum`` or higher."""
        return _RANK[self.role] >= _RANK[minimum]


#: The caller without a key: open data only.
ANONYMOUS = Principal()


def visible_rows(
    principal: Principal,
    *,
    alias: str | None = "t",
    restricted_column: str = "restricted",
    organisation_column: str = "organisation",
) -> tuple[sql.Composable, dict[str, Any]]:
    """The row filter for restricted data: ``(SQL, params)`` for ``principal``.

    Rows with ``restricted`` false are visible to everyone; restricted rows only to callers
    of the same organisation. The organisation is the bound parameter
    ``%(principal_org)s`` (merge ``params`` into the statement's parameters); column names
    are quoted identifiers.

    Examples
    --------
    >>> clause, params = visible_rows(Principal("rutland-icb", "viewer"))
    >>> clause.as_string(None)
    '(NOT "t"."restricted" OR "t"."organisation" = %(principal_org)s)'
    >>> params
    {'principal_org': 'rutland-icb'}
    """

    def col(name: str) -> sql.Composable:
        return sql.Identifier(alias, name) if alias else sql.Identifier(name)

    restricted = col(restricted_column)
    if principal.organisation is None:
        return sql.SQL("(NOT {})").format(restricted), {}
    clause = sql.SQL("(NOT {r} OR {o} = {p})").format(
        r=restricted, o=col(organisation_column), p=sql.Placeholder("principal_org")
    )
    return clause, {"principal_org": principal.organisation}
