"""Reading request bodies: JSON or form, with errors that name the problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request

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
    raw = await request.body()
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
