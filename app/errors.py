"""Errors: one exception hierarchy, one table exception → HTTP status, one RFC 9457 renderer.

Every error the API returns is ``application/problem+json`` with ``type``, ``title``,
``status``, ``detail`` and ``instance``; errors about a request parameter also carry
``parameter`` (the name as the client sent it, e.g. ``bbox-crs``) so a client can say which
input was wrong. FastAPI's own validation errors are converted to the same shape.

A database failure is never a plain 500: a connection that could not be had (pool timeout),
one lost mid-query (the server ended it, ``AdminShutdown``, a network failure) or a
statement cancelled by the statement timeout is a 503 problem with ``Retry-After``, the
failure logged without a traceback. It is found wherever it surfaces: raised as is, or
wrapped by a library (procrastinate's ``ConnectorException`` when a job is deferred, an
exception group) as the cause of another error. Anything else unexpected is a 500 problem
(logged with its traceback), not Starlette's plain-text "Internal Server Error".
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from procrastinate.exceptions import ConnectorException
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://locus.invalid/problems/"
#: Seconds a client is asked to wait (``Retry-After``) after a database failure.
RETRY_AFTER_S = 5

log = logging.getLogger(__name__)


class LocusError(Exception):
    """Base of every error the API reports on purpose."""

    title = "Error"
    slug = "error"

    def __init__(self, detail: str, *, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter


class InvalidParameter(LocusError):
    """A query or path parameter is malformed or out of range."""

    title = "Invalid parameter"
    slug = "invalid-parameter"


class NotFound(LocusError):
    """Nothing at this address."""

    title = "Not found"
    slug = "not-found"


class CollectionNotFound(NotFound):
    """No collection with this id (or not visible to the caller)."""

    slug = "collection-not-found"


class FeatureNotFound(NotFound):
    """No feature with this id in the collection (or not visible to the caller)."""

    slug = "feature-not-found"


class NotAcceptable(LocusError):
    """The requested output format is not offered for this resource."""

    title = "Not acceptable"
    slug = "not-acceptable"


class Unauthenticated(LocusError):
    """An API key is required (or the one given is unknown)."""

    title = "Unauthenticated"
    slug = "unauthenticated"


class Forbidden(LocusError):
    """The caller's role does not allow this operation."""

    title = "Forbidden"
    slug = "forbidden"


class ServiceUnavailable(LocusError):
    """The data an answer needs is not loaded yet (e.g. no road network)."""

    title = "Service unavailable"
    slug = "service-unavailable"


class DatabaseUnavailable(LocusError):
    """The database cannot be reached (or the pool is exhausted)."""

    title = "Database unavailable"
    slug = "database-unavailable"


class QueryTimeout(LocusError):
    """A statement ran past the configured statement timeout."""

    title = "Query timeout"
    slug = "query-timeout"


# The one table: most specific class first is not needed, lookup walks the MRO.
STATUS: dict[type[LocusError], int] = {
    LocusError: 500,
    InvalidParameter: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    NotAcceptable: 406,
    DatabaseUnavailable: 503,
    ServiceUnavailable: 503,
    QueryTimeout: 503,
}


def status_for(exc: LocusError) -> int:
    """The HTTP status for ``exc`` from :data:`STATUS` (nearest class in the MRO)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def problem(
    request: Request,
    *,
    status: int,
    title: str,
    detail: str,
    slug: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _locus_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LocusError)
    status = status_for(exc)
    return problem(
        request,
        status=status,
        title=exc.title,
        detail=exc.detail,
        slug=exc.slug,
        headers={"Retry-After": str(RETRY_AFTER_S)} if status == 503 else None,
        parameter=exc.parameter,
    )


def _parameter_name(loc: tuple[Any, ...] | list[Any]) -> str | None:
    # FastAPI locations look like ("query", "limit") or ("path", "z").
    parts = [str(p) for p in loc if p not in ("query", "path", "header", "body")]
    return parts[0] if parts else None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    name = _parameter_name(first.get("loc", ()))
    message = first.get("msg", "invalid request")
    detail = f"parameter {name!r}: {message}" if name else str(message)
    invalid = [
        {"parameter": _parameter_name(e.get("loc", ())), "reason": e.get("msg")} for e in errors
    ]
    return problem(
        request,
        status=400,
        title=InvalidParameter.title,
        detail=detail,
        slug=InvalidParameter.slug,
        parameter=name,
        errors=invalid,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = "not-found" if exc.status_code == 404 else f"http-{exc.status_code}"
    title = "Not found" if exc.status_code == 404 else "HTTP error"
    return problem(
        request,
        status=exc.status_code,
        title=title,
        detail=str(exc.detail),
        slug=slug,
        headers=dict(exc.headers) if exc.headers else None,
    )


def database_failure(exc: BaseException) -> psycopg.Error | None:
    """The psycopg error behind ``exc``: itself, one in its chain of causes and contexts, or
    one inside an exception group; None when no database error led to it."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, psycopg.Error):
            return current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def _unavailable(request: Request, slug: str, title: str, detail: str) -> JSONResponse:
    return problem(
        request,
        status=503,
        title=title,
        detail=detail,
        slug=slug,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def database_problem(request: Request, err: psycopg.Error) -> JSONResponse:
    """The problem response for a database error (503 for failures, 500 for anything else)."""
    if isinstance(err, psycopg.errors.QueryCanceled):
        log.warning("%s %s: query cancelled: %s", request.method, request.url.path, err)
        if "statement timeout" in str(err):
            return _unavailable(
                request,
                QueryTimeout.slug,
                QueryTimeout.title,
                "the query ran past the statement timeout; narrow the request or try again later",
            )
        return _unavailable(
            request,
            DatabaseUnavailable.slug,
            DatabaseUnavailable.title,
            "the database cancelled the query; try again shortly",
        )
    if isinstance(err, psycopg_pool.PoolTimeout):
        log.warning("%s %s: no connection: %s", request.method, request.url.path, err)
        return _unavailable(
            request,
            DatabaseUnavailable.slug,
            DatabaseUnavailable.title,
            "no database connection became available in time; try again shortly",
        )
    if isinstance(err, psycopg.OperationalError):
        log.warning(
            "%s %s: database failure: %s: %s",
            request.method,
            request.url.path,
            type(err).__name__,
            str(err).strip(),
        )
        return _unavailable(
            request,
            DatabaseUnavailable.slug,
            DatabaseUnavailable.title,
            "the database connection failed while answering this request; try again shortly",
        )
    log.error("database error on %s %s", request.method, request.url.path, exc_info=err)
    return problem(
        request,
        status=500,
        title="Internal error",
        detail="an unexpected database error occurred",
        slug="internal",
    )


async def _error(request: Request, exc: Exception) -> JSONResponse:
    err = database_failure(exc)
    if err is not None:
        return database_problem(request, err)
    # Starlette's last resort (the Exception handler) re-raises afterwards, so the server
    # logs the traceback; the client gets a 500 problem instead of plain text.
    log.error("%s %s: unexpected %s", request.method, request.url.path, type(exc).__name__)
    return problem(
        request,
        status=500,
        title="Internal error",
        detail="an unexpected error occurred",
        slug="internal",
    )


def install_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(LocusError, _locus_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database failures, raised as is or wrapped by procrastinate when a job is deferred.
    app.add_exception_handler(psycopg.Error, _error)
    app.add_exception_handler(ConnectorException, _error)
    # Anything else (an exception group, another wrapper, a bug): Starlette's last resort.
    app.add_exception_handler(Exception, _error)
