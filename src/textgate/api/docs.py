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


_DESCRIPTIONS = {
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
_BAD_KEY_400 = "Bad input, or a missing, malformed, unknown or revoked API key (as TextFlow)"
#: The routes that answer a bad key with 400, as TextFlow does, never 401.
_KEY_AS_400 = {(400, "send_sms"), (400, "bulk_sms"), (400, "bulk_count")}
#: The errors each route can answer: a body (400 bad input, 413, 415) only where one is
#: read, 402 where credits are spent, 404/409 where an id or a state is looked at, 429 where
#: the verification rate limits apply.
_STATUSES: dict[str, tuple[int, ...]] = {
    "send_sms": (400, 402, 413, 415),
    "balance": (401,),
    "message": (401, 404),
    "send_code": (400, 401, 402, 403, 413, 415, 429),
    "verify_code": (400, 401, 404, 409, 413, 415, 429),
    "bulk_sms": (400, 402, 413, 415),
    "bulk_count": (400,),
    "bulk_job": (401, 404),
    "bulk_cancel": (401, 404, 409),
}


def doc(
    name: str, *, body: dict[str, tuple[dict[str, Schema], list[str]]] | None = None
) -> dict[str, Any]:
    """Keyword arguments for a route decorator: summary, request body and responses."""
    if body:
        _BODIES.update(body)
    request_body = _request_body(name)
    errors = _STATUSES.get(name, tuple(_DESCRIPTIONS))  # a new route: all, till it is listed
    documented = {"200", *map(str, errors)}

    @dataclass
    class _Operation(Operation):
        def __post_init__(self) -> None:
            if request_body is not None:
                self.request_body = request_body
            if self.responses:
                # Litestar adds a 400 of its own to routes with path parameters; ours are
                # parsed by the router (a bad one is a 404), so that 400 never happens.
                self.responses = {k: v for k, v in self.responses.items() if k in documented}

    error = _ERRORS.get(name, Error)
    # No generated examples: made-up values (`status: 5263`) contradict the contract.
    responses = {
        status: ResponseSpec(
            error,
            description=_BAD_KEY_400 if (status, name) in _KEY_AS_400 else _DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in errors
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
