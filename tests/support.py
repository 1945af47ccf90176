"""Types and constants shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from textgate.store.db import async_url
from textgate.store.records import Account

T = TypeVar("T")

PEPPER = "ab" * 32
TABLES = (
    "webhook_events",
    "console_sessions",
    "webhooks",
    "verification_sends",
    "verifications",
    "account_settings",
    "message_parts",
    "pending_receipts",
    "inbound_messages",
    "opt_outs",
    "bulk_jobs",
    "message_events",
    "messages",
    "api_keys",
    "accounts",
)


async def truncate_postgres(url: str) -> None:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@dataclass
class NewAccount:
    account: Account
    key: str
    key_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


MakeAccount = Callable[..., Awaitable[NewAccount]]


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Runs blocking set-up (which may start its own event loop) off the test's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


# --- a webhook receiver: a real HTTP server on 127.0.0.1 ----------------------------------


@dataclass(frozen=True)
class Hook:
    """One POST a receiver got."""

    path: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found

    @property
    def event_id(self) -> str:
        return self.headers["x-textgate-event-id"]


@dataclass
class HookReceiver:
    url: str
    got: list[Hook] = field(default_factory=list)
    #: The status of each answer, by the POST's number (1 for the first); `status` past the end.
    statuses: list[int] = field(default_factory=list)
    status: int = 200

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [h.event for h in list(self.got) if kind is None or h.event["type"] == kind]


@contextlib.contextmanager
def hook_receiver(
    statuses: list[int] | None = None,
    delay: float = 0.0,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Iterator[HookReceiver]:
    """An HTTP server in a thread (its url ends in /hooks) that records every POST and answers
    `statuses` in turn (then `status`), with `headers`, each after `delay` seconds."""
    receiver = HookReceiver(url="", statuses=list(statuses or []), status=status)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                lowered = {k.lower(): v for k, v in self.headers.items()}
                receiver.got.append(Hook(self.path, lowered, body))
                n = len(receiver.got)
            answer = receiver.statuses[n - 1] if n <= len(receiver.statuses) else receiver.status
            if delay:
                threading.Event().wait(delay)
            self.send_response(answer)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
