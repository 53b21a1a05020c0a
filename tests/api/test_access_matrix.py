"""The access matrix: every GET route of the OpenAPI x every caller outside organisation A.

On the real Rutland demo database, organisation A uploads two restricted assets beside Oakham
(``ZZSECRET ...`` names, ``ZZSRC-...`` source ids, distinctive floor areas and running costs),
the stored travel times are recomputed with them, and A runs restricted jobs (catchments of
its sites, hub siting keeping its site, co-location, the evaluation of a restricted scenario
that closes its site). Site and scenario ids are moved to distinctive ranges first, so an id
of A's can be recognised anywhere in a body.

Every GET route is enumerated from ``create_app(...).openapi()``, so a new route is covered
without editing this file. Its path parameters are filled from real ids (A's sites, scenario,
jobs and features, every collection and process, tiles over A's site at several zooms, a
postcode beside it); query parameters take values that make the route answer about A's
neighbourhood (every mode, A's kind, A's point), one parameter varied at a time. For each
route and each of {anonymous, analyst of B, viewer of B}:

- no response body (JSON, HTML, CSV, GeoPackage, PDF text, zipped files, MVT tiles) contains
  A's names, source ids, organisation, figures or the ids of A's sites, scenario and jobs
  (values the request itself carries are not counted as shown);
- no response is a server error (503 "no data for this mode" aside): an error proves nothing;
- a request naming one of A's ids is answered exactly as the same request naming an id that
  does not exist (a restricted row is "not found", never "forbidden" or "restricted");
- JSON bodies and tiles are the same as before A's data existed (volatile fields such as
  timestamps aside), so nothing derived from A's rows (counts, sums, travel times to A's
  site, extents) reaches the caller either.

Organisation A, on the same requests, does see its own data where the route is about sites.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import sqlite3
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, urlencode

import httpx
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from app.main import create_app
from config.settings import load_settings
from store.keys import create_api_key
from tests.api._support import auth, run_job_here, two_org_keys
from tests.conftest import database_for, settings_for

# Loading the Rutland bundle (when this module comes first), the recomputed travel times and
# A's jobs all happen in the set-up of the first case.
pytestmark = pytest.mark.timeout(2400)

#: A's point: Oakham, where the issue found the leak (WGS84).
LON, LAT = -0.73, 52.671
KIND = "gp_practice"
ORG_A, ORG_B = "matrix-org-a", "matrix-org-b"
#: A's site ids start here (sequence moved), so they are recognisable in any body.
FIRST_SITE_ID = 987_654_321
#: A's scenario id.
SCENARIO_ID = 876_543_210
#: Ids that never exist: a request about one of A's ids must be answered exactly as the same
#: request about one of these (a restricted row is "not found", like a missing one).
GHOST_SITE_ID = 987_600_000
GHOST_SCENARIO_ID = 876_500_000
GHOST_JOB = "00000000-0000-4000-8000-0000000000{:02d}"
#: A's restricted assets: a GP practice at A's point and a depot 150 m away (for co-location).
ASSETS = (
    {
        "asset_id": "ZZSRC-A1",
        "name": "ZZSECRET Hub A",
        "kind": KIND,
        "owner_type": "council",
        "tenure": "freehold",
        "gia_m2": "43217.5",
        "running_cost_gbp": "7654321",
        "lon": str(LON),
        "lat": str(LAT),
    },
    {
        "asset_id": "ZZSRC-A2",
        "name": "ZZSECRET Depot A",
        "kind": "council_building",
        "owner_type": "council",
        "tenure": "freehold",
        "gia_m2": "31415.9",
        "running_cost_gbp": "7123457",
        "lon": str(LON + 0.002),
        "lat": str(LAT + 0.0005),
    },
)
SCENARIO_NAME = "ZZSECRET scenario A"
#: Strings of A's that no other caller may see (ids are added once they exist).
SECRETS = (
    "ZZSECRET",
    "ZZSRC",
    ORG_A,
    *(a["gia_m2"] for a in ASSETS),
    *(a["running_cost_gbp"] for a in ASSETS),
)
OTHERS = ("anonymous", "b_analyst", "b_viewer")
#: Tiles over A's point at these zooms.
ZOOMS = (8, 11, 14)
#: Formats tried for an ``f`` parameter without an enum (plus every process's result formats).
FORMATS = ("json", "html")
#: Keys whose values change between two identical requests (clocks, the data version).
VOLATILE = re.compile(
    r"time|date|_at$|^at$|started|finished|created|updated|generated|elapsed|duration|uptime"
    r"|seconds_taken|took|version|etag|cache|_ms$",
    re.IGNORECASE,
)
#: Routes about sites: A must see its own data in at least one of their responses.
OWNER_SEES = {
    "/analysis/nearest",
    "/analysis/catchment/{site_id}",
    "/collections/{collectionId}/items",
    "/collections/{collectionId}/items/{featureId}",
    "/collections/{collectionId}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    "/tiles/WebMercatorQuad/{z}/{x}/{y}",
    "/estate/sites",
    "/estate/colocation",
    "/scenarios",
    "/scenarios/{scenario_id}",
    "/jobs/{jobId}",
    "/jobs/{jobId}/results",
}


def _openapi() -> dict[str, Any]:
    """The OpenAPI of the app (no database needed to build it)."""
    doc: dict[str, Any] = create_app(load_settings()).openapi()
    return doc


OPENAPI = _openapi()
ROUTES = sorted(path for path, ops in OPENAPI["paths"].items() if "get" in ops)


# ------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class Call:
    """One concrete GET: a path and its query parameters."""

    path: str
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return self.path + (f"?{urlencode(self.params)}" if self.params else "")

    def echoes(self) -> list[str]:
        """The values this request carries (a body may repeat them without showing anything)."""
        values = [seg for seg in self.path.split("/") if seg]
        values += [v for _, v in self.params]
        out: list[str] = []
        for v in values:
            out += [v, quote(v), quote_plus(v), quote(v, safe="")]
            out += v.split(",")
        return sorted({v for v in out if v}, key=len, reverse=True)


@dataclass
class World:
    """Organisation A's restricted data on the Rutland database, and how to ask about it."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    site_ids: list[int] = field(default_factory=list)
    scenario_id: int = SCENARIO_ID
    job_ids: dict[str, str] = field(default_factory=dict)
    feature_ids: dict[str, list[str]] = field(default_factory=dict)
    collections: list[str] = field(default_factory=list)
    queryables: dict[str, set[str]] = field(default_factory=dict)
    processes: list[str] = field(default_factory=list)
    result_formats: set[str] = field(default_factory=set)
    postcode: str = ""
    baseline: dict[tuple[str, str], Any] = field(default_factory=dict)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Everything of A's that nobody else may see."""
        return (
            *SECRETS,
            *(str(i) for i in self.site_ids),
            str(self.scenario_id),
            *self.job_ids.values(),
        )

    def get(self, call: Call, caller: str) -> httpx.Response:
        return self.client.get(call.path, params=list(call.params), headers=self.headers[caller])

    def ghosts(self) -> dict[str, str]:
        """Each id of A's and the id that never exists standing in for it."""
        out = {str(s): str(GHOST_SITE_ID + i) for i, s in enumerate(self.site_ids)}
        out[str(self.scenario_id)] = str(GHOST_SCENARIO_ID)
        for i, job in enumerate(self.job_ids.values()):
            out[job] = GHOST_JOB.format(i)
        return out

    def ghost(self, call: Call) -> Call | None:
        """``call`` about ids that do not exist instead of A's; None if it names none of A's."""
        ghosts = self.ghosts()
        text_of = str(call)
        if not any(i in text_of for i in ghosts):
            return None

        def swap(value: str) -> str:
            for real, fake in ghosts.items():
                value = value.replace(real, fake)
            return value

        return Call(swap(call.path), tuple((k, swap(v)) for k, v in call.params))

    def masked(self, response: httpx.Response, ids: list[str]) -> Any:
        """:func:`comparable` of a response with ``ids`` replaced by one placeholder."""
        ctype = response.headers.get("content-type", "")
        if "json" not in ctype:
            return (response.status_code, comparable(response))
        body = response.text
        for i in sorted(ids, key=len, reverse=True):
            body = body.replace(i, "<id>")
        try:
            return (response.status_code, _normalised(json.loads(body)))
        except ValueError:
            return (response.status_code, None)

    # -- values for parameters ------------------------------------------------------------
    def path_values(self, name: str, schema: dict[str, Any], bound: dict[str, str]) -> list[str]:
        """Values of path parameter ``name`` (``bound``: the parameters filled before it)."""
        lname = name.lower()
        if lname == "collectionid":
            return self.collections
        if lname == "featureid":
            return self.feature_ids.get(bound.get("collectionId", ""), [])
        if lname in ("z", "x", "y"):
            return []  # filled together, see _tiles
        if "job" in lname:
            return list(self.job_ids.values())
        if "process" in lname:
            return self.processes
        if "scenario" in lname:
            return [str(self.scenario_id)]
        if "site" in lname:
            return [str(i) for i in self.site_ids]
        if "postcode" in lname:
            return [self.postcode]
        return _sample(schema)

    def query_values(self, route: str, name: str, schema: dict[str, Any]) -> list[str | None]:
        """Values of query parameter ``name`` (``None``: leave it out); the first is the base."""
        enum = _enum(schema)
        lname = name.lower()
        if lname == "f":
            formats = enum or [*FORMATS, *sorted(self.result_formats - set(FORMATS))]
            first = _default(schema) or formats[0]
            return [first, *(f for f in formats if f != first)]
        if lname == "mode":
            return [None, *enum] if _nullable(schema) or not enum else list(enum)
        if lname == "method":
            return [None, *enum]
        if lname == "resulttype":
            return list(enum) if enum else [None]
        if lname == "kind":
            return [KIND]
        if lname == "lon":
            return [str(LON)]
        if lname == "lat":
            return [str(LAT)]
        if lname == "site_ids":
            return [",".join(str(i) for i in self.site_ids)] if self.site_ids else []
        if lname == "bbox" and "/items" in route:
            return [f"{LON - 0.02},{LAT - 0.02},{LON + 0.02},{LAT + 0.02}"]
        if lname == "limit":
            return [str(min(_maximum(schema) or 1000, 1000))]
        if lname == "name" and route == "/scenarios":
            return [None, SCENARIO_NAME]
        if lname in ("a", "b") and route.startswith("/scenarios/compare"):
            job = self.job_ids.get("scenario-evaluation")
            return [job] if job else []
        if _required(route, name):
            return [_sample(schema)[0]]
        return [None]

    def calls(self, route: str) -> list[Call]:
        """The requests made of ``route``: every path binding x query values one at a time."""
        op = OPENAPI["paths"][route]["get"]
        params = op.get("parameters", [])
        path_params = [p for p in params if p["in"] == "path"]
        query_params = [p for p in params if p["in"] == "query"]
        calls: list[Call] = []
        for path in self._paths(route, path_params):
            choices = [
                (p["name"], self.query_values(route, p["name"], p.get("schema", {})))
                for p in query_params
            ]
            if any(not values for _, values in choices):
                continue  # a value this phase does not have yet (a job id before the jobs)
            base = {name: values[0] for name, values in choices}
            variants = [base]
            for name, values in choices:
                variants += [{**base, name: v} for v in values[1:]]
            for v in variants:
                calls.append(Call(path, tuple((k, s) for k, s in v.items() if s is not None)))
        return list(dict.fromkeys(calls))

    def _paths(self, route: str, path_params: list[dict[str, Any]]) -> list[str]:
        names = [p["name"] for p in path_params]
        tiles = [n for n in names if n in ("z", "x", "y")]
        others = [p for p in path_params if p["name"] not in tiles]
        bindings: list[dict[str, str]] = [{}]
        for p in sorted(others, key=lambda p: p["name"] != "collectionId"):
            bindings = [
                {**b, p["name"]: v}
                for b in bindings
                for v in self.path_values(p["name"], p.get("schema", {}), b)
            ]
        if tiles:
            bindings = [{**b, **t} for b in bindings for t in _tiles()]
        return [route.format(**b) for b in bindings]


