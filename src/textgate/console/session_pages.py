"""The sessions page: the browsers signed in to the account, each of which can be signed out
(or all but this one at once). Signing a browser out deletes its server-side session, so
its cookie, and every copy of it, stops working on its next request."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from textgate.console.web import checked_form, current_account, redirect, render, sessions_of

NOTICES = {
    "ended": "That session is signed out.",
    "others-ended": "Every other session is signed out.",
}


@get("/sessions")
async def sessions_page(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    live = await sessions_of(request).live(account.id, session.token)
    notice = NOTICES.get(request.query_params.get("notice") or "")
    return render(
        request,
        "sessions.html",
        session=session,
        account=account,
        sessions=live,
        others=sum(1 for s in live if not s.current),
        lifetime_days=sessions_of(request).lifetime_ms // 86_400_000,
        notice=notice,
    )


@post("/sessions/{handle:str}/sign-out")
async def sign_out_one(request: Request[Any, Any, Any], handle: FromPath[str]) -> Response[str]:
    _, account = await current_account(request)
    await checked_form(request)
    await sessions_of(request).revoke(account.id, handle)
    return redirect(request, "/console/sessions?notice=ended")


@post("/sessions/sign-out-others")
async def sign_out_others(request: Request[Any, Any, Any]) -> Response[str]:
    session, account = await current_account(request)
    await checked_form(request)
    assert session.token is not None  # current_account checked it
    await sessions_of(request).revoke_others(account.id, session.token)
    return redirect(request, "/console/sessions?notice=others-ended")


HANDLERS = (sessions_page, sign_out_one, sign_out_others)
