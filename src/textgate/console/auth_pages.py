"""Sign up, log in, log out. Signing in starts a server-side session with a new token (a
token the browser had before is never kept: no session fixation); log-out ends it."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from textgate.console.session import Session
from textgate.console.web import (
    checked_form,
    client_of,
    redirect,
    render,
    service_of,
    session_of,
    sessions_of,
)
from textgate.errors import Conflict, InvalidRequest
from textgate.services.console import MIN_PASSWORD, LoginFailed


@get("/signup")
async def signup_page(request: Request[Any, Any, Any]) -> Response[str]:
    return render(request, "signup.html", email="", error=None, min_password=MIN_PASSWORD)


async def _signed_in(request: Request[Any, Any, Any], before: Session, account_id: int) -> Session:
    """A new server-side session of `account_id`, in a new cookie (new CSRF token too); the
    session the browser had, if any, ends."""
    token = await sessions_of(request).start(
        account_id,
        user_agent=request.headers.get("user-agent", ""),
        client=client_of(request),
        replacing=before.token,
    )
    return Session.fresh(account_id, token)


@post("/signup")
async def signup(request: Request[Any, Any, Any]) -> Response[str]:
    before, form = await checked_form(request)
    email = form.get("email", "").strip()
    password = form.get("password", "")
    if password != form.get("password_again", ""):
        return render(
            request,
            "signup.html",
            status=400,
            email=email,
            error="The two passwords differ",
            min_password=MIN_PASSWORD,
        )
    try:
        account, key = await service_of(request).sign_up(email, password)
    except (InvalidRequest, Conflict) as exc:
        return render(
            request,
            "signup.html",
            status=400,
            email=email,
            error=exc.message,
            min_password=MIN_PASSWORD,
        )
    signed_in = await _signed_in(request, before, account.id)
    keys = await request.app.state.services.accounts.list_keys(account.id)
    return render(
        request,
        "keys.html",
        session=signed_in,
        account=account,
        keys=keys,
        new_key=key.secret,
        welcome=True,
    )


@get("/login")
async def login_page(request: Request[Any, Any, Any]) -> Response[str]:
    session = session_of(request)
    if session is not None and session.account_id is not None:
        sessions = sessions_of(request)
        if session.token is not None and await sessions.account(session.token, session.account_id):
            return redirect(request, "/console")
        session = Session.fresh()  # its session is over: a signed-out cookie instead
    return render(request, "login.html", session=session, email="", error=None)


@post("/login")
async def login(request: Request[Any, Any, Any]) -> Response[str]:
    before, form = await checked_form(request)
    email = form.get("email", "").strip()
    try:
        account_id = await service_of(request).log_in(
            email, form.get("password", ""), client_of(request)
        )
    except LoginFailed:
        return render(
            request, "login.html", status=400, email=email, error="Wrong email or password"
        )
    return redirect(request, "/console", session=await _signed_in(request, before, account_id))


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Response[str]:
    session, _ = await checked_form(request)
    if session.token is not None:
        await sessions_of(request).end(session.token)
    return redirect(request, "/console/login", session=Session.fresh())


HANDLERS = (signup_page, signup, login_page, login, logout)