def _tiles() -> list[dict[str, str]]:
    """WebMercatorQuad tiles holding A's point at :data:`ZOOMS`."""
    out = []
    for z in ZOOMS:
        n = 2**z
        x = int((LON + 180.0) / 360.0 * n)
        y = int((1.0 - math.asinh(math.tan(math.radians(LAT))) / math.pi) / 2.0 * n)
        out.append({"z": str(z), "x": str(x), "y": str(y)})
    return out


def _schemas(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]


def _enum(schema: dict[str, Any]) -> list[str]:
    return [str(v) for s in _schemas(schema) for v in s.get("enum", [])]


def _default(schema: dict[str, Any]) -> str | None:
    value = schema.get("default")
    return None if value is None else str(value)


def _nullable(schema: dict[str, Any]) -> bool:
    return any(s.get("type") == "null" for s in _schemas(schema))


def _maximum(schema: dict[str, Any]) -> int | None:
    found = [s["maximum"] for s in _schemas(schema) if "maximum" in s]
    return int(found[0]) if found else None


def _required(route: str, name: str) -> bool:
    params = OPENAPI["paths"][route]["get"].get("parameters", [])
    return any(p["name"] == name and p.get("required") for p in params)


def _sample(schema: dict[str, Any]) -> list[str]:
    """A valid value for a parameter nothing above knows (a new route's)."""
    for s in _schemas(schema):
        if "default" in s and s["default"] is not None:
            return [str(s["default"]).lower() if isinstance(s["default"], bool) else s["default"]]
        if s.get("enum"):
            return [str(s["enum"][0])]
        if s.get("type") in ("integer", "number"):
            return [str(max(int(s.get("minimum", 1)), 15) if "maximum" not in s else s["maximum"])]
        if s.get("type") == "boolean":
            return ["false"]
        if s.get("type") == "string":
            return ["x" * max(int(s.get("minLength", 1)), 1)]
    return ["1"]


