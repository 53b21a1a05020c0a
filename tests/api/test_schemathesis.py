"""schemathesis over the whole OpenAPI of the app, in-process (ASGI), on a small loaded database.

Every operation of ``create_app(...).openapi()`` is a test case; schemathesis generates
requests from its parameters and bodies (valid and invalid ones) and checks that

- no response is a server error (5xx),
- every response whose status is documented conforms to its documented schema,
- and has a documented content type.

The app runs as the demo does on the loopback address (``anonymous_role="analyst"``) against
a database of its own holding the real Rutland demo bundle and the Isle of Wight bus timetable,
so every mode has data and the analysis routes compute rather than answer "not loaded" (the
generated requests upload assets, save scenarios and queue jobs there: no other test sees
them). Every operation is run twice: once with an analyst key of an organisation and once
with none, so authenticated routes run as well as the anonymous paths.

Bounded: at most ``LOCUS_FUZZ_EXAMPLES`` (default 10) generated requests per operation, no
deadline, derandomised (a failure reproduces on the next run), no example database on disk.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import ASGIClient
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from app.demo import ISLE_OF_WIGHT_BUNDLE, RUTLAND_BUNDLE, load_demo
from app.main import create_app
from config.settings import load_settings
from store.keys import create_api_key
from tests.conftest import database_for, scratch_database, settings_for

MAX_EXAMPLES = int(os.environ.get("LOCUS_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
BASE_URL = "http://testserver"

#: The OpenAPI of the app (the same routes whatever the settings): one test per operation.
schema = schemathesis.openapi.from_dict(create_app(load_settings()).openapi())

pytestmark = [
    pytest.mark.timeout(900),
    # schemathesis's own strategies draw from `random`, which Hypothesis deprecates; that is
    # about the tool, not about the API under test.
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]


#: Rutland, and a GTFS feed so that transit is available too (half a minute to load).
BUNDLE = RUTLAND_BUNDLE + tuple(f for f in ISLE_OF_WIGHT_BUNDLE if f.dataset == "gtfs")


@pytest.fixture(scope="module")
def fuzz_database(data_dir: Path) -> Iterator[str]:
    """A database of its own with :data:`BUNDLE` loaded (the fuzzer writes into it)."""
    with scratch_database("locus_test_fuzz") as (url, _):
        load_demo(settings_for(url), data_dir=data_dir, bundle=BUNDLE)
        yield url


@pytest.fixture(scope="module")
def analyst_headers(fuzz_database: str) -> dict[str, str]:
    key = create_api_key(database_for(fuzz_database), "fuzz-org", "analyst")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def fuzz_client(fuzz_database: str) -> Iterator[ASGIClient]:
    """A requests session that reaches the app in-process, its lifespan (pool) running."""
    app = create_app(settings_for(fuzz_database, anonymous_role="analyst"))
    with ASGIClient(app, base_url=BASE_URL) as client:
        yield client


#: Hypothesis settings of the run: bounded and repeatable.
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


# Two tests rather than one drawing the caller: schemathesis cannot mix ``schema.given`` with
# the examples the OpenAPI declares, and the examples are worth sending.
@schema.parametrize()
@FUZZ
def test_api_conforms_to_its_openapi_anonymous(
    case: schemathesis.Case, fuzz_client: ASGIClient
) -> None:
    case.call_and_validate(session=fuzz_client, base_url=BASE_URL, checks=CHECKS, timeout=60)


@schema.parametrize()
@FUZZ
def test_api_conforms_to_its_openapi_with_a_key(
    case: schemathesis.Case, fuzz_client: ASGIClient, analyst_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        session=fuzz_client, base_url=BASE_URL, headers=analyst_headers, checks=CHECKS, timeout=60
    )


# ------------------------------------------------------------------------------- hostile values
# Random generation finds a NUL byte only by luck within a bounded run; these are the inputs
# the issue found reaching the database, sent deterministically to every parameter the
# OpenAPI declares (and to every filterable property of every collection, which it cannot).
PROBLEM = "application/problem+json"
NUL = "a\x00b"
NOT_FINITE = ("NaN", "inf", "-Infinity")
#: Deeper than Python's recursion limit.
NESTING = 5000
OPERATIONS = schema.raw_schema["paths"]


def _types(param: dict[str, Any]) -> set[str]:
    s = param.get("schema", {})
    return {t.get("type", "") for t in [s, *s.get("anyOf", [])]} - {"null", ""}


def _fill(path: str, processes: list[str]) -> str:
    """``path`` with its parameters filled by values that exist (or harmless ones)."""
    values = {"processId": processes[0], "collectionId": "sites", "footprint": "la"}
    for name in re.findall(r"{(\w+)}", path):
        path = path.replace("{" + name + "}", values.get(name, "1"))
    return path


def _valid(param: dict[str, Any]) -> str:
    """A value the parameter accepts (for the required ones beside the hostile one)."""
    s = param.get("schema", {})
    for option in [s, *s.get("anyOf", [])]:
        default = option.get("default")
        if isinstance(default, bool):
            return str(default).lower()
        if default is not None:
            return str(default)
        if option.get("enum"):
            return str(option["enum"][0])
        if option.get("type") in ("integer", "number"):
            return str(min(max(15, option.get("minimum", 1)), option.get("maximum", 15)))
        if option.get("type") == "boolean":
            return "false"
    # A string most identifiers accept (job ids are UUIDs).
    return "00000000-0000-4000-8000-000000000000"


def _hostile_queries() -> list[tuple[str, str, str]]:
    """(path, parameter, value) for every query parameter of every GET operation."""
    out = []
    for path, ops in OPERATIONS.items():
        for param in ops.get("get", {}).get("parameters", []):
            if param["in"] != "query":
                continue
            out.append((path, param["name"], NUL))
            if "number" in _types(param):
                out += [(path, param["name"], v) for v in NOT_FINITE]
    return out


def _required_query(path: str, besides: str) -> dict[str, str]:
    params = OPERATIONS[path]["get"].get("parameters", [])
    return {
        p["name"]: _valid(p)
        for p in params
        if p["in"] == "query" and p.get("required") and p["name"] != besides
    }


@pytest.fixture(scope="module")
def processes(fuzz_client: ASGIClient) -> list[str]:
    return [p["id"] for p in fuzz_client.get("/processes").json()["processes"]]


def _assert_refused(r: Any, what: str, parameter: str | None = None) -> None:
    """A 4xx problem document (naming ``parameter`` when given), not a crash nor a result."""
    assert 400 <= r.status_code < 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert r.headers.get("content-type", "").startswith(PROBLEM), f"{what}: {r.headers}"
    if parameter is not None:
        assert r.json().get("parameter") == parameter, f"{what}: {r.text[:300]}"


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    _hostile_queries(),
    ids=[f"GET {p} {n}={v!r}" for p, n, v in _hostile_queries()],
)
def test_query_values_the_database_cannot_store_are_refused(
    fuzz_client: ASGIClient,
    analyst_headers: dict[str, str],
    processes: list[str],
    path: str,
    parameter: str,
    value: str,
) -> None:
    params = {**_required_query(path, parameter), parameter: value}
    r = fuzz_client.get(_fill(path, processes), params=params, headers=analyst_headers, timeout=60)
    _assert_refused(r, f"GET {path}?{parameter}={value!r}", parameter)


@pytest.mark.parametrize(
    "path",
    [p for p, ops in OPERATIONS.items() if "get" in ops and "{" in p],
)
def test_path_values_with_a_nul_byte_are_refused(
    fuzz_client: ASGIClient, analyst_headers: dict[str, str], processes: list[str], path: str
) -> None:
    last = re.findall(r"{(\w+)}", path)[-1]
    url = _fill(path.replace("{" + last + "}", quote(NUL, safe="")), processes)
    r = fuzz_client.get(url, headers=analyst_headers, timeout=60)
    _assert_refused(r, f"GET {url}")


def test_filter_values_with_a_nul_byte_are_refused(
    fuzz_client: ASGIClient, analyst_headers: dict[str, str]
) -> None:
    """Every filterable property of every collection (items and tiles) refuses a NUL byte."""
    failures = []
    collections = [c["id"] for c in fuzz_client.get("/collections").json()["collections"]]
    for c in collections:
        props = fuzz_client.get(f"/collections/{c}/queryables").json()["properties"]
        for prop in props:
            for url in (
                f"/collections/{c}/items",
                f"/collections/{c}/tiles/WebMercatorQuad/8/127/83",
            ):
                r = fuzz_client.get(url, params={prop: NUL}, headers=analyst_headers, timeout=60)
                ok = (
                    r.status_code == 400
                    and r.headers.get("content-type", "").startswith(PROBLEM)
                    and r.json().get("parameter") == prop
                )
                if not ok:
                    failures.append(f"{url}?{prop}=NUL: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize(
    "path",
    [
        p
        for p, ops in OPERATIONS.items()
        if "post" in ops
        and "application/json" in ops["post"].get("requestBody", {}).get("content", {})
    ]
    + ["/scenarios"],
)
def test_unbounded_nesting_is_refused(
    fuzz_client: ASGIClient, analyst_headers: dict[str, str], processes: list[str], path: str
) -> None:
    url = _fill(path, processes)
    body = '{"inputs":' + _nested(NESTING) + "}"
    r = fuzz_client.post(
        url,
        data=body,
        headers={**analyst_headers, "Content-Type": "application/json"},
        timeout=60,
    )
    _assert_refused(r, f"POST {url} with JSON nested {NESTING} deep")


def test_an_upload_without_an_organisation_is_refused(fuzz_client: ASGIClient) -> None:
    """The demo's loopback mode makes anonymous callers analysts, but of no organisation."""
    csv = "name,kind,lon,lat\nDepot,council_building,-0.73,52.67\n"
    r = fuzz_client.post(
        "/estate/assets", files={"file": ("a.csv", csv.encode(), "text/csv")}, timeout=60
    )
    _assert_refused(r, "anonymous POST /estate/assets")
