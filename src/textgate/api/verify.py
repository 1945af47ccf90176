"""TextFlow's phone verification routes: send-code and verify-code.

verify-code answers `valid` in every body, errors included (the Python and C# clients read
it unconditionally); a wrong, expired or malformed code is answered as TextFlow does, with
`ok: true` and status 400.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.response.base import ASGIResponse

from textgate.api import body, shapes
from textgate.api.auth import caller_of
from textgate.api.docs import doc
from textgate.domain import otp
from textgate.services.container import Services
from textgate.services.verification import AUTH_ERROR

AnyRequest = Request[Any, Any, Any]

_INVALID_PHONE = "Invalid phone number"
_S = OpenAPIType.STRING
_SEND_BODY = {
    "send_code": (
        {
            "phone_number": Schema(type=_S, description="E.164, e.g. +11234567890"),
            "service_name": Schema(
                type=_S,
                description="Shown in the SMS; at most 110 letters, digits and spaces",
                max_length=otp.MAX_SERVICE_NAME,
            ),
            "seconds": Schema(
                one_of=[Schema(type=OpenAPIType.INTEGER), Schema(type=_S, pattern="^[0-9]+$")],
                description="How long the code is good for: 1 to 86400 (default 600)",
            ),
        },
        ["phone_number"],
    )
}
_VERIFY_BODY = {
    "verify_code": (
        {
            "phone_number": Schema(type=_S, description="The number the code was sent to"),
            "code": Schema(type=_S, description="The code the user typed"),
        },
        ["phone_number", "code"],
    )
}


def services(request: AnyRequest) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


@post(
    "/api/send-code",
    status_code=200,
    opt={"auth_error": (401, AUTH_ERROR), "invalid_phone": _INVALID_PHONE},
    **doc("send_code", body=_SEND_BODY),
)
async def send_code(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request, cached=True)  # the key is re-checked when paying
    fields = await body.read_fields(request)
    phone_number = body.required_str(fields, "phone_number")
    service_name = otp.check_service_name(fields.get("service_name"))
    seconds = otp.parse_seconds(fields.get("seconds"))
    sent = await svc.verifier.send_code(
        caller, phone_number, service_name=service_name, seconds=seconds
    )
    svc.metrics.accepted.labels("otp").inc()
    return shapes.reply(
        True,
        200,
        otp.SENT,
        data={
            "verification_code": sent.verification_code,
            "expires": sent.expires,
            "message_text": sent.message_text,
            "id": sent.message_id,
            "to": sent.to,
            "price": shapes.price(sent.price_micros),
        },
    )


_ANSWERS = {
    otp.Check.VALID: (200, otp.VALID),
    otp.Check.INVALID: (400, otp.INVALID),
    otp.Check.EXPIRED: (400, otp.EXPIRED),
    otp.Check.MALFORMED: (400, otp.MALFORMED),
}


@post(
    "/api/verify-code",
    status_code=200,
    opt={
        "auth_error": (401, AUTH_ERROR),
        "invalid_phone": _INVALID_PHONE,
        "error_fields": {"valid": False},
    },
    **doc("verify_code", body=_VERIFY_BODY),
)
async def verify_code(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    fields = await body.read_fields(request)
    phone_number = body.required_str(fields, "phone_number")
    code = body.required_str(fields, "code")
    check = await svc.verifier.verify_code(caller, phone_number, code)
    status, message = _ANSWERS[check.outcome]
    extra: dict[str, Any] = {}
    if check.valid_code is not None:
        extra["valid_code"] = check.valid_code
    if check.expires is not None:
        extra["expires"] = check.expires
    if check.outcome is otp.Check.INVALID and check.attempts_left is not None:
        extra["attempts_left"] = check.attempts_left
    return shapes.reply(True, status, message, valid=check.outcome is otp.Check.VALID, **extra)
