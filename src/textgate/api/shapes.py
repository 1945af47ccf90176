"""The TextFlow response shape: every answer is JSON with `ok`, `status` and `message`, and
the HTTP status equals `status`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response.base import ASGIResponse

from textgate.domain import money

_encoder = msgspec.json.Encoder()
JSON = "application/json"


def reply(ok: bool, status: int, message: str, **fields: Any) -> ASGIResponse:
    """A success (or a deliberate non-error answer) in the TextFlow shape.

    An `ASGIResponse` is handed to the server as it is, skipping the framework's response
    conversion: this is on the path of every send-sms."""
    body = {"ok": ok, "status": status, "message": message, **fields}
    return ASGIResponse(body=_encoder.encode(body), status_code=status, media_type=JSON)


def header(request: Request[Any, Any, Any], name: bytes) -> str | None:
    """One request header (`name` in lower case), read straight from the ASGI scope."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def raw(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=_encoder.encode(body),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


def price(micros: int) -> float:
    """TextFlow's `price` is a JSON number."""
    return float(money.from_micros(micros))


def credits(micros: int) -> str:
    """TextFlow's `credits` is a string."""
    return money.format_credits(micros)
