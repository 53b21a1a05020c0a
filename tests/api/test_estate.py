"""Estate register, restricted asset uploads, co-location and its report, on real Trafford data.

The module loads the real Trafford files (LSOA 2021, Census 2021 5-year bands, the ONS
postcode extract, the council's 608-asset register, GP practices, pharmacies, care homes)
through :func:`etl.datasets.load_dataset` into its own throwaway database and serves it with
the full app (``create_app``); figures are checked against PostGIS directly.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from app.main import create_app
from app.services.traveltimes import travel_time_source
from etl.datasets import load_dataset
from spatial.colocation import SCORE_COMPONENTS
from spatial.kinds import KIND_PATTERN
from spatial.modes import ROAD_MODES
from store.access import ANONYMOUS, Principal
from store.connection import Database, database
from store.estate import data_sources
from store.keys import create_api_key
from store.sites import site_points
from tests.api._support import auth, two_org_keys
from tests.conftest import database_for, load_trafford, scratch_database, settings_for

PROBLEM = "application/problem+json"
#: The Trafford datasets this module loads (of ``TRAFFORD_BUNDLE``).
DATASETS = (
    "lsoa21",
    "census2021-5yr",
    "onspd",
    "council-assets",
    "trafford-gp",
    "trafford-pharmacies",
    "trafford-care-homes",
)
#: A point beside Trafford Town Hall (Talbot Road, Stretford), WGS84.
ASSET_LON, ASSET_LAT = -2.2905, 53.4625


@pytest.fixture(scope="module")
def trafford_url(data_dir: Path) -> Iterator[str]:
    with scratch_database("locus_test_estate") as (url, _engine):
        load_trafford(settings_for(url), data_dir, only=DATASETS)
        yield url


@pytest.fixture(scope="module")
def db(trafford_url: str) -> Database:
    return database_for(trafford_url)


@pytest.fixture(scope="module")
def engine(trafford_url: str) -> Iterator[Engine]:
    e = create_engine(trafford_url)
    yield e
    e.dispose()


@pytest.fixture(scope="module")
def keys(engine: Engine) -> dict[str, str]:
    return two_org_keys(engine)


@pytest.fixture(scope="module")
def client(trafford_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(trafford_url))) as c:
        yield c


# ------------------------------------------------------------------------------- register
def test_register_lists_every_owner_with_derived_figures(
    client: TestClient, engine: Engine
) -> None:
    body = client.get("/estate/sites", params={"limit": 1000}).json()
    with engine.connect() as conn:
        n = conn.execute(
            text("SELECT count(*) FROM sites WHERE status = 'active' AND NOT restricted")
        ).scalar_one()
        gia = conn.execute(
            text("SELECT sum(gia_m2) FROM sites WHERE status='active' AND NOT restricted")
        ).scalar_one()
    assert body["numberMatched"] == n
    assert set(body["summary"]["by_owner_type"]) >= {"council", "gp_practice", "care_provider"}
    assert body["summary"]["gia_m2"] == pytest.approx(float(gia))
    first = body["sites"][0]
    assert {"cost_per_m2_gbp", "pre_1948_share", "utilisation_flags", "lon", "lat"} <= set(first)
    council = client.get(
        "/estate/sites", params={"owner_type": "council", "kind": "council_building"}
    ).json()
    assert council["numberMatched"] > 0
    assert {s["owner_type"] for s in council["sites"]} == {"council"}
    assert {s["kind"] for s in council["sites"]} == {"council_building"}
    bad = client.get("/estate/sites", params={"kind": "Not A Kind"})
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "kind"


# ------------------------------------------------------------------------------- uploads
def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def _tile_names(client: TestClient, headers: dict[str, str]) -> set[str]:
    x, y = _tile_of(ASSET_LON, ASSET_LAT, 15)
    r = client.get(f"/collections/sites/tiles/WebMercatorQuad/15/{x}/{y}", headers=headers)
    if r.status_code == 204:
        return set()
    assert r.status_code == 200, r.text
    layers = mapbox_vector_tile.decode(r.content)
    return {str(f["properties"].get("name")) for f in layers.get("sites", {}).get("features", [])}


def test_restricted_upload_is_seen_only_by_its_organisation(
    client: TestClient, engine: Engine, keys: dict[str, str]
) -> None:
    csv_text = (
        "asset_id,name,kind,owner_type,tenure,gia_m2,land_ha,running_cost_gbp,lon,lat,postcode\n"
        f"P1,Stretford Police Office (org-a),police_station,police,freehold,1200,0.4,90000,"
        f"{ASSET_LON},{ASSET_LAT},\n"
    )
    files = {"file": ("police.csv", csv_text.encode(), "text/csv")}
    anon = client.post("/estate/assets", files=files, data={"restricted": "true"})
    assert anon.status_code == 401
    viewer = client.post(
        "/estate/assets", files=files, data={"restricted": "true"}, headers=auth(keys["a_viewer"])
    )
    assert viewer.status_code == 403
    r = client.post(
        "/estate/assets", files=files, data={"restricted": "true"}, headers=auth(keys["a"])
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows_loaded"] == 1
    assert r.json()["dataset"] == "assets:org-a"
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT s.restricted, s.organisation, s.gia_m2, d.dataset, d.status "
                "FROM sites s JOIN data_loads d ON d.id = s.load_id "
                "WHERE s.source = 'assets:org-a'"
            )
        ).one()
    assert tuple(row) == (True, "org-a", 1200.0, "assets:org-a", "active")

    name = "Stretford Police Office (org-a)"
    callers = {"org-a": auth(keys["a"]), "org-b": auth(keys["b"]), "anonymous": {}}
    seen: dict[str, dict[str, Any]] = {}
    for who, headers in callers.items():
        items = client.get(
            "/collections/sites/items", params={"kind": "police_station"}, headers=headers
        ).json()
        hits = client.get(
            "/collections/sites/items",
            params={"kind": "police_station", "resultType": "hits"},
            headers=headers,
        ).json()
        register = client.get(
            "/estate/sites", params={"kind": "police_station"}, headers=headers
        ).json()
        seen[who] = {
            "items": [f["properties"]["name"] for f in items["features"]],
            "hits": hits["numberMatched"],
            "register": [s["name"] for s in register["sites"]],
            "tile": name in _tile_names(client, headers),
        }
    assert seen["org-a"] == {"items": [name], "hits": 1, "register": [name], "tile": True}
    for other in ("org-b", "anonymous"):
        assert seen[other] == {"items": [], "hits": 0, "register": [], "tile": False}


def test_reupload_keeps_asset_ids_and_reports_changes(
    client: TestClient, engine: Engine, db: Database
) -> None:
    """Without asset_id, assets are matched on name and postcode, not on their row."""
    key = create_api_key(db, "depots-org", "analyst")

    def upload(lines: list[str]) -> dict[str, Any]:
        body = "name,kind,owner_type,gia_m2,lon,lat,postcode\n" + "\n".join(lines) + "\n"
        files = {"file": ("depots.csv", body.encode(), "text/csv")}
        r = client.post(
            "/estate/assets", files=files, data={"restricted": "true"}, headers=auth(key)
        )
        assert r.status_code == 201, r.text
        doc: dict[str, Any] = r.json()
        return doc

    def ids() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT name, id FROM sites WHERE source = 'assets:depots-org'")
            )
            return {str(n): int(i) for n, i in rows}

    depot = f"Depot,council_building,council,800,{ASSET_LON},{ASSET_LAT},M32 0TH"
    library = f"Library,council_building,council,400,{ASSET_LON + 0.01},{ASSET_LAT},M32 0FP"
    first = upload([depot, library])
    assert first["changes"]["sites"]["added"] == 2
    before = ids()
    # A new first row and the library's floor area changed: the others keep their ids.
    pool = f"Pool,council_building,council,1500,{ASSET_LON},{ASSET_LAT + 0.01},M32 0AA"
    second = upload([pool, depot, library.replace(",400,", ",450,")])
    after = ids()
    assert after["Depot"] == before["Depot"]
    assert after["Library"] == before["Library"]
    assert set(after) == {"Depot", "Library", "Pool"}
    changes = second["changes"]["sites"]
    assert (changes["added"], changes["removed"], changes["changed"]) == (1, 0, 1)
    assert changes["unchanged"] == 1
    assert changes["examples"]["changed"] == ["name:library M32 0FP Library (gia_m2)"]
    assert changes["examples"]["added"] == ["name:pool M32 0AA Pool"]
    with engine.connect() as conn:
        gia = conn.execute(
            text("SELECT gia_m2 FROM sites WHERE id = :i"), {"i": after["Library"]}
        ).scalar_one()
    assert gia == 450.0


def test_rejected_upload_lists_rows_and_loads_nothing(
    client: TestClient, engine: Engine, keys: dict[str, str]
) -> None:
    with engine.connect() as conn:
        before = conn.execute(text("SELECT count(*) FROM data_loads")).scalar_one()
    csv_text = (
        "name,kind,gia_m2,easting,northing\n"
        "Good depot,council_depot,500,379500,396500\n"
        "Bad area,council_depot,-5,379500,396500\n"
        ",Not A Kind,12,379500,396500\n"
        "Off the map,council_depot,10,9999999,1\n"
    )
    r = client.post(
        "/estate/assets",
        files={"file": ("b.csv", csv_text.encode(), "text/csv")},
        headers=auth(keys["b"]),
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    rows = sorted({p["row"] for p in body["rejects"]})
    assert rows == [3, 4, 5]
    reasons = " | ".join(p["reason"] for p in body["rejects"])
    assert "'gia_m2'" in reasons
    assert "'name' is empty" in reasons
    assert "'kind'" in reasons
    assert "easting" in reasons
    with engine.connect() as conn:
        after = conn.execute(text("SELECT count(*) FROM data_loads")).scalar_one()
        n = conn.execute(
            text("SELECT count(*) FROM sites WHERE source = 'assets:org-b'")
        ).scalar_one()
    assert after == before
    assert n == 0


# ------------------------------------------------------------------------------- co-location
@pytest.fixture(scope="module")
def colocation(client: TestClient) -> dict[str, Any]:
    r = client.get(
        "/estate/colocation", params={"method": "distance", "max_distance_m": 400, "limit": 50}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_trafford_clusters_mix_council_and_health_sites(colocation: dict[str, Any]) -> None:
    clusters = colocation["clusters"]
    assert colocation["numberMatched"] >= len(clusters) > 5
    assert colocation["metadata"]["method"] == "distance"
    mixed = [
        c
        for c in clusters
        if "council" in c["owner_types"].split("; ")
        and {m["kind"] for m in c["members"]} & {"gp_practice", "pharmacy"}
    ]
    assert mixed, "no cluster with council buildings and GP or pharmacy sites"
    gp = [c for c in mixed if any(m["kind"] == "gp_practice" for m in c["members"])]
    assert gp, "no cluster with a council building and a GP practice"
    scores = [c["score"] for c in clusters]
    assert scores == sorted(scores, reverse=True)
    assert [c["rank"] for c in clusters] == list(range(1, len(clusters) + 1))
    for c in clusters:
        assert c["n_owners"] >= 2
        assert set(c["score_components"]) == {
            "owners",
            "host_space",
            "running_cost",
            "floor_area",
            "population",
            "deprivation",
            "services",
        }


def test_top_cluster_matches_a_hand_computation(colocation: dict[str, Any], engine: Engine) -> None:
    top = colocation["clusters"][0]
    seed = top["seed_site_id"]
    with engine.connect() as conn:
        members = conn.execute(
            text(
                "SELECT s.id, s.gia_m2, coalesce(nullif(s.owner, ''), s.name) AS owner, s.tenure "
                "FROM sites s, sites h WHERE h.id = :seed AND s.geom IS NOT NULL "
                "AND s.status = 'active' AND NOT s.restricted "
                "AND ST_DWithin(s.geom, h.geom, 400)"
            ),
            {"seed": int(seed)},
        ).all()
        pop = conn.execute(
            text(
                "SELECT sum(f.population) FROM areas_features f, sites h "
                "WHERE h.id = :seed AND f.vintage = 2021 "
                "AND ST_Distance(f.rep_point, h.geom) <= :d"
            ),
            {"seed": int(seed), "d": 2400.0},
        ).scalar_one()
    assert sorted(top["site_ids"]) == sorted(int(m.id) for m in members)
    assert top["n_owners"] == len({m.owner for m in members})
    assert top["combined_gia_m2"] == pytest.approx(sum(float(m.gia_m2 or 0) for m in members))
    freehold = sum(
        float(m.gia_m2 or 0)
        for m in members
        if (m.tenure or "").split("/")[0].strip().lower() == "freehold"
    )
    assert top["freehold_gia_m2"] == pytest.approx(freehold)
    assert top["pop_within_2400m"] == pytest.approx(float(pop))
    assert sum(top["imd_profile"].values()) <= top["pop_within_2400m"] + 1e-6


def test_weights_change_the_ranking_and_bad_weights_are_named(client: TestClient) -> None:
    only_pop = client.get(
        "/estate/colocation",
        params={
            "max_distance_m": 400,
            "w_owners": 0,
            "w_host_space": 0,
            "w_running_cost": 0,
            "w_floor_area": 0,
            "w_deprivation": 0,
            "w_services": 0,
            "w_population": 1,
        },
    ).json()
    pops = [c["population_outer"] for c in only_pop["clusters"]]
    assert pops == sorted(pops, reverse=True)
    assert only_pop["metadata"]["weights"]["owners"] == 0
    bad = client.get("/estate/colocation", params={"w_bogus": 1})
    assert bad.status_code == 400
    assert bad.json()["parameter"] == "w_bogus"
    neg = client.get("/estate/colocation", params={"max_distance_m": -3})
    assert neg.status_code == 400
    assert neg.json()["parameter"] == "max_distance_m"
    # No network is loaded for Trafford: a network run says so.
    nonet = client.get("/estate/colocation", params={"mode": "walk", "minutes": 5})
    assert nonet.status_code == 503


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
def test_colocation_pdf_report_renders(client: TestClient, tmp_path: Path) -> None:
    r = client.get(
        "/estate/colocation/report", params={"f": "pdf", "max_distance_m": 400, "top": 5}
    )
    assert r.status_code == 200, r.text[:500]
    assert r.headers["content-type"] == "application/pdf"
    pdf = tmp_path / "coloc.pdf"
    pdf.write_bytes(r.content)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) >= 2
    text_out = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Co-location" in text_out
    assert "Ranking" in text_out
    html = client.get("/estate/colocation/report", params={"f": "html", "top": 3})
    assert html.status_code == 200
    assert "<img" in html.text
    assert "Data sources" in html.text
    gpkg = client.get("/estate/colocation/report", params={"f": "gpkg", "top": 3})
    assert gpkg.status_code == 200
    assert gpkg.content[:16] == b"SQLite format 3\x00"


# ------------------------------------------------------------------------------- typed inputs
def test_colocation_weights_are_checked_at_submission(
    client: TestClient, keys: dict[str, str]
) -> None:
    """Unknown, negative, non-finite or all-zero weights: 400 naming the parameter, on the
    route and on the colocation process (one model for both)."""
    cases = {
        "w_owners": {"w_owners": -1},
        "w_population": {"w_population": "nan"},
        "w_services": {"w_services": "lots"},
        "w_drama": {"w_drama": 2},
    }
    for parameter, params in cases.items():
        r = client.get("/estate/colocation", params=params)
        assert r.status_code == 400, (parameter, r.text)
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["parameter"] == parameter
    zeros = {f"w_{c}": 0 for c in SCORE_COMPONENTS}
    r = client.get("/estate/colocation", params=zeros)
    assert r.status_code == 400
    assert r.json()["parameter"].startswith("w_")
    assert "positive" in r.json()["detail"]
    # A mode is a road mode from the registry; a kind follows the one kind rule.
    assert client.get("/estate/colocation", params={"mode": "transit"}).json()["parameter"] == (
        "mode"
    )
    assert client.get("/estate/colocation", params={"kind": "gp_practice,Bad Kind"}).json()[
        "parameter"
    ] == ("kind")
    assert client.get("/estate/colocation", params={"method": "distance", "mode": "walk"}).json()[
        "parameter"
    ] == ("mode")
    for inputs, parameter in (
        ({"weights": {"drama": 1}}, "weights"),
        ({"weights": {"owners": -2}}, "weights"),
        ({"kinds": ["Not a kind"]}, "kinds"),
        ({"mode": "teleport"}, "mode"),
    ):
        r = client.post(
            "/processes/colocation/execution",
            json={"inputs": inputs},
            headers={**auth(keys["a"]), "Prefer": "respond-async"},
        )
        assert r.status_code == 400, (inputs, r.text)
        assert r.json()["parameter"] == parameter


def test_colocation_parameters_are_documented_from_the_one_model(client: TestClient) -> None:
    spec = client.get("/api").json()
    for path in ("/estate/colocation", "/estate/colocation/report"):
        params = {p["name"]: p for p in spec["paths"][path]["get"]["parameters"]}
        assert {f"w_{c}" for c in SCORE_COMPONENTS} <= set(params)
        assert {"method", "max_distance_m", "mode", "minutes", "kind", "owner_type"} <= set(params)
        assert params["w_owners"]["schema"]["minimum"] == 0
        assert params["max_distance_m"]["schema"]["maximum"] == 5000
        assert KIND_PATTERN in params["kind"]["description"]
    inputs = client.get("/processes/colocation").json()["inputs"]
    assert {"weights", "kinds", "mode", "max_distance_m"} <= set(inputs)
    modes = inputs["mode"]["schema"]["anyOf"][0]["enum"]
    assert modes == list(ROAD_MODES)


def test_anonymous_upload_in_a_local_demo_needs_an_organisation_key(trafford_url: str) -> None:
    """``locus demo`` on loopback lets keyless callers act as analysts: uploads still need an
    organisation to own them (a 401 problem, not a server error)."""
    csv_text = f"name,kind,lon,lat\nDemo depot,council_building,{ASSET_LON},{ASSET_LAT}\n"
    with TestClient(create_app(settings_for(trafford_url, anonymous_role="analyst"))) as demo:
        r = demo.post("/estate/assets", files={"file": ("d.csv", csv_text.encode(), "text/csv")})
        assert r.status_code == 401, r.text
        assert r.headers["content-type"] == PROBLEM
        assert "API key of an organisation" in r.json()["detail"]
        # ...while the analyst role itself is honoured elsewhere (it may read the register).
        assert demo.get("/estate/sites", params={"limit": 1}).status_code == 200


def test_report_data_sources_list_only_visible_uploads(
    client: TestClient, db: Database, trafford_url: str
) -> None:
    """A restricted upload's file name and organisation appear in its organisation's report
    sources only, never in an anonymous or another organisation's report."""
    key = create_api_key(db, "sources-org", "analyst")
    other = create_api_key(db, "other-org", "viewer")
    body = (
        "asset_id,name,kind,owner_type,gia_m2,lon,lat\n"
        f"S1,Secret hub,council_building,council,700,{ASSET_LON},{ASSET_LAT}\n"
    )
    r = client.post(
        "/estate/assets",
        files={"file": ("secret-estate-plan.csv", body.encode(), "text/csv")},
        data={"restricted": "true"},
        headers=auth(key),
    )
    assert r.status_code == 201, r.text
    db = database(settings_for(trafford_url).database, purpose="interactive")
    with db.connection() as conn:
        listed = {
            who: {(d, f) for d, f, _v, _l in data_sources(conn, principal)}
            for who, principal in {
                "owner": Principal("sources-org", "analyst"),
                "other": Principal("other-org", "viewer"),
                "anonymous": ANONYMOUS,
            }.items()
        }
    upload = ("assets:sources-org", "secret-estate-plan.csv")
    assert upload in listed["owner"]
    assert upload not in listed["other"]
    assert upload not in listed["anonymous"]
    # Open loads are listed for everyone (the council register, the areas).
    assert listed["anonymous"] == listed["other"]
    assert {d for d, _ in listed["anonymous"]} >= {"council-assets", "lsoa21"}
    # ...and the rendered report says the same.
    params = {"f": "html", "top": 3, "max_distance_m": 400}
    mine = client.get("/estate/colocation/report", params=params, headers=auth(key))
    assert mine.status_code == 200
    assert "secret-estate-plan.csv" in mine.text
    for headers in ({}, auth(other)):
        theirs = client.get("/estate/colocation/report", params=params, headers=headers)
        assert theirs.status_code == 200
        assert "Data sources" in theirs.text
        assert "secret-estate-plan.csv" not in theirs.text
        assert "sources-org" not in theirs.text


