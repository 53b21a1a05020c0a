"""The JSON body guard: no request body reaches a route that the database could not store.

One ASGI middleware (:class:`BodyGuard`, installed by :func:`install_guards`) reads every
request body that is not a form or an upload (``multipart/form-data``,
``application/x-www-form-urlencoded``: uploads keep their own size limit) and answers a 400
``application/problem+json`` naming the member at fault, before any route or dependency runs,
when:

- the body is larger than :data:`~app.schemas.common.MAX_JSON_BYTES` (``parameter: body``);
- it nests arrays/objects deeper than :data:`~app.schemas.common.MAX_JSON_DEPTH` (this is
  checked without recursion, so a hostile depth cannot crash the parser);
- a number is NaN, ±Infinity (or overflows to it, ``1e999``) or an integer beyond 64 bits;
- a string or member name holds a NUL character or a lone UTF-16 surrogate.

The member is named as a path (``parameter: "changes[0].name"``) and a JSON Pointer
(``pointer: "/changes/0/name"``). A body that is not JSON at all is passed on unchanged:
routes answer that themselves. The rule itself lives in :func:`app.schemas.common.
find_unstorable`, which request models (:class:`app.schemas.common.InputModel`) apply too.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import InvalidParameter, problem
from app.schemas.common import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_JSON_INT,
    Refused,
    Unstorable,
    find_unstorable,
    json_path,
    json_pointer,
)

__all__ = ["BodyGuard", "check_json_body", "install_guards"]

_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")
#: JSON strings and structural characters (numbers and literals do not change the path).
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_MAX_INT_DIGITS = len(str(MAX_JSON_INT))


def _parse_float(text: str) -> float | Refused:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        return Refused(f"the number {text} overflows to infinity")
    return value


def _parse_int(text: str) -> int | Refused:
    # Refused before int(): Python limits int() to 4300 digits, and bigint holds 19.
    if len(text.lstrip("-")) > _MAX_INT_DIGITS or abs(value := int(text)) > MAX_JSON_INT:
        return Refused("the integer is outside the signed 64-bit range")
    return value


def _parse_constant(text: str) -> Refused:
    return Refused(f"{text} is not a JSON number and cannot be stored")


def _too_deep(body: bytes, max_depth: int) -> tuple[str | int, ...] | None:
    """The path of the first container nested deeper than ``max_depth``, or None.

    A token scan (strings skipped whole, so brackets inside them do not count) that needs no
    recursion; used when the parser itself gave up on the depth.
    """
    stack: list[list[Any]] = []  # [kind, key or index] per open container
    expect_key = False
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token in (b"{", b"["):
            if len(stack) >= max_depth:
                return tuple(entry[1] for entry in stack)
            stack.append([token, None if token == b"{" else 0])
            expect_key = token == b"{"
        elif token in (b"}", b"]"):
            if stack:
                stack.pop()
            expect_key = False
        elif token == b",":
            if stack and stack[-1][0] == b"[":
                stack[-1][1] += 1
            expect_key = bool(stack) and stack[-1][0] == b"{"
        elif token == b":":
            expect_key = False
        elif expect_key and stack:
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token.decode("utf-8", "replace")[1:-1]
            expect_key = False
    return None


def check_json_body(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Unstorable | None:
    """Where a JSON request body breaks the storability rule, or None (also for non-JSON).

    Parameters
    ----------
    body : bytes
        The raw request body (size already bounded).
    max_depth : int
        Deepest nesting accepted; the top-level array or object is depth 1.
    """
    try:
        value = json.loads(
            body,
            parse_float=_parse_float,
            parse_int=_parse_int,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        path = _too_deep(body, max_depth)
        return Unstorable(path or (), f"nesting is deeper than {max_depth} levels")
    except ValueError:
        return None  # not JSON: the route reports it
    return find_unstorable(value, max_depth=max_depth)


class BodyGuard:
    """ASGI middleware applying :func:`check_json_body` (and the size bound) to requests."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._inspected(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, self._too_large())
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        bad = check_json_body(body, max_depth=self.max_depth) if body.strip() else None
        if bad is not None:
            where = json_path(bad.path)
            await self._refuse(
                scope,
                receive,
                send,
                {
                    "detail": f"body member '{where}': {bad.reason}"
                    if bad.path
                    else f"the body: {bad.reason}",
                    "parameter": where,
                    "pointer": json_pointer(bad.path),
                },
            )
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _inspected(scope: Scope) -> bool:
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return False
        content_type = Request(scope).headers.get("content-type", "").lower()
        return not content_type.startswith(_FORMS)

    def _too_large(self) -> dict[str, str]:
        return {
            "detail": f"the body is larger than {self.max_bytes // (1024 * 1024)} MB",
            "parameter": "body",
            "pointer": "",
        }

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, what: dict[str, str]) -> None:
        response = problem(
            Request(scope),
            status=400,
            title=InvalidParameter.title,
            detail=what["detail"],
            slug=InvalidParameter.slug,
            parameter=what["parameter"],
            pointer=what["pointer"],
        )
        await response(scope, receive, send)


def install_guards(app: FastAPI) -> None:
    """Add the :class:`BodyGuard` to ``app`` (outermost of the app's own middleware)."""
    app.add_middleware(BodyGuard)
