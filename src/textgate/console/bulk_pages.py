"""The console's bulk pages: the account's jobs, a CSV upload with its preview, starting a
job, one job with its live progress, and cancelling it.

The preview stores nothing on the server: its page carries the numbers read from the file
(as a JSON list in a hidden field) and the text to the start form, so any API process can
take the start. Starting checks everything again through `BulkService.start_once`, the same
checks, prices and single transaction as the API's bulk-sms; the preview is never trusted.
The preview's form also carries a random one-time token: a second post of it (a double
click, a reload) leads to the job the first one started, and is never charged again.

The routes are made per app (`handlers(settings)`): the upload and the start take a body
as large as the API's bulk-sms does (`bulk_max_body_bytes`).
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import MediaType, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from textgate.console.session import Session
from textgate.console.web import checked_form, current_account, page_number, redirect, render
from textgate.domain import bulk_csv, money
from textgate.domain.states import MessageStatus
from textgate.errors import Conflict, InvalidRequest, PayloadTooLarge
from textgate.services.bulk import AlreadyStarted
from textgate.services.bulk_preview import BulkPreviewer
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import bulk_console
from textgate.store.bulk import Job
from textgate.store.records import Account

log = logging.getLogger("textgate.console")

AnyRequest = Request[Any, Any, Any]
PAGE_SIZE = 25
#: Refused numbers listed on a preview (the counts are always complete).
SAMPLES_SHOWN = 20
#: Room in a request body for the text, the token and the form's own framing.
FORM_SLACK = 1 << 20
#: The longest a number travels as, JSON-escaped (`MAX_CELL` characters of \\u00XX), with
#: its quotes and comma.
_CELL_JSON = bulk_csv.MAX_CELL * 6 + 3
_FAILED = (MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.EXPIRED)
_numbers_json = msgspec.json.Decoder(list[str])
#: A preview's one-time start token (`secrets.token_urlsafe(24)` makes 32 characters).
_START_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True, slots=True)
class ConsoleSender:
    """A job started from the console: the signed-in account, no API key."""

    account_id: int
    key_id: None = None


def handlers(settings: Settings) -> list[HTTPRouteHandler]:
    upload_limit = settings.bulk_max_body_bytes + FORM_SLACK
    start_limit = settings.bulk_max_recipients * _CELL_JSON + FORM_SLACK
    return [
        get("/bulk")(bulk_page),
        post("/bulk/preview", request_max_body_size=upload_limit)(preview),
        post("/bulk/start", request_max_body_size=start_limit)(start),
        get("/bulk/{job_id:int}")(job_page),
        get("/bulk/{job_id:int}/progress")(progress),
        post("/bulk/{job_id:int}/cancel")(cancel),
    ]


def services(request: AnyRequest) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def bulk_page(request: AnyRequest) -> Response[str]:
    session, account = await current_account(request)
    return await _listing(request, session, account, page_number(request.query_params.get("page")))


async def _listing(
    request: AnyRequest,
    session: Session,
    account: Account,
    page: int,
    *,
    status: int = 200,
    error: str | None = None,
    text: str = "",
) -> Response[str]:
    svc = services(request)
    rows = await svc.db.read(
        bulk_console.list_jobs, account.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1
    )
    more = len(rows) > PAGE_SIZE
    return render(
        request,
        "bulk.html",
        session=session,
        account=account,
        status=status,
        jobs=[(row, _progress(row)) for row in rows[:PAGE_SIZE]],
        page=page,
        prev_link=f"/console/bulk?page={page - 1}" if page > 1 else None,
        next_link=f"/console/bulk?page={page + 1}" if more else None,
        error=error,
        text=text,
        max_mb=_megabytes(svc.settings.bulk_max_body_bytes),
        max_rows=f"{svc.bulk.max_recipients:,}",
    )


async def _form(request: AnyRequest) -> tuple[Session, dict[str, str], Any]:
    """The posted form once its CSRF token is checked, and its file field (if any)."""
    limit = _megabytes(services(request).settings.bulk_max_body_bytes)
    try:
        session, fields = await checked_form(request)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"The file is too large: at most {limit} MB") from None
    upload = (await request.form()).get("file")
    return session, fields, upload


async def preview(request: AnyRequest) -> Response[str]:
    _, account = await current_account(request)
    session, fields, upload = await _form(request)
    body = _text(fields)
    svc = services(request)
    try:
        found = await _read_upload(upload, svc)
        shown = await BulkPreviewer(svc.db, svc.prices, svc.bulk).preview(
            account.id, found.numbers, body
        )
    except (InvalidRequest, PayloadTooLarge) as exc:
        # The upload form again, with what was wrong and the text kept.
        return await _listing(
            request, session, account, 1, status=exc.status, error=exc.message, text=body
        )
    samples = [
        (found.rows[r.index], r.phone_number, r.reason.value, r.detail)
        for r in shown.rejected.samples[:SAMPLES_SHOWN]
    ]
    return render(
        request,
        "bulk_preview.html",
        session=session,
        account=account,
        status=200 if shown.accepted else 400,
        preview=shown,
        by_reason=[(reason.value, n) for reason, n in shown.rejected.counts.items() if n],
        samples=samples,
        column=found.column + 1,
        header=found.header,
        filename=getattr(upload, "filename", ""),
        text=body,
        numbers_json=msgspec.json.encode(found.numbers).decode(),
        start_token=secrets.token_urlsafe(24),
    )


async def _read_upload(upload: object, svc: Services) -> bulk_csv.CsvNumbers:
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidRequest("Choose a CSV file of phone numbers to upload", field="file")
    limit = svc.settings.bulk_max_body_bytes
    data = await upload.read(limit + 1)
    await upload.close()
    if len(data) > limit:
        raise PayloadTooLarge(f"The file is too large: at most {_megabytes(limit)} MB")
    if not data.strip():
        raise InvalidRequest("The file is empty: it has no phone numbers", field="file")
    return bulk_csv.read_numbers(bulk_csv.decode(data), max_numbers=svc.bulk.max_recipients)


async def start(request: AnyRequest) -> Response[str]:
    _, account = await current_account(request)
    _, fields, _ = await _form(request)
    token = fields.get("start_token", "")
    if not _START_TOKEN.fullmatch(token):
        raise InvalidRequest(
            "This start form is not from a preview: upload the file again", field="start_token"
        )
    try:
        numbers = _numbers_json.decode(fields.get("numbers", ""))
    except msgspec.DecodeError:  # a ValidationError too
        raise InvalidRequest(
            "The numbers did not come back whole from the preview: upload the file again",
            field="numbers",
        ) from None
    svc = services(request)
    started = await svc.bulk.start_once(ConsoleSender(account.id), numbers, _text(fields), token)
    # Posted again (AlreadyStarted): the job this preview started, charged once.
    if not isinstance(started, AlreadyStarted):
        svc.metrics.accepted.labels("bulk").inc(started.accepted)
    return redirect(request, f"/console/bulk/{started.job_id}")


async def job_page(request: AnyRequest, job_id: FromPath[int]) -> Response[str]:
    session, account = await current_account(request)
    job = await services(request).bulk.job(account.id, job_id)
    return _job(request, session, account, job, cancelled=bool(request.query_params.get("done")))


def _job(
    request: AnyRequest,
    session: Session,
    account: Account,
    job: Job,
    *,
    cancelled: bool = False,
    error: str | None = None,
    status: int = 200,
) -> Response[str]:
    return render(
        request,
        "bulk_job.html",
        session=session,
        account=account,
        status=status,
        job=job,
        progress=_progress(job),
        rejected=[(reason.value, n) for reason, n in job.rejected.items() if n],
        just_cancelled=cancelled and job.cancelled_at is not None,
        error=error,
    )


async def progress(request: AnyRequest, job_id: FromPath[int]) -> Response[dict[str, Any]]:
    """The job's counts as JSON, for its page to follow without reloading."""
    _, account = await current_account(request)
    job = await services(request).bulk.job(account.id, job_id)
    return Response(
        _progress(job), media_type=MediaType.JSON, headers={"Cache-Control": "no-store"}
    )


