"""The TextFlow routes: the same paths, fields, messages and types as textflow.me."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.response.base import ASGIResponse

from textgate.api import body, shapes
from textgate.api.auth import caller_of
from textgate.api.docs import doc
from textgate.domain.states import MessageKind
from textgate.services.container import Services

AnyRequest = Request[Any, Any, Any]


def services(request: AnyRequest) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@post(
    "/api/send-sms",
    status_code=200,
    opt={"auth_error": (400, "Invalid API key"), "invalid_phone": "Phone number is invalid"},
    **doc("send_sms"),
)
async def send_sms(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request, cached=True)
    fields = await body.read_fields(request)
    phone_number = body.required_str(fields, "phone_number")
    text = body.required_str(fields, "text")
    queued = await svc.sender.send(caller, phone_number, text, MessageKind.SMS)
    svc.metrics.accepted_sms.inc()
    return shapes.reply(
        True,
        200,
        "Message sent successfully",
        data={
            "to": queued.to,
            "content": queued.content,
            "country_code": queued.country_name,
            "price": shapes.price(queued.price_micros),
            "timestamp": queued.timestamp,
            "id": queued.message_id,
            "status": queued.status.value,
            "segments": queued.segments,
            "encoding": queued.encoding.value,
        },
    )


@get("/api/balance", opt={"auth_error": (401, "Invalid API key")}, **doc("balance"))
async def balance(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    micros = await svc.accounts.balance(caller.account_id)
    return shapes.reply(True, 200, "Balance", credits=shapes.credits(micros), packages={})
