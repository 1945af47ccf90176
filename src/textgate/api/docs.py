"""What the OpenAPI document says of each route.

Routes read their bodies themselves (JSON or form, with TextFlow's error wording), so the
request bodies are described here by hand; responses are described by the Structs below."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema


class Error(msgspec.Struct):
    ok: bool
    status: int
    message: str
    #: Why a key or a number was refused, where the message is TextFlow's fixed wording.
    reason: str | None = None
    #: The request field at fault.
    field: str | None = None


class SmsData(msgspec.Struct):
    to: str
    content: str
    country_code: str
    price: float
    timestamp: int
    id: int
    status: str
    segments: int
    encoding: str


class SendSmsReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    data: SmsData


class BalanceReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    credits: str
    packages: dict[str, int]


class EventOut(msgspec.Struct):
    status: str
    at: int
    detail: str | None


class MessageOut(msgspec.Struct):
    id: int
    to: str
    content: str
    country: str
    kind: str
    status: str
    segments: int
    encoding: str
    price: float
    attempts: int
    provider: str | None
    error: str | None
    created_at: int
    updated_at: int
    submitted_at: int | None
    final_at: int | None
    history: list[EventOut]


class MessageReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    data: MessageOut


class CodeData(msgspec.Struct):
    verification_code: str
    expires: int
    message_text: str
    id: int
    to: str
    price: float


class SendCodeReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    data: CodeData


class VerifyCodeReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    valid: bool
    valid_code: str | None = None
    expires: int | None = None
    attempts_left: int | None = None


class BulkRejection(msgspec.Struct):
    index: int
    phone_number: str
    reason: str
    detail: str | None = None


class BulkSmsReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    userId: int  # TextFlow's spelling
    job_id: int
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejections: list[BulkRejection]
    price: float
    segments: int
    encoding: str
    timestamp: int


class BulkCountReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    count: int


class BulkJobOut(msgspec.Struct):
    id: int
    state: str
    text: str
    segments: int
    encoding: str
    recipients: int
    pending: int
    counts: dict[str, int]
    rejected: dict[str, int]
    price: float
    refunded: float
    started_at: int
    cancelled_at: int | None
    finished_at: int | None


class BulkJobReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    data: BulkJobOut


class BulkCancelOut(msgspec.Struct):
    id: int
    cancelled: int
    refunded: float
    refunded_credits: str
    in_flight: int
    cancelled_at: int


class BulkCancelReply(msgspec.Struct):
    ok: bool
    status: int
    message: str
    data: BulkCancelOut


def _string(description: str, **extra: Any) -> Schema:
    return Schema(type=OpenAPIType.STRING, description=description, **extra)


_BODIES: dict[str, tuple[dict[str, Schema], list[str]]] = {
    "send_sms": (
        {
            "phone_number": _string("Recipient, E.164 with the + and country prefix"),
            "text": _string("Message text; GSM-7 or UCS-2, at most 10 segments"),
        },
        ["phone_number", "text"],
    ),
}


def _request_body(name: str) -> RequestBody | None:
    if name not in _BODIES:
        return None
    properties, required = _BODIES[name]
    schema = Schema(type=OpenAPIType.OBJECT, properties=dict(properties), required=required)
    return RequestBody(
        required=True,
        content={
            "application/json": OpenAPIMediaType(schema=schema),
            "application/x-www-form-urlencoded": OpenAPIMediaType(schema=schema),
        },
    )


_REPLIES: dict[str, type[msgspec.Struct]] = {
    "send_sms": SendSmsReply,
    "balance": BalanceReply,
    "message": MessageReply,
    "send_code": SendCodeReply,
    "verify_code": VerifyCodeReply,
    "bulk_sms": BulkSmsReply,
    "bulk_count": BulkCountReply,
    "bulk_job": BulkJobReply,
    "bulk_cancel": BulkCancelReply,
}

#: Error answers that carry more than `Error`: verify-code's carry `valid` (TextFlow's
#: clients read it on every answer) and, for a wrong code, `valid_code`/`expires`.
_ERRORS: dict[str, type[msgspec.Struct]] = {"verify_code": VerifyCodeReply}

_SUMMARIES = {
    "send_sms": "Send an SMS (TextFlow)",
    "balance": "The account's credits (TextFlow)",
    "message": "One message with its status history",
    "send_code": "Send a verification code by SMS (TextFlow)",
    "verify_code": "Check a verification code (TextFlow)",
    "bulk_sms": "Send one text to many numbers, as a bulk job (TextFlow)",
    "bulk_count": "Bulk messages not sent yet (TextFlow)",
    "bulk_job": "A bulk job's progress: its recipients by status",
    "bulk_cancel": "Cancel a bulk job: unsent recipients are credited back",
}


def doc(
    name: str, *, body: dict[str, tuple[dict[str, Schema], list[str]]] | None = None
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: summary, request body and responses."""
    if body:
        _BODIES.update(body)
    request_body = _request_body(name)

    @dataclass
    class _Operation(Operation):
        def __post_init__(self) -> None:
            if request_body is not None:
                self.request_body = request_body

    error = _ERRORS.get(name, Error)
    descriptions = {
        400: "Bad input, in the TextFlow shape",
        401: "Missing, malformed, unknown or revoked API key",
        402: "Not enough credits: nothing was queued",
        403: "Not allowed for this account (e.g. a country)",
        404: "No such thing in the caller's account",
        409: "The state forbids it (e.g. a code already used)",
        413: "The body is over the size limit",
        415: "Neither JSON nor a form",
        429: "Rate limited; `retry_after` seconds",
    }
    # No generated examples: made-up values (`status: 5263`) contradict the contract.
    responses = {
        status: ResponseSpec(error, description=text, generate_examples=False)
        for status, text in descriptions.items()
    }
    kwargs: dict[str, Any] = {
        "summary": _SUMMARIES.get(name, name),
        "operation_class": _Operation,
        "responses": responses,
        "security": [{"BearerAuth": []}],
    }
    if name in _REPLIES:
        responses[200] = ResponseSpec(
            _REPLIES[name], description="Success", generate_examples=False
        )
    return kwargs
