"""The OpenAPI at /api describes every body, and JSON bodies that cannot be stored get a 400.

Routes are enumerated from the app's own OpenAPI document, so a new route is covered without
editing this file. The body guard is checked on the real routes that read JSON bodies
(``POST /scenarios``, ``POST /processes/{id}/execution``) against the seeded API database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.guards import check_json_body
from app.schemas import ogc
from app.schemas.common import MAX_JSON_BYTES, MAX_JSON_DEPTH, Problem
from app.schemas.processes import JobStatus
from app.services.scenarios import ScenarioRecord
from app.services.scenarios import ScenarioRequest as ScenarioCreate
from store.keys import create_api_key
from tests.api._support import auth
from tests.conftest import database_for

PROBLEM = "application/problem+json"
#: Success responses that carry no body by definition.
_BODYLESS = {"204", "304"}


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/api")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


@pytest.fixture(scope="module")
def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    ops = [
        (method.upper(), path, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(ops) >= 30, "the OpenAPI lists fewer operations than the API has"
    return ops


@pytest.fixture(scope="module")
def analyst(api_database_url: str) -> str:
    return create_api_key(database_for(api_database_url), "openapi-test-org", "analyst")


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith("#/components/schemas/"), ref
    name = ref.removeprefix("#/components/schemas/")
    assert name in document["components"]["schemas"], f"dangling $ref {ref}"
    resolved: dict[str, Any] = document["components"]["schemas"][name]
    return resolved


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# ------------------------------------------------------------------------------- the document


def test_every_json_response_has_a_schema(
    document: dict[str, Any], operations: list[tuple[str, str, dict[str, Any]]]
) -> None:
    json_bodies = 0
    for method, path, op in operations:
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        assert successes, f"{method} {path}: no success response documented"
        for status, response in successes.items():
            if status in _BODYLESS:
                continue
            content = response.get("content")
            assert content, f"{method} {path} {status}: body media types not documented"
            for media_type, entry in content.items():
                schema = entry.get("schema")
                assert schema, f"{method} {path} {status} {media_type}: no schema"
                if not _is_json(media_type):
                    continue
                json_bodies += 1
                resolved = _resolve(document, schema)
                # A real description: an object with members (or a typed map), not "{}".
                assert resolved.get("properties") or resolved.get("additionalProperties"), (
                    f"{method} {path} {status} {media_type}: the schema describes nothing"
                )
    assert json_bodies >= 30


def test_every_error_is_a_documented_problem(
    operations: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for method, path, op in operations:
        responses = op["responses"]
        assert "422" not in responses, f"{method} {path}: 422 is never sent (errors are 400)"
        if op.get("parameters") or op.get("requestBody"):
            assert "400" in responses, f"{method} {path}: takes input but documents no 400"
        for status, response in responses.items():
            if int(status) < 400:
                continue
            content = response.get("content", {})
            assert list(content) == [PROBLEM], f"{method} {path} {status}: {list(content)}"
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_every_request_body_is_described(
    document: dict[str, Any], operations: list[tuple[str, str, dict[str, Any]]]
) -> None:
    posts = [(m, p, op) for m, p, op in operations if m in ("POST", "PUT", "PATCH")]
    assert posts
    for method, path, op in posts:
        body = op.get("requestBody")
        assert body, f"{method} {path}: request body not documented"
        for media_type, entry in body["content"].items():
            resolved = _resolve(document, entry["schema"])
            assert resolved.get("properties"), f"{method} {path} {media_type}: empty body schema"
    scenario = _resolve(
        document,
        document["paths"]["/scenarios"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    )
    assert {"name", "description", "changes", "restricted"} <= set(scenario["properties"])
    assert scenario["additionalProperties"] is False


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs
    for ref in refs:
        assert ref.removeprefix("#/components/schemas/") in schemas, f"dangling $ref {ref}"
    # FastAPI's 422 schemas went with the 422 responses.
    assert "HTTPValidationError" not in schemas


def test_documented_models_match_real_answers(client: TestClient, document: dict[str, Any]) -> None:
    """Spot check: answers and errors validate against the schema the document names."""
    landing = client.get("/", params={"f": "json"})
    schema = document["paths"]["/"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"] == {"$ref": "#/components/schemas/LandingPage"}
    assert {link["rel"] for link in landing.json()["links"]} >= {"self", "service-desc"}
    error = client.get("/collections/nope")
    assert error.status_code == 404
    assert error.headers["content-type"] == PROBLEM
    assert Problem.model_validate(error.json()).parameter == "collectionId"


def test_answers_written_by_hand_match_their_models(client: TestClient) -> None:
    """The OGC routes write JSON themselves (not validated at run time): check them here."""
    ogc.LandingPage.model_validate(client.get("/", params={"f": "json"}).json())
    ogc.ConformanceDeclaration.model_validate(client.get("/conformance?f=json").json())
    collections = ogc.Collections.model_validate(client.get("/collections?f=json").json())
    assert collections.collections
    ogc.TileJSON.model_validate(client.get("/tiles/WebMercatorQuad/tilejson.json").json())
    features = 0
    for c in collections.collections:
        base = f"/collections/{c.id}"
        assert ogc.CollectionInfo.model_validate(client.get(f"{base}?f=json").json()).id == c.id
        page = ogc.OGCFeatureCollection.model_validate(
            client.get(f"{base}/items", params={"limit": 3, "f": "json"}).json()
        )
        ogc.OGCFeatureCollection.model_validate(
            client.get(f"{base}/items", params={"resultType": "hits"}).json()
        )
        ogc.Queryables.model_validate(client.get(f"{base}/queryables?f=json").json())
        ogc.FeatureSchema.model_validate(client.get(f"{base}/schema").json())
        ogc.TileJSON.model_validate(
            client.get(f"{base}/tiles/WebMercatorQuad/tilejson.json").json()
        )
        for feature in page.features[:1]:
            one = client.get(f"{base}/items/{feature.id}", params={"f": "json"}).json()
            assert ogc.OGCFeature.model_validate(one).id == feature.id
            features += 1
    assert features >= 4  # sites, areas, postcodes, network edges are seeded


# ------------------------------------------------------------------------------- body guard


def _post(client: TestClient, path: str, body: bytes, key: str | None = None) -> Any:
    headers = {"content-type": "application/json", **(auth(key) if key else {})}
    return client.post(path, content=body, headers=headers)


def _refused(response: Any, parameter: str, reason: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM
    problem: dict[str, Any] = response.json()
    Problem.model_validate(problem)
    assert problem["parameter"] == parameter
    assert reason in problem["detail"]
    return problem


@pytest.mark.parametrize(
    ("body", "parameter", "reason"),
    [
        (b'{"name": "x", "changes": [{"type": "change_capacity", "site_id": "C82010", '
         b'"capacity": NaN}]}', "changes[0].capacity", "NaN"),
        (b'{"name": "x", "changes": [{"type": "grow_population", "age_bands": ["65+"], '
         b'"factor": Infinity}]}', "changes[0].factor", "Infinity"),
        (b'{"name": "x", "changes": [{"type": "grow_population", "age_bands": ["65+"], '
         b'"factor": -Infinity}]}', "changes[0].factor", "-Infinity"),
        (b'{"name": "x", "changes": [{"type": "grow_population", "age_bands": ["65+"], '
         b'"factor": 1e999}]}', "changes[0].factor", "overflows"),
        (b'{"name": "x\\u0000y", "changes": []}', "name", "NUL"),
        (b'{"name": "x", "description": "a\\ud800b"}', "description", "surrogate"),
        (b'{"name": "x", "changes": [{"type": "close_sites", "site_ids": '
         b'[92233720368547758070]}]}', "changes[0].site_ids[0]", "64-bit"),
        (b'{"name": "x", "changes": [{"bad\\u0000key": 1}]}', "changes[0].bad\\u0000key", "NUL"),
    ],
)  # fmt: skip
def test_unstorable_scenario_bodies_are_refused_naming_the_member(
    client: TestClient, analyst: str, body: bytes, parameter: str, reason: str
) -> None:
    problem = _refused(_post(client, "/scenarios", body, analyst), parameter, reason)
    assert problem["pointer"] == "/" + parameter.replace("[", "/").replace("]", "").replace(
        ".", "/"
    )
    # Refused before authentication: the body is malformed whoever sends it.
    _refused(_post(client, "/scenarios", body), parameter, reason)


def test_nesting_deeper_than_the_bound_is_refused(client: TestClient, analyst: str) -> None:
    deep = b'{"inputs": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}"
    problem = _refused(
        _post(client, "/processes/echo/execution", deep, analyst), "inputs.a" + "[0]" * 30, "32"
    )
    assert problem["pointer"] == "/inputs/a" + "/0" * 30
    # Far beyond what the parser can recurse into: still a 400, still naming the member.
    hostile = b'{"name": "x", "changes": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    _refused(_post(client, "/scenarios", hostile, analyst), "changes" + "[0]" * 31, "nesting")
    # Unclosed (not even JSON) is refused the same way rather than crashing the parser.
    _refused(_post(client, "/scenarios", b"[" * 100_000, analyst), "body" + "[0]" * 32, "nesting")


def test_nesting_at_the_bound_passes_the_guard(client: TestClient, analyst: str) -> None:
    # {outputs: {x: [[...]]}}: the top level, outputs and 30 arrays make 32 levels exactly.
    deepest: list[Any] = [0]
    at_bound = {"inputs": {"steps": 1}, "outputs": {"x": deepest}}
    for _ in range(MAX_JSON_DEPTH - 3):
        deepest[0] = [0]
        deepest = deepest[0]
    body = json.dumps(at_bound).encode()
    assert check_json_body(body) is None
    assert check_json_body(body, max_depth=MAX_JSON_DEPTH - 1) is not None
    response = _post(client, "/processes/echo/execution", body, analyst)
    assert response.status_code == 201, response.text
    assert JobStatus.model_validate(response.json()).processID == "echo"


def test_a_body_larger_than_the_bound_is_refused(client: TestClient, analyst: str) -> None:
    big = b'{"name": "' + b"x" * MAX_JSON_BYTES + b'"}'
    problem = _refused(_post(client, "/scenarios", big, analyst), "body", "larger than 10 MB")
    assert problem["pointer"] == ""


def test_storable_bodies_reach_the_route(client: TestClient, analyst: str) -> None:
    # Brackets and escapes inside strings do not count as nesting; the body is replayed intact.
    body = {
        "name": 'odd "[[[[{{{{" name \\ ok',
        "description": "Ünïcode ✓ 🏥",
        "changes": [{"type": "close_sites", "site_ids": ["C82010"]}],
    }
    response = client.post("/scenarios", json=body, headers=auth(analyst))
    assert response.status_code == 201, response.text
    saved = response.json()
    ScenarioRecord.model_validate(saved)
    assert saved["name"] == body["name"]
    assert saved["description"] == body["description"]
    assert saved["definition"]["changes"][0]["type"] == "close_sites"
    # The route's own validation still answers for what the guard lets through.
    unknown = _post(client, "/scenarios", b'{"name": "x", "changes": [{"type": "demolish"}]}',
                    analyst)  # fmt: skip
    assert unknown.status_code == 400
    assert unknown.json()["parameter"] == "changes"
    assert "demolish" in unknown.json()["detail"]


def test_forms_and_uploads_are_left_to_their_routes(client: TestClient, analyst: str) -> None:
    # Multipart uploads keep their own limit and checks: the guard does not parse them.
    files = {"file": ("a.txt", b"[" * 1000, "text/plain")}
    response = client.post("/estate/assets", files=files, headers=auth(analyst))
    assert response.status_code == 400
    assert response.json()["parameter"] == "file"
    assert "upload a .csv or .gpkg" in response.json()["detail"]


# ------------------------------------------------------------------------------- the rule


def test_the_rule_without_http() -> None:
    assert check_json_body(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": 1.5}') is None
    assert check_json_body(b"not json at all") is None
    found = check_json_body(b'[1, 2, {"x": [NaN]}]')
    assert found is not None
    assert found.path == (2, "x", 0)
    with pytest.raises(ValidationError) as caught:
        ScenarioCreate.model_validate({"name": "a\x00b"})
    assert caught.value.errors()[0]["loc"] == ("name",)
    with pytest.raises(ValidationError) as caught:
        ScenarioCreate.model_validate(
            {"name": "a", "changes": [{"type": "change_capacity", "site_id": 1, "capacity": 1e309}]}
        )
    assert caught.value.errors()[0]["loc"] == ("changes",)
    assert "change 1 (change_capacity): capacity" in caught.value.errors()[0]["msg"]
    assert "finite" in caught.value.errors()[0]["msg"]