# ------------------------------------------------------------------------------- network runs
#: Assets in Oakham (Rutland) of two owners: a freehold host and a surgery a few hundred metres
#: away, and a depot in Uppingham, 9 km south (beyond any 10-minute walk).
OAKHAM_ASSETS = (
    "asset_id,name,kind,owner,owner_type,tenure,gia_m2,lon,lat\n"
    "H1,Oakham hub,council_building,Rutland County Council,council,freehold,1500,"
    "-0.7275,52.6700\n"
    "G1,Oakham surgery,gp_practice,Oakham Medical Practice,gp_practice,leasehold,600,"
    "-0.7310,52.6688\n"
    "D1,Uppingham depot,council_building,Uppingham Town Council,council,freehold,300,"
    "-0.7236,52.5870\n"
)


@pytest.fixture(scope="module")
def network_url(data_dir: Path) -> Iterator[str]:
    """A database holding only the Rutland road network (no areas, no register)."""
    with scratch_database("locus_test_estate_net") as (url, _engine):
        load_dataset(
            settings_for(url), "osm-network", data_dir / "rutland" / "rutland_2022-07-20.osm.pbf"
        )
        yield url


def test_network_colocation_runs_on_the_travel_time_source(network_url: str) -> None:
    """A walk run finds the Oakham cluster on the road network, states the network it ran on,
    and every member's separation is its walk time to the host on that network (the smaller
    direction); the restricted upload's cluster is its organisation's only."""
    settings = settings_for(network_url)
    db = database_for(network_url)
    key = create_api_key(db, "hub-org", "analyst")
    params: dict[str, str | int] = {"mode": "walk", "minutes": 10}
    with TestClient(create_app(settings)) as c:
        up = c.post(
            "/estate/assets",
            files={"file": ("oakham.csv", OAKHAM_ASSETS.encode(), "text/csv")},
            data={"restricted": "true"},
            headers=auth(key),
        )
        assert up.status_code == 201, up.text
        r = c.get("/estate/colocation", params=params, headers=auth(key))
        anonymous = c.get("/estate/colocation", params=params)
    assert r.status_code == 200, r.text
    # Anonymous callers see none of the restricted sites: nothing to cluster.
    assert anonymous.status_code == 400, anonymous.text
    assert anonymous.json()["detail"] == "no located sites match the filters"
    body = r.json()
    meta = body["metadata"]
    assert (meta["method"], meta["mode"], meta["threshold"]) == ("network", "walk", 600.0)
    source = travel_time_source(db, settings, "walk")
    assert meta["travel_times"]["network_load_id"] == source.load_id
    assert meta["travel_times"]["walk_speed_kmh"] == settings.travel.walk_speed_kmh
    assert body["numberMatched"] == 1
    (cluster,) = body["clusters"]
    names = {m["name"]: m for m in cluster["members"]}
    assert set(names) == {"Oakham hub", "Oakham surgery"}
    assert names["Oakham hub"]["is_seed"]
    with db.connection() as conn:
        where = site_points(conn, Principal("hub-org", "analyst")).set_index("name")
    host = where.loc[["Oakham hub"], ["x", "y"]]
    surgery = where.loc[["Oakham surgery"], ["x", "y"]]
    walk = min(
        float(source.times(host, surgery).seconds[0, 0]),
        float(source.times(surgery, host).seconds[0, 0]),
    )
    assert 0 < walk <= 600.0
    assert names["Oakham surgery"]["separation"] == pytest.approx(walk, abs=0.5)
