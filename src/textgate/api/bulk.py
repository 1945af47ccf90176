"""Bulk SMS: TextFlow's bulk-sms and bulk-count, plus a job's progress and its cancel.

The routes are made per app (`handlers(settings)`): bulk-sms takes the larger body limit
of the settings (`bulk_max_body_bytes`), which a route decorator cannot read at import.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post, route
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.params import FromPath
from litestar.response.base import ASGIResponse

from textgate.api import body, shapes
from textgate.api.auth import caller_of
from textgate.api.docs import doc
from textgate.errors import InvalidRequest
from textgate.services.bulk import FIELD, rejection_fields
from textgate.services.container import Services
from textgate.settings import Settings

AnyRequest = Request[Any, Any, Any]
AUTH_ERROR = {"auth_error": (400, "Invalid API key")}

_BODY = {
    "bulk_sms": (
        {
            FIELD: Schema(
                type=OpenAPIType.ARRAY,
                items=Schema(type=OpenAPIType.STRING),
                description="Recipients, E.164 (a form repeats the key: phone_numbers[]=...)",
            ),
            "text": Schema(type=OpenAPIType.STRING, description="The text, sent to each"),
        },
        [FIELD, "text"],
    )
}


def handlers(settings: Settings) -> list[HTTPRouteHandler]:
    return [
        post(
            "/api/bulk-sms",
            status_code=200,
            opt=dict(AUTH_ERROR),
            request_max_body_size=settings.bulk_max_body_bytes,
            **doc("bulk_sms", body=_BODY),
        )(bulk_sms),
        route(
            "/api/bulk-count",
            http_method=["GET", "POST"],
            status_code=200,
            opt=dict(AUTH_ERROR),
            **doc("bulk_count"),
        )(bulk_count),
        get("/api/bulk/{job_id:int}", **doc("bulk_job"))(bulk_job),
        post("/api/bulk/{job_id:int}/cancel", status_code=200, **doc("bulk_cancel"))(cancel),
    ]


def services(request: AnyRequest) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def bulk_sms(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    fields = await body.read_fields(request)
    numbers = _numbers(fields.get(FIELD), form=_is_form(request))
    text = body.required_str(fields, "text")
    started = await svc.bulk.start(caller, numbers, text)
    svc.metrics.accepted.labels("bulk").inc(started.accepted)
    return shapes.reply(
        True,
        200,
        "Bulk SMS sending started",
        userId=started.account_id,
        job_id=started.job_id,
        accepted=started.accepted,
        **rejection_fields(started.rejected),
        price=shapes.price(started.price_micros),
        segments=started.segments,
        encoding=started.encoding.value,
        timestamp=started.created_at,
    )


async def bulk_count(request: AnyRequest) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    count = await svc.bulk.pending(caller.account_id)
    return shapes.reply(True, 200, "Bulk messages successfully counted", count=count)


async def bulk_job(request: AnyRequest, job_id: FromPath[int]) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    job = await svc.bulk.job(caller.account_id, job_id)
    return shapes.reply(
        True,
        200,
        "Bulk job",
        data={
            "id": job.id,
            "state": job.state.value,
            "text": job.body,
            "segments": job.segments,
            "encoding": job.encoding,
            "recipients": job.recipients,
            "pending": job.pending,
            "counts": {status.value: n for status, n in job.counts.items()},
            "rejected": {reason.value: n for reason, n in job.rejected.items()},
            "price": shapes.price(job.price_micros),
            "refunded": shapes.price(job.refunded_micros),
            "started_at": job.created_at,
            "cancelled_at": job.cancelled_at,
            "finished_at": job.finished_at,
        },
    )


async def cancel(request: AnyRequest, job_id: FromPath[int]) -> ASGIResponse:
    svc = services(request)
    caller = await caller_of(request)
    cancelled = await svc.bulk.cancel(caller.account_id, job_id)
    return shapes.reply(
        True,
        200,
        "Bulk job cancelled",
        data={
            "id": cancelled.job_id,
            "cancelled": cancelled.cancelled,
            "refunded": shapes.price(cancelled.refunded_micros),
            "refunded_credits": shapes.credits(cancelled.refunded_micros),
            "in_flight": cancelled.in_flight,
            "cancelled_at": cancelled.at,
        },
    )


def _is_form(request: AnyRequest) -> bool:
    media = shapes.header(request, b"content-type") or ""
    return media.split(";", 1)[0].strip().lower() == body.FORM


def _numbers(value: object, *, form: bool) -> list[str]:
    """The phone_numbers field: a list of strings (a form's single key: a list of one)."""
    if value is None:
        raise InvalidRequest(f"Missing field: {FIELD}", field=FIELD)
    if form and isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise InvalidRequest(f"Field {FIELD} must be a list of strings", field=FIELD)
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InvalidRequest(
                f"Field {FIELD} must be a list of strings: item {index} is not a string",
                field=FIELD,
            )
    return value
