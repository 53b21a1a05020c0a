"""Helpers shared by the routers: absolute links (on the configured base URL, from
:mod:`app.links`), cached extents, HTML rendering."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from psycopg import AsyncConnection

# Re-exported: routers built links from here before app.links existed.
from app.links import base_url as base_url
from app.links import request_url as request_url
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
