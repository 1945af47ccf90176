"""Races: the balance never goes below zero and no message is submitted twice."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from support import PEPPER, MakeAccount, truncate_postgres
from textgate.app import build, create_app, running
from textgate.domain.states import MessageKind
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import messages

SERBIA = "+381690156360"  # 0.15 a message


async def test_200_concurrent_sends_with_credit_for_50(
    client: httpx.AsyncClient, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("7.50")  # exactly 50 messages

    async def one(i: int) -> int:
        r = await client.post(
            "/api/send-sms",
            json={"phone_number": SERBIA, "text": f"race {i}"},
            headers=user.headers,
        )
        return r.status_code

    codes = Counter(await asyncio.gather(*(one(i) for i in range(200))))
    assert codes == {200: 50, 402: 150}
    assert await services.accounts.balance(user.account.id) == 0
    assert await services.db.read(messages.count_by_status, user.account.id) == {"queued": 50}


async def test_two_api_processes_worth_of_committers_share_one_balance(
    settings: Settings, make_account: MakeAccount, services: Services
) -> None:
    """Two independent service stacks (engines, committers, caches) on one database: what
    two API processes do. 200 requests split between them, credit for 50."""
    user = await make_account("7.50")
    other = build(settings)
    async with running(other, worker=False):
        apps = [create_app(settings, services=s) for s in (services, other)]
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://t")
            for a in apps
        ]

        async def one(i: int) -> int:
            r = await clients[i % 2].post(
                "/api/send-sms",
                json={"phone_number": SERBIA, "text": "x"},
                headers=user.headers,
            )
            return r.status_code

        codes = Counter(await asyncio.gather(*(one(i) for i in range(200))))
        for c in clients:
            await c.aclose()
    assert codes == {200: 50, 402: 150}
    assert await services.accounts.balance(user.account.id) == 0


def _worker_env(settings: Settings, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "TEXTGATE_DATABASE_URL": settings.database_url,
        "TEXTGATE_DATA_DIR": str(tmp),
        "TEXTGATE_PEPPER": PEPPER,
        "TEXTGATE_WORKER_BATCH": "25",
        "TEXTGATE_WORKER_POLL_INTERVAL": "0.05",
        "PYTHONUNBUFFERED": "1",
    }


@pytest.mark.postgres
@pytest.mark.slow
async def test_two_worker_processes_submit_each_message_once(
    postgres_database: str, settings_for: Callable[..., Settings], tmp_path: Path
) -> None:
    """Two `textgate worker` processes on one PostgreSQL database over 1,000 queued
    messages: each message is handed to the (console) provider exactly once."""
    await truncate_postgres(postgres_database)
    settings = settings_for(postgres_database)
    env = _worker_env(settings, tmp_path)
    textgate = [sys.executable, "-m", "textgate.cli", "worker"]
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    outs = [tmp_path / f"worker{i}.out" for i in range(2)]
    workers = [
        subprocess.Popen(textgate, env=env, stdout=out.open("w"), stderr=log.open("w"))
        for out, log in zip(outs, logs, strict=True)
    ]
    try:
        await _wait_started(workers, logs)
        svc = build(settings)
        async with running(svc, worker=False):
            account, key = await svc.accounts.create(
                "race@example.com", credits_micros=1000 * 1_000_000
            )
            caller = await svc.auth.authenticate(f"Bearer {key.secret}")
            await asyncio.gather(
                *(svc.sender.send(caller, SERBIA, f"n{i}", MessageKind.SMS) for i in range(1000))
            )
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                counts = await svc.db.read(messages.count_by_status, account.id)
                if counts.get("submitted") == 1000:
                    break
                await asyncio.sleep(0.2)
        assert counts == {"submitted": 1000}
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
    per_worker = [re.findall(r"message (\d+) to", out.read_text()) for out in outs]
    seen = Counter(mid for ids in per_worker for mid in ids)
    assert len(seen) == 1000
    assert max(seen.values()) == 1, "a message was submitted twice"
    assert all(len(ids) > 0 for ids in per_worker), [len(ids) for ids in per_worker]


async def _wait_started(workers: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + 30
    for w, log in zip(workers, logs, strict=True):
        while "worker started" not in log.read_text():
            if w.poll() is not None:
                raise AssertionError(f"worker exited with {w.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError("worker did not start")
            await asyncio.sleep(0.1)
