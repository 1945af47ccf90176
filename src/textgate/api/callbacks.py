"""Where HTTP providers report on our messages: Twilio's status callbacks, Vonage's
delivery receipts, the Android phone's webhooks, and Twilio's and Vonage's inbound SMS
(`services.provider_inbound`; Twilio's answered with empty TwiML). Thin: read the
request's parameters (the Android route: its raw body and signature headers), let
`services.provider_callbacks` (`services.android_events`) check and apply them, answer
200 (a 403 for a forged or unsigned one, a 404 for a provider that is not configured),
always in the TextFlow shape."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote

import msgspec
from litestar import HttpMethod, Request, post, route
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from textgate.api import shapes
from textgate.delivery.http import inbound
from textgate.errors import InvalidRequest
from textgate.services import android_events, provider_callbacks, provider_inbound
from textgate.services.container import Services

AnyRequest = Request[Any, Any, Any]
#: Callback bodies are small forms; anything bigger is not one.
MAX_BODY_BYTES = 64 * 1024


def _services(request: AnyRequest) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@post(
    "/callbacks/twilio/{provider:str}",
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    include_in_schema=False,
)
async def twilio_status(request: AnyRequest, provider: FromPath[str]) -> ASGIResponse:
    call = await _read(request)
    signature = shapes.header(request, b"x-twilio-signature")
    applied = await provider_callbacks.twilio_status(_services(request), provider, call, signature)
    return _answer(applied)


@route(
    ["/callbacks/vonage/{provider:str}", "/callbacks/vonage/{provider:str}/{token:str}"],
    http_method=[HttpMethod.GET, HttpMethod.POST],
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    include_in_schema=False,
)
async def vonage_receipt(request: AnyRequest, provider: FromPath[str]) -> ASGIResponse:
    call = await _read(request)
    token = request.path_params.get("token")
    applied = await provider_callbacks.vonage_receipt(_services(request), provider, call, token)
    return _answer(applied)


@post(
    "/callbacks/twilio/{provider:str}/inbound",
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    include_in_schema=False,
)
async def twilio_inbound(request: AnyRequest, provider: FromPath[str]) -> ASGIResponse:
    """An incoming message (its own route, so status callbacks and messages never mix),
    answered with empty TwiML: no reply is sent."""
    call = await _read(request)
    signature = shapes.header(request, b"x-twilio-signature")
    await provider_inbound.twilio_inbound(_services(request), provider, call, signature)
    return ASGIResponse(body=inbound.TWIML_EMPTY.encode(), status_code=200, media_type="text/xml")


@route(
    [
        "/callbacks/vonage/{provider:str}/inbound",
        "/callbacks/vonage/{provider:str}/inbound/{token:str}",
    ],
    http_method=[HttpMethod.GET, HttpMethod.POST],
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    include_in_schema=False,
)
async def vonage_inbound(request: AnyRequest, provider: FromPath[str]) -> ASGIResponse:
    """An inbound SMS (or one part of a long one). "inbound" can never be a callback token
    (those are 16 characters or more), so the receipts route keeps its tokens."""
    call = await _read(request)
    token = request.path_params.get("token")
    stored = await provider_inbound.vonage_inbound(_services(request), provider, call, token)
    return shapes.reply(True, 200, "Message received" if stored else "Nothing to record")


@post(
    "/callbacks/android/{provider:str}",
    status_code=200,
    request_max_body_size=MAX_BODY_BYTES,
    include_in_schema=False,
)
async def android_event(request: AnyRequest, provider: FromPath[str]) -> ASGIResponse:
    """A webhook from the SMS Gateway for Android app: checked over its raw body."""
    applied = await android_events.android_event(
        _services(request),
        provider,
        await request.body(),
        shapes.header(request, b"x-signature"),
        shapes.header(request, b"x-timestamp"),
    )
    return _answer(applied)


def handlers() -> list[Any]:
    return [twilio_status, twilio_inbound, vonage_receipt, vonage_inbound, android_event]


def _answer(applied: bool) -> ASGIResponse:
    return shapes.reply(True, 200, "Receipt recorded" if applied else "Nothing to record")


async def _read(request: AnyRequest) -> provider_callbacks.Callback:
    """The request's parameters: a GET's query; a POST's form or JSON body (its query when
    the body is empty)."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    path = quote(request.scope["path"])
    params = _form(query)
    if request.method == "POST":
        raw = await request.body()
        if raw.strip():
            media = (shapes.header(request, b"content-type") or "").split(";", 1)[0].strip()
            if media.lower() == "application/json":
                params = _json(raw)
            else:
                params = _form(_text(raw))
    return provider_callbacks.Callback(
        path_and_query=f"{path}?{query}" if query else path,
        url=str(request.url),
        params=params,
    )


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The callback body is not UTF-8") from None


def _form(text: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("The callback's parameters are not a valid form") from None


def _json(raw: bytes) -> list[tuple[str, str]]:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidRequest("The callback body is not valid JSON") from None
    if not isinstance(value, dict):
        raise InvalidRequest("The callback body must be a JSON object")
    return provider_callbacks.pairs(value)
