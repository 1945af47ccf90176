"""One handler maps every exception to the TextFlow shape: a 4xx for what the caller did
wrong, a 5xx (still JSON, never a trace) for what went wrong here."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException

from textgate.api import shapes
from textgate.errors import InvalidPhone, RateLimited, TextgateError

log = logging.getLogger("textgate.api")

_HTTP_MESSAGES = {
    404: "Not found",
    405: "Method not allowed",
    413: "The request body is too large",
}


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    extra: dict[str, Any] = {}
    handler = request.scope.get("route_handler")
    if handler is not None:
        extra.update(handler.opt.get("error_fields", {}))
    headers: dict[str, str] = {}
    if isinstance(exc, TextgateError):
        status, message = exc.status, exc.message
        extra.update(exc.extra)
        wording = handler.opt.get("invalid_phone") if handler is not None else None
        if isinstance(exc, InvalidPhone) and wording:
            # TextFlow's fixed wording for the route; our detail goes in `reason`.
            message, extra["reason"] = wording, exc.message
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        message = _HTTP_MESSAGES.get(status) or str(exc.detail) or "Bad request"
        if status == 413:
            extra["limit_bytes"] = _limit(request)
    else:
        log.exception(
            "unexpected error", extra={"action": "request_failed", "path": request.url.path}
        )
        status, message = 500, "Internal server error"
    body = {"ok": False, "status": status, "message": message, **extra}
    return shapes.raw(body, status, headers or None)


def _limit(request: Request[Any, Any, Any]) -> int | None:
    handler = request.scope.get("route_handler")
    limit = getattr(handler, "request_max_body_size", None)
    return limit if isinstance(limit, int) else None
