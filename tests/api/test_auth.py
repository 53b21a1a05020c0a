"""API keys (:mod:`store.keys`), principals, roles and the restricted-row predicate
(:func:`store.access.visible_rows`) on a real database."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any

import psycopg
import pytest
from fastapi import APIRouter
from psycopg_pool import AsyncConnectionPool

from app.auth import require_role
from store.access import ANONYMOUS, Principal, visible_rows
from store.connection import Database, async_pool
from store.keys import (
    create_api_key,
    create_organisation,
    key_id_of,
    list_api_keys,
    revoke_api_key,
    verify_api_key,
)
from tests.api._support import client

probe = APIRouter()


@probe.get("/_whoami")
async def _whoami(
    principal: Annotated[Principal, require_role("viewer")],
) -> dict[str, str | None]:
    return {"organisation": principal.organisation, "role": principal.role}


@probe.get("/_admin")
async def _admin(principal: Annotated[Principal, require_role("admin")]) -> dict[str, str]:
    return {"ok": "yes"}


def test_keys_are_stored_hashed_and_revocable(db: Database) -> None:
    key = create_api_key(db, "trafford", "analyst", label="ope team")
    prefix, key_id, secret = key.split("_", 2)
    assert (prefix, len(key_id), len(secret)) == ("locus", 16, 43)
    with db.connection() as conn:
        row = conn.execute(
            "SELECT organisation, role, secret_sha256, label FROM api_keys WHERE id = %s",
            (key_id,),
        ).fetchone()
        assert row is not None
        stored = " ".join(str(v) for v in conn.execute("SELECT * FROM api_keys").fetchall())
    assert tuple(row) == (
        "trafford",
        "analyst",
        hashlib.sha256(secret.encode()).hexdigest(),
        "ope team",
    )
    assert secret not in stored
    listed = [k for k in list_api_keys(db, "trafford") if k["id"] == key_id]
    assert listed[0]["role"] == "analyst"
    assert listed[0]["revoked_at"] is None
    with pytest.raises(ValueError, match="role 'owner'"):
        create_api_key(db, "trafford", "owner")
    with pytest.raises(ValueError, match="organisation"):
        create_api_key(db, "Trafford Council", "viewer")

    with client(probe) as c:
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            r = c.get("/_whoami", headers=headers)
            assert r.json() == {"organisation": "trafford", "role": "analyst"}
        assert c.get("/_admin", headers={"X-API-Key": key}).status_code == 403
        anon = c.get("/_whoami")
        assert (anon.status_code, anon.headers["content-type"]) == (
            401,
            "application/problem+json",
        )
        wrong = c.get(
            "/_whoami", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")}
        )
        assert (wrong.status_code, wrong.json()["parameter"]) == (401, "X-API-Key")
        basic = c.get("/_whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert (basic.status_code, basic.json()["parameter"]) == (400, "Authorization")
        assert revoke_api_key(db, key) is True
        assert revoke_api_key(db, key_id) is False  # already revoked
        assert c.get("/_whoami", headers={"X-API-Key": key}).status_code == 401
        # an anonymous caller may still read open endpoints
        assert c.get("/processes").status_code == 200


def test_admin_role_and_anonymous_jobs_listing(db: Database) -> None:
    admin = create_api_key(db, "rutland-icb", "admin")
    with client(probe) as c:
        assert c.get("/_admin", headers={"Authorization": f"Bearer {admin}"}).json() == {
            "ok": "yes"
        }
        assert c.get("/jobs").status_code == 200  # anonymous: public jobs only


def test_visible_rows_filters_restricted_rows(db_url: str) -> None:
    libpq = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as conn:
        conn.execute(
            "CREATE TEMP TABLE t_sites (id int, restricted bool, organisation text);"
            "INSERT INTO t_sites VALUES (1, false, NULL), (2, true, 'org-a'), "
            "(3, true, 'org-b'), (4, false, 'org-b')"
        )

        def visible(principal: Principal) -> list[int]:
            clause, params = visible_rows(principal, alias="s")
            query = psycopg.sql.SQL("SELECT s.id FROM t_sites AS s WHERE {} ORDER BY 1").format(
                clause
            )
            return [r[0] for r in conn.execute(query, params).fetchall()]

        assert visible(ANONYMOUS) == [1, 4]
        assert visible(Principal("org-a", "viewer")) == [1, 2, 4]
        assert visible(Principal("org-b", "admin")) == [1, 3, 4]
        # the organisation is a bound parameter, never spliced into the SQL text
        hostile = Principal("x' OR true --", "viewer")
        assert visible(hostile) == [1, 4]
        clause, params = visible_rows(hostile, alias=None)
        assert clause.as_string(conn) == '(NOT "restricted" OR "organisation" = %(principal_org)s)'
        assert params == {"principal_org": "x' OR true --"}


def _verify(db: Database, key: str) -> Principal | None:
    """:func:`verify_api_key` on a pool of its own, as the API runs it."""

    async def run() -> Principal | None:
        pool: AsyncConnectionPool[Any] = async_pool(db.settings)
        await pool.open(wait=True)
        try:
            return await verify_api_key(pool, key)
        finally:
            await pool.close()

    return asyncio.run(run())


def test_store_keys_organisations_listing_and_verification(db: Database) -> None:
    create_organisation(db, "leics-county", "Leicestershire County Council")
    create_organisation(db, "leics-county", "renamed")  # exists: left as it was
    first = create_api_key(db, "leics-county", "viewer", label="first")
    second = create_api_key(db, "leics-county", "admin")
    other = create_api_key(db, "leics-city", "analyst")
    with db.connection() as conn:
        names = conn.execute(
            "SELECT id, name FROM organisations WHERE id LIKE 'leics-%' ORDER BY id"
        ).fetchall()
    # an organisation first met through a key is named after its slug
    assert names == [
        ("leics-city", "leics-city"),
        ("leics-county", "Leicestershire County Council"),
    ]
    with pytest.raises(ValueError, match="organisation 'Leics'"):
        create_organisation(db, "Leics")

    listed = list_api_keys(db, "leics-county")
    assert [(k["id"], k["role"], k["label"]) for k in listed] == [
        (key_id_of(first), "viewer", "first"),
        (key_id_of(second), "admin", ""),
    ]
    assert set(listed[0]) == {"id", "organisation", "role", "label", "created_at", "revoked_at"}
    everyone = {k["id"] for k in list_api_keys(db)}
    assert {key_id_of(first), key_id_of(second), key_id_of(other)} <= everyone
    assert key_id_of("0123456789abcdef") == "0123456789abcdef"  # an id is its own id

    assert _verify(db, second) == Principal("leics-county", "admin", key_id_of(second))
    assert _verify(db, other) == Principal("leics-city", "analyst", key_id_of(other))
    # a well-formed key with the right id but another secret, a malformed one, an unknown id
    forged = second[:-1] + ("A" if second[-1] != "A" else "B")
    assert _verify(db, forged) is None
    assert _verify(db, "locus_nothex_secret") is None
    assert _verify(db, "locus_0123456789abcdef_" + "x" * 43) is None

    # revoking clears the cache of verified keys: the next verification fails at once
    assert revoke_api_key(db, key_id_of(second)) is True
    assert _verify(db, second) is None
    revoked = {k["id"]: k["revoked_at"] for k in list_api_keys(db, "leics-county")}
    assert revoked[key_id_of(second)] is not None
    assert revoked[key_id_of(first)] is None