# ------------------------------------------------------------------------------- bodies
def _pdf_text(content: bytes) -> str:
    if shutil.which("pdftotext") is None:
        pytest.fail("pdftotext (poppler-utils) is needed to read PDF responses")
    with tempfile.NamedTemporaryFile(suffix=".pdf") as fh:
        fh.write(content)
        fh.flush()
        out = subprocess.run(
            ["pdftotext", "-layout", fh.name, "-"], capture_output=True, check=True
        ).stdout
    return out.decode("utf-8", errors="replace")


def _gpkg_text(content: bytes) -> str:
    with tempfile.NamedTemporaryFile(suffix=".gpkg") as fh:
        fh.write(content)
        fh.flush()
        parts: list[str] = []
        with sqlite3.connect(fh.name) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for t in tables:
                for row in db.execute(f'SELECT * FROM "{t}"'):
                    parts += [v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row]
    return "\n".join(parts)


def _zip_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as z:
        return "\n".join(_text(z.read(name), "") for name in z.namelist())


def _text(content: bytes, content_type: str) -> str:
    """Everything a body says, as text, whatever its format."""
    if content.startswith(b"SQLite format 3\x00"):
        return _gpkg_text(content)
    if content.startswith(b"%PDF"):
        return _pdf_text(content)
    if content.startswith(b"PK\x03\x04"):
        return _zip_text(content)
    if "vector-tile" in content_type or "protobuf" in content_type:
        return json.dumps(_tile(content), default=str)
    return content.decode("utf-8", errors="replace")


