"""Types and constants shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from textgate.store.db import async_url
from textgate.store.records import Account

T = TypeVar("T")

PEPPER = "ab" * 32
TABLES = (
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
