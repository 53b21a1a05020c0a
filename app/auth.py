"""Access control: API keys, the caller's :class:`Principal`, roles and row visibility.

Keys
    A key reads ``locus_<id>_<secret>``: ``id`` is 16 hex characters, public, the row's
    primary key; ``secret`` is 32 random bytes (URL-safe base64). Only ``sha256(secret)`` is
    stored, compared in constant time. A key belongs to one organisation and has one role,
    ``viewer`` < ``analyst`` < ``admin``; revoking keeps the row with ``revoked_at`` set.

Requests
    :func:`current_principal` reads ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
    No key is the anonymous principal (open data only); a key that is malformed, unknown or
    revoked is a 401, never silently anonymous. Verified keys are cached in-process for
    :data:`KEY_CACHE_TTL_S` seconds (one indexed lookup saved per request); revoking from
    this process clears the cache, other processes see a revocation within that time.

Visibility
    :func:`visible_sites_clause` is the one SQL predicate for rows marked ``restricted``
    (sites, scenarios, results, jobs): visible to their own organisation only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Depends, Request
from psycopg import AsyncConnection, sql
from sqlalchemy import Engine, text

from app.errors import Forbidden, InvalidParameter, Unauthenticated
from config.settings import get_settings

Role = Literal["viewer", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "analyst", "admin")
_RANK = {"anonymous": 0, "viewer": 1, "analyst": 2, "admin": 3}

KEY_PREFIX = "locus"
_KEY = re.compile(r"^locus_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_ORG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Seconds a verified key is trusted without a database lookup.
KEY_CACHE_TTL_S = 10.0


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


ANONYMOUS = Principal()

_cache: dict[str, tuple[float, Principal]] = {}
_cache_lock = threading.Lock()


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_role(role: str) -> Role:
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def _check_org(organisation: str) -> str:
    if not _ORG.match(organisation):
        raise ValueError(
            f"organisation {organisation!r}: use lower-case letters, digits, '-' or '_' "
            "(at most 63 characters)"
        )
    return organisation


def create_organisation(engine: Engine, organisation: str, name: str | None = None) -> None:
    """Create the organisation ``organisation`` (a slug) if it does not exist."""
    _check_org(organisation)
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO organisations (id, name) VALUES (:id, :name) ON CONFLICT DO NOTHING"),
            {"id": organisation, "name": name or organisation},
        )


def create_api_key(engine: Engine, organisation: str, role: str, *, label: str = "") -> str:
    """Create a key for ``organisation`` (created if new) with ``role``; returns the key.

    The returned string is the only time the secret exists outside the caller: only its
    SHA-256 is stored.
    """
    role = _check_role(role)
    create_organisation(engine, organisation)
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO api_keys (id, organisation, role, secret_sha256, label) "
                "VALUES (:id, :org, :role, :h, :label)"
            ),
            {"id": key_id, "org": organisation, "role": role, "h": _sha256(secret), "label": label},
        )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def key_id_of(key_or_id: str) -> str:
    """The public id of a full key, or ``key_or_id`` itself when it is an id."""
    match = _KEY.match(key_or_id)
    return match.group(1) if match else key_or_id


def revoke_api_key(engine: Engine, key_or_id: str) -> bool:
    """Revoke a key (by full key or by id); True if a live key was revoked."""
    with engine.begin() as conn:
        done = conn.execute(
            text("UPDATE api_keys SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"),
            {"id": key_id_of(key_or_id)},
        ).rowcount
    with _cache_lock:
        _cache.clear()
    return bool(done)


def list_api_keys(engine: Engine, organisation: str | None = None) -> list[dict[str, Any]]:
    """Keys (never secrets): id, organisation, role, label, created_at, revoked_at."""
    query = (
        "SELECT id, organisation, role, label, created_at, revoked_at FROM api_keys "
        "WHERE (CAST(:org AS text) IS NULL OR organisation = :org) ORDER BY created_at, id"
    )
    with engine.connect() as conn:
        rows = conn.execute(text(query), {"org": organisation}).mappings().all()
    return [dict(r) for r in rows]


async def verify_api_key(conn: AsyncConnection[Any], key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else."""
    match = _KEY.match(key)
    if match is None:
        return None
    cache_key = _sha256(key)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None and hit[0] > now:
            return hit[1]
    key_id, secret = match.groups()
    cur = await conn.execute(
        "SELECT organisation, role, secret_sha256 FROM api_keys "
        "WHERE id = %s AND revoked_at IS NULL",
        (key_id,),
    )
    row = await cur.fetchone()
    if row is None or not hmac.compare_digest(str(row[2]), _sha256(secret)):
        return None
    principal = Principal(organisation=str(row[0]), role=row[1], key_id=key_id)
    with _cache_lock:
        _cache[cache_key] = (now + KEY_CACHE_TTL_S, principal)
    return principal


def _key_from_headers(request: Request) -> tuple[str, str] | None:
    """``(key, header name)`` from ``Authorization: Bearer`` or ``X-API-Key``."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidParameter(
                "Authorization must be 'Bearer <api key>'", parameter="Authorization"
            )
        return value.strip(), "Authorization"
    api_key = request.headers.get("x-api-key")
    if api_key:
        return api_key.strip(), "X-API-Key"
    return None


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from its API key (anonymous when none is sent)."""
    found = _key_from_headers(request)
    if found is None:
        # A single-user local demo may let callers without a key run analyses (the setting
        # LOCUS_ANONYMOUS_ROLE); they still see open data only, never restricted rows.
        settings = getattr(request.app.state, "settings", None) or get_settings()
        role = settings.api.anonymous_role
        return ANONYMOUS if role == "anonymous" else Principal(role=role)
    key, header = found
    async with request.app.state.pool.connection() as conn:
        principal = await verify_api_key(conn, key)
    if principal is None:
        raise Unauthenticated(
            "the API key is not valid (malformed, unknown or revoked)", parameter=header
        )
    return principal


def require_role(minimum: Role) -> Any:
    """A dependency admitting callers with role ``minimum`` or higher.

    Anonymous callers get 401 (a key is needed), callers with a lower role 403.
    """
    _check_role(minimum)

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.authenticated:
            raise Unauthenticated(f"this operation needs an API key with role {minimum}")
        if not principal.has_role(minimum):
            raise Forbidden(f"this operation needs role {minimum}; the key has {principal.role}")
        return principal

    dependency.__name__ = f"require_{minimum}"
    return Depends(dependency)


def visible_sites_clause(
    principal: Principal,
    *,
    alias: str | None = "t",
    restricted_column: str = "restricted",
    organisation_column: str = "organisation",
) -> tuple[sql.Composable, dict[str, Any]]:
    """The row filter for restricted data: ``(SQL, params)`` for ``principal``.

    Rows with ``restricted`` false are visible to everyone; restricted rows only to callers of
    the same organisation. The organisation is the bound parameter ``%(principal_org)s``
    (merge ``params`` into the statement's parameters); column names are identifiers.

    Examples
    --------
    >>> clause, params = visible_sites_clause(Principal("rutland-icb", "viewer"))
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