def _tile(content: bytes) -> Any:
    return mapbox_vector_tile.decode(content) if content else {}


def shown(response: httpx.Response, call: Call, secrets: tuple[str, ...]) -> list[str]:
    """The secrets in a response's body, not counting values the request carried."""
    body = _text(response.content, response.headers.get("content-type", ""))
    for echo in call.echoes():
        body = body.replace(echo, "")
    return [s for s in secrets if s in body]


def _normalised(value: Any) -> Any:
    """A JSON value without volatile keys; lists of objects in a stable order."""
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if not VOLATILE.search(k)}
    if isinstance(value, list):
        items = [_normalised(v) for v in value]
        if all(isinstance(v, dict) for v in items):
            return sorted(items, key=lambda v: json.dumps(v, sort_keys=True, default=str))
        return items
    return value


def comparable(response: httpx.Response) -> Any:
    """What must not change when A's data is added: status and JSON body or tile features."""
    ctype = response.headers.get("content-type", "")
    if "json" in ctype:
        try:
            return (response.status_code, _normalised(response.json()))
        except ValueError:
            return None
    if "vector-tile" in ctype:
        return (response.status_code, _normalised(_tile(response.content)))
    if response.status_code == 204:
        return (204, None)
    return None


def _difference(before: Any, after: Any, where: str = "") -> str:
    """The first place two normalised values differ, for the failure message."""
    if isinstance(before, dict) and isinstance(after, dict):
        for k in sorted(set(before) | set(after)):
            if before.get(k, "<absent>") != after.get(k, "<absent>"):
                return _difference(
                    before.get(k, "<absent>"), after.get(k, "<absent>"), f"{where}.{k}"
                )
    if isinstance(before, list | tuple) and isinstance(after, list | tuple):
        if len(before) != len(after):
            return f"{where}: {len(before)} items before, {len(after)} after"
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            if b != a:
                return _difference(b, a, f"{where}[{i}]")
    return f"{where}: {str(before)[:120]} -> {str(after)[:120]}"


