"""Absolute links and ``Location`` headers, on the configured base URL and never on ``Host``.

A request's ``Host`` header is the client's to choose: a link or ``Location`` built on it
points wherever the request said, and a cached page would carry it to other clients. Every
absolute URL the API writes starts with :func:`base_url` (``LOCUS_BASE_URL``, see
:attr:`config.settings.ApiSettings.public_url`); :func:`request_url` is the current request
on it (self and next links). Starlette's own trailing-slash redirect (``/collections/`` →
``/collections``) builds its ``Location`` from ``Host``: :class:`RedirectsOnBase` moves such a
``Location`` onto the base URL too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import URL, Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config.settings import Settings

__all__ = ["RedirectsOnBase", "base_url", "install_links", "request_url"]


def _public_url(scope: Scope) -> str:
    settings: Settings = scope["app"].state.settings
    return settings.api.public_url


def _relative(scope: Scope, path: str) -> str:
    """``path`` without the ASGI ``root_path`` (the base URL carries any prefix)."""
    root = str(scope.get("root_path", "") or "")
    return path[len(root) :] if root and path.startswith(root) else path


def base_url(request: Request) -> str:
    """The service root without a trailing slash: the configured base URL."""
    return _public_url(request.scope)


def request_url(request: Request) -> URL:
    """The URL of this request (path and query) on :func:`base_url`, for self and next links."""
    query = request.url.query
    path = _relative(request.scope, request.url.path)
    return URL(base_url(request) + path + (f"?{query}" if query else ""))


class RedirectsOnBase:
    """ASGI middleware: a redirect whose ``Location`` names the request's own host (built from
    ``Host`` by the framework) is answered with that ``Location`` on the base URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = Headers(scope=scope).get("host", "")

        async def send_on_base(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (k, self._moved(scope, host, v) if k.lower() == b"location" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        await self.app(scope, receive, send_on_base)

    @staticmethod
    def _moved(scope: Scope, host: str, raw: bytes) -> bytes:
        location = urlsplit(raw.decode("latin-1"))
        if not location.netloc or location.netloc.lower() != host.lower():
            return raw  # relative, or somewhere else on purpose
        path = _relative(scope, location.path)
        query = f"?{location.query}" if location.query else ""
        return (_public_url(scope) + path + query).encode("latin-1")


def install_links(app: FastAPI) -> None:
    """Add :class:`RedirectsOnBase` to ``app``."""
    app.add_middleware(RedirectsOnBase)