async def cancel(request: AnyRequest, job_id: FromPath[int]) -> Response[str]:
    _, account = await current_account(request)
    session, _ = await checked_form(request)
    bulk = services(request).bulk
    try:
        await bulk.cancel(account.id, job_id)
    except Conflict as exc:
        job = await bulk.job(account.id, job_id)
        return _job(request, session, account, job, error=exc.message, status=exc.status)
    return redirect(request, f"/console/bulk/{job_id}?done=cancelled")


def _text(fields: dict[str, str]) -> str:
    """The message text; a browser sends a form's line breaks as CR LF, whatever was typed."""
    return fields.get("text", "").replace("\r\n", "\n")


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):g}"


def _progress(job: Job | bulk_console.JobRow) -> dict[str, Any]:
    """What a job's page and the list show of its progress (and the page polls for)."""
    counts = job.counts
    done = job.recipients - job.pending
    return {
        "id": job.id,
        "state": job.state.value,
        "recipients": job.recipients,
        "done": done,
        "percent": 100 * done // job.recipients if job.recipients else 100,
        "pending": job.pending,
        "submitted": counts[MessageStatus.SUBMITTED],
        "delivered": counts[MessageStatus.DELIVERED],
        "failed": sum(counts[s] for s in _FAILED),
        "cancelled": counts[MessageStatus.CANCELLED],
        "price": money.format_credits(job.price_micros),
        "refunded": money.format_credits(job.refunded_micros),
    }
