"""The signed-in pages: dashboard, API keys, the message log and one message."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath

from textgate.console.web import (
    checked_form,
    current_account,
    page_number,
    redirect,
    render,
    service_of,
)
from textgate.domain.states import MessageKind, MessageStatus
from textgate.errors import InvalidRequest, NotFound
from textgate.store.console import MessageFilter
from textgate.store.db import now_ms

OTP_WITHHELD = "<verification code withheld>"


@get("/")
async def dashboard(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    board = await service_of(request).dashboard(account.id, now_ms())
    return render(request, "dashboard.html", session=session, account=account, board=board)


@get("/keys")
async def keys_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    keys = await request.app.state.services.accounts.list_keys(account.id)
    return render(request, "keys.html", session=session, account=account, keys=keys, new_key=None)


@post("/keys")
async def create_key(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    _, form = await checked_form(request)
    accounts = request.app.state.services.accounts
    new = await accounts.create_key(account.id, form.get("name", "").strip())
    keys = await accounts.list_keys(account.id)
    # Shown on this answer only: the secret is not stored.
    return render(
        request, "keys.html", session=session, account=account, keys=keys, new_key=new.secret
    )


@post("/keys/{key_id:int}/revoke")
async def revoke_key(request: Request[Any, Any, Any], key_id: FromPath[int]) -> Response[str]:
    _, account = await current_account(request)
    await checked_form(request)
    if not 0 < key_id < 2**31:
        raise NotFound(f"No live API key {key_id}")
    await request.app.state.services.accounts.revoke_key(key_id, account_id=account.id)
    return redirect(request, "/console/keys")


def _day(raw: str | None, name: str) -> date | None:
    """A day of the filter form (YYYY-MM-DD, as a date input sends it); empty: no bound."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidRequest(f"The {name!r} day must be a date like 2026-11-30") from None


@get("/messages")
async def messages_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    params = request.query_params
    where = MessageFilter(
        status=(params.get("status") or "").strip() or None,
        number=(params.get("number") or "").strip()[:32] or None,
        search=(params.get("q") or "").strip()[:200] or None,
        day_from=_day(params.get("from"), "from"),
        day_to=_day(params.get("to"), "to"),
    )
    page = page_number(params.get("page"))
    rows, more = await service_of(request).messages(account.id, where, page)
    kept = {
        k: v
        for k, v in (
            ("status", where.status),
            ("number", where.number),
            ("q", where.search),
            ("from", where.day_from and where.day_from.isoformat()),
            ("to", where.day_to and where.day_to.isoformat()),
        )
        if v
    }

    def link(to_page: int) -> str:
        return "/console/messages?" + urlencode({**kept, "page": to_page})

    return render(
        request,
        "messages.html",
        session=session,
        account=account,
        rows=rows,
        where=where,
        statuses=[s.value for s in MessageStatus],
        page=page,
        prev_link=link(page - 1) if page > 1 else None,
        next_link=link(page + 1) if more else None,
        otp=MessageKind.OTP,
        withheld=OTP_WITHHELD,
    )


@get("/messages/{message_id:int}")
async def message_page(request: Request[Any, Any, Any], message_id: FromPath[int]) -> Response[str]:
    session, account = await current_account(request)
    message, events = await service_of(request).message(account.id, message_id)
    body = message.body if message.kind is not MessageKind.OTP else OTP_WITHHELD
    return render(
        request,
        "message.html",
        session=session,
        account=account,
        message=message,
        body=body,
        events=events,
    )


HANDLERS = (dashboard, keys_page, create_key, revoke_key, messages_page, message_page)
