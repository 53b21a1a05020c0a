"""Who is calling: the request's API key resolved to a :class:`store.access.Principal`.

:func:`current_principal` reads ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and
verifies it with :func:`store.keys.verify_api_key` (keys, their format and storage live
there). No key is the anonymous principal, whose role is the app's
``settings.api.anonymous_role`` (open data only either way); a key that is malformed, unknown
or revoked is a 401, never silently anonymous. :func:`require_role` admits callers with a
minimum role (``viewer`` < ``analyst`` < ``admin``).

Which rows a principal may see is decided in one place, :func:`store.access.visible_rows`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from app.errors import Forbidden, InvalidParameter, Unauthenticated
from config.settings import Settings
from store.access import ANONYMOUS, Principal, Role
from store.keys import check_role, verify_api_key


def _key_from_headers(request: Request) -> tuple[str, str] | None:
    """``(key, header name)`` from ``Authorization: Bearer`` or ``X-API-Key``."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidParameter(
                "Authorization must be 'Bearer <api key>'", parameter="Authorization"
            )
        return value.strip(), "Authorization"
    api_key = request.headers.get("x-api-key")
    if api_key:
        return api_key.strip(), "X-API-Key"
    return None


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the caller, from its API key (anonymous when none is sent)."""
    found = _key_from_headers(request)
    if found is None:
        # A single-user local demo may let callers without a key run analyses
        # (LOCUS_ANONYMOUS_ROLE); they still see open data only, never restricted rows.
        settings: Settings = request.app.state.settings
        role = settings.api.anonymous_role
        return ANONYMOUS if role == "anonymous" else Principal(role=role)
    key, header = found
    principal = await verify_api_key(request.app.state.pool, key)
    if principal is None:
        raise Unauthenticated(
            "the API key is not valid (malformed, unknown or revoked)", parameter=header
        )
    return principal


def require_role(minimum: Role) -> Any:
    """A dependency admitting callers with role ``minimum`` or higher.

    Anonymous callers get 401 (a key is needed), callers with a lower role 403.
    """
    check_role(minimum)

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        if not principal.authenticated:
            raise Unauthenticated(f"this operation needs an API key with role {minimum}")
        if not principal.has_role(minimum):
            raise Forbidden(f"this operation needs role {minimum}; the key has {principal.role}")
        return principal

    dependency.__name__ = f"require_{minimum}"
    return Depends(dependency)
