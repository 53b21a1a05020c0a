"""The web map: ``app/web/dist`` (built by ``make demo``) served at ``/`` and ``/map/``.

``/`` is shared with the OGC API landing page: a browser (no ``f`` parameter, ``text/html``
preferred) gets the map, every other client (``?f=json``, ``?f=html``, ``Accept:
application/json``) gets the landing page from :func:`app.routers.ogc.landing`, so include this
router before ``ogc.router``. ``/map/`` is always the map. Built files are under ``/assets/``
(content-hashed names, cached for a year). When the build is missing, the map's addresses
answer a 503 problem saying how to build it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from app.dependencies import get_format
from app.errors import problem
from app.routers.ogc import landing

router = APIRouter(tags=["Web map"])

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
_MEDIA = {".mjs": "text/javascript", ".js": "text/javascript", ".css": "text/css"}
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def _not_built(request: Request) -> Response:
    return problem(
        request,
        status=503,
        title="Web map not built",
        detail="the web map has not been built: run `make demo` (or `npm ci && npm run build` "
        "in app/web)",
        slug="web-map-not-built",
    )


def _index(request: Request, dist: Path | None = None) -> Response:
    index = (dist or DIST) / "index.html"
    if not index.is_file():
        return _not_built(request)
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "f" not in request.query_params


@router.get("/", summary="Web map (browsers) or landing page", include_in_schema=False)
async def root(
    request: Request,
    f: Annotated[str | None, Query(description="json or html: the OGC landing page")] = None,
) -> Response:
    """The map for a browser; the OGC API landing page for everyone else."""
    if _wants_html(request):
        return _index(request)
    return await landing(request, get_format(request, f))


@router.get("/map", summary="Web map", include_in_schema=False)
@router.get("/map/", summary="Web map", include_in_schema=False)
async def web_map(request: Request) -> Response:
    """The web map's page."""
    return _index(request)


@router.get("/assets/{path:path}", summary="Web map files", include_in_schema=False)
async def asset(request: Request, path: str) -> Response:
    """A built file of the web map (scripts, styles, the map worker)."""
    root = (DIST / "assets").resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        if not (DIST / "index.html").is_file():
            return _not_built(request)
        return problem(
            request,
            status=404,
            title="Not found",
            detail=f"no web map file {path!r}",
            slug="not-found",
        )
    return FileResponse(target, media_type=_MEDIA.get(target.suffix), headers=_IMMUTABLE)
