"""How routes document what FastAPI cannot infer, and the OpenAPI post-processing for it.

- :func:`problems` documents error statuses as RFC 9457 ``application/problem+json`` with the
  :class:`~app.schemas.common.Problem` schema;
- :data:`HTML`, :func:`download` document non-JSON bodies (HTML pages, MVT tiles, CSV, PDF,
  GeoPackage, zip);
- :func:`json_body` documents a JSON request body a route parses itself (the model's schema
  is added to the components);
- :func:`install_openapi` post-processes the generated document: adds those schemas, and
  replaces FastAPI's ``422 Validation Error`` (never sent: :mod:`app.errors` answers request
  validation errors with a 400 problem) by the 400 problem, and documents the 400 and 401
  that any route gives for a bad ``Authorization`` header or API key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from app.errors import PROBLEM_JSON
from app.schemas.common import Problem

__all__ = [
    "HTML",
    "GeoJSONResponse",
    "SchemaJSONResponse",
    "download",
    "install_openapi",
    "json_body",
    "problems",
]

_REF = "#/components/schemas/{model}"

_DESCRIPTIONS = {
    400: "Invalid parameter or body (``parameter`` names it)",
    401: "An API key is required, or the one sent is malformed, unknown or revoked",
    403: "The API key's role does not allow this",
    404: "Not found, or not visible to the caller",
    406: "The requested format is not offered",
    503: "The database is unavailable, a query timed out, or the data is not loaded",
}

#: An HTML alternate of a JSON document (``f=html``).
HTML: dict[str, Any] = {"text/html": {"schema": {"type": "string"}}}


class GeoJSONResponse(JSONResponse):
    """``response_class=`` of routes answering GeoJSON (documents the model under it)."""

    media_type = "application/geo+json"


class SchemaJSONResponse(JSONResponse):
    """``response_class=`` of routes answering a JSON Schema document."""

    media_type = "application/schema+json"


#: Models whose schemas the post-processing adds to the components, with the mode to use.
_EXTRA_SCHEMAS: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {
    Problem.__name__: (Problem, "serialization")
}


#: The header every 503 carries (a database failure, data not loaded yet).
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting ``statuses`` as problem+json :class:`Problem`."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}},
            **({"headers": _RETRY_AFTER} if status == 503 else {}),
        }
        for status in statuses
    }


def download(*media_types: str) -> dict[str, Any]:
    """A ``content`` map of binary (or text) downloads, one entry per media type."""
    return {m: {"schema": {"type": "string", "format": "binary"}} for m in media_types}


def json_body(model: type[BaseModel], *, description: str | None = None) -> dict[str, Any]:
    """``openapi_extra=`` documenting a required JSON request body of ``model``.

    For routes that read the body themselves; the schema is the model's (validation mode),
    added to the components by :func:`install_openapi` under the model's name.
    """
    _EXTRA_SCHEMAS[model.__name__] = (model, "validation")
    body: dict[str, Any] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}},
    }
    if description:
        body["description"] = description
    return {"requestBody": body}


def _add_schemas(document: dict[str, Any]) -> None:
    components = document.setdefault("components", {}).setdefault("schemas", {})
    _, top = models_json_schema(list(_EXTRA_SCHEMAS.values()), ref_template=_REF)
    for name, schema in top.get("$defs", {}).items():
        existing = components.get(name)
        if existing is not None and existing != schema:
            # Two different models with one name would make a $ref ambiguous.
            raise RuntimeError(f"OpenAPI component {name!r} is defined twice, differently")
        components[name] = schema


def _problem_400_for_422(document: dict[str, Any]) -> None:
    bad_request = problems(400)[400]
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not responses or "422" not in responses:
                continue
            del responses["422"]
            responses.setdefault("400", bad_request)
    # FastAPI's validation-error schemas are unused once no 422 refers to them.
    components = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components and _REF.format(model=name) not in json.dumps(document):
            del components[name]


def _key_problems_everywhere(document: dict[str, Any]) -> None:
    """Every operation may answer 401 (a key that is sent is checked on every route, see
    :mod:`app.main`) and 400 (an ``Authorization`` header that is not ``Bearer <key>``)."""
    statuses = problems(400, 401)
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, response in statuses.items():
                    operation["responses"].setdefault(str(status), response)


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (served at ``/api``) the post-processed document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _add_schemas(document)
            _problem_400_for_422(document)
            _key_problems_everywhere(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
