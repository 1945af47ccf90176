"""What every console page shares: its state, the session cookie, CSRF, rendering, errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from litestar import MediaType, Request, Response
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException

from textgate.console.session import COOKIE, MAX_AGE, Session, SessionCodec
from textgate.domain import money
from textgate.errors import Forbidden, InvalidRequest, RateLimited, TextgateError
from textgate.services.console import ConsoleService
from textgate.services.console_sessions import ConsoleSessions
from textgate.store.records import Account

log = logging.getLogger("textgate.console")

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


class LoginRequired(Exception):
    """The page needs a signed-in account: the answer is a redirect to the log-in page."""


@dataclass
class ConsoleState:
    codec: SessionCodec
    service: ConsoleService | None = None
    sessions: ConsoleSessions | None = None


def _when(ms: int | None) -> str:
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["credits"] = money.format_credits
    return env


_ENV = _environment()


#: Pages of a list one may ask for at most (OFFSET grows with the page).
MAX_PAGE = 10_000


def page_number(raw: str | None) -> int:
    """The `?page=` asked for, as a page from 1 to MAX_PAGE (1 when it is not a number)."""
    try:
        return min(max(int(raw or "1"), 1), MAX_PAGE)
    except ValueError:
        return 1


def state_of(request: Request[Any, Any, Any]) -> ConsoleState:
    state: ConsoleState = request.route_handler.opt["console"]
    if state.service is None:
        svc = request.app.state.services
        state.service = ConsoleService(svc.db, svc.accounts)
        state.sessions = ConsoleSessions(svc.db, lifetime_ms=MAX_AGE * 1000)
    return state


def service_of(request: Request[Any, Any, Any]) -> ConsoleService:
    service = state_of(request).service
    assert service is not None
    return service


def session_of(request: Request[Any, Any, Any]) -> Session | None:
    return state_of(request).codec.load(request.cookies.get(COOKIE))


def client_of(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client is not None else "unknown"


def is_https(request: Request[Any, Any, Any]) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


def sessions_of(request: Request[Any, Any, Any]) -> ConsoleSessions:
    sessions = state_of(request).sessions
    assert sessions is not None
    return sessions


async def current_account(request: Request[Any, Any, Any]) -> tuple[Session, Account]:
    """The signed-in account (its server-side session live), or LoginRequired."""
    session = session_of(request)
    if session is None or session.account_id is None or session.token is None:
        raise LoginRequired
    account = await sessions_of(request).account(session.token, session.account_id)
    if account is None:
        raise LoginRequired
    return session, account


async def checked_form(request: Request[Any, Any, Any]) -> tuple[Session, dict[str, str]]:
    """The posted form, once its CSRF token matches the session's; else Forbidden."""
    session = session_of(request)
    try:
        form = await request.form()
    except UnicodeDecodeError:
        raise InvalidRequest("The form is not UTF-8 text") from None
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if session is None or not session.csrf_ok(fields.get("csrf")):
        log.info("console form refused", extra={"action": "console_csrf_refused"})
        raise Forbidden("This form has expired or did not come from this site: reload the page")
    return session, fields


def _cookie(request: Request[Any, Any, Any], session: Session) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=state_of(request).codec.dump(session),
        path="/console",
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
    "style-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request[Any, Any, Any],
    template: str,
    *,
    session: Session | None = None,
    account: Account | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response[str]:
    """A page; it (re)sets the session cookie so every form has a CSRF token."""
    if session is None:
        session = session_of(request) or Session.fresh()
    html = _ENV.get_template(template).render(
        csrf=session.csrf, account=account, path=request.url.path, **context
    )
    return Response(
        html,
        status_code=status,
        media_type=MediaType.HTML,
        headers={**_PAGE_HEADERS, **(headers or {})},
        cookies=[_cookie(request, session)],
    )


def redirect(
    request: Request[Any, Any, Any], to: str, *, session: Session | None = None
) -> Response[str]:
    cookies = [_cookie(request, session)] if session is not None else []
    return Response("", status_code=303, headers={"Location": to}, cookies=cookies)


_TITLES = {
    400: "Something is wrong with the form",
    403: "Refused",
    404: "Not found",
    405: "Not allowed",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
}


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Errors under /console are HTML pages (the API keeps its JSON shape)."""
    if isinstance(exc, LoginRequired):
        # A signed-out cookie in place of one whose session is over.
        return redirect(request, "/console/login", session=Session.fresh())
    headers: dict[str, str] = {}
    if isinstance(exc, TextgateError):
        status, message = exc.status, exc.message
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        log.exception(
            "unexpected console error",
            extra={"action": "console_request_failed", "path": request.url.path},
        )
        status, message = 500, "Internal server error"
    session = session_of(request)
    return render(
        request,
        "error.html",
        status=status,
        headers=headers,
        title=_TITLES.get(status, "Error"),
        message=message,
        signed_in=session is not None and session.account_id is not None,
    )


def is_console_path(path: str) -> bool:
    return path == "/console" or path.startswith("/console/")


def handle_unrouted(request: Request[Any, Any, Any], exc: Exception) -> Response[str]:
    """Errors raised before a console route is found (an unknown path under /console, a
    method a page does not take, a static file that is not there): the console's error
    page. With no route there is no session codec at hand, so this page neither reads nor
    sets the session cookie; its link leads to /console, which sends the signed-out on to
    the log-in page."""
    headers = dict(_PAGE_HEADERS)
    if isinstance(exc, TextgateError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
        headers.update(exc.headers or {})  # 405: Allow
    else:
        log.exception(
            "unexpected console error",
            extra={"action": "console_request_failed", "path": request.url.path},
        )
        status, message = 500, "Internal server error"
    html = _ENV.get_template("error.html").render(
        csrf="",
        account=None,
        path=request.url.path,
        title=_TITLES.get(status, "Error"),
        message=message,
        signed_in=True,
    )
    return Response(html, status_code=status, media_type=MediaType.HTML, headers=headers)