# ------------------------------------------------------------------------------- set-up
def _restart_ids(engine: Engine) -> None:
    """Move the site and scenario ids to ranges no other row reaches."""
    with engine.begin() as conn:
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('sites', 'id'), :v, false)"),
            {"v": FIRST_SITE_ID},
        )
        conn.execute(text(f"ALTER TABLE scenarios ALTER COLUMN id RESTART WITH {SCENARIO_ID}"))


def _upload(client: TestClient, headers: dict[str, str]) -> None:
    cols = list(ASSETS[0])
    csv = ",".join(cols) + "\n" + "".join(",".join(a[c] for c in cols) + "\n" for a in ASSETS)
    r = client.post(
        "/estate/assets",
        files={"file": ("zz_assets.csv", csv.encode(), "text/csv")},
        data={"restricted": "true"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    assert r.json()["rows_loaded"] == len(ASSETS)


def _features_of_a(world: World, collection: str) -> list[str]:
    """Ids of A's features in ``collection`` (A's sites, their bands, times, A's results)."""
    params: dict[str, str] = {"limit": "1000", "f": "json"}
    q = world.queryables.get(collection, set())
    if "site_id" in q:
        params["site_id"] = str(world.site_ids[0])
    elif "job_id" in q and "hub-siting" in world.job_ids:
        params["job_id"] = world.job_ids["hub-siting"]
    else:
        params["bbox"] = f"{LON - 0.01},{LAT - 0.01},{LON + 0.01},{LAT + 0.01}"
    r = world.client.get(
        f"/collections/{collection}/items", params=params, headers=world.headers["a"]
    )
    if r.status_code != 200:
        return []
    feats = r.json().get("features", [])
    mine = [f for f in feats if any(s in json.dumps(f) for s in world.secrets)]
    return [str(f["id"]) for f in (mine or feats)[:2] if "id" in f]


def _forget_a(engine: Engine) -> None:
    """Remove everything of A's and of this module's admin (also what an interrupted run left)."""
    with engine.begin() as conn:
        orgs = {"o": [ORG_A, "matrix-admin"]}
        conn.execute(text("DELETE FROM jobs WHERE organisation = ANY(:o)"), orgs)
        conn.execute(text("DELETE FROM scenarios WHERE organisation = ANY(:o)"), orgs)
        conn.execute(text("DELETE FROM sites WHERE source = :d"), {"d": f"assets:{ORG_A}"})
        conn.execute(text("DELETE FROM data_loads WHERE dataset = :d"), {"d": f"assets:{ORG_A}"})


def _build(w: World, engine: Engine, admin: dict[str, str]) -> None:
    """Record what the others see, then give A its restricted assets, scenario and jobs."""
    client = w.client
    w.collections = [c["id"] for c in client.get("/collections").json()["collections"]]
    for c in w.collections:
        q = client.get(f"/collections/{c}/queryables").json()
        w.queryables[c] = set(q.get("properties", {}))
    w.processes = [p["id"] for p in client.get("/processes").json()["processes"]]
    for pid in w.processes:
        formats = client.get(f"/processes/{pid}").json().get("x-locus-result-formats", [])
        w.result_formats |= set(formats)
    pcs = client.get(
        "/collections/postcodes/items",
        params={"bbox": f"{LON - 0.005},{LAT - 0.005},{LON + 0.005},{LAT + 0.005}"},
    ).json()["features"]
    w.postcode = str(pcs[0]["properties"]["postcode"])

    # What the others see before A's data exists (requests that need no id of A's).
    for route in ROUTES:
        for call in w.calls(route):
            for caller in OTHERS:
                w.baseline[(caller, str(call))] = comparable(w.get(call, caller))

    a = w.headers["a"]
    _upload(client, a)
    with engine.connect() as conn:
        ids = conn.execute(
            text("SELECT id FROM sites WHERE source = :d ORDER BY source_id"),
            {"d": f"assets:{ORG_A}"},
        ).scalars()
        w.site_ids = [int(i) for i in ids]
    assert len(w.site_ids) == len(ASSETS)
    assert min(w.site_ids) >= FIRST_SITE_ID
    # The stored matrices now hold times to A's sites too (as a data refresh would).
    run_job_here(client, "travel-times", {}, admin)
    w.job_ids["catchments"] = run_job_here(
        client,
        "catchments",
        {"site_ids": w.site_ids, "modes": ["drive", "walk"], "bands": [5, 10, 15]},
        a,
    )
    w.job_ids["hub-siting"] = run_job_here(
        client,
        "hub-siting",
        {"p": 3, "mode": "drive", "candidates": [KIND], "keep": [w.site_ids[0]]},
        a,
    )
    w.job_ids["colocation"] = run_job_here(
        client, "colocation", {"method": "distance", "max_distance_m": 400}, a
    )
    saved = client.post(
        "/scenarios",
        json={
            "name": SCENARIO_NAME,
            "restricted": True,
            "changes": [
                {"type": "close_sites", "site_ids": [str(w.site_ids[0])]},
                {
                    "type": "open_site",
                    "site_id": "ZZSRC-new",
                    "name": "ZZSECRET planned hub A",
                    "lon": LON + 0.01,
                    "lat": LAT,
                    "gia_m2": 900,
                },
            ],
        },
        headers=a,
    )
    assert saved.status_code == 201, saved.text
    assert saved.json()["id"] == SCENARIO_ID
    w.job_ids["scenario-evaluation"] = run_job_here(
        client,
        "scenario-evaluation",
        {"scenario_id": SCENARIO_ID, "modes": ["drive"], "bands": [5, 10, 20]},
        a,
    )
    for c in w.collections:
        w.feature_ids[c] = _features_of_a(w, c)


@pytest.fixture(scope="module")
def world(rutland_env: str, rutland_engine: Engine) -> Iterator[World]:
    # rutland_env: jobs run in this process read their database from the environment.
    keys = two_org_keys(rutland_engine, "matrix-")
    headers = {
        "anonymous": {},
        "a": auth(keys["a"]),
        "b_analyst": auth(keys["b"]),
        "b_viewer": auth(create_api_key(database_for(rutland_env), ORG_B, "viewer")),
    }
    admin = auth(create_api_key(database_for(rutland_env), "matrix-admin", "admin"))
    _forget_a(rutland_engine)
    _restart_ids(rutland_engine)
    try:
        with TestClient(create_app(settings_for(rutland_env))) as client:
            w = World(client=client, headers=headers)
            _build(w, rutland_engine, admin)
            yield w
    finally:
        _forget_a(rutland_engine)


# ------------------------------------------------------------------------------- the matrix
@pytest.mark.parametrize("caller", OTHERS)
@pytest.mark.parametrize("route", ROUTES, ids=[f"GET {r}" for r in ROUTES])
def test_another_organisation_sees_nothing_of_a(world: World, route: str, caller: str) -> None:
    calls = world.calls(route)
    assert calls, f"no request could be built for GET {route}: teach World its parameters"
    problems: list[str] = []
    for call in calls:
        r = world.get(call, caller)
        if r.status_code >= 500 and r.status_code != 503:
            problems.append(f"{call}: {r.status_code} {r.text[:200]}")
            continue
        leaked = shown(r, call, world.secrets)
        if leaked:
            problems.append(f"{call}: {r.status_code} shows {leaked}")
        twin = world.ghost(call)
        if twin is not None:
            ghosts = world.ghosts()
            mine = world.masked(r, list(ghosts))
            absent = world.masked(world.get(twin, caller), list(ghosts.values()))
            if mine != absent:
                problems.append(
                    f"{call}: not answered as about an id that does not exist: "
                    + _difference(absent, mine)
                )
        key = (caller, str(call))
        if key in world.baseline and world.baseline[key] is not None:
            now = comparable(r)
            if now != world.baseline[key]:
                problems.append(
                    f"{call}: changed by A's data: {_difference(world.baseline[key], now)}"
                )
    assert not problems, f"GET {route} as {caller}:\n" + "\n".join(problems)


@pytest.mark.parametrize("route", ROUTES, ids=[f"GET {r}" for r in ROUTES])
def test_organisation_a_sees_its_own_data(world: World, route: str) -> None:
    calls = world.calls(route)
    assert calls, f"no request could be built for GET {route}"
    errors: list[str] = []
    showing: list[str] = []
    for call in calls:
        r = world.get(call, "a")
        if r.status_code >= 500 and r.status_code != 503:
            errors.append(f"{call}: {r.status_code} {r.text[:200]}")
        elif r.status_code < 300 and shown(r, Call(""), world.secrets):
            showing.append(str(call))
    assert not errors, "\n".join(errors)
    if route in OWNER_SEES:
        assert showing, f"GET {route}: none of A's own data in {[str(c) for c in calls]}"


def test_a_site_comes_first_for_its_owner_only(world: World) -> None:
    """The issue's probe: nearest GP practice to A's point, in every road mode."""
    modes = world.client.get("/analysis/modes").json()["modes"]
    road = [m if isinstance(m, str) else m["mode"] for m in modes]
    road = [m for m in road if m != "transit"]
    assert {"drive", "walk", "cycle"} <= set(road)
    for mode in road:
        params = {"lon": LON, "lat": LAT, "kind": KIND, "mode": mode}
        mine = world.client.get("/analysis/nearest", params=params, headers=world.headers["a"])
        assert mine.status_code == 200, mine.text
        first = mine.json()["results"][0]
        assert (first["site_id"], first["name"]) == (world.site_ids[0], "ZZSECRET Hub A"), mode
        # The others get the same ranking without A's site.
        public = [
            r["site_id"] for r in mine.json()["results"] if r["site_id"] not in world.site_ids
        ]
        for caller in OTHERS:
            theirs = world.client.get(
                "/analysis/nearest", params=params, headers=world.headers[caller]
            )
            assert theirs.status_code == 200, theirs.text
            ids = [r["site_id"] for r in theirs.json()["results"]]
            assert ids[: len(public)] == public, (mode, caller)


def test_every_route_is_in_the_matrix() -> None:
    """The cases come from the OpenAPI: the routes the issue names are among them."""
    assert {
        "/analysis/nearest",
        "/collections/{collectionId}/items",
        "/collections/{collectionId}/tiles/WebMercatorQuad/{z}/{x}/{y}",
        "/estate/sites",
        "/estate/colocation/report",
        "/jobs/{jobId}/results",
        "/scenarios/{scenario_id}",
    } <= set(ROUTES)
    assert len(ROUTES) == sum(1 for ops in OPENAPI["paths"].values() if "get" in ops)
