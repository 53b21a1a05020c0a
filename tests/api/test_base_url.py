"""``Location`` headers and absolute links are built on ``LOCUS_BASE_URL``, never on ``Host``.

A request's ``Host`` header is the client's to choose: echoing it in a ``Location`` or a link
would send the client (or, through a cached page, another one) wherever the request said.
Every request here claims ``Host: evil.example``; every ``Location`` and link must be on the
configured base (with its path prefix), and ``evil.example`` must appear nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.main import create_app
from config.settings import ApiSettings
from store.keys import create_api_key
from tests.api._support import auth
from tests.conftest import database_for, settings_for

BASE = "https://locus.example.org/estate-planning"
EVIL = {"Host": "evil.example"}
#: Hosts of links to other sites (licences, OGC definitions).
EXTERNAL = {"www.nationalarchives.gov.uk", "www.opengis.net", "opendatacommons.org"}


@pytest.fixture(scope="module")
def based(api_database_url: str) -> Iterator[TestClient]:
    settings = settings_for(api_database_url, base_url=BASE + "/", default_page_size=2)
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture(scope="module")
def analyst(api_database_url: str) -> dict[str, str]:
    return auth(create_api_key(database_for(api_database_url), "baseurl-org", "analyst"))


def _hrefs(node: Any) -> list[str]:
    """Every ``href`` (and JSON Schema ``$id``, TileJSON ``tiles`` URL) in a JSON document."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("href", "$id") and isinstance(v, str):
                out.append(v)
            elif k == "tiles" and isinstance(v, list):
                out += [t for t in v if isinstance(t, str)]
            else:
                out += _hrefs(v)
    elif isinstance(node, list):
        for v in node:
            out += _hrefs(v)
    return out


def test_location_of_a_job_and_a_scenario_is_on_the_base_url(
    based: TestClient, analyst: dict[str, str]
) -> None:
    job = based.post(
        "/processes/echo/execution",
        json={"inputs": {"message": "hi"}},
        headers={**analyst, **EVIL},
    )
    assert job.status_code == 201, job.text
    job_id = job.json()["jobID"]
    assert job.headers["location"] == f"{BASE}/jobs/{job_id}"
    assert all(h.startswith(f"{BASE}/") for h in _hrefs(job.json()))
    scenario = based.post(
        "/scenarios",
        json={
            "name": "Base URL check",
            "changes": [{"type": "close_sites", "site_ids": ["C82010"]}],
        },
        headers={**analyst, **EVIL},
    )
    assert scenario.status_code == 201, scenario.text
    assert scenario.headers["location"] == f"{BASE}/scenarios/{scenario.json()['id']}"
    for r in (job, scenario):
        assert "evil.example" not in r.text
        assert "evil.example" not in str(r.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/collections",
        "/collections/sites",
        "/collections/sites/items",
        "/collections/sites/queryables",
        "/collections/sites/tiles/WebMercatorQuad/tilejson.json",
        "/tiles/WebMercatorQuad/tilejson.json",
        "/processes",
        "/processes/echo",
        "/jobs?limit=1",
    ],
)
def test_links_are_on_the_base_url_whatever_the_host(based: TestClient, path: str) -> None:
    r = based.get(path, headers=EVIL)
    assert r.status_code == 200, r.text[:300]
    links = _hrefs(r.json())
    # Links to elsewhere (licences, OGC definitions) aside, every link is on the base URL.
    ours = [h for h in links if urlsplit(h).netloc not in EXTERNAL]
    assert any(h.startswith(f"{BASE}/") for h in ours), f"{path}: no link of ours in {links}"
    off = [h for h in ours if not h.startswith(f"{BASE}/")]
    assert not off, f"{path}: links off the base URL: {off}"
    assert "evil.example" not in r.text


def test_items_self_and_next_links_keep_the_query(based: TestClient) -> None:
    r = based.get("/collections/sites/items", params={"kind": "gp_practice"}, headers=EVIL)
    rels = {link["rel"]: link["href"] for link in r.json()["links"]}
    assert rels["self"] == f"{BASE}/collections/sites/items?kind=gp_practice&f=json"
    assert rels["next"].startswith(f"{BASE}/collections/sites/items?kind=gp_practice&after=")
    # The next link is followable (a TestClient ignores the host of an absolute URL).
    nxt = based.get(rels["next"].removeprefix(BASE)).json()
    assert nxt["numberReturned"] >= 1


def test_html_pages_link_to_the_base_url(based: TestClient) -> None:
    page = based.get("/collections", params={"f": "html"}, headers=EVIL)
    assert page.status_code == 200
    assert f'href="{BASE}/collections/sites?f=html"' in page.text
    assert "evil.example" not in page.text


def test_default_base_url_is_the_served_address() -> None:
    assert ApiSettings().public_url == "http://127.0.0.1:8000"
    assert ApiSettings(host="0.0.0.0", port=9001).public_url == "http://127.0.0.1:9001"
    assert ApiSettings(host="::", port=80).public_url == "http://[::1]:80"
    assert ApiSettings(host="locus.internal").public_url == "http://locus.internal:8000"
    given = ApiSettings(base_url="https://maps.example.org/locus/", host="0.0.0.0")
    assert given.public_url == "https://maps.example.org/locus"
    for bad in ("maps.example.org", "ftp://maps.example.org", "https://u:p@x.org", "http://x/?a=1"):
        with pytest.raises(ValidationError, match="LOCUS_BASE_URL"):
            ApiSettings(base_url=bad)


def test_base_url_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCUS_BASE_URL", "https://env.example.org/")
    assert ApiSettings().public_url == "https://env.example.org"
    assert json.loads(ApiSettings().model_dump_json())["base_url"] == "https://env.example.org"


@pytest.mark.parametrize("path", ["/collections/", "/processes/?limit=1", "/healthz/"])
def test_trailing_slash_redirects_are_on_the_base_url(based: TestClient, path: str) -> None:
    """The framework's trailing-slash redirect builds its Location from Host: moved too."""
    r = based.get(path, headers=EVIL, follow_redirects=False)
    assert r.status_code == 307
    target = path.replace("/?", "?").rstrip("/")
    assert r.headers["location"] == f"{BASE}{target}"
    assert based.get(r.headers["location"].removeprefix(BASE)).status_code == 200


def test_no_module_builds_links_from_the_request_host() -> None:
    """Links have one home: a router building on ``request.base_url`` would echo ``Host``."""
    root = Path(__file__).resolve().parents[2] / "app"
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "links.py" and "request.base_url" in path.read_text()
    ]
    assert offenders == []
