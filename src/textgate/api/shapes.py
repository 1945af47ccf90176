"""The TextFlow response shape: every answer is JSON with `ok`, `status` and `message`, and
the HTTP status equals `status`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from textgate.domain import money

_encoder = msgspec.json.Encoder()
JSON = "application/json"


class JsonAnswer(ASGIResponse):
    """A JSON body sent as two ASGI events, as it is.

    Litestar hands an `ASGIResponse` returned by a handler to the server unchanged; this one
    also skips building the header objects of `ASGIResponse.__init__`, as none of it is
    used (no cookies, no background task, never a HEAD): it is on the path of every send-sms.
    """

    def __init__(self, body: bytes, status: int) -> None:  # no super().__init__(): see above
        self.body = body
        self.status_code = status
        self.background = None
        self.is_head_response = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def reply(ok: bool, status: int, message: str, **fields: Any) -> ASGIResponse:
    """A success (or a deliberate non-error answer) in the TextFlow shape."""
    body = {"ok": ok, "status": status, "message": message, **fields}
    return JsonAnswer(_encoder.encode(body), status)


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
