"""API keys and organisations: create, revoke, list and verify keys.

A key reads ``locus_<id>_<secret>``: ``id`` is 16 hex characters, public, the row's primary
key; ``secret`` is 32 random bytes (URL-safe base64). Only ``sha256(secret)`` is stored,
compared in constant time. A key belongs to one organisation and has one role (``viewer`` <
``analyst`` < ``admin``, :data:`store.access.ROLES`); revoking keeps the row with
``revoked_at`` set.

Verified keys are cached in-process for :data:`KEY_CACHE_TTL_S` seconds (one indexed lookup
saved per request); revoking from this process clears the cache, other processes see a
revocation within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from typing import Any

from psycopg import Connection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from store.access import ROLES, Principal, Role
from store.connection import Database

__all__ = [
    "KEY_CACHE_TTL_S",
    "KEY_PREFIX",
    "check_organisation",
    "check_role",
    "create_api_key",
    "create_organisation",
    "key_id_of",
    "list_api_keys",
    "revoke_api_key",
    "verify_api_key",
]

KEY_PREFIX = "locus"
_KEY = re.compile(r"^locus_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
_ORG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Seconds a verified key is trusted without a database lookup.
KEY_CACHE_TTL_S = 10.0

_cache: dict[str, tuple[float, Principal]] = {}
_cache_lock = threading.Lock()


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_role(role: str) -> Role:
    """``role`` when it is one of :data:`store.access.ROLES`.

    Raises
    ------
    ValueError
        Naming the role and the valid ones.
    """
    for known in ROLES:
        if role == known:
            return known
    raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")


def check_organisation(organisation: str) -> str:
    """``organisation`` when it is a valid slug.

    Raises
    ------
    ValueError
        When it is not lower-case letters, digits, ``-`` or ``_`` (at most 63 characters).
    """
    if not _ORG.match(organisation):
        raise ValueError(
            f"organisation {organisation!r}: use lower-case letters, digits, '-' or '_' "
            "(at most 63 characters)"
        )
    return organisation


def _insert_organisation(conn: Connection[Any], organisation: str, name: str | None) -> None:
    conn.execute(
        "INSERT INTO organisations (id, name) VALUES (%(id)s, %(name)s) ON CONFLICT DO NOTHING",
        {"id": check_organisation(organisation), "name": name or organisation},
    )


def create_organisation(db: Database, organisation: str, name: str | None = None) -> None:
    """Create the organisation ``organisation`` (a slug) if it does not exist.

    Raises
    ------
    ValueError
        For a malformed slug (:func:`check_organisation`).
    """
    with db.connection() as conn:
        _insert_organisation(conn, organisation, name)


def create_api_key(db: Database, organisation: str, role: str, *, label: str = "") -> str:
    """Create a key for ``organisation`` (created if new) with ``role``; returns the key.

    The returned string is the only time the secret exists outside the caller: only its
    SHA-256 is stored.

    Raises
    ------
    ValueError
        For an unknown role or a malformed organisation slug.
    """
    checked = check_role(role)
    check_organisation(organisation)  # before opening a transaction
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    with db.transaction() as conn:
        _insert_organisation(conn, organisation, None)
        conn.execute(
            "INSERT INTO api_keys (id, organisation, role, secret_sha256, label)"
            " VALUES (%(id)s, %(org)s, %(role)s, %(h)s, %(label)s)",
            {
                "id": key_id,
                "org": organisation,
                "role": checked,
                "h": _sha256(secret),
                "label": label,
            },
        )
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def key_id_of(key_or_id: str) -> str:
    """The public id of a full key, or ``key_or_id`` itself when it is an id."""
    match = _KEY.match(key_or_id)
    return match.group(1) if match else key_or_id


def revoke_api_key(db: Database, key_or_id: str) -> bool:
    """Revoke a key (by full key or by id); True if a live key was revoked."""
    with db.connection() as conn:
        cur = conn.execute(
            "UPDATE api_keys SET revoked_at = now() WHERE id = %(id)s AND revoked_at IS NULL",
            {"id": key_id_of(key_or_id)},
        )
        done = cur.rowcount
    with _cache_lock:
        _cache.clear()
    return done > 0


def list_api_keys(db: Database, organisation: str | None = None) -> list[dict[str, Any]]:
    """Keys (never secrets), oldest first: id, organisation, role, label, created_at,
    revoked_at (None while live); only ``organisation``'s when given."""
    with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT id, organisation, role, label, created_at, revoked_at FROM api_keys"
            " WHERE (%(org)s::text IS NULL OR organisation = %(org)s) ORDER BY created_at, id",
            {"org": organisation},
        )
        return cur.fetchall()


async def verify_api_key(pool: AsyncConnectionPool[Any], key: str) -> Principal | None:
    """The principal of a valid, unrevoked key; None for anything else (malformed, unknown,
    revoked or a wrong secret)."""
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
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT organisation, role, secret_sha256 FROM api_keys"
            " WHERE id = %(id)s AND revoked_at IS NULL",
            {"id": key_id},
        )
        row = await cur.fetchone()
    if row is None or not hmac.compare_digest(str(row[2]), _sha256(secret)):
        return None
    principal = Principal(organisation=str(row[0]), role=check_role(str(row[1])), key_id=key_id)
    with _cache_lock:
        _cache[cache_key] = (now + KEY_CACHE_TTL_S, principal)
    return principal
