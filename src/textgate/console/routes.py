"""The console's routes: HTML pages under /console, with HTML error pages of their own."""

from __future__ import annotations

from litestar import Router
from litestar.static_files import create_static_files_router

from textgate import secrets
from textgate.console import auth_pages, pages
from textgate.console.session import SessionCodec
from textgate.console.web import STATIC, ConsoleState, handle
from textgate.settings import Settings


def handlers(settings: Settings) -> list[Router]:
    """The /console router and its static files. The session key is `session.key` in the
    data folder (made on first run); several API processes must share that folder's file."""
    key = secrets.load_or_create(None, settings.data_dir, "session.key")
    state = ConsoleState(codec=SessionCodec(key))
    console = Router(
        "/console",
        route_handlers=[*auth_pages.HANDLERS, *pages.HANDLERS],
        exception_handlers={Exception: handle},
        opt={"console": state},
        include_in_schema=False,
    )
    static = create_static_files_router(
        path="/console/static", directories=[STATIC], include_in_schema=False
    )
    return [console, static]
