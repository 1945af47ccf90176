"""Sign up, log in, log out."""

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
)
from textgate.errors import Conflict, InvalidRequest
from textgate.services.console import MIN_PASSWORD, LoginFailed


@get("/signup")
async def signup_page(request: Request[Any, Any, Any]) -> Response[str]:
    return render(request, "signup.html", email="", error=None, min_password=MIN_PASSWORD)


@post("/signup")
async def signup(request: Request[Any, Any, Any]) -> Response[str]:
    _, form = await checked_form(request)
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
    signed_in = Session.fresh(account.id)  # a new CSRF token with the new identity
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
        return redirect(request, "/console")
    return render(request, "login.html", email="", error=None)


@post("/login")
async def login(request: Request[Any, Any, Any]) -> Response[str]:
    _, form = await checked_form(request)
    email = form.get("email", "").strip()
    try:
        account_id = await service_of(request).log_in(
            email, form.get("password", ""), client_of(request)
        )
    except LoginFailed:
        return render(
            request, "login.html", status=400, email=email, error="Wrong email or password"
        )
    return redirect(request, "/console", session=Session.fresh(account_id))


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Response[str]:
    await checked_form(request)
    return redirect(request, "/console/login", session=Session.fresh())


HANDLERS = (signup_page, signup, login_page, login, logout)
