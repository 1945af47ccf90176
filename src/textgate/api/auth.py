"""Authenticating a request, with the wording each TextFlow route uses for a bad key."""

from __future__ import annotations

from typing import Any

from litestar import Request

from textgate.api import shapes
from textgate.errors import AuthError
from textgate.services.auth import AuthFailed
from textgate.store.records import Caller

DEFAULT_ERROR = (401, "Invalid API key")


async def caller_of(request: Request[Any, Any, Any], *, cached: bool = False) -> Caller:
    svc = request.app.state.services
    try:
        return await svc.auth.authenticate(  # type: ignore[no-any-return]
            shapes.header(request, b"authorization"), cached=cached
        )
    except AuthFailed as exc:
        status, message = request.route_handler.opt.get("auth_error", DEFAULT_ERROR)
        raise AuthError(message, status=status, reason=exc.problem.value) from None
