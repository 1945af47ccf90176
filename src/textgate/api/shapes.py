"""The TextFlow response shape: every answer is JSON with `ok`, `status` and `message`, and
the HTTP status equals `status`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

from textgate.domain import money

_encoder = msgspec.json.Encoder()


def reply(ok: bool, status: int, message: str, **fields: Any) -> Response[bytes]:
    body = {"ok": ok, "status": status, "message": message, **fields}
    return raw(body, status)


def raw(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=_encoder.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def price(micros: int) -> float:
    """TextFlow's `price` is a JSON number."""
    return float(money.from_micros(micros))


def credits(micros: int) -> str:
    """TextFlow's `credits` is a string."""
    return money.format_credits(micros)
