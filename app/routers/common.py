"""Helpers shared by the routers: absolute links (on the configured base URL), cached extents,
HTML rendering."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from psycopg import AsyncConnection
from starlette.datastructures import URL

from config.settings import Settings
from store.access import Principal
from store.features import Collection, fetch_extent

GEOJSON = "application/geo+json"
JSON = "application/json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA_JSON = "application/schema+json"
MVT = "application/vnd.mapbox-vector-tile"

#: Seconds an extent stays cached per (collection, organisation); data loads are rare.
EXTENT_TTL_S = 60.0

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))


def base_url(request: Request) -> str:
    """The service root without a trailing slash: the configured ``LOCUS_BASE_URL``
    (:attr:`config.settings.ApiSettings.public_url`), never the request's ``Host`` header,
    which the client chooses (a link or ``Location`` built on it would point wherever the
    request said, and a cached page would carry it to others)."""
    settings: Settings = request.app.state.settings
    return settings.api.public_url


def request_url(request: Request) -> URL:
    """The URL of this request (path and query) on :func:`base_url`, for self and next links."""
    path = request.url.path
    root = str(request.scope.get("root_path", "") or "")
    if root and path.startswith(root):
        path = path[len(root) :]
    query = request.url.query
    return URL(base_url(request) + path + (f"?{query}" if query else ""))


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    """One OGC link object."""
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


async def collection_extent(
    request: Request, conn: AsyncConnection[Any], c: Collection, principal: Principal
) -> tuple[float, float, float, float] | None:
    """The collection's CRS84 bbox, cached for :data:`EXTENT_TTL_S` per organisation."""
    cache: dict[tuple[str, str | None], tuple[float, Any]] = request.app.state.extent_cache
    key = (c.id, principal.organisation)
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and now - hit[0] < EXTENT_TTL_S:
        extent: tuple[float, float, float, float] | None = hit[1]
        return extent
    extent = await fetch_extent(conn, c, principal)
    cache[key] = (now, extent)
    return extent


def render(request: Request, title: str, **context: Any) -> HTMLResponse:
    """The one HTML page template (``f=html``)."""
    return templates.TemplateResponse(
        request, "page.html", {"title": title, "base": base_url(request), **context}
    )
