"""API keys, principals, roles and the restricted-row predicate on a real database."""

from __future__ import annotations

import hashlib
from typing import Annotated

import psycopg
import pytest
from fastapi import APIRouter
from sqlalchemy import create_engine, text

from app.auth import (
    ANONYMOUS,
    Principal,
    create_api_key,
    list_api_keys,
    require_role,
    revoke_api_key,
    visible_sites_clause,
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


def test_keys_are_stored_hashed_and_revocable(db_url: str) -> None:
    engine = create_engine(db_url)
    key = create_api_key(engine, "trafford", "analyst", label="ope team")
    prefix, key_id, secret = key.split("_", 2)
    assert (prefix, len(key_id), len(secret)) == ("locus", 16, 43)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT organisation, role, secret_sha256, label FROM api_keys WHERE id = :i"),
            {"i": key_id},
        ).one()
        stored = " ".join(str(v) for v in conn.execute(text("SELECT * FROM api_keys")).all())
    assert tuple(row) == (
        "trafford",
        "analyst",
        hashlib.sha256(secret.encode()).hexdigest(),
        "ope team",
    )
    assert secret not in stored
    listed = [k for k in list_api_keys(engine, "trafford") if k["id"] == key_id]
    assert listed[0]["role"] == "analyst"
    assert listed[0]["revoked_at"] is None
    with pytest.raises(ValueError, match="role 'owner'"):
        create_api_key(engine, "trafford", "owner")
    with pytest.raises(ValueError, match="organisation"):
        create_api_key(engine, "Trafford Council", "viewer")

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
        assert revoke_api_key(engine, key) is True
        assert revoke_api_key(engine, key_id) is False  # already revoked
        assert c.get("/_whoami", headers={"X-API-Key": key}).status_code == 401
        # an anonymous caller may still read open endpoints
        assert c.get("/processes").status_code == 200
    engine.dispose()


def test_admin_role_and_anonymous_jobs_listing(db_url: str) -> None:
    engine = create_engine(db_url)
    admin = create_api_key(engine, "rutland-icb", "admin")
    engine.dispose()
    with client(probe) as c:
        assert c.get("/_admin", headers={"Authorization": f"Bearer {admin}"}).json() == {
            "ok": "yes"
        }
        assert c.get("/jobs").status_code == 200  # anonymous: public jobs only


def test_visible_sites_clause_filters_restricted_rows(db_url: str) -> None:
    libpq = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq) as conn:
        conn.execute(
            "CREATE TEMP TABLE t_sites (id int, restricted bool, organisation text);"
            "INSERT INTO t_sites VALUES (1, false, NULL), (2, true, 'org-a'), "
            "(3, true, 'org-b'), (4, false, 'org-b')"
        )

        def visible(principal: Principal) -> list[int]:
            clause, params = visible_sites_clause(principal, alias="s")
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
        clause, params = visible_sites_clause(hostile, alias=None)
        assert clause.as_string(conn) == '(NOT "restricted" OR "organisation" = %(principal_org)s)'
        assert params == {"principal_org": "x' OR true --"}
