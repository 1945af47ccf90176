"""Helpers for the phone verification tests: a clock the test moves, and request helpers."""

from __future__ import annotations

from typing import Any

import httpx

from textgate.services.container import Services
from textgate.services.verification import from_settings
from textgate.store.db import now_ms

SERBIA = "+381690156360"  # 0.15 a message


class Clock:
    """Milliseconds that move only when the test says so."""

    def __init__(self, start: int | None = None) -> None:
        self.now = now_ms() if start is None else start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def use_clock(services: Services) -> Clock:
    """Gives the running services a verification service on a clock of the test's."""
    clock = Clock()
    services.verifier = from_settings(
        services.settings, services.db, services.prices, services.committer, clock=clock
    )
    return clock


async def send_code(
    client: httpx.AsyncClient, headers: dict[str, str], phone: str = SERBIA, **fields: Any
) -> httpx.Response:
    return await client.post(
        "/api/send-code", json={"phone_number": phone, **fields}, headers=headers
    )


async def verify_code(
    client: httpx.AsyncClient, headers: dict[str, str], code: str, phone: str = SERBIA
) -> httpx.Response:
    return await client.post(
        "/api/verify-code", json={"phone_number": phone, "code": code}, headers=headers
    )


def wrong(code: str) -> str:
    """Another code of the same length."""
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))
