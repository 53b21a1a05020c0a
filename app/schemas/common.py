"""Base models, JSON value types, links, RFC 9457 problems and the storability rule.

The storability rule is the one place that says which JSON input can reach the database:
no NaN or ±Infinity (JSON has no such numbers and PostgreSQL ``jsonb`` refuses them), no
integer outside the signed 64-bit range (``bigint``), no NUL character and no lone UTF-16
surrogate in any string or key (PostgreSQL text cannot hold them), and no nesting deeper than
:data:`MAX_JSON_DEPTH`. :func:`find_unstorable` applies it to a parsed value;
:class:`InputModel` applies it to every field of a request model and :mod:`app.guards` to
every JSON request body before a route sees it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_INT",
    "DateTimeText",
    "InputModel",
    "JsonValue",
    "Link",
    "Metadata",
    "Problem",
    "ProblemItem",
    "Refused",
    "RejectedRow",
    "ResponseModel",
    "Scalar",
    "Unstorable",
    "find_unstorable",
    "json_path",
    "json_pointer",
]

#: Largest JSON request body accepted, bytes (uploads are multipart and keep their own limit).
MAX_JSON_BYTES = 10 * 1024 * 1024
#: Deepest nesting of arrays and objects accepted in a JSON input (the top level is 1).
MAX_JSON_DEPTH = 32
#: Largest integer magnitude accepted (PostgreSQL ``bigint``).
MAX_JSON_INT = 2**63 - 1

#: A JSON scalar: what a GeoJSON property, a table cell or a metadata value can be.
Scalar = str | int | float | bool | None
#: Open-ended metadata stated with a result (speeds, window, methods): scalars or lists.
Metadata = dict[str, Scalar | list[Scalar]]
#: A timestamp as the API writes it (ISO 8601 text from ``datetime.isoformat()``).
DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


@dataclass(frozen=True)
class Unstorable:
    """Where a JSON value breaks the storability rule and why.

    ``path`` is the keys and indices from the top of the document (``("changes", 0,
    "name")``); empty when the top-level value itself is at fault.
    """

    path: tuple[str | int, ...]
    reason: str


class Refused:
    """A JSON number the parser met that cannot be stored (see :mod:`app.guards`)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000)"
    if any("\ud800" <= ch <= "\udfff" for ch in text):
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def _number_problem(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number (NaN and infinities cannot be stored)"
    if isinstance(value, int) and abs(value) > MAX_JSON_INT:
        return "is outside the signed 64-bit integer range"
    return None


def _children(value: object) -> Iterator[tuple[str | int, object]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list | tuple):
        yield from enumerate(value)


def find_unstorable(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> Unstorable | None:
    """The first place where ``value`` (parsed JSON) cannot be stored, or None.

    Walks with an explicit stack (no recursion, so any depth is safe to inspect). Checks
    strings and object keys for NUL and lone surrogates, numbers for NaN, infinities and
    integers beyond 64 bits (:class:`Refused` markers left by the body parser included), and
    containers for nesting deeper than ``max_depth``.
    """
    stack: list[tuple[tuple[str | int, ...], object, int]] = [((), value, 0)]
    while stack:
        path, node, depth = stack.pop()
        if isinstance(node, Refused):
            return Unstorable(path, node.reason)
        if isinstance(node, str):
            reason = _string_problem(node)
            if reason:
                return Unstorable(path, f"the string {reason}")
            continue
        reason = _number_problem(node)
        if reason:
            return Unstorable(path, f"the number {reason}")
        if not isinstance(node, dict | list | tuple):
            continue
        if depth + 1 > max_depth:
            return Unstorable(path, f"nesting is deeper than {max_depth} levels")
        children = list(_children(node))
        for key, _ in children:
            if isinstance(key, str):
                reason = _string_problem(key)
                if reason:
                    return Unstorable((*path, key), f"the member name {reason}")
        # Reversed so the first child is inspected first (the stack pops from the end).
        stack.extend(((*path, k), v, depth + 1) for k, v in reversed(children))
    return None


def _printable(key: str | int) -> str:
    # A member name at fault may hold the very NUL or lone surrogate being reported: escape
    # them, or the problem document itself could not be encoded.
    text = str(key)
    if _string_problem(text) is None:
        return text
    return "".join(
        f"\\u{ord(ch):04x}" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text
    )


def json_path(path: tuple[str | int, ...], *, root: str = "body") -> str:
    """``changes[0].name`` for ``("changes", 0, "name")``; ``root`` for the empty path and
    before a leading index (``body[2]``: the third item of a top-level array)."""
    out = root if path and isinstance(path[0], int) else ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_printable(part)}" if out else _printable(part)
    return out or root


def json_pointer(path: tuple[str | int, ...]) -> str:
    """RFC 6901 JSON Pointer for ``path`` (``/changes/0/name``; ``""`` is the document)."""
    return "".join("/" + _printable(p).replace("~", "~0").replace("/", "~1") for p in path)


class ResponseModel(BaseModel):
    """Base of response bodies: members are exactly the declared ones (no silent extras)."""

    model_config = ConfigDict(extra="forbid")


class InputModel(BaseModel):
    """Base of request bodies: unknown members, NaN/infinities, NUL characters, lone
    surrogates, out-of-range integers and nesting deeper than :data:`MAX_JSON_DEPTH` are
    refused (a 400 naming the field), whatever the field's type."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        bad = find_unstorable(value)
        if bad is not None:
            where = f" at {json_path(bad.path, root='')}" if bad.path else ""
            raise ValueError(f"{bad.reason}{where}")
        return value


class Link(ResponseModel):
    """A web link (OGC API style): ``href`` with relation, media type and title."""

    href: str = Field(description="absolute URL")
    rel: str = Field(description="link relation (IANA name or OGC URI)")
    type: str | None = Field(default=None, description="media type of the target")
    title: str | None = None


class ProblemItem(BaseModel):
    """One invalid input of a request that had several (FastAPI validation errors)."""

    parameter: str | None = Field(description="the query/path parameter or body member")
    reason: str | None = None


class RejectedRow(BaseModel):
    """One rejected row of an upload (``POST /estate/assets``)."""

    row: int = Field(description="row number in the file (header is row 1)")
    reason: str


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``).

    Every error the API returns has this shape; errors about an input also name it in
    ``parameter`` (a query/path parameter as sent, e.g. ``bbox-crs``, or a JSON body member
    as a path, e.g. ``changes[0].name``). Other members are RFC 9457 extensions.
    """

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="URI identifying the kind of problem")
    title: str = Field(description="short summary of the kind of problem")
    status: int = Field(ge=400, le=599, description="the HTTP status code")
    detail: str = Field(description="what went wrong, for this request")
    instance: str = Field(description="the request path")
    parameter: str | None = Field(default=None, description="the input at fault")
    pointer: str | None = Field(
        default=None, description="JSON Pointer (RFC 6901) to the body member at fault"
    )
    errors: list[ProblemItem] | None = Field(
        default=None, description="every invalid input (request validation)"
    )
    rejects: list[RejectedRow] | None = Field(
        default=None, description="every rejected row (asset uploads)"
    )
    problems: list[str] | None = Field(
        default=None, description="every problem of a scenario, each naming its change"
    )
