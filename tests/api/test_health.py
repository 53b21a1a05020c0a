"""Liveness and readiness, with the database up and down."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import settings_for


def test_healthz(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_readyz_reports_versions(client: TestClient) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    versions = body["versions"]
    assert versions["postgresql"].startswith("15.")
    assert versions["postgis"].startswith("3.")
    assert versions["pgrouting"].startswith("3.")
    assert versions["proj"][0].isdigit()
    assert body["database"]["round_trip_ms"] >= 0


def test_readyz_503_problem_when_database_down() -> None:
    # Nothing listens on port 9 of the loopback: every connection attempt is refused.
    down = settings_for("postgresql+psycopg://postgres@127.0.0.1:9/locus")
    with TestClient(create_app(down)) as client:
        assert client.get("/healthz").status_code == 200
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["title"] == "Database unavailable"
