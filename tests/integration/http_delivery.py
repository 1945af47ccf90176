"""The textgate side of the HTTP provider tests: the app and its worker on the test's
database, sending through the API and reading messages back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx

from textgate.app import build, create_app, running
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import messages
from textgate.store.records import Account, Message

#: Where the tests say textgate is reachable from the provider (a proxy's public URL).
PUBLIC_URL = "https://sms.example.com/textgate"


@dataclass
class Gate:
    svc: Services
    http: httpx.AsyncClient
    account: Account
    key: str

    async def send(self, to: str, text: str = "Hello from textgate") -> int:
        r = await self.http.post(
            "/api/send-sms",
            json={"phone_number": to, "text": text},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert r.status_code == 200, r.text
        message_id: int = r.json()["data"]["id"]
        return message_id

    async def message(self, message_id: int) -> Message:
        found = await self.svc.db.read(messages.get, message_id, account_id=self.account.id)
        assert found is not None
        return found

    async def wait_status(self, message_id: int, *statuses: str, timeout: float = 10.0) -> Message:
        deadline = time.monotonic() + timeout
        while True:
            message = await self.message(message_id)
            if message.status in statuses:
                return message
            assert time.monotonic() < deadline, (
                f"message {message_id} is {message.status} ({message.error}), not {statuses}"
            )
            await asyncio.sleep(0.02)

    async def balance(self) -> int:
        return await self.svc.accounts.balance(self.account.id)

    async def callback(
        self, method: str, path: str, params: list[tuple[str, str]] | dict[str, str], **kw: object
    ) -> httpx.Response:
        """A provider's callback to `path` (a URL under PUBLIC_URL, or a path)."""
        path = path.removeprefix(PUBLIC_URL)
        items = list(params.items()) if isinstance(params, dict) else params
        if method == "GET":
            return await self.http.get(path, params=items)
        return await self.http.post(path, data=dict(items), **kw)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def textgate(
    settings: Settings, *, worker: bool = True, credits: int = 10_000_000
) -> AsyncIterator[Gate]:
    """textgate with its worker, an account with credits and an API client for it."""
    svc = build(settings)
    async with running(svc, worker=worker):
        account, key = await svc.accounts.create("http@example.com", credits_micros=credits)
        transport = httpx.ASGITransport(app=create_app(settings, services=svc))
        async with httpx.AsyncClient(transport=transport, base_url="http://textgate") as http:
            yield Gate(svc, http, account, key.secret)


def for_provider(
    settings_for: Callable[..., Settings], database_url: str, name: str, table: dict[str, object]
) -> Settings:
    return settings_for(
        database_url,
        providers={name: table},
        routes=({"prefix": "+", "providers": [name]},),
        worker_poll_interval=0.02,
        retry_base_delay=0.05,
    )


async def eventually(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
