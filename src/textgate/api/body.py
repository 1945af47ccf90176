"""Reading request bodies: JSON or form, with errors that name the problem."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from textgate.api import shapes
from textgate.errors import InvalidRequest, UnsupportedMediaType

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

_json = msgspec.json.Decoder()


async def read_fields(
    request: Request[Any, Any, Any], *, allow_empty: bool = False
) -> dict[str, Any]:
    """The body's fields. A form's repeated keys become lists (`phone_numbers[]` style keys
    are read as `phone_numbers`)."""
    raw = await _read(request)
    media = (shapes.header(request, b"content-type") or "").split(";", 1)[0].strip().lower()
    if not raw.strip():
        if allow_empty:
            return {}
        raise InvalidRequest("The request body is empty: send JSON or a form")
    if media == JSON or media.endswith("+json") or (not media and raw.lstrip()[:1] in b"{["):
        return _decode_json(raw)
    if media == FORM:
        return _decode_form(raw)
    raise UnsupportedMediaType(
        f"Unsupported content type {media or '(none)'!r}: send {JSON} or {FORM}"
    )


async def _read(request: Request[Any, Any, Any]) -> bytes:
    """The whole body, straight from the ASGI `receive` (on the path of every send-sms:
    Litestar's `Request.body()` streams through an async generator and caches in the scope,
    costing several µs a request that nothing here needs). The same limit applies, with the
    same error: the route's `request_max_body_size`."""
    limit = request.route_handler.resolve_request_max_body_size() or math.inf
    announced = shapes.header(request, b"content-length")
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    size = 0
    receive = request.receive
    while True:
        event = await receive()
        if event["type"] == "http.request":
            chunk = event.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestEntityTooLarge
            chunks.append(chunk)
            if not event.get("more_body", False):
                break
        elif event["type"] == "http.disconnect":
            raise InvalidRequest("The client went away before the whole body arrived")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decode_json(raw: bytes) -> dict[str, Any]:
    try:
        value = _json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return value


def _decode_form(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(
            "The request body is not a valid form (UTF-8, key=value&...)"
        ) from None
    fields: dict[str, Any] = {}
    for key, value in pairs:
        key = key.removesuffix("[]")
        if key in fields:
            old = fields[key]
            fields[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            fields[key] = value
    return fields


def required_str(fields: Mapping[str, Any], name: str, *, message: str | None = None) -> str:
    value = fields.get(name)
    if value is None:
        raise InvalidRequest(message or f"Missing field: {name}", field=name)
    if not isinstance(value, str):
        raise InvalidRequest(f"Field {name} must be a string", field=name)
    return value


def optional_str(fields: Mapping[str, Any], name: str, default: str = "") -> str:
    value = fields.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise InvalidRequest(f"Field {name} must be a string", field=name)
    return value
