"""Any API key that is sent is checked, on every route of the OpenAPI (and the web map).

A malformed, unknown, wrongly signed or revoked key is a 401 problem naming the header it
came in, whatever the route, its method and its parameters, including routes that answer
anonymous callers the same as keyed ones (``/analysis/modes``, ``/postcodes/...``,
``/processes``, ``/healthz``). The routes come from ``create_app(...).openapi()``, so a new
route is covered without editing this file.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from config.settings import load_settings
from store.keys import create_api_key, key_id_of, revoke_api_key
from tests.conftest import database_for

PROBLEM = "application/problem+json"
OPENAPI: dict[str, Any] = create_app(load_settings()).openapi()
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in OPENAPI["paths"].items()
    for method in item
    if method in ("get", "post", "put", "patch", "delete")
)
#: Routes outside the OpenAPI that a client may still call with a key.
UNDOCUMENTED = (("GET", "/map"),)
#: Well-formed keys (``locus_<16 hex>_<43 chars>``) that no database holds.
UNKNOWN = "locus_0123456789abcdef_" + "A" * 43


def _concrete(path: str) -> str:
    """The path with every ``{parameter}`` filled by a plausible value."""
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture(scope="module")
def bad_keys(api_database_url: str) -> dict[str, tuple[str, str]]:
    """name → (header, value) of keys that must be refused."""
    db = database_for(api_database_url)
    revoked = create_api_key(db, "keycheck-org", "analyst")
    assert revoke_api_key(db, revoked) is True
    live = create_api_key(db, "keycheck-org", "analyst")
    wrong_secret = f"locus_{key_id_of(live)}_" + "B" * 43
    return {
        "malformed": ("Authorization", "Bearer not-a-locus-key"),
        "malformed-x-api-key": ("X-API-Key", "locus_short"),
        "unknown": ("Authorization", f"Bearer {UNKNOWN}"),
        "wrong-secret": ("X-API-Key", wrong_secret),
        "revoked": ("Authorization", f"Bearer {revoked}"),
    }


def test_the_matrix_covers_the_routes_the_issue_names() -> None:
    paths = {p for _, p in OPERATIONS}
    assert {
        "/analysis/modes",
        "/analysis/nearest",
        "/postcodes/{postcode}",
        "/processes",
        "/processes/{processId}/execution",
        "/healthz",
        "/estate/assets",
    } <= paths
    assert len(OPERATIONS) >= 35


@pytest.mark.parametrize(
    ("method", "path"),
    [*OPERATIONS, *UNDOCUMENTED],
    ids=[f"{m} {p}" for m, p in OPERATIONS] + [f"{m} {p}" for m, p in UNDOCUMENTED],
)
def test_a_bad_key_is_a_401_on_every_route(
    client: TestClient, bad_keys: dict[str, tuple[str, str]], method: str, path: str
) -> None:
    url = _concrete(path)
    for name, (header, value) in bad_keys.items():
        r = client.request(method, url, headers={header: value})
        assert r.status_code == 401, (name, r.status_code, r.text[:300])
        assert r.headers["content-type"] == PROBLEM, name
        body = r.json()
        assert body["status"] == 401
        assert body["parameter"] == header, name
        assert "malformed, unknown or revoked" in body["detail"], name


def test_a_good_key_and_no_key_still_answer(client: TestClient, api_database_url: str) -> None:
    key = create_api_key(database_for(api_database_url), "keycheck-org", "viewer")
    for path in ("/analysis/modes", "/processes", "/healthz", "/collections"):
        assert client.get(path).status_code == 200, path
        assert client.get(path, headers={"X-API-Key": key}).status_code == 200, path
        keyed = client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert keyed.status_code == 200, path
    # A header that is not "Bearer <key>" is a 400 naming it, before any route.
    basic = client.get("/processes", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (basic.status_code, basic.json()["parameter"]) == (400, "Authorization")


def test_every_operation_documents_the_401() -> None:
    for method, path in OPERATIONS:
        responses = OPENAPI["paths"][path][method.lower()]["responses"]
        assert "401" in responses, f"{method} {path}"
        assert PROBLEM in responses["401"]["content"], f"{method} {path}"
