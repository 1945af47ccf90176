"""The console's routes: HTML pages under /console, with HTML error pages of their own."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, Router
from litestar.static_files import create_static_files_router

from textgate import secrets
from textgate.console import (
    auth_pages,
    bulk_pages,
    operator_pages,
    pages,
    reply_pages,
    session_pages,
    settings_pages,
    verification_pages,
)
from textgate.console.session import SessionCodec
from textgate.console.web import STATIC, ConsoleState, handle, handle_unrouted, is_console_path
from textgate.settings import Settings


def handlers(settings: Settings) -> list[Router]:
    """The /console router and its static files. The session key is `session.key` in the
    data folder (made on first run); several API processes must share that folder's file."""
    key = secrets.load_or_create(None, settings.data_dir, "session.key")
    state = ConsoleState(codec=SessionCodec(key))
    console = Router(
        "/console",
        route_handlers=[
            *auth_pages.HANDLERS,
            *pages.HANDLERS,
            *operator_pages.HANDLERS,
            *settings_pages.HANDLERS,
            *session_pages.HANDLERS,
            *verification_pages.HANDLERS,
            *reply_pages.HANDLERS,
            *bulk_pages.handlers(settings),
        ],
        exception_handlers={Exception: handle},
        opt={"console": state},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/console/static", directories=[STATIC], include_in_schema=False
    )
    return [console, static]


ErrorHandler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def with_console_errors(api: ErrorHandler) -> ErrorHandler:
    """The app-wide error handler: `api`'s JSON, except under /console, where what fails
    before a console route is found (an unknown path: Litestar's router raises it, so the
    console router's own handler never sees it) is the console's HTML error page."""

    def handle_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if is_console_path(request.url.path):
            return handle_unrouted(request, exc)
        return api(request, exc)

    return handle_error
